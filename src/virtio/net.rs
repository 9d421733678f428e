// SPDX-License-Identifier: GPL-2.0-only
//! The virtio-net device (virtio 1.x §5.1): queue 0 receives, queue 1
//! transmits.
//!
//! Features offered: VIRTIO_F_VERSION_1, VIRTIO_NET_F_MAC,
//! VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MTU (when an MTU is configured) and
//! VIRTIO_RING_F_EVENT_IDX (unless turned off). No checksum or
//! segmentation offloads, no mergeable buffers: every frame travels behind
//! a 12-byte `virtio_net_hdr_mrg_rxbuf` that is all zero except
//! `num_buffers` = 1 on receive, and ignored on transmit.
//!
//! # Transmit: inline on the notifying thread, never blocking
//!
//! A notification of queue 1 comes from the kernel's `start_xmit` through
//! a register write. We drain the queue right there and hand each frame to
//! the [`FrameSink`]: the used ring is updated before the kernel carries
//! on. A sink must not block: when it is full ([`FrameSink::ready`] says
//! no), the device leaves the rest of the ring as it is, the driver stops
//! its queue once the ring is full (the qdisc holds packets, TCP feels the
//! backpressure), and the sink calls [`VirtioNet::resume_tx`] once it has
//! room again. So a slow reader of one stream never holds the instance's
//! CPU, and receiving goes on while transmit waits.
//!
//! # Receive: wait briefly for buffers, then drop
//!
//! [`VirtioNet::deliver`] runs on the NIC's RX thread. When the driver has
//! no receive buffer posted, the default policy ([`RxNoBuffer::Wait`])
//! blocks the RX thread until the driver posts some (it notifies queue 0
//! when it refills) or a timeout passes, so a burst is absorbed instead of
//! lost. If the timeout passes the queue is marked starved and frames are
//! dropped without waiting until the driver posts a buffer again: a driver
//! that stopped taking frames (interface down, buffers full) then costs one
//! timeout, not one per frame. [`RxNoBuffer::Drop`] drops at once, as a
//! hardware NIC does.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_bindings::virtio_ids::VIRTIO_ID_NET;
use virtio_bindings::virtio_net::{
    VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU, VIRTIO_NET_F_STATUS, VIRTIO_NET_S_LINK_UP,
};
use virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;

use super::queue::{Queue, QueueConfig, QueueError};
use super::ram::{GuestRam, MemError};
use super::{lock, ActivateError, Interrupt, IrqCallback, VirtioDevice, INT_CONFIG, INT_VRING};
use crate::wire::MAX_FRAME_LEN;

/// Index of the receive queue.
pub const RX_QUEUE: u16 = 0;
/// Index of the transmit queue.
pub const TX_QUEUE: u16 = 1;
/// QueueNumMax of both queues.
pub const QUEUE_SIZE: u16 = 256;
/// `virtio_net_hdr_mrg_rxbuf`: the header before every frame with
/// VIRTIO_F_VERSION_1.
pub const NET_HDR_LEN: usize = 12;
/// Smallest MTU Linux accepts.
pub const MIN_MTU: u16 = 68;
/// Largest MTU whose frames (with a VLAN tag) every wire framing carries.
pub const MAX_MTU: u16 = (MAX_FRAME_LEN - 18) as u16;
/// How long [`RxNoBuffer::default`] waits for receive buffers.
pub const DEFAULT_RX_WAIT: Duration = Duration::from_millis(500);

/// Bytes of config space: mac\[6\], status, max_virtqueue_pairs, mtu.
const CONFIG_LEN: usize = 12;

/// Where transmitted frames go.
///
/// `ready` and `send` run on the kernel thread that notified the TX queue
/// (or the thread in [`VirtioNet::resume_tx`]), with the device's TX lock
/// held: they must not block for long, must not call back into the device
/// or the kernel, and must not panic (the caller is kernel code that
/// cannot unwind).
pub trait FrameSink: Send {
    /// Whether the sink takes a frame now. A sink that says no must call
    /// [`VirtioNet::resume_tx`] once it has room again; until then the
    /// device leaves frames in the ring.
    fn ready(&mut self) -> bool {
        true
    }

    /// Takes one Ethernet frame. Errors are the sink's to count and handle:
    /// the kernel cannot do anything about them.
    fn send(&mut self, frame: &[u8]);

    /// Takes `frame` only if that cannot block (a pipe with room for it,
    /// a regular file); returns whether it did. A sink that cannot tell
    /// says no.
    fn send_now(&mut self, _frame: &[u8]) -> bool {
        false
    }
}

/// What [`VirtioNet::deliver`] does when the driver has no receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxNoBuffer {
    /// Drop the frame at once.
    Drop,
    /// Wait up to this long for the driver to post buffers, then drop.
    /// `Duration::MAX` never drops: the RX thread waits as long as it
    /// takes, pushing back on the input stream.
    Wait(Duration),
}

impl Default for RxNoBuffer {
    fn default() -> Self {
        RxNoBuffer::Wait(DEFAULT_RX_WAIT)
    }
}

/// The device's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// The MAC address in config space.
    pub mac: [u8; 6],
    /// Offered with VIRTIO_NET_F_MTU; the kernel's default (1500) if `None`.
    pub mtu: Option<u16>,
    /// Offer VIRTIO_RING_F_EVENT_IDX (fewer interrupts and notifications).
    pub event_idx: bool,
    /// Policy when no receive buffer is posted.
    pub rx_no_buffer: RxNoBuffer,
}

impl NetConfig {
    /// Defaults: no MTU offered, EVENT_IDX on, [`RxNoBuffer::default`].
    pub fn new(mac: [u8; 6]) -> Self {
        NetConfig {
            mac,
            mtu: None,
            event_idx: true,
            rx_no_buffer: RxNoBuffer::default(),
        }
    }
}

/// An MTU outside [`MIN_MTU`]`..=`[`MAX_MTU`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidMtu(pub u16);

impl fmt::Display for InvalidMtu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MTU {} is outside {MIN_MTU}..={MAX_MTU}", self.0)
    }
}

impl std::error::Error for InvalidMtu {}

/// Counters, as returned by [`VirtioNet::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames handed to the sink.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Chains longer than any frame (the device offers no GSO).
    pub tx_dropped_too_long: u64,
    /// Malformed chains (bad descriptors, buffers outside RAM, no header).
    pub tx_dropped_driver_error: u64,
    /// Times transmit stopped because the sink was full (backpressure).
    pub tx_stalls: u64,
    /// Frames written into the driver's buffers.
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// The driver has not started the device (or reset it).
    pub rx_dropped_not_ready: u64,
    /// The link is down.
    pub rx_dropped_link_down: u64,
    /// No receive buffer posted (see [`RxNoBuffer`]).
    pub rx_dropped_no_buffer: u64,
    /// The frame is larger than the posted buffer.
    pub rx_dropped_too_big: u64,
    /// Malformed receive chain or queue.
    pub rx_dropped_driver_error: u64,
    /// Times the RX thread waited for the driver to post buffers.
    pub rx_waits: u64,
    /// Interrupts raised (used buffers and config changes).
    pub interrupts: u64,
}

impl NetStats {
    /// All dropped received frames.
    pub fn rx_dropped(&self) -> u64 {
        self.rx_dropped_not_ready
            + self.rx_dropped_link_down
            + self.rx_dropped_no_buffer
            + self.rx_dropped_too_big
            + self.rx_dropped_driver_error
    }

    /// All dropped transmitted frames.
    pub fn tx_dropped(&self) -> u64 {
        self.tx_dropped_too_long + self.tx_dropped_driver_error
    }
}

/// [`NetStats`] as atomics.
#[derive(Debug, Default)]
struct Counters {
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped_too_long: AtomicU64,
    tx_dropped_driver_error: AtomicU64,
    tx_stalls: AtomicU64,
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped_not_ready: AtomicU64,
    rx_dropped_link_down: AtomicU64,
    rx_dropped_no_buffer: AtomicU64,
    rx_dropped_too_big: AtomicU64,
    rx_dropped_driver_error: AtomicU64,
    rx_waits: AtomicU64,
    interrupts: AtomicU64,
}

fn inc(c: &AtomicU64) {
    add(c, 1);
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> NetStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStats {
            tx_frames: get(&self.tx_frames),
            tx_bytes: get(&self.tx_bytes),
            tx_dropped_too_long: get(&self.tx_dropped_too_long),
            tx_dropped_driver_error: get(&self.tx_dropped_driver_error),
            tx_stalls: get(&self.tx_stalls),
            rx_frames: get(&self.rx_frames),
            rx_bytes: get(&self.rx_bytes),
            rx_dropped_not_ready: get(&self.rx_dropped_not_ready),
            rx_dropped_link_down: get(&self.rx_dropped_link_down),
            rx_dropped_no_buffer: get(&self.rx_dropped_no_buffer),
            rx_dropped_too_big: get(&self.rx_dropped_too_big),
            rx_dropped_driver_error: get(&self.rx_dropped_driver_error),
            rx_waits: get(&self.rx_waits),
            interrupts: get(&self.interrupts),
        }
    }
}

struct RxState {
    queue: Option<Queue>,
    /// Waited in vain for buffers: drop without waiting until some appear.
    starved: bool,
    /// The current chain's buffers (reused to avoid allocating per frame).
    bufs: Vec<(u64, u32)>,
}

struct TxState {
    queue: Option<Queue>,
    sink: Box<dyn FrameSink>,
    /// The current chain's bytes, header included (reused).
    frame: Vec<u8>,
}

/// What one attempt at delivering a frame came to.
enum RxOutcome {
    Done {
        delivered: bool,
        notify: bool,
    },
    /// No buffer; waiting is allowed.
    Empty,
}

/// A virtio-net device; plug it into a [`super::MmioDevice`].
pub struct VirtioNet {
    ram: GuestRam,
    mac: [u8; 6],
    mtu: Option<u16>,
    features: u64,
    rx_no_buffer: RxNoBuffer,
    irq: Interrupt,
    link_up: AtomicBool,
    generation: AtomicU32,
    /// DRIVER_OK was accepted and no reset since.
    active: AtomicBool,
    /// `shutdown` was called: never touch the RAM again.
    shut_down: AtomicBool,
    rx: Mutex<RxState>,
    /// Bumped on every event a waiting RX thread must look at (queue 0
    /// notification, activation, reset, link change, shutdown).
    rx_events: Mutex<u64>,
    rx_event: Condvar,
    tx: Mutex<TxState>,
    counters: Counters,
    warned: AtomicBool,
}

impl VirtioNet {
    /// A device over the kernel's RAM that sends transmitted frames to
    /// `sink` and raises its interrupt with `irq`. The link starts up.
    pub fn new(
        ram: GuestRam,
        config: NetConfig,
        sink: Box<dyn FrameSink>,
        irq: IrqCallback,
    ) -> Result<Self, InvalidMtu> {
        if let Some(mtu) = config.mtu {
            if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
                return Err(InvalidMtu(mtu));
            }
        }
        let mut features =
            1u64 << VIRTIO_F_VERSION_1 | 1 << VIRTIO_NET_F_MAC | 1 << VIRTIO_NET_F_STATUS;
        if config.mtu.is_some() {
            features |= 1 << VIRTIO_NET_F_MTU;
        }
        if config.event_idx {
            features |= 1 << VIRTIO_RING_F_EVENT_IDX;
        }
        Ok(VirtioNet {
            ram,
            mac: config.mac,
            mtu: config.mtu,
            features,
            rx_no_buffer: config.rx_no_buffer,
            irq: Interrupt::new(irq),
            link_up: AtomicBool::new(true),
            generation: AtomicU32::new(0),
            active: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            rx: Mutex::new(RxState {
                queue: None,
                starved: false,
                bufs: Vec::new(),
            }),
            rx_events: Mutex::new(0),
            rx_event: Condvar::new(),
            tx: Mutex::new(TxState {
                queue: None,
                sink,
                frame: Vec::new(),
            }),
            counters: Counters::default(),
            warned: AtomicBool::new(false),
        })
    }

    /// Hands a received frame to the driver. Returns whether it was
    /// delivered; a dropped frame is counted under its reason.
    ///
    /// Meant for one RX thread; it may block per [`RxNoBuffer`]. Raises the
    /// interrupt (without holding any lock) if the driver wants one.
    pub fn deliver(&self, frame: &[u8]) -> bool {
        let mut notify = false;
        let delivered = self.deliver_deferred(frame, &mut notify);
        self.notify_rx(notify);
        delivered
    }

    /// Like [`deliver`](Self::deliver), but leaves the interrupt to the
    /// caller: sets `*notify` if the driver wants one, and the caller
    /// passes it to [`notify_rx`](Self::notify_rx) after a batch, so a
    /// burst of frames costs one interrupt. A deferred interrupt is raised
    /// here before waiting for buffers (the driver frees them only after
    /// it has seen the interrupt).
    pub fn deliver_deferred(&self, frame: &[u8], notify: &mut bool) -> bool {
        // Outer None: not waited yet. Inner None: no time limit.
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            // Read before looking at the ring: an event after this read
            // makes the wait below return at once, so none is missed.
            let seen = *lock(&self.rx_events);
            match self.try_deliver(frame) {
                RxOutcome::Done {
                    delivered,
                    notify: wanted,
                } => {
                    *notify |= wanted;
                    return delivered;
                }
                RxOutcome::Empty => {
                    self.notify_rx(std::mem::take(notify));
                    let RxNoBuffer::Wait(max) = self.rx_no_buffer else {
                        unreachable!("try_deliver returns Empty only with RxNoBuffer::Wait");
                    };
                    let limit = *deadline.get_or_insert_with(|| {
                        inc(&self.counters.rx_waits);
                        Instant::now().checked_add(max)
                    });
                    if !self.wait_rx_event(seen, limit) {
                        lock(&self.rx).starved = true;
                        inc(&self.counters.rx_dropped_no_buffer);
                        return false;
                    }
                }
            }
        }
    }

    /// Raises the receive interrupt deferred by
    /// [`deliver_deferred`](Self::deliver_deferred), if it is wanted.
    pub fn notify_rx(&self, notify: bool) {
        if notify {
            self.raise(INT_VRING);
        }
    }

    fn try_deliver(&self, frame: &[u8]) -> RxOutcome {
        let dropped = |counter: &AtomicU64| {
            inc(counter);
            RxOutcome::Done {
                delivered: false,
                notify: false,
            }
        };
        let c = &self.counters;
        let mut guard = lock(&self.rx);
        let RxState {
            queue,
            starved,
            bufs,
        } = &mut *guard;
        if self.shut_down.load(Ordering::SeqCst) {
            return dropped(&c.rx_dropped_not_ready);
        }
        let Some(q) = queue.as_mut() else {
            return dropped(&c.rx_dropped_not_ready);
        };
        if !self.link_up.load(Ordering::SeqCst) {
            return dropped(&c.rx_dropped_link_down);
        }
        let head = loop {
            match q.pop() {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(e) => {
                    self.driver_error("rx", &e);
                    return dropped(&c.rx_dropped_driver_error);
                }
            }
            if *starved || self.rx_no_buffer == RxNoBuffer::Drop {
                return dropped(&c.rx_dropped_no_buffer);
            }
            match q.enable_notification() {
                Ok(true) => continue,
                Ok(false) => return RxOutcome::Empty,
                Err(e) => {
                    self.driver_error("rx", &e);
                    return dropped(&c.rx_dropped_driver_error);
                }
            }
        };
        *starved = false;

        let bad_chain = |q: &mut Queue, e: QueueError| {
            self.driver_error("rx", &e);
            inc(&c.rx_dropped_driver_error);
            // Give the buffer back (empty) so the driver can reuse it.
            let notify = q.add_used(head, 0).is_ok() && q.needs_notification();
            RxOutcome::Done {
                delivered: false,
                notify,
            }
        };
        // Collect and check the buffers before writing anything.
        let room = match rx_buffers(&self.ram, q, head, bufs) {
            Ok(room) => room,
            Err(e) => return bad_chain(q, e),
        };
        let total = NET_HDR_LEN + frame.len();
        let Some(total32) = u32::try_from(total).ok().filter(|&t| u64::from(t) <= room) else {
            // Leave the chain for a frame that fits.
            q.undo_pop();
            return dropped(&c.rx_dropped_too_big);
        };
        if let Err(e) = scatter(&self.ram, bufs, [&rx_header(), frame]) {
            return bad_chain(q, e.into());
        }
        if let Err(e) = q.add_used(head, total32) {
            self.driver_error("rx", &e);
            return dropped(&c.rx_dropped_driver_error);
        }
        inc(&c.rx_frames);
        add(&c.rx_bytes, frame.len() as u64);
        RxOutcome::Done {
            delivered: true,
            notify: q.needs_notification(),
        }
    }

    /// Waits until the RX event count moves past `seen` (true) or `limit`
    /// passes (false).
    fn wait_rx_event(&self, seen: u64, limit: Option<Instant>) -> bool {
        let mut events = lock(&self.rx_events);
        loop {
            if *events != seen {
                return true;
            }
            events = match limit {
                None => self
                    .rx_event
                    .wait(events)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(limit) => {
                    let now = Instant::now();
                    if now >= limit {
                        return false;
                    }
                    self.rx_event
                        .wait_timeout(events, limit - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    fn wake_rx(&self) {
        *lock(&self.rx_events) += 1;
        self.rx_event.notify_all();
    }

    /// Drains the transmit queue into the sink (queue 1 notification).
    fn process_tx(&self) {
        let c = &self.counters;
        let notify = {
            let mut guard = lock(&self.tx);
            let TxState { queue, sink, frame } = &mut *guard;
            let Some(q) = queue.as_mut() else {
                return;
            };
            let mut used = false;
            loop {
                if !sink.ready() {
                    // Left in the ring; resume_tx comes back for them.
                    inc(&c.tx_stalls);
                    break;
                }
                let head = match q.pop() {
                    Ok(Some(head)) => head,
                    Ok(None) => match q.enable_notification() {
                        // More arrived while we re-armed notifications.
                        Ok(true) => continue,
                        Ok(false) => break,
                        Err(e) => {
                            self.driver_error("tx", &e);
                            break;
                        }
                    },
                    // A bad head was consumed; the next slot may be fine.
                    Err(e @ QueueError::BadIndex(_)) => {
                        self.driver_error("tx", &e);
                        continue;
                    }
                    Err(e) => {
                        self.driver_error("tx", &e);
                        break;
                    }
                };
                match self.gather(q, head, frame) {
                    Ok(()) if frame.len() >= NET_HDR_LEN => {
                        let payload = &frame[NET_HDR_LEN..];
                        sink.send(payload);
                        inc(&c.tx_frames);
                        add(&c.tx_bytes, payload.len() as u64);
                    }
                    Ok(()) => {
                        self.driver_error("tx", &QueueError::TooShort);
                        inc(&c.tx_dropped_driver_error);
                    }
                    Err(QueueError::TooLong) => inc(&c.tx_dropped_too_long),
                    Err(e) => {
                        self.driver_error("tx", &e);
                        inc(&c.tx_dropped_driver_error);
                    }
                }
                // Nothing is written into a transmit buffer.
                if let Err(e) = q.add_used(head, 0) {
                    self.driver_error("tx", &e);
                    break;
                }
                used = true;
            }
            used && q.needs_notification()
        };
        if notify {
            self.raise(INT_VRING);
        }
    }

    /// Transmits what the ring holds: for a sink that was full and has
    /// room again (see [`FrameSink::ready`]).
    pub fn resume_tx(&self) {
        if self.active.load(Ordering::SeqCst) && !self.shut_down.load(Ordering::SeqCst) {
            self.process_tx();
        }
    }

    /// Copies the readable buffers of the chain at `head` into `frame`.
    fn gather(&self, q: &Queue, head: u16, frame: &mut Vec<u8>) -> Result<(), QueueError> {
        frame.clear();
        for desc in q.chain(head) {
            let desc = desc?;
            if desc.is_writable() {
                return Err(QueueError::BadDirection);
            }
            let start = frame.len();
            let len = desc.len as usize;
            if start + len > NET_HDR_LEN + MAX_FRAME_LEN {
                return Err(QueueError::TooLong);
            }
            frame.resize(start + len, 0);
            self.ram.read(desc.addr, &mut frame[start..])?;
        }
        Ok(())
    }

    /// Sets the link state; a change raises a config-change interrupt.
    pub fn set_link(&self, up: bool) {
        if self.link_up.swap(up, Ordering::SeqCst) == up {
            return;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.wake_rx();
        // Before DRIVER_OK nobody listens; the driver reads the status then.
        if self.active.load(Ordering::SeqCst) {
            self.raise(INT_CONFIG);
        }
    }

    pub fn link_up(&self) -> bool {
        self.link_up.load(Ordering::SeqCst)
    }

    /// Whether the driver has started the device (DRIVER_OK, no reset).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub fn stats(&self) -> NetStats {
        self.counters.snapshot()
    }

    /// Stops the device for good: once this returns, no thread of the
    /// device touches the kernel's RAM again, later frames are dropped and
    /// a waiting [`deliver`](Self::deliver) returns. Call it before the
    /// RAM is freed.
    pub fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
        self.reset();
    }

    fn raise(&self, bits: u32) {
        inc(&self.counters.interrupts);
        self.irq.raise(bits);
    }

    /// Logs a driver error: the first one as a warning, the rest at debug
    /// level (a broken driver could otherwise flood the log).
    fn driver_error(&self, queue: &str, e: &QueueError) {
        if self.warned.swap(true, Ordering::Relaxed) {
            log::debug!("virtio-net {queue}: {e}");
        } else {
            log::warn!("virtio-net {queue}: {e} (further driver errors are logged at debug level)");
        }
    }

    fn config_bytes(&self) -> [u8; CONFIG_LEN] {
        let status = if self.link_up() {
            VIRTIO_NET_S_LINK_UP as u16
        } else {
            0
        };
        let mut c = [0u8; CONFIG_LEN];
        c[..6].copy_from_slice(&self.mac);
        c[6..8].copy_from_slice(&status.to_le_bytes());
        // max_virtqueue_pairs: one (VIRTIO_NET_F_MQ is not offered).
        c[8..10].copy_from_slice(&1u16.to_le_bytes());
        c[10..12].copy_from_slice(&self.mtu.unwrap_or(0).to_le_bytes());
        c
    }
}

/// The receive header: no offloads, `num_buffers` = 1 (§5.1.6.4).
fn rx_header() -> [u8; NET_HDR_LEN] {
    let mut h = [0u8; NET_HDR_LEN];
    h[10..12].copy_from_slice(&1u16.to_le_bytes());
    h
}

/// Collects the buffers of the receive chain at `head` into `bufs` and
/// returns their total size; they must all be writable and inside the RAM.
fn rx_buffers(
    ram: &GuestRam,
    q: &Queue,
    head: u16,
    bufs: &mut Vec<(u64, u32)>,
) -> Result<u64, QueueError> {
    bufs.clear();
    let mut room = 0u64;
    for desc in q.chain(head) {
        let desc = desc?;
        if !desc.is_writable() {
            return Err(QueueError::BadDirection);
        }
        ram.check(desc.addr, desc.len.into())?;
        bufs.push((desc.addr, desc.len));
        room += u64::from(desc.len);
    }
    Ok(room)
}

/// Writes `parts` one after the other across the buffers `bufs`.
fn scatter(ram: &GuestRam, bufs: &[(u64, u32)], parts: [&[u8]; 2]) -> Result<(), MemError> {
    let mut bufs = bufs.iter();
    let (mut addr, mut room) = (0u64, 0usize);
    for part in parts {
        let mut rest = part;
        while !rest.is_empty() {
            if room == 0 {
                let &(a, len) = bufs.next().ok_or(MemError::OutOfRange {
                    addr,
                    len: rest.len() as u64,
                })?;
                (addr, room) = (a, len as usize);
                continue;
            }
            let n = rest.len().min(room);
            ram.write(addr, &rest[..n])?;
            addr += n as u64;
            room -= n;
            rest = &rest[n..];
        }
    }
    Ok(())
}

impl VirtioDevice for VirtioNet {
    fn device_id(&self) -> u32 {
        VIRTIO_ID_NET
    }

    fn features(&self) -> u64 {
        self.features
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        let config = self.config_bytes();
        let src = usize::try_from(offset)
            .ok()
            .and_then(|off| config.get(off..))
            .unwrap_or(&[]);
        let n = src.len().min(data.len());
        data[..n].copy_from_slice(&src[..n]);
    }

    fn write_config(&self, offset: u64, data: &[u8]) {
        // Every field is read-only with VIRTIO_F_VERSION_1.
        log::debug!(
            "virtio-net: ignored {}-byte config write at 0x{offset:x}",
            data.len()
        );
    }

    fn config_generation(&self) -> u32 {
        self.generation.load(Ordering::SeqCst)
    }

    fn activate(&self, features: u64, queues: &[QueueConfig]) -> Result<(), ActivateError> {
        let event_idx = features & (1 << VIRTIO_RING_F_EVENT_IDX) != 0;
        let make = |index: u16| {
            let cfg = queues
                .get(usize::from(index))
                .filter(|c| c.ready)
                .ok_or(ActivateError::QueueNotReady(index))?;
            Queue::new(self.ram, cfg, QUEUE_SIZE, event_idx)
                .map_err(|error| ActivateError::Queue { index, error })
        };
        let (rxq, txq) = (make(RX_QUEUE)?, make(TX_QUEUE)?);
        // `shut_down` is checked under each lock, which `shutdown` takes
        // after setting it: a queue installed here is cleared again there.
        {
            let mut rx = lock(&self.rx);
            if self.shut_down.load(Ordering::SeqCst) {
                return Err(ActivateError::ShutDown);
            }
            rx.queue = Some(rxq);
            rx.starved = false;
        }
        {
            let mut tx = lock(&self.tx);
            if self.shut_down.load(Ordering::SeqCst) {
                return Err(ActivateError::ShutDown);
            }
            tx.queue = Some(txq);
        }
        self.active.store(true, Ordering::SeqCst);
        self.wake_rx();
        Ok(())
    }

    fn reset(&self) {
        self.active.store(false, Ordering::SeqCst);
        {
            let mut rx = lock(&self.rx);
            rx.queue = None;
            rx.starved = false;
        }
        lock(&self.tx).queue = None;
        self.wake_rx();
    }

    fn queue_notify(&self, index: u16) {
        match index {
            // The driver posted receive buffers: wake a waiting deliver().
            RX_QUEUE => self.wake_rx(),
            TX_QUEUE => self.process_tx(),
            _ => log::debug!("virtio-net: notify of unknown queue {index}"),
        }
    }

    fn interrupt(&self) -> &Interrupt {
        &self.irq
    }
}

impl fmt::Debug for VirtioNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioNet")
            .field("ram", &self.ram)
            .field("mac", &self.mac)
            .field("mtu", &self.mtu)
            .field("link_up", &self.link_up())
            .field("active", &self.is_active())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::testutil::{frame, Harness, QSIZE, SLOT};
    use std::sync::Arc;
    use std::thread;
    use virtio_bindings::virtio_mmio as reg;
    use virtio_bindings::virtio_ring::{
        VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
    };
    use vm_memory::{Bytes, GuestAddress};

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    fn running(config: NetConfig) -> Harness {
        let mut h = Harness::new(config);
        h.init(None);
        h
    }

    fn with_policy(rx_no_buffer: RxNoBuffer) -> Harness {
        running(NetConfig {
            rx_no_buffer,
            ..NetConfig::new(MAC)
        })
    }

    fn sent(h: &Harness) -> Vec<Vec<u8>> {
        h.sent.0.lock().unwrap().clone()
    }

    fn hdr() -> Vec<u8> {
        let mut h = vec![0u8; NET_HDR_LEN];
        h[10] = 1;
        h
    }

    #[test]
    fn mtu_is_checked() {
        let m = crate::virtio::testutil::TestMem::new(1 << 16);
        for (mtu, ok) in [
            (67, false),
            (68, true),
            (9000, true),
            (65517, true),
            (65518, false),
        ] {
            let config = NetConfig {
                mtu: Some(mtu),
                ..NetConfig::new(MAC)
            };
            let sink = Box::new(crate::virtio::testutil::Recorder::default());
            let r = VirtioNet::new(m.ram, config, sink, Arc::new(|| {}));
            assert_eq!(r.is_ok(), ok, "mtu {mtu}");
        }
    }

    #[test]
    fn transmit_strips_the_header() {
        let mut h = running(NetConfig::new(MAC));
        let f = frame(1514, 7);
        // Header alone, then the frame in two pieces.
        h.send(&[&[0xaa; NET_HDR_LEN], &f[..100], &f[100..]]);
        assert_eq!(sent(&h), vec![f.clone()]);
        assert_eq!(h.take_used(1), vec![(0, 0)]);
        assert_eq!(h.irqs(), 1);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), INT_VRING);
        // Header and frame in one buffer (VIRTIO_F_ANY_LAYOUT).
        h.send_frame(&frame(60, 8));
        assert_eq!(sent(&h)[1], frame(60, 8));
        let s = h.net.stats();
        assert_eq!((s.tx_frames, s.tx_bytes), (2, 1574));
        assert_eq!(s.tx_dropped(), 0);
    }

    #[test]
    fn a_full_sink_leaves_frames_in_the_ring_until_resumed() {
        let mut h = running(NetConfig::new(MAC));
        h.sent.1.store(true, Ordering::SeqCst);
        for seed in 0..3 {
            h.send_frame(&frame(64, seed));
        }
        assert!(sent(&h).is_empty(), "nothing taken while full");
        assert!(h.take_used(1).is_empty(), "no buffer completed");
        assert!(h.net.stats().tx_stalls >= 1);
        h.sent.1.store(false, Ordering::SeqCst);
        h.net.resume_tx();
        assert_eq!(sent(&h), (0..3).map(|s| frame(64, s)).collect::<Vec<_>>());
        assert_eq!(h.take_used(1).len(), 3);
        assert_eq!(h.net.stats().tx_dropped(), 0);
    }

    #[test]
    fn transmit_batch_and_event_idx() {
        let mut h = running(NetConfig::new(MAC));
        // Three chains, one kick: one interrupt.
        for seed in 0..3 {
            let mut buf = vec![0u8; NET_HDR_LEN];
            buf.extend_from_slice(&frame(64, seed));
            let addr = h.slot(1, u16::from(seed));
            h.m.ram.write(addr, &buf).unwrap();
            h.add_chain(1, &[(addr, buf.len() as u32, false)]);
        }
        h.kick(1);
        assert_eq!(sent(&h).len(), 3);
        assert_eq!(h.take_used(1).len(), 3);
        assert_eq!(h.irqs(), 1);
        // The device asks to be notified of the next chain.
        assert_eq!(h.avail_event(1), 3);

        // The driver wants no interrupt until used.idx passes 10.
        h.set_used_event(1, 10);
        for seed in 3..10 {
            h.send_frame(&frame(64, seed));
        }
        assert_eq!(h.irqs(), 1);
        h.send_frame(&frame(64, 10));
        assert_eq!(h.irqs(), 2, "used.idx passed used_event");
        assert_eq!(sent(&h).len(), 11);
    }

    #[test]
    fn receive_writes_header_and_frame() {
        let mut h = with_policy(RxNoBuffer::Drop);
        let bufs = h.post_rx(&[2048]);
        let f = frame(60, 3);
        assert!(h.net.deliver(&f));
        assert_eq!(h.take_used(0), vec![(0, 72)]);
        let got = h.read_mem(bufs[0], 72);
        assert_eq!(got[..NET_HDR_LEN], hdr());
        assert_eq!(got[NET_HDR_LEN..], f);
        assert_eq!(h.irqs(), 1);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), INT_VRING);
        h.w(reg::VIRTIO_MMIO_INTERRUPT_ACK, INT_VRING);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), 0);
        let s = h.net.stats();
        assert_eq!((s.rx_frames, s.rx_bytes, s.rx_dropped()), (1, 60, 0));
    }

    #[test]
    fn receive_across_buffers() {
        let mut h = with_policy(RxNoBuffer::Drop);
        let bufs = h.post_rx(&[10, 20, 1000]);
        let f = frame(500, 4);
        assert!(h.net.deliver(&f));
        assert_eq!(h.take_used(0), vec![(0, 512)]);
        let mut got = h.read_mem(bufs[0], 10);
        got.extend(h.read_mem(bufs[1], 20));
        got.extend(h.read_mem(bufs[2], 482));
        assert_eq!(got[..NET_HDR_LEN], hdr());
        assert_eq!(got[NET_HDR_LEN..], f);
    }

    #[test]
    fn largest_frame_both_ways() {
        let mut h = with_policy(RxNoBuffer::Drop);
        let f = frame(MAX_FRAME_LEN, 5);
        let bufs = h.post_rx(&[SLOT as u32]);
        assert!(h.net.deliver(&f));
        assert_eq!(h.read_mem(bufs[0] + NET_HDR_LEN as u64, f.len()), f);
        h.send_frame(&f);
        assert_eq!(sent(&h), vec![f]);
        // One byte more than any frame: dropped, chain returned.
        let mut too_long = vec![0u8; NET_HDR_LEN + MAX_FRAME_LEN + 1];
        too_long[NET_HDR_LEN] = 1;
        h.send(&[&too_long]);
        assert_eq!(sent(&h).len(), 1);
        assert_eq!(h.net.stats().tx_dropped_too_long, 1);
        assert_eq!(h.take_used(1).len(), 2);
    }

    #[test]
    fn frame_bigger_than_buffer_is_dropped() {
        let mut h = with_policy(RxNoBuffer::Drop);
        let bufs = h.post_rx(&[100]);
        assert!(!h.net.deliver(&frame(200, 1)));
        assert_eq!(h.net.stats().rx_dropped_too_big, 1);
        assert!(h.take_used(0).is_empty());
        assert_eq!(h.irqs(), 0);
        // The buffer is still there for a frame that fits.
        assert!(h.net.deliver(&frame(88, 2)));
        assert_eq!(h.take_used(0), vec![(0, 100)]);
        assert_eq!(h.read_mem(bufs[0] + 12, 88), frame(88, 2));
    }

    #[test]
    fn no_buffer_drop_policy() {
        let h = with_policy(RxNoBuffer::Drop);
        assert!(!h.net.deliver(&frame(60, 1)));
        let s = h.net.stats();
        assert_eq!((s.rx_dropped_no_buffer, s.rx_waits), (1, 0));
    }

    #[test]
    fn no_buffer_waits_for_the_driver() {
        let mut h = with_policy(RxNoBuffer::Wait(Duration::from_secs(30)));
        let net = h.net.clone();
        let rx = thread::spawn(move || net.deliver(&frame(60, 1)));
        // Wait until the RX thread sleeps for buffers.
        while h.net.stats().rx_waits == 0 {
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(20));
        assert!(!rx.is_finished());
        // It asked to be notified of the next buffer.
        assert_eq!(h.avail_event(0), 0);
        h.post_rx(&[2048]);
        h.kick(0);
        assert!(rx.join().unwrap());
        assert_eq!(h.take_used(0), vec![(0, 72)]);
        assert_eq!(h.net.stats().rx_dropped(), 0);
    }

    #[test]
    fn starved_queue_drops_without_waiting() {
        let mut h = with_policy(RxNoBuffer::Wait(Duration::from_millis(30)));
        let t = Instant::now();
        assert!(!h.net.deliver(&frame(60, 1)));
        assert!(t.elapsed() >= Duration::from_millis(30));
        // Starved: later frames do not wait again.
        for _ in 0..3 {
            assert!(!h.net.deliver(&frame(60, 2)));
        }
        let s = h.net.stats();
        assert_eq!((s.rx_waits, s.rx_dropped_no_buffer), (1, 4));
        // A posted buffer (even without a kick) ends the starvation...
        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 3)));
        // ...so the next shortage waits again.
        assert!(!h.net.deliver(&frame(60, 4)));
        assert_eq!(h.net.stats().rx_waits, 2);
    }

    #[test]
    fn receive_interrupts_follow_event_idx() {
        let mut h = with_policy(RxNoBuffer::Drop);
        for _ in 0..4 {
            h.post_rx(&[2048]);
        }
        assert!(h.net.deliver(&frame(60, 0)));
        assert_eq!(h.irqs(), 1, "first use always interrupts");
        h.set_used_event(0, 2);
        assert!(h.net.deliver(&frame(60, 1)));
        assert_eq!(h.irqs(), 1);
        assert!(h.net.deliver(&frame(60, 2)));
        assert_eq!(h.irqs(), 2);
        assert!(h.net.deliver(&frame(60, 3)));
        assert_eq!(h.irqs(), 2);
    }

    #[test]
    fn no_interrupt_flag_without_event_idx() {
        let mut h = running(NetConfig {
            event_idx: false,
            rx_no_buffer: RxNoBuffer::Drop,
            ..NetConfig::new(MAC)
        });
        h.post_rx(&[2048]);
        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 0)));
        assert_eq!(h.irqs(), 1);
        let flags = VRING_AVAIL_F_NO_INTERRUPT as u16;
        let avail = GuestAddress(h.queues[0].avail_addr);
        h.m.mem.write_obj(flags, avail).unwrap();
        assert!(h.net.deliver(&frame(60, 1)));
        assert_eq!(h.irqs(), 1);
    }

    #[test]
    fn link_changes_raise_config_interrupts() {
        let mut h = with_policy(RxNoBuffer::Drop);
        let generation = h.r(reg::VIRTIO_MMIO_CONFIG_GENERATION);
        h.net.set_link(false);
        assert!(!h.net.link_up());
        assert_eq!(h.irqs(), 1);
        assert_eq!(h.r(reg::VIRTIO_MMIO_INTERRUPT_STATUS), INT_CONFIG);
        assert_eq!(h.config(6, 2), [0, 0]);
        assert_ne!(h.r(reg::VIRTIO_MMIO_CONFIG_GENERATION), generation);
        h.net.set_link(false);
        assert_eq!(h.irqs(), 1, "no change, no interrupt");
        h.post_rx(&[2048]);
        assert!(!h.net.deliver(&frame(60, 1)));
        assert_eq!(h.net.stats().rx_dropped_link_down, 1);
        h.net.set_link(true);
        assert_eq!(h.irqs(), 2);
        assert_eq!(h.config(6, 2), [1, 0]);
        assert!(h.net.deliver(&frame(60, 2)));
    }

    #[test]
    fn link_change_before_driver_ok_is_silent() {
        let h = Harness::new(NetConfig::new(MAC));
        h.net.set_link(false);
        assert_eq!(h.irqs(), 0);
        assert_eq!(h.config(6, 2), [0, 0]);
    }

    #[test]
    fn bad_transmit_chains_are_dropped() {
        let mut h = running(NetConfig::new(MAC));
        let outside = h.m.base + h.m.size - 16;
        // Buffer running off the end of RAM.
        h.add_chain(1, &[(outside, 64, false)]);
        // Writable buffer in a transmit chain.
        h.add_chain(1, &[(h.slot(1, 5), 64, true)]);
        // Shorter than the header.
        h.add_chain(1, &[(h.slot(1, 6), 4, false)]);
        h.kick(1);
        assert_eq!(h.net.stats().tx_dropped_driver_error, 3);
        assert!(sent(&h).is_empty());
        // Every chain is given back, and the queue still works.
        assert_eq!(h.take_used(1).len(), 3);
        h.send_frame(&frame(60, 1));
        assert_eq!(sent(&h), vec![frame(60, 1)]);

        // A loop: 200 -> 201 -> 200.
        let next = VRING_DESC_F_NEXT as u16;
        h.queues[1].store_desc(200, h.slot(1, 200), 64, next, 201);
        h.queues[1].store_desc(201, h.slot(1, 201), 64, next, 200);
        h.queues[1].publish(&[200]);
        h.kick(1);
        assert_eq!(h.net.stats().tx_dropped_driver_error, 4);
        assert_eq!(h.take_used(1), vec![(3, 0), (200, 0)]);

        // A head that names no descriptor is skipped.
        h.queues[1].publish(&[QSIZE + 3]);
        h.send_frame(&frame(60, 2));
        assert_eq!(sent(&h).len(), 2);

        // avail.idx jumping more than a ring ahead stalls the queue but
        // never panics.
        let idx = h.queues[1].avail.idx().load();
        h.queues[1].avail.idx().store(idx.wrapping_add(QSIZE + 1));
        h.kick(1);
        assert_eq!(sent(&h).len(), 2);
    }

    #[test]
    fn bad_receive_chains_are_dropped() {
        let mut h = with_policy(RxNoBuffer::Drop);
        // Device-readable buffer in a receive chain.
        h.add_chain(0, &[(h.slot(0, 0), 2048, false)]);
        assert!(!h.net.deliver(&frame(60, 1)));
        assert_eq!(h.take_used(0), vec![(0, 0)], "returned empty");
        // Buffer outside RAM.
        let write = VRING_DESC_F_WRITE as u16;
        h.queues[0].store_desc(1, 0x1000, 2048, write, 0);
        h.queues[0].publish(&[1]);
        assert!(!h.net.deliver(&frame(60, 2)));
        assert_eq!(h.take_used(0), vec![(1, 0)]);
        let s = h.net.stats();
        assert_eq!(s.rx_dropped_driver_error, 2);
        assert_eq!(s.rx_frames, 0);
        h.post_rx(&[2048]);
        assert!(h.net.deliver(&frame(60, 3)));
    }

    #[test]
    fn shutdown_stops_everything() {
        let mut h = with_policy(RxNoBuffer::Wait(Duration::from_secs(30)));
        let net = h.net.clone();
        let rx = thread::spawn(move || net.deliver(&frame(60, 1)));
        while h.net.stats().rx_waits == 0 {
            thread::yield_now();
        }
        h.net.shutdown();
        assert!(!rx.join().unwrap(), "a waiting deliver returns");
        h.post_rx(&[2048]);
        assert!(!h.net.deliver(&frame(60, 2)));
        assert!(h.take_used(0).is_empty());
        h.send_frame(&frame(60, 3));
        assert!(sent(&h).is_empty());
        // The driver cannot start it again.
        h.fresh_rings();
        let status = h.init(None);
        assert_ne!(
            status & virtio_bindings::virtio_config::VIRTIO_CONFIG_S_NEEDS_RESET,
            0
        );
        assert!(!h.net.is_active());
    }
}
