// SPDX-License-Identifier: GPL-2.0-only
//! Test harness: plays the kernel's virtio-mmio and virtio-net drivers
//! against our device, through the MMIO registers, with rust-vmm's
//! driver-side mock queue laying out the rings.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK,
};
use virtio_bindings::virtio_mmio as reg;
use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor as SplitDesc, RawDescriptor};
use virtio_queue::mock::{AvailRing, DescriptorTable, UsedRing};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};

use super::net::{FrameSink, NetConfig, VirtioNet, NET_HDR_LEN};
use super::{GuestRam, MmioDevice};

/// Where test RAM starts for the driver, as the LKL port places it
/// (`LKL_RAM_PHYS_BASE`): not the host address, so every test also checks
/// that the device translates addresses.
pub const GUEST_BASE: u64 = 0x100_0000;

/// Test RAM: an anonymous mapping that both sides see at [`GUEST_BASE`].
pub struct TestMem {
    pub mem: &'static GuestMemoryMmap,
    pub ram: GuestRam,
    pub base: u64,
    pub size: u64,
}

impl TestMem {
    pub fn new(size: usize) -> Self {
        let region = MmapRegion::<()>::new(size).expect("mmap test RAM");
        let ptr = region.as_ptr();
        let base = GUEST_BASE;
        let region = GuestRegionMmap::new(region, GuestAddress(base)).expect("region");
        // Leaked so that the device, which may outlive the test body on
        // another thread, never sees the RAM unmapped.
        let mem = Box::leak(Box::new(
            GuestMemoryMmap::from_regions(vec![region]).expect("guest memory"),
        ));
        // SAFETY: the mapping is leaked, so it stays valid for reads and
        // writes from any thread until the process exits.
        let ram = unsafe { GuestRam::new(ptr, size, base) }.expect("GuestRam");
        TestMem {
            mem,
            ram,
            base,
            size: size as u64,
        }
    }
}

type Mem = GuestMemoryMmap;

/// The driver's side of one split queue, built from rust-vmm's mock ring
/// types.
///
/// Not `MockSplitQueue::create`: in virtio-queue 0.18 it places the used
/// ring right after `size` *bytes* of the available ring instead of after
/// its `6 + 2 * size` bytes, so the rings overlap (and `UsedRing::new`
/// clears a u16 at `used + 4 + 2 * size`, inside the elements, which is
/// harmless at setup time).
pub struct DriverQueue {
    pub desc: DescriptorTable<'static, Mem>,
    pub avail: AvailRing<'static, Mem>,
    pub used: UsedRing<'static, Mem>,
    pub desc_addr: u64,
    pub avail_addr: u64,
    pub used_addr: u64,
    pub size: u16,
}

impl DriverQueue {
    pub fn new(mem: &'static Mem, start: u64, size: u16) -> Self {
        let n = u64::from(size);
        let desc_addr = start;
        let avail_addr = desc_addr + 16 * n;
        let used_addr = (avail_addr + 6 + 2 * n).next_multiple_of(4);
        DriverQueue {
            desc: DescriptorTable::new(mem, GuestAddress(desc_addr), size),
            avail: AvailRing::new(mem, GuestAddress(avail_addr), size),
            used: UsedRing::new(mem, GuestAddress(used_addr), size),
            desc_addr,
            avail_addr,
            used_addr,
            size,
        }
    }

    pub fn config(&self) -> super::QueueConfig {
        super::QueueConfig {
            size: self.size,
            ready: true,
            desc: self.desc_addr,
            avail: self.avail_addr,
            used: self.used_addr,
        }
    }

    pub fn store_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let d = SplitDesc::new(addr, len, flags, next);
        self.desc.store(i, RawDescriptor::from(d)).unwrap();
    }

    /// Puts `heads` in the next available slots, then bumps avail.idx.
    pub fn publish(&self, heads: &[u16]) {
        let idx = self.avail.idx().load();
        for (k, &head) in heads.iter().enumerate() {
            let slot = idx.wrapping_add(k as u16) % self.size;
            self.avail
                .ring()
                .ref_at(usize::from(slot))
                .unwrap()
                .store(head);
        }
        self.avail.idx().store(idx.wrapping_add(heads.len() as u16));
    }

    /// used.idx and the used element in `slot`.
    pub fn used_elem(&self, slot: u16) -> (u32, u32) {
        let e = self
            .used
            .ring()
            .ref_at(usize::from(slot % self.size))
            .unwrap()
            .load();
        (e.id(), e.len())
    }

    /// The avail ring's used_event field (EVENT_IDX).
    pub fn set_used_event(&self, mem: &Mem, value: u16) {
        let addr = self.avail_addr + 4 + 2 * u64::from(self.size);
        mem.write_obj(value, GuestAddress(addr)).unwrap();
    }

    /// The used ring's avail_event field (EVENT_IDX).
    pub fn avail_event(&self, mem: &Mem) -> u16 {
        let addr = self.used_addr + 4 + 8 * u64::from(self.size);
        mem.read_obj(GuestAddress(addr)).unwrap()
    }
}

/// A sink that keeps every frame; it says it is full while `.1` is set.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Vec<u8>>>>, pub Arc<AtomicBool>);

impl FrameSink for Recorder {
    fn ready(&mut self) -> bool {
        !self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn send(&mut self, frame: &[u8]) {
        self.0.lock().unwrap().push(frame.to_vec());
    }
}

type Handler = Arc<dyn Fn(&MmioDevice) + Send + Sync>;

/// What the interrupt callback does and saw.
#[derive(Default)]
pub struct IrqState {
    pub count: AtomicUsize,
    /// Read InterruptStatus and ACK it, as Linux's vm_interrupt() does.
    pub auto_ack: AtomicBool,
    /// InterruptStatus values the handler read.
    pub seen: Mutex<Vec<u32>>,
    /// Extra work in the handler (e.g. transmit, as a softirq would).
    pub extra: Mutex<Option<Handler>>,
    mmio: OnceLock<Weak<MmioDevice>>,
}

pub const QSIZE: u16 = 256;
/// Bytes of buffer owned by each descriptor (fits the largest frame).
pub const SLOT: u64 = 0x1_1000;
const RAM_SIZE: usize = 64 << 20;
const HEAP: u64 = 0x10_0000;

pub struct Harness {
    pub m: TestMem,
    pub net: Arc<VirtioNet>,
    pub mmio: Arc<MmioDevice>,
    pub irq: Arc<IrqState>,
    pub sent: Recorder,
    pub queues: [DriverQueue; 2],
    next_desc: [u16; 2],
    used_seen: [u16; 2],
}

impl Harness {
    pub fn new(config: NetConfig) -> Self {
        let m = TestMem::new(RAM_SIZE);
        let irq = Arc::new(IrqState::default());
        let handler_state = irq.clone();
        let callback = Arc::new(move || {
            let s = &handler_state;
            s.count.fetch_add(1, Ordering::SeqCst);
            let Some(mmio) = s.mmio.get().and_then(Weak::upgrade) else {
                return;
            };
            if s.auto_ack.load(Ordering::SeqCst) {
                let status = read32(&mmio, reg::VIRTIO_MMIO_INTERRUPT_STATUS);
                write32(&mmio, reg::VIRTIO_MMIO_INTERRUPT_ACK, status);
                s.seen.lock().unwrap().push(status);
            }
            // Not under the lock: the handler may nest (raise again).
            let extra = s.extra.lock().unwrap().clone();
            if let Some(extra) = extra {
                extra(&mmio);
            }
        });
        let sent = Recorder::default();
        let net = Arc::new(
            VirtioNet::new(m.ram, config, Box::new(sent.clone()), callback).expect("config"),
        );
        let mmio = Arc::new(MmioDevice::new(net.clone()));
        irq.mmio.set(Arc::downgrade(&mmio)).ok();
        let queues = [
            DriverQueue::new(m.mem, m.base, QSIZE),
            DriverQueue::new(m.mem, m.base + 0x8000, QSIZE),
        ];
        Harness {
            m,
            net,
            mmio,
            irq,
            sent,
            queues,
            next_desc: [0; 2],
            used_seen: [0; 2],
        }
    }

    pub fn r(&self, offset: u32) -> u32 {
        read32(&self.mmio, offset)
    }

    pub fn w(&self, offset: u32, value: u32) {
        write32(&self.mmio, offset, value)
    }

    pub fn irqs(&self) -> usize {
        self.irq.count.load(Ordering::SeqCst)
    }

    pub fn offered_features(&self) -> u64 {
        self.w(reg::VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        let lo = self.r(reg::VIRTIO_MMIO_DEVICE_FEATURES);
        self.w(reg::VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        let hi = self.r(reg::VIRTIO_MMIO_DEVICE_FEATURES);
        u64::from(hi) << 32 | u64::from(lo)
    }

    /// The driver's init sequence (§3.1.1, §4.2.3); `features` defaults to
    /// everything offered. Returns the final status.
    pub fn init(&mut self, features: Option<u64>) -> u32 {
        const ACK: u32 = VIRTIO_CONFIG_S_ACKNOWLEDGE;
        const DRV: u32 = VIRTIO_CONFIG_S_DRIVER;
        const FOK: u32 = VIRTIO_CONFIG_S_FEATURES_OK;
        self.w(reg::VIRTIO_MMIO_STATUS, 0);
        assert_eq!(self.r(reg::VIRTIO_MMIO_STATUS), 0);
        self.w(reg::VIRTIO_MMIO_STATUS, ACK);
        self.w(reg::VIRTIO_MMIO_STATUS, ACK | DRV);
        let f = features.unwrap_or_else(|| self.offered_features());
        self.w(reg::VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        self.w(reg::VIRTIO_MMIO_DRIVER_FEATURES, f as u32);
        self.w(reg::VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        self.w(reg::VIRTIO_MMIO_DRIVER_FEATURES, (f >> 32) as u32);
        self.w(reg::VIRTIO_MMIO_STATUS, ACK | DRV | FOK);
        let status = self.r(reg::VIRTIO_MMIO_STATUS);
        if status & FOK == 0 {
            return status;
        }
        for (i, q) in self.queues.iter().enumerate() {
            self.w(reg::VIRTIO_MMIO_QUEUE_SEL, i as u32);
            assert_eq!(self.r(reg::VIRTIO_MMIO_QUEUE_READY), 0);
            assert_eq!(self.r(reg::VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
            self.w(reg::VIRTIO_MMIO_QUEUE_NUM, u32::from(QSIZE));
            let split = |a: u64| (a as u32, (a >> 32) as u32);
            let (lo, hi) = split(q.desc_addr);
            self.w(reg::VIRTIO_MMIO_QUEUE_DESC_LOW, lo);
            self.w(reg::VIRTIO_MMIO_QUEUE_DESC_HIGH, hi);
            let (lo, hi) = split(q.avail_addr);
            self.w(reg::VIRTIO_MMIO_QUEUE_AVAIL_LOW, lo);
            self.w(reg::VIRTIO_MMIO_QUEUE_AVAIL_HIGH, hi);
            let (lo, hi) = split(q.used_addr);
            self.w(reg::VIRTIO_MMIO_QUEUE_USED_LOW, lo);
            self.w(reg::VIRTIO_MMIO_QUEUE_USED_HIGH, hi);
            self.w(reg::VIRTIO_MMIO_QUEUE_READY, 1);
            assert_eq!(self.r(reg::VIRTIO_MMIO_QUEUE_READY), 1);
        }
        self.w(
            reg::VIRTIO_MMIO_STATUS,
            ACK | DRV | FOK | VIRTIO_CONFIG_S_DRIVER_OK,
        );
        self.r(reg::VIRTIO_MMIO_STATUS)
    }

    /// Forgets the driver-side ring state (after a device reset the driver
    /// sets the rings up afresh).
    pub fn fresh_rings(&mut self) {
        self.queues = [
            DriverQueue::new(self.m.mem, self.m.base, QSIZE),
            DriverQueue::new(self.m.mem, self.m.base + 0x8000, QSIZE),
        ];
        self.next_desc = [0; 2];
        self.used_seen = [0; 2];
    }

    /// The buffer that belongs to descriptor `i` of queue `q`.
    pub fn slot(&self, q: usize, i: u16) -> u64 {
        self.m.base + HEAP + (q as u64 * u64::from(QSIZE) + u64::from(i)) * SLOT
    }

    /// Writes a chain of descriptors (`(addr, len, writable)`) and makes it
    /// available. Returns the head index.
    pub fn add_chain(&mut self, q: usize, bufs: &[(u64, u32, bool)]) -> u16 {
        let first = self.next_desc[q];
        for (k, &(addr, len, writable)) in bufs.iter().enumerate() {
            let i = (first + k as u16) % QSIZE;
            let mut flags = if writable {
                VRING_DESC_F_WRITE as u16
            } else {
                0
            };
            let next = (i + 1) % QSIZE;
            if k + 1 < bufs.len() {
                flags |= VRING_DESC_F_NEXT as u16;
            }
            self.queues[q].store_desc(i, addr, len, flags, next);
        }
        self.next_desc[q] = (first + bufs.len() as u16) % QSIZE;
        self.queues[q].publish(&[first]);
        first
    }

    /// Posts one receive chain with buffers of `lens` bytes, each in its
    /// descriptor's slot. Returns the buffer addresses.
    pub fn post_rx(&mut self, lens: &[u32]) -> Vec<u64> {
        let first = self.next_desc[0];
        let bufs: Vec<_> = lens
            .iter()
            .enumerate()
            .map(|(k, &len)| (self.slot(0, (first + k as u16) % QSIZE), len, true))
            .collect();
        self.add_chain(0, &bufs);
        bufs.iter().map(|b| b.0).collect()
    }

    /// Transmits a chain made of `parts` (the first usually the header).
    pub fn send(&mut self, parts: &[&[u8]]) {
        let first = self.next_desc[1];
        let bufs: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(k, part)| {
                let addr = self.slot(1, (first + k as u16) % QSIZE);
                self.m.mem.write_slice(part, GuestAddress(addr)).unwrap();
                (addr, part.len() as u32, false)
            })
            .collect();
        self.add_chain(1, &bufs);
        self.kick(1);
    }

    /// Transmits `frame` behind a zero header, in one descriptor.
    pub fn send_frame(&mut self, frame: &[u8]) {
        let mut buf = vec![0u8; NET_HDR_LEN];
        buf.extend_from_slice(frame);
        self.send(&[&buf]);
    }

    pub fn kick(&self, q: u32) {
        self.w(reg::VIRTIO_MMIO_QUEUE_NOTIFY, q);
    }

    /// Used elements `(id, len)` added since the last call.
    pub fn take_used(&mut self, q: usize) -> Vec<(u32, u32)> {
        let idx = self.queues[q].used.idx().load();
        let mut out = Vec::new();
        while self.used_seen[q] != idx {
            out.push(self.queues[q].used_elem(self.used_seen[q]));
            self.used_seen[q] = self.used_seen[q].wrapping_add(1);
        }
        out
    }

    pub fn read_mem(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.m.mem.read_slice(&mut v, GuestAddress(addr)).unwrap();
        v
    }

    pub fn set_used_event(&self, q: usize, value: u16) {
        self.queues[q].set_used_event(self.m.mem, value);
    }

    pub fn avail_event(&self, q: usize) -> u16 {
        self.queues[q].avail_event(self.m.mem)
    }

    /// Reads `len` bytes of config space with accesses of `len` bytes.
    pub fn config(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mmio
            .read(u64::from(reg::VIRTIO_MMIO_CONFIG) + offset, &mut v);
        v
    }
}

pub fn read32(mmio: &MmioDevice, offset: u32) -> u32 {
    let mut b = [0u8; 4];
    mmio.read(offset.into(), &mut b);
    u32::from_le_bytes(b)
}

pub fn write32(mmio: &MmioDevice, offset: u32, value: u32) {
    mmio.write(offset.into(), &value.to_le_bytes());
}

/// A frame of `len` bytes whose content identifies `seed`.
pub fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
