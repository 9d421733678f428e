// SPDX-License-Identifier: GPL-2.0-only
//! The virtio-mmio transport, version 2 (virtio 1.x §4.2.2).
//!
//! Registers are 32 bits wide, little endian, at 4-aligned offsets below
//! 0x100; other accesses there read 0 and write nothing. The device
//! configuration space starts at 0x100 and takes 1-, 2-, 4- and 8-byte
//! accesses.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_NEEDS_RESET,
    VIRTIO_F_VERSION_1,
};
use virtio_bindings::virtio_mmio as reg;

use super::{lock, QueueConfig, VirtioDevice, INT_CONFIG};

/// Size of the register window.
pub const MMIO_SIZE: u64 = 0x200;
/// "virt", little endian.
pub const MAGIC_VALUE: u32 = 0x7472_6976;
/// The modern (non-legacy) register layout.
pub const VERSION: u32 = 2;
/// VendorID: "LKL\0".
pub const VENDOR_ID: u32 = 0x4c4b_4c00;

const CONFIG_START: u64 = reg::VIRTIO_MMIO_CONFIG as u64;

/// Transport registers the driver writes.
#[derive(Debug, Default)]
struct Regs {
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: Vec<QueueConfig>,
}

impl Regs {
    fn new(num_queues: usize) -> Self {
        Regs {
            queues: vec![QueueConfig::default(); num_queues],
            ..Regs::default()
        }
    }

    fn queue_mut(&mut self) -> Option<&mut QueueConfig> {
        let sel = usize::try_from(self.queue_sel).ok()?;
        self.queues.get_mut(sel)
    }
}

/// A virtio device behind a virtio-mmio register window.
///
/// [`read`](Self::read) and [`write`](Self::write) may be called from any
/// thread. The interrupt path (InterruptStatus, InterruptACK, QueueNotify,
/// ConfigGeneration and the config space) takes no lock of the transport;
/// the other registers take one short lock that is never held while the
/// device raises its interrupt.
pub struct MmioDevice {
    dev: Arc<dyn VirtioDevice>,
    regs: Mutex<Regs>,
    warned: AtomicBool,
}

impl MmioDevice {
    pub fn new(dev: Arc<dyn VirtioDevice>) -> Self {
        let n = dev.queue_max_sizes().len();
        MmioDevice {
            dev,
            regs: Mutex::new(Regs::new(n)),
            warned: AtomicBool::new(false),
        }
    }

    /// The device behind the registers.
    pub fn device(&self) -> &Arc<dyn VirtioDevice> {
        &self.dev
    }

    /// A driver read of `data.len()` bytes at `offset` in the window.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_START {
            self.dev.read_config(offset - CONFIG_START, data);
            return;
        }
        let value = if data.len() == 4 && offset.is_multiple_of(4) {
            self.read_reg(offset as u32)
        } else {
            self.bad_access("read", offset, data.len());
            0
        };
        let bytes = value.to_le_bytes();
        let n = data.len().min(4);
        data.fill(0);
        data[..n].copy_from_slice(&bytes[..n]);
    }

    /// A driver write of `data` at `offset` in the window.
    pub fn write(&self, offset: u64, data: &[u8]) {
        if offset >= CONFIG_START {
            self.dev.write_config(offset - CONFIG_START, data);
            return;
        }
        match <[u8; 4]>::try_from(data) {
            Ok(bytes) if offset.is_multiple_of(4) => {
                self.write_reg(offset as u32, u32::from_le_bytes(bytes))
            }
            _ => self.bad_access("write", offset, data.len()),
        }
    }

    fn read_reg(&self, offset: u32) -> u32 {
        let dev = &*self.dev;
        match offset {
            reg::VIRTIO_MMIO_MAGIC_VALUE => MAGIC_VALUE,
            reg::VIRTIO_MMIO_VERSION => VERSION,
            reg::VIRTIO_MMIO_DEVICE_ID => dev.device_id(),
            reg::VIRTIO_MMIO_VENDOR_ID => VENDOR_ID,
            reg::VIRTIO_MMIO_INTERRUPT_STATUS => dev.interrupt().status(),
            reg::VIRTIO_MMIO_CONFIG_GENERATION => dev.config_generation(),
            // No shared memory regions: a length of ~0 says so.
            reg::VIRTIO_MMIO_SHM_LEN_LOW | reg::VIRTIO_MMIO_SHM_LEN_HIGH => u32::MAX,
            _ => self.read_locked(offset),
        }
    }

    fn read_locked(&self, offset: u32) -> u32 {
        let regs = lock(&self.regs);
        let queue = usize::try_from(regs.queue_sel)
            .ok()
            .and_then(|sel| regs.queues.get(sel).copied().map(|q| (sel, q)));
        match offset {
            reg::VIRTIO_MMIO_DEVICE_FEATURES => match regs.device_features_sel {
                0 => self.dev.features() as u32,
                1 => (self.dev.features() >> 32) as u32,
                _ => 0,
            },
            reg::VIRTIO_MMIO_STATUS => regs.status,
            reg::VIRTIO_MMIO_QUEUE_NUM_MAX => queue
                .and_then(|(sel, _)| self.dev.queue_max_sizes().get(sel).copied())
                .map_or(0, u32::from),
            reg::VIRTIO_MMIO_QUEUE_READY => queue.is_some_and(|(_, q)| q.ready).into(),
            // Write-only in the spec; reading back what was written helps
            // debugging and costs nothing.
            reg::VIRTIO_MMIO_QUEUE_NUM => queue.map_or(0, |(_, q)| q.size.into()),
            reg::VIRTIO_MMIO_QUEUE_DESC_LOW => queue.map_or(0, |(_, q)| q.desc as u32),
            reg::VIRTIO_MMIO_QUEUE_DESC_HIGH => queue.map_or(0, |(_, q)| (q.desc >> 32) as u32),
            reg::VIRTIO_MMIO_QUEUE_AVAIL_LOW => queue.map_or(0, |(_, q)| q.avail as u32),
            reg::VIRTIO_MMIO_QUEUE_AVAIL_HIGH => queue.map_or(0, |(_, q)| (q.avail >> 32) as u32),
            reg::VIRTIO_MMIO_QUEUE_USED_LOW => queue.map_or(0, |(_, q)| q.used as u32),
            reg::VIRTIO_MMIO_QUEUE_USED_HIGH => queue.map_or(0, |(_, q)| (q.used >> 32) as u32),
            _ => 0,
        }
    }

    fn write_reg(&self, offset: u32, value: u32) {
        match offset {
            // The hot path: straight to the device, no transport lock.
            reg::VIRTIO_MMIO_QUEUE_NOTIFY => {
                // Without VIRTIO_F_NOTIFICATION_DATA the value is the index.
                if let Ok(index) = u16::try_from(value) {
                    self.dev.queue_notify(index);
                }
            }
            reg::VIRTIO_MMIO_INTERRUPT_ACK => self.dev.interrupt().ack(value),
            reg::VIRTIO_MMIO_STATUS => self.write_status(value),
            _ => self.write_locked(offset, value),
        }
    }

    fn write_locked(&self, offset: u32, value: u32) {
        let mut regs = lock(&self.regs);
        let set_low = |r: &mut u64| *r = (*r & !0xffff_ffff) | u64::from(value);
        let set_high = |r: &mut u64| *r = (*r & 0xffff_ffff) | (u64::from(value) << 32);
        match offset {
            reg::VIRTIO_MMIO_DEVICE_FEATURES_SEL => regs.device_features_sel = value,
            reg::VIRTIO_MMIO_DRIVER_FEATURES_SEL => regs.driver_features_sel = value,
            reg::VIRTIO_MMIO_DRIVER_FEATURES => {
                // Features are frozen once FEATURES_OK is set (§3.1.1).
                if regs.status & VIRTIO_CONFIG_S_FEATURES_OK == 0 {
                    match regs.driver_features_sel {
                        0 => set_low(&mut regs.driver_features),
                        1 => set_high(&mut regs.driver_features),
                        _ => {}
                    }
                }
            }
            reg::VIRTIO_MMIO_QUEUE_SEL => regs.queue_sel = value,
            _ => {
                // Queue setup is frozen once the device runs.
                let running = regs.status & VIRTIO_CONFIG_S_DRIVER_OK != 0;
                let Some(q) = regs.queue_mut() else {
                    return;
                };
                if running {
                    log::debug!("virtio-mmio: queue register 0x{offset:x} written after DRIVER_OK");
                    return;
                }
                match offset {
                    // Out of range becomes 0, which activation refuses.
                    reg::VIRTIO_MMIO_QUEUE_NUM => q.size = u16::try_from(value).unwrap_or(0),
                    reg::VIRTIO_MMIO_QUEUE_READY => q.ready = value & 1 != 0,
                    reg::VIRTIO_MMIO_QUEUE_DESC_LOW => set_low(&mut q.desc),
                    reg::VIRTIO_MMIO_QUEUE_DESC_HIGH => set_high(&mut q.desc),
                    reg::VIRTIO_MMIO_QUEUE_AVAIL_LOW => set_low(&mut q.avail),
                    reg::VIRTIO_MMIO_QUEUE_AVAIL_HIGH => set_high(&mut q.avail),
                    reg::VIRTIO_MMIO_QUEUE_USED_LOW => set_low(&mut q.used),
                    reg::VIRTIO_MMIO_QUEUE_USED_HIGH => set_high(&mut q.used),
                    _ => log::debug!("virtio-mmio: write to unknown register 0x{offset:x}"),
                }
            }
        }
    }

    fn write_status(&self, value: u32) {
        let mut raise_config = false;
        {
            let mut regs = lock(&self.regs);
            if value == 0 {
                // Reset: the device lets go of the queues before the
                // driver can read status 0 back.
                self.dev.reset();
                self.dev.interrupt().clear();
                *regs = Regs::new(regs.queues.len());
                return;
            }
            let old = regs.status;
            let mut new = value | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
            let newly = |new: u32, bit: u32| new & bit != 0 && old & bit == 0;
            if newly(new, VIRTIO_CONFIG_S_FEATURES_OK)
                && !self.features_acceptable(regs.driver_features)
            {
                // The driver reads FEATURES_OK back and gives up (§3.1.1).
                new &= !VIRTIO_CONFIG_S_FEATURES_OK;
            }
            if newly(new, VIRTIO_CONFIG_S_DRIVER_OK) {
                let result = if new & VIRTIO_CONFIG_S_FEATURES_OK == 0 {
                    Err("DRIVER_OK without FEATURES_OK".to_owned())
                } else {
                    self.dev
                        .activate(regs.driver_features, &regs.queues)
                        .map_err(|e| e.to_string())
                };
                if let Err(e) = result {
                    log::warn!("virtio-mmio: cannot start device: {e}");
                    new |= VIRTIO_CONFIG_S_NEEDS_RESET;
                    raise_config = true;
                }
            }
            regs.status = new;
        }
        // Outside the lock: the handler reads registers.
        if raise_config {
            self.dev.interrupt().raise(INT_CONFIG);
        }
    }

    /// The driver accepts only what we offer, and the modern interface.
    fn features_acceptable(&self, driver: u64) -> bool {
        let offered = self.dev.features();
        driver & !offered == 0 && driver & (1 << VIRTIO_F_VERSION_1) != 0
    }

    fn bad_access(&self, what: &str, offset: u64, len: usize) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!("virtio-mmio: ignored {len}-byte register {what} at 0x{offset:x}");
        }
    }
}

impl std::fmt::Debug for MmioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // try_lock: formatting must never deadlock, e.g. in a log line
        // written while the registers are locked.
        let mut d = f.debug_struct("MmioDevice");
        match self.regs.try_lock() {
            Ok(regs) => d.field("regs", &*regs),
            Err(_) => d.field("regs", &"<locked>"),
        };
        d.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::net::{NetConfig, RX_QUEUE, TX_QUEUE};
    use crate::virtio::testutil::{frame, Harness, QSIZE};
    use crate::virtio::INT_VRING;
    use virtio_bindings::virtio_config::{
        VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_F_VERSION_1,
    };
    use virtio_bindings::virtio_net::{VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU, VIRTIO_NET_F_STATUS};
    use virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    const RUNNING: u32 = VIRTIO_CONFIG_S_ACKNOWLEDGE
        | VIRTIO_CONFIG_S_DRIVER
        | VIRTIO_CONFIG_S_FEATURES_OK
        | VIRTIO_CONFIG_S_DRIVER_OK;

    fn bit(b: u32) -> u64 {
        1 << b
    }

    #[test]
    fn identification_registers() {
        let h = Harness::new(NetConfig::new(MAC));
        assert_eq!(h.r(reg::VIRTIO_MMIO_MAGIC_VALUE), 0x7472_6976);
        assert_eq!(h.r(reg::VIRTIO_MMIO_VERSION), 2);
        assert_eq!(h.r(reg::VIRTIO_MMIO_DEVICE_ID), 1);
        assert_eq!(h.r(reg::VIRTIO_MMIO_VENDOR_ID), VENDOR_ID);
        assert_eq!(h.r(reg::VIRTIO_MMIO_STATUS), 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_CONFIG_GENERATION), 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_SHM_LEN_LOW), u32::MAX);
        for (sel, max) in [(0, 256), (1, 256), (2, 0), (u32::MAX, 0)] {
            h.w(reg::VIRTIO_MMIO_QUEUE_SEL, sel);
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_NUM_MAX), max, "queue {sel}");
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_READY), 0);
        }
        // Registers only take aligned 32-bit accesses.
        let mut b = [0xffu8; 2];
        h.mmio.read(0, &mut b);
        assert_eq!(b, [0, 0]);
        let mut b = [0xffu8; 4];
        h.mmio.read(2, &mut b);
        assert_eq!(b, [0; 4]);
        h.mmio.write(u64::from(reg::VIRTIO_MMIO_STATUS), &[1]);
        assert_eq!(h.r(reg::VIRTIO_MMIO_STATUS), 0);
        assert_eq!(MMIO_SIZE, 0x200);
    }

    #[test]
    fn offered_features() {
        let h = Harness::new(NetConfig::new(MAC));
        let f = h.offered_features();
        let want = bit(VIRTIO_F_VERSION_1)
            | bit(VIRTIO_NET_F_MAC)
            | bit(VIRTIO_NET_F_STATUS)
            | bit(VIRTIO_RING_F_EVENT_IDX);
        assert_eq!(f, want);
        h.w(reg::VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
        assert_eq!(h.r(reg::VIRTIO_MMIO_DEVICE_FEATURES), 0);

        let h = Harness::new(NetConfig {
            mtu: Some(9000),
            event_idx: false,
            ..NetConfig::new(MAC)
        });
        let f = h.offered_features();
        assert_ne!(f & bit(VIRTIO_NET_F_MTU), 0);
        assert_eq!(f & bit(VIRTIO_RING_F_EVENT_IDX), 0);
        assert_eq!(h.config(10, 2), 9000u16.to_le_bytes());
    }

    #[test]
    fn negotiation() {
        let mut h = Harness::new(NetConfig::new(MAC));
        assert_eq!(h.init(None), RUNNING);
        assert!(h.net.is_active());
        for q in [RX_QUEUE, TX_QUEUE] {
            h.w(reg::VIRTIO_MMIO_QUEUE_SEL, q.into());
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_READY), 1);
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_NUM), u32::from(QSIZE));
            let q = &h.queues[usize::from(q)];
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_DESC_LOW), q.desc_addr as u32);
            assert_eq!(
                h.r(reg::VIRTIO_MMIO_QUEUE_USED_HIGH),
                (q.used_addr >> 32) as u32
            );
        }

        // A feature we do not offer: FEATURES_OK does not stick.
        let offered = h.offered_features();
        let status = h.init(Some(offered | bit(VIRTIO_NET_F_MTU)));
        assert_eq!(status & VIRTIO_CONFIG_S_FEATURES_OK, 0);
        assert!(!h.net.is_active());
        // The legacy interface is not offered either.
        let status = h.init(Some(offered & !bit(VIRTIO_F_VERSION_1)));
        assert_eq!(status & VIRTIO_CONFIG_S_FEATURES_OK, 0);
        // A subset is fine.
        assert_eq!(h.init(Some(bit(VIRTIO_F_VERSION_1))), RUNNING);
    }

    #[test]
    fn features_freeze_at_features_ok() {
        let mut h = Harness::new(NetConfig::new(MAC));
        assert_eq!(h.init(Some(bit(VIRTIO_F_VERSION_1))), RUNNING);
        // Too late: EVENT_IDX stays off, so used_event is ignored.
        h.w(reg::VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        h.w(
            reg::VIRTIO_MMIO_DRIVER_FEATURES,
            1 << VIRTIO_RING_F_EVENT_IDX,
        );
        h.set_used_event(RX_QUEUE.into(), 1000);
        h.post_rx(&[2048]);
        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 1)));
        assert!(h.net.deliver(&frame(60, 2)));
        assert_eq!(h.irqs(), 2);
    }

    #[test]
    fn bad_queue_setup_needs_reset() {
        let mut h = Harness::new(NetConfig::new(MAC));
        const PRE: u32 =
            VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
        h.init(Some(bit(VIRTIO_F_VERSION_1)));
        h.w(reg::VIRTIO_MMIO_STATUS, 0);
        h.w(reg::VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        h.w(reg::VIRTIO_MMIO_STATUS, PRE);
        // Queue 0 with a size that is not a power of two; queue 1 unset.
        h.w(reg::VIRTIO_MMIO_QUEUE_SEL, 0);
        h.w(reg::VIRTIO_MMIO_QUEUE_NUM, 0x1_0010);
        assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_NUM), 0, "not truncated to 16");
        h.w(reg::VIRTIO_MMIO_QUEUE_NUM, 100);
        h.w(
            reg::VIRTIO_MMIO_QUEUE_DESC_LOW,
            h.queues[0].desc_addr as u32,
        );
        h.w(reg::VIRTIO_MMIO_QUEUE_READY, 1);
        h.w(reg::VIRTIO_MMIO_STATUS, PRE | VIRTIO_CONFIG_S_DRIVER_OK);
        let status = h.r(reg::VIRTIO_MMIO_STATUS);
        assert_ne!(status & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
        assert!(!h.net.is_active());
        assert_eq!(h.irqs(), 1);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), INT_CONFIG);
        // A reset clears it all.
        h.w(reg::VIRTIO_MMIO_STATUS, 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_STATUS), 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    }

    #[test]
    fn reset_clears_state() {
        let mut h = Harness::new(NetConfig::new(MAC));
        assert_eq!(h.init(None), RUNNING);
        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 1)));
        h.send_frame(&frame(60, 2));
        assert_ne!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), 0);

        h.w(reg::VIRTIO_MMIO_STATUS, 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_STATUS), 0);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), 0);
        assert!(!h.net.is_active());
        for q in 0..2 {
            h.w(reg::VIRTIO_MMIO_QUEUE_SEL, q);
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_READY), 0);
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_NUM), 0);
            assert_eq!(h.r(reg::VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
        }
        h.w(reg::VIRTIO_MMIO_QUEUE_SEL, 0);
        // Posted buffers and kicks are ignored while reset.
        h.post_rx(&[2048]);
        assert!(!h.net.deliver(&frame(60, 3)));
        assert_eq!(h.net.stats().rx_dropped_not_ready, 1);
        h.send_frame(&frame(60, 4));
        assert_eq!(h.sent.0.lock().unwrap().len(), 1);

        // A fresh start begins again at ring index 0.
        h.fresh_rings();
        assert_eq!(h.init(None), RUNNING);
        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 5)));
        assert_eq!(h.take_used(0), vec![(0, 72)]);
        h.send_frame(&frame(60, 6));
        assert_eq!(h.take_used(1), vec![(0, 0)]);
        assert_eq!(h.sent.0.lock().unwrap().last(), Some(&frame(60, 6)));
    }

    #[test]
    fn config_space() {
        let h = Harness::new(NetConfig {
            mtu: Some(1280),
            ..NetConfig::new(MAC)
        });
        let mac: Vec<u8> = (0..6).map(|i| h.config(i, 1)[0]).collect();
        assert_eq!(mac, MAC);
        assert_eq!(h.config(6, 2), [1, 0], "link up");
        assert_eq!(h.config(8, 2), [1, 0], "one queue pair");
        assert_eq!(h.config(10, 2), 1280u16.to_le_bytes());
        assert_eq!(h.config(0, 4), MAC[..4]);
        assert_eq!(h.config(4, 8), [0x34, 0x56, 1, 0, 1, 0, 0x00, 0x05]);
        assert_eq!(h.config(11, 4), [0x05, 0, 0, 0]);
        assert_eq!(h.config(0x80, 4), [0; 4]);
        assert_eq!(h.config(u64::MAX - 0x100, 4), [0; 4]);
        // Read-only: writes change nothing.
        h.mmio.write(u64::from(reg::VIRTIO_MMIO_CONFIG), &[0xff; 4]);
        assert_eq!(h.config(0, 6), MAC);
    }

    /// The interrupt handler runs synchronously and re-enters the device,
    /// as the kernel's does: read/ACK InterruptStatus, and transmit from
    /// "softirq" context (a TX kick from inside the RX interrupt).
    #[test]
    fn interrupt_handler_reenters() {
        let mut h = Harness::new(NetConfig::new(MAC));
        h.init(None);
        h.irq
            .auto_ack
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Queue a transmit chain now; the handler kicks it.
        let mut tx = vec![0u8; crate::virtio::net::NET_HDR_LEN];
        tx.extend_from_slice(&frame(100, 9));
        let addr = h.slot(1, 0);
        h.m.ram.write(addr, &tx).unwrap();
        h.queues[1].store_desc(0, addr, tx.len() as u32, 0, 0);
        h.queues[1].publish(&[0]);
        *h.irq.extra.lock().unwrap() = Some(Arc::new(|mmio: &MmioDevice| {
            crate::virtio::testutil::write32(mmio, reg::VIRTIO_MMIO_QUEUE_NOTIFY, 1);
        }));

        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 1)));
        // RX interrupt, then the nested TX interrupt from inside it.
        assert_eq!(h.irqs(), 2);
        assert_eq!(*h.irq.seen.lock().unwrap(), vec![INT_VRING, INT_VRING]);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), 0);
        assert_eq!(*h.sent.0.lock().unwrap(), vec![frame(100, 9)]);

        // Link change from inside: config interrupt, acked by the handler.
        *h.irq.extra.lock().unwrap() = None;
        h.net.set_link(false);
        assert_eq!(h.irq.seen.lock().unwrap().last(), Some(&INT_CONFIG));
    }
}
