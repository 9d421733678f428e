// SPDX-License-Identifier: GPL-2.0-only
//! The device side of a split virtqueue (virtio 1.x §2.7).
//!
//! Layout in the driver's memory, all little endian:
//!
//! * descriptor table (16-aligned): `size` × {addr u64, len u32, flags u16,
//!   next u16};
//! * available ring (2-aligned): flags u16, idx u16, ring\[size\] u16,
//!   used_event u16;
//! * used ring (4-aligned): flags u16, idx u16, ring\[size\] {id u32,
//!   len u32}, avail_event u16.
//!
//! Ordering: the driver fills descriptors and ring slots, then publishes
//! `avail.idx`; we load it with Acquire before reading what it covers. We
//! write used elements, then publish `used.idx` with Release. The two
//! notification checks (EVENT_IDX or the flags) are store-then-load
//! handshakes with the driver, separated by a full fence on each side.

use core::fmt;
use std::num::Wrapping;
use std::sync::atomic::{fence, Ordering};

use virtio_bindings::virtio_ring::{
    VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};

use super::ram::{GuestRam, MemError};

const DESC_SIZE: u64 = 16;
const USED_ELEM_SIZE: u64 = 8;
/// flags + idx at the start of both rings.
const RING_HEADER: u64 = 4;

/// A queue as the driver set it up through the transport registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueConfig {
    /// QueueNum.
    pub size: u16,
    /// QueueReady.
    pub ready: bool,
    /// QueueDesc: the descriptor table.
    pub desc: u64,
    /// QueueDriver: the available ring.
    pub avail: u64,
    /// QueueDevice: the used ring.
    pub used: u64,
}

/// A driver error found in a queue's setup or contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// QueueNum is 0, not a power of two, or above QueueNumMax.
    BadSize(u16),
    /// A ring's address is not aligned as the spec requires.
    Misaligned { ring: &'static str, addr: u64 },
    /// A ring or buffer is (partly) outside the kernel's RAM.
    Mem(MemError),
    /// `avail.idx` moved more than the queue size past what we consumed.
    AvailIdx { avail: u16, next: u16 },
    /// A chain's head or `next` names no descriptor.
    BadIndex(u16),
    /// A chain visits more descriptors than the table has (a loop).
    ChainLoop,
    /// An indirect descriptor (VIRTIO_RING_F_INDIRECT_DESC is not offered).
    Indirect,
    /// A device-readable buffer where a writable one belongs, or the reverse.
    BadDirection,
    /// A chain whose buffers are longer than any frame.
    TooLong,
    /// A transmit chain shorter than the virtio-net header.
    TooShort,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QueueError::BadSize(n) => write!(f, "bad queue size {n}"),
            QueueError::Misaligned { ring, addr } => {
                write!(f, "{ring} at 0x{addr:x} is misaligned")
            }
            QueueError::Mem(e) => e.fmt(f),
            QueueError::AvailIdx { avail, next } => write!(
                f,
                "available index {avail} is more than a queue ahead of {next}"
            ),
            QueueError::BadIndex(i) => write!(f, "descriptor index {i} out of range"),
            QueueError::ChainLoop => f.write_str("descriptor chain loops"),
            QueueError::Indirect => f.write_str("unexpected indirect descriptor"),
            QueueError::BadDirection => f.write_str("descriptor has the wrong direction"),
            QueueError::TooLong => f.write_str("descriptor chain too long for a frame"),
            QueueError::TooShort => f.write_str("descriptor chain shorter than a header"),
        }
    }
}

impl std::error::Error for QueueError {}

impl From<MemError> for QueueError {
    fn from(e: MemError) -> Self {
        QueueError::Mem(e)
    }
}

/// One descriptor, as read from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Desc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

impl Desc {
    /// The device may write to this buffer (else it may only read it).
    pub fn is_writable(&self) -> bool {
        u32::from(self.flags) & VRING_DESC_F_WRITE != 0
    }

    fn has_next(&self) -> bool {
        u32::from(self.flags) & VRING_DESC_F_NEXT != 0
    }
}

/// A live split virtqueue, from DRIVER_OK until reset.
#[derive(Debug)]
pub(crate) struct Queue {
    ram: GuestRam,
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    event_idx: bool,
    /// Next available-ring slot to consume.
    next_avail: Wrapping<u16>,
    /// Next used-ring slot to fill (our copy of `used.idx`).
    next_used: Wrapping<u16>,
    /// `used.idx` when we last decided about an interrupt; `None` until the
    /// first decision, which always interrupts.
    signalled_used: Option<Wrapping<u16>>,
}

impl Queue {
    /// Checks the driver's setup and starts the queue at index 0.
    pub fn new(
        ram: GuestRam,
        cfg: &QueueConfig,
        max_size: u16,
        event_idx: bool,
    ) -> Result<Self, QueueError> {
        let size = cfg.size;
        if size == 0 || size > max_size || !size.is_power_of_two() {
            return Err(QueueError::BadSize(size));
        }
        let n = u64::from(size);
        // (name, address, alignment, bytes) per §2.7 (event fields included).
        let rings = [
            ("descriptor table", cfg.desc, 16, DESC_SIZE * n),
            ("available ring", cfg.avail, 2, RING_HEADER + 2 * n + 2),
            (
                "used ring",
                cfg.used,
                4,
                RING_HEADER + USED_ELEM_SIZE * n + 2,
            ),
        ];
        for (ring, addr, align, len) in rings {
            if !addr.is_multiple_of(align) {
                return Err(QueueError::Misaligned { ring, addr });
            }
            ram.check(addr, len)?;
        }
        Ok(Queue {
            ram,
            size,
            desc: cfg.desc,
            avail: cfg.avail,
            used: cfg.used,
            event_idx,
            next_avail: Wrapping(0),
            next_used: Wrapping(0),
            signalled_used: None,
        })
    }

    fn avail_idx(&self) -> Result<Wrapping<u16>, QueueError> {
        // Acquire: the slots and descriptors it covers are read after it.
        Ok(Wrapping(
            self.ram.load_u16(self.avail + 2, Ordering::Acquire)?,
        ))
    }

    /// `used_event`, after the available ring's slots.
    fn used_event_addr(&self) -> u64 {
        self.avail + RING_HEADER + 2 * u64::from(self.size)
    }

    /// `avail_event`, after the used ring's elements.
    fn avail_event_addr(&self) -> u64 {
        self.used + RING_HEADER + USED_ELEM_SIZE * u64::from(self.size)
    }

    fn slot(&self, idx: Wrapping<u16>) -> u64 {
        // The size is a power of two, so this is idx % size.
        u64::from(idx.0 & (self.size - 1))
    }

    /// Takes the head of the next available chain, if the driver has made
    /// one available.
    ///
    /// A head index out of range is consumed and reported: there is no
    /// chain to give back.
    pub fn pop(&mut self) -> Result<Option<u16>, QueueError> {
        let avail = self.avail_idx()?;
        let pending = (avail - self.next_avail).0;
        if pending == 0 {
            return Ok(None);
        }
        if pending > self.size {
            return Err(QueueError::AvailIdx {
                avail: avail.0,
                next: self.next_avail.0,
            });
        }
        let slot_addr = self.avail + RING_HEADER + 2 * self.slot(self.next_avail);
        let head = self.ram.load_u16(slot_addr, Ordering::Relaxed)?;
        self.next_avail += 1;
        if head >= self.size {
            return Err(QueueError::BadIndex(head));
        }
        Ok(Some(head))
    }

    /// Puts back the chain taken by the last successful `pop`, so that the
    /// next `pop` returns it again.
    pub fn undo_pop(&mut self) {
        self.next_avail -= 1;
    }

    fn desc(&self, index: u16) -> Result<Desc, QueueError> {
        if index >= self.size {
            return Err(QueueError::BadIndex(index));
        }
        let mut b = [0u8; DESC_SIZE as usize];
        self.ram
            .read(self.desc + DESC_SIZE * u64::from(index), &mut b)?;
        let [a0, a1, a2, a3, a4, a5, a6, a7, l0, l1, l2, l3, f0, f1, n0, n1] = b;
        Ok(Desc {
            addr: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            flags: u16::from_le_bytes([f0, f1]),
            next: u16::from_le_bytes([n0, n1]),
        })
    }

    /// The descriptors of the chain starting at `head`, in order. The
    /// iteration ends after the first error.
    pub fn chain(&self, head: u16) -> Chain<'_> {
        Chain {
            queue: self,
            next: Some(head),
            seen: 0,
        }
    }

    /// Returns the chain at `head` to the driver, `len` bytes written.
    pub fn add_used(&mut self, head: u16, len: u32) -> Result<(), QueueError> {
        let elem_addr = self.used + RING_HEADER + USED_ELEM_SIZE * self.slot(self.next_used);
        let mut elem = [0u8; USED_ELEM_SIZE as usize];
        elem[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        self.ram.write(elem_addr, &elem)?;
        self.next_used += 1;
        // Release: the element (and the buffer's bytes) become visible
        // before the index that hands them over.
        self.ram
            .store_u16(self.used + 2, self.next_used.0, Ordering::Release)?;
        Ok(())
    }

    /// Asks the driver to notify us when it makes more chains available,
    /// then says whether some are already there (so the caller must not
    /// sleep waiting for a notification).
    ///
    /// Without EVENT_IDX there is nothing to do: we never set
    /// VRING_USED_F_NO_NOTIFY, so the driver always notifies.
    pub fn enable_notification(&mut self) -> Result<bool, QueueError> {
        if self.event_idx {
            self.ram.store_u16(
                self.avail_event_addr(),
                self.next_avail.0,
                Ordering::Relaxed,
            )?;
        }
        // Our avail_event store must be visible before we read avail.idx;
        // the driver does the mirror image (store idx, fence, load event).
        fence(Ordering::SeqCst);
        Ok(self.avail_idx()? != self.next_avail)
    }

    /// Whether the driver wants an interrupt for the chains used since the
    /// last call (§2.7.7.2 and §2.7.10). Errors answer "yes": a spurious
    /// interrupt is harmless, a lost one stalls the driver.
    pub fn needs_notification(&mut self) -> bool {
        // used.idx must be visible before we read the driver's wish; the
        // driver stores its wish, fences, then reads used.idx.
        fence(Ordering::SeqCst);
        let new = self.next_used;
        if self.event_idx {
            let old = self.signalled_used.replace(new);
            let Ok(event) = self.ram.load_u16(self.used_event_addr(), Ordering::Relaxed) else {
                return true;
            };
            match old {
                // vring_need_event(): did used.idx step past used_event?
                Some(old) => new - Wrapping(event) - Wrapping(1) < new - old,
                None => true,
            }
        } else {
            match self.ram.load_u16(self.avail, Ordering::Relaxed) {
                Ok(flags) => u32::from(flags) & VRING_AVAIL_F_NO_INTERRUPT == 0,
                Err(_) => true,
            }
        }
    }

    #[cfg(test)]
    pub fn next_avail(&self) -> u16 {
        self.next_avail.0
    }
}

/// Iterator over a descriptor chain; see [`Queue::chain`].
pub(crate) struct Chain<'a> {
    queue: &'a Queue,
    next: Option<u16>,
    seen: u16,
}

impl Iterator for Chain<'_> {
    type Item = Result<Desc, QueueError>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next.take()?;
        // A chain has at most `size` descriptors; more means a loop.
        if self.seen == self.queue.size {
            return Some(Err(QueueError::ChainLoop));
        }
        self.seen += 1;
        let desc = match self.queue.desc(index) {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        if u32::from(desc.flags) & VRING_DESC_F_INDIRECT != 0 {
            return Some(Err(QueueError::Indirect));
        }
        if desc.has_next() {
            self.next = Some(desc.next);
        }
        Some(Ok(desc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::testutil::{DriverQueue, TestMem};
    use vm_memory::{Bytes, GuestAddress};

    const NEXT: u16 = VRING_DESC_F_NEXT as u16;
    const WRITE: u16 = VRING_DESC_F_WRITE as u16;

    #[test]
    fn setup_is_validated() {
        let m = TestMem::new(1 << 20);
        let dq = DriverQueue::new(m.mem, m.base, 16);
        let good = dq.config();
        assert!(Queue::new(m.ram, &good, 256, true).is_ok());
        for size in [0, 3, 512] {
            let c = QueueConfig { size, ..good };
            assert_eq!(
                Queue::new(m.ram, &c, 256, true).unwrap_err(),
                QueueError::BadSize(size)
            );
        }
        for c in [
            QueueConfig {
                desc: good.desc + 8,
                ..good
            },
            QueueConfig {
                avail: good.avail + 1,
                ..good
            },
            QueueConfig {
                used: good.used + 2,
                ..good
            },
        ] {
            assert!(matches!(
                Queue::new(m.ram, &c, 256, true),
                Err(QueueError::Misaligned { .. })
            ));
        }
        for c in [
            QueueConfig {
                used: m.base + m.size - 8,
                ..good
            },
            QueueConfig {
                desc: m.base - 0x1000,
                ..good
            },
            QueueConfig {
                avail: u64::MAX - 1,
                ..good
            },
        ] {
            assert!(matches!(
                Queue::new(m.ram, &c, 256, true),
                Err(QueueError::Mem(_))
            ));
        }
    }

    #[test]
    fn chains_and_bad_chains() {
        let m = TestMem::new(1 << 20);
        let dq = DriverQueue::new(m.mem, m.base, 16);
        let mut q = Queue::new(m.ram, &dq.config(), 256, false).unwrap();
        let buf = m.base + 0x10000;
        // 0 -> 5 -> 2, then a loop 3 -> 4 -> 3, then 6 -> 99.
        dq.store_desc(0, buf, 10, NEXT, 5);
        dq.store_desc(5, buf + 10, 20, NEXT | WRITE, 2);
        dq.store_desc(2, buf + 30, 30, WRITE, 0);
        dq.store_desc(3, buf, 1, NEXT, 4);
        dq.store_desc(4, buf, 1, NEXT, 3);
        dq.store_desc(6, buf, 1, NEXT, 99);
        dq.store_desc(7, buf, 1, VRING_DESC_F_INDIRECT as u16, 0);
        dq.publish(&[0, 3, 6, 7, 40]);

        let head = q.pop().unwrap().unwrap();
        let descs: Vec<_> = q.chain(head).map(Result::unwrap).collect();
        assert_eq!(descs.len(), 3);
        assert_eq!((descs[1].addr, descs[1].len), (buf + 10, 20));
        assert!(!descs[0].is_writable() && descs[1].is_writable());

        let head = q.pop().unwrap().unwrap();
        let r: Vec<_> = q.chain(head).collect();
        assert_eq!(r.len(), 17);
        assert_eq!(r[16], Err(QueueError::ChainLoop));

        let head = q.pop().unwrap().unwrap();
        let r: Vec<_> = q.chain(head).collect();
        assert_eq!(r[1], Err(QueueError::BadIndex(99)));

        let head = q.pop().unwrap().unwrap();
        assert_eq!(q.chain(head).next(), Some(Err(QueueError::Indirect)));

        assert_eq!(q.pop(), Err(QueueError::BadIndex(40)));
        assert_eq!(q.pop(), Ok(None));

        // The driver claims 17 new chains on a 16-entry queue.
        let idx = dq.avail.idx().load();
        dq.avail.idx().store(idx.wrapping_add(17));
        assert!(matches!(q.pop(), Err(QueueError::AvailIdx { .. })));
    }

    #[test]
    fn used_ring_and_event_idx() {
        let m = TestMem::new(1 << 20);
        let dq = DriverQueue::new(m.mem, m.base, 16);
        let mut q = Queue::new(m.ram, &dq.config(), 256, true).unwrap();
        for i in 0..4 {
            dq.store_desc(i, m.base + 0x10000, 64, 0, 0);
        }
        dq.publish(&[0, 1, 2, 3]);

        assert_eq!(q.pop(), Ok(Some(0)));
        q.add_used(0, 7).unwrap();
        assert_eq!(dq.used.idx().load(), 1);
        assert_eq!(dq.used_elem(0), (0, 7));
        // The first decision always interrupts.
        assert!(q.needs_notification());

        // The driver asks for an interrupt once used.idx passes 2.
        dq.set_used_event(m.mem, 2);
        assert_eq!(q.pop(), Ok(Some(1)));
        q.add_used(1, 0).unwrap();
        assert!(!q.needs_notification());
        assert_eq!(q.pop(), Ok(Some(2)));
        q.add_used(2, 0).unwrap();
        assert!(q.needs_notification());
        assert!(!q.needs_notification(), "nothing new since");

        // Notifications: avail_event follows what we consumed.
        assert_eq!(q.enable_notification(), Ok(true));
        assert_eq!(dq.avail_event(m.mem), 3);
        assert_eq!(q.pop(), Ok(Some(3)));
        q.undo_pop();
        assert_eq!(q.pop(), Ok(Some(3)));
        assert_eq!(q.enable_notification(), Ok(false));
        assert_eq!(dq.avail_event(m.mem), 4);
        assert_eq!(q.next_avail(), 4);
    }

    #[test]
    fn indices_wrap_around() {
        let m = TestMem::new(1 << 20);
        let dq = DriverQueue::new(m.mem, m.base, 4);
        let mut q = Queue::new(m.ram, &dq.config(), 256, true).unwrap();
        dq.store_desc(0, m.base + 0x10000, 64, 0, 0);
        // Well past 65535 uses of a 4-entry ring.
        for n in 0..70_000u32 {
            dq.publish(&[0]);
            assert_eq!(q.pop(), Ok(Some(0)));
            q.add_used(0, n).unwrap();
            assert_eq!(dq.used.idx().load(), (n + 1) as u16);
            assert_eq!(dq.used_elem(n as u16), (0, n));
            dq.set_used_event(m.mem, n as u16);
            assert!(q.needs_notification(), "use {n}");
        }
        assert_eq!(q.pop(), Ok(None));
    }

    #[test]
    fn no_interrupt_flag_without_event_idx() {
        let m = TestMem::new(1 << 20);
        let dq = DriverQueue::new(m.mem, m.base, 16);
        let mut q = Queue::new(m.ram, &dq.config(), 256, false).unwrap();
        dq.store_desc(0, m.base + 0x10000, 64, 0, 0);
        dq.publish(&[0, 0]);
        q.pop().unwrap();
        q.add_used(0, 0).unwrap();
        assert!(q.needs_notification());
        m.mem
            .write_obj(
                VRING_AVAIL_F_NO_INTERRUPT as u16,
                GuestAddress(dq.avail_addr),
            )
            .unwrap();
        q.pop().unwrap();
        q.add_used(0, 0).unwrap();
        assert!(!q.needs_notification());
    }
}
