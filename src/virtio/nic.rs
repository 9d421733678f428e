// SPDX-License-Identifier: GPL-2.0-only
//! The NIC's I/O side: byte streams in and out of a [`VirtioNet`].
//!
//! * [`spawn_rx`] starts the RX thread: it decodes frames from a stream
//!   with [`FrameReader`] and hands them to [`VirtioNet::deliver`]; at the
//!   end of the stream it takes the link down and ends.
//! * [`StreamSink`] is the transmit side: a [`FrameSink`] that encodes
//!   frames onto a stream with [`FrameWriter`].
//!
//! Both tolerate a stream in non-blocking mode (the host program may have
//! set O_NONBLOCK on a descriptor we share): a read or write that would
//! block waits in `poll(2)` instead, so a frame is never half-written.

use std::io::{self, ErrorKind, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::lock;
use super::net::{FrameSink, VirtioNet};
use crate::sys::Hidden;
use crate::wire::{
    check_frame_len, FrameError, FrameReader, FrameWriter, Framing, OutputFormat, ReadError, Stats,
};

/// Waits until `fd` is ready for `events` (POLLIN or POLLOUT), or has an
/// error or hangup that the retried call then reports.
fn wait_ready(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<()> {
    crate::sys::poll_one(fd, events).map(drop)
}

/// Makes reads and writes on a non-blocking descriptor wait instead of
/// failing with `WouldBlock`.
#[derive(Debug)]
struct Blocking<T>(T);

impl<T: Read + AsFd> Read for Blocking<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    wait_ready(self.0.as_fd(), libc::POLLIN)?
                }
                r => return r,
            }
        }
    }
}

impl<T: Write + AsFd> Write for Blocking<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    wait_ready(self.0.as_fd(), libc::POLLOUT)?
                }
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.0.flush() {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    wait_ready(self.0.as_fd(), libc::POLLOUT)?
                }
                r => return r,
            }
        }
    }
}

/// Why the RX thread ended.
#[derive(Debug)]
pub enum RxEnd {
    /// End of the input stream.
    Eof,
    /// Reading the input failed.
    Io(io::Error),
    /// The input cannot be decoded any further (e.g. not pcap).
    Decode(FrameError),
    /// The thread panicked (a bug).
    Panicked,
}

/// How the RX thread ended, with the decoder's final counters.
#[derive(Debug)]
pub struct RxExit {
    pub end: RxEnd,
    pub stats: Stats,
}

/// The decoder's counters, shared with the RX thread.
#[derive(Debug, Default)]
struct RxShared {
    frames: AtomicU64,
    dropped: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// The totals of earlier inputs (a fifo opened again by new writers).
    base_frames: AtomicU64,
    base_dropped: AtomicU64,
    /// Set while the input has ended and the thread waits for a new one.
    waiting: std::sync::atomic::AtomicBool,
}

impl RxShared {
    fn update(&self, stats: &Stats) {
        let dropped = self.base_dropped.load(Ordering::Relaxed) + stats.dropped;
        self.frames.store(
            self.base_frames.load(Ordering::Relaxed) + stats.frames,
            Ordering::Relaxed,
        );
        if self.dropped.swap(dropped, Ordering::Relaxed) != dropped {
            let mut first = lock(&self.first_error);
            if first.is_none() {
                first.clone_from(&stats.first_error);
            }
        }
    }

    fn snapshot(&self) -> Stats {
        Stats {
            frames: self.frames.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            first_error: lock(&self.first_error).clone(),
        }
    }
}

/// A running RX thread; see [`spawn_rx`].
#[derive(Debug)]
pub struct RxThread {
    handle: JoinHandle<RxExit>,
    shared: Arc<RxShared>,
}

impl RxThread {
    /// Decoder counters so far: frames decoded (delivered or dropped by
    /// the device, see [`VirtioNet::stats`]) and malformed input dropped.
    pub fn stats(&self) -> Stats {
        self.shared.snapshot()
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Whether the input has ended: for good, or until a new one opens
    /// (see [`spawn_rx_reopening`]).
    pub fn is_down(&self) -> bool {
        self.shared.waiting.load(Ordering::Acquire) || self.handle.is_finished()
    }

    /// Waits for the end of the input.
    pub fn join(self) -> RxExit {
        let shared = self.shared;
        self.handle.join().unwrap_or_else(|_| RxExit {
            end: RxEnd::Panicked,
            stats: shared.snapshot(),
        })
    }
}

/// Starts the RX thread: reads `framing`-encoded frames from `input` and
/// delivers them to `net`, until the input ends or fails; then it takes
/// the link down (a config-change interrupt tells the kernel) and ends.
///
/// The thread runs with all signals blocked ([`crate::sys::spawn_quiet`]).
/// There is no way to stop it early other than ending its input: a thread
/// blocked in `read(2)` cannot be woken portably. Frames that arrive before
/// the driver has started the device are dropped (and counted by `net`),
/// so start the thread once the interface is up.
pub fn spawn_rx<R>(net: Arc<VirtioNet>, input: R, framing: Framing) -> io::Result<RxThread>
where
    R: Read + AsFd + From<OwnedFd> + Into<OwnedFd> + Send + 'static,
{
    let shared = Arc::new(RxShared::default());
    let thread_shared = shared.clone();
    // The program must not close our stream under us (closefrom(3)).
    let input = Hidden::new(input);
    let handle = crate::sys::spawn_quiet("stdpkt-rx", 0, move || {
        rx_loop(&net, input, framing, &thread_shared)
    })?;
    Ok(RxThread { handle, shared })
}

/// Like [`spawn_rx`], for an input that may come back after its end (a
/// fifo that a new writer opens): `open` gives the next input, blocking
/// until there is one, or None when there will be no other. The link goes
/// down at each end of input and up again with the next input, and then
/// `on_up` runs (to announce the NIC to the new peer). The first `open`
/// runs on the thread too, so a fifo waiting for its writer blocks nothing.
pub fn spawn_rx_reopening<R, F, U>(
    net: Arc<VirtioNet>,
    framing: Framing,
    mut open: F,
    mut on_up: U,
) -> io::Result<RxThread>
where
    R: Read + AsFd + From<OwnedFd> + Into<OwnedFd>,
    F: FnMut() -> io::Result<Option<R>> + Send + 'static,
    U: FnMut() + Send + 'static,
{
    let shared = Arc::new(RxShared::default());
    let ts = shared.clone();
    let handle = crate::sys::spawn_quiet("stdpkt-rx", 0, move || {
        let mut first = true;
        let end = loop {
            let input = match open() {
                Ok(Some(r)) => r,
                Ok(None) => break RxEnd::Eof,
                Err(e) => {
                    log::error!("rx: {e}");
                    break RxEnd::Io(e);
                }
            };
            ts.waiting.store(false, Ordering::Release);
            if !first {
                net.set_link(true);
                log::info!("rx: a new writer; link up");
                on_up();
            }
            first = false;
            let exit = rx_loop(&net, Hidden::new(input), framing, &ts);
            ts.base_frames
                .store(ts.frames.load(Ordering::Relaxed), Ordering::Relaxed);
            ts.base_dropped
                .store(ts.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
            match exit.end {
                RxEnd::Eof => ts.waiting.store(true, Ordering::Release),
                other => break other,
            }
        };
        RxExit {
            end,
            stats: ts.snapshot(),
        }
    })?;
    Ok(RxThread { handle, shared })
}

/// Most frames handed to the driver under one interrupt (NAPI's budget).
const RX_BATCH: usize = 64;

fn rx_loop<R: Read + AsFd>(
    net: &VirtioNet,
    input: R,
    framing: Framing,
    shared: &RxShared,
) -> RxExit {
    let mut reader = FrameReader::new(Blocking(input), framing);
    let mut warned = false;
    let end = loop {
        let next = reader.advance();
        shared.update(reader.stats());
        // Say so at once the first time; the totals come at exit.
        if !warned && reader.stats().dropped > 0 {
            warned = true;
            if let Some(first) = &reader.stats().first_error {
                log::warn!("rx: dropping bad input frames (first: {first})");
            }
        }
        match next {
            Ok(true) => {
                // Every frame that one read brought in goes to the driver
                // under one interrupt, as a NIC coalesces a burst.
                let mut notify = false;
                net.deliver_deferred(reader.frame(), &mut notify);
                let mut fatal = None;
                for _ in 1..RX_BATCH {
                    match reader.advance_buffered() {
                        Ok(true) => net.deliver_deferred(reader.frame(), &mut notify),
                        Ok(false) => break,
                        Err(e) => {
                            fatal = Some(e);
                            break;
                        }
                    };
                }
                net.notify_rx(notify);
                match fatal {
                    Some(ReadError::Decode(e)) => break RxEnd::Decode(e),
                    Some(ReadError::Io(e)) => break RxEnd::Io(e),
                    None => {}
                }
            }
            Ok(false) => break RxEnd::Eof,
            Err(ReadError::Io(e)) => break RxEnd::Io(e),
            Err(ReadError::Decode(e)) => break RxEnd::Decode(e),
        }
    };
    match &end {
        RxEnd::Eof => log::info!("rx: end of input, link down"),
        RxEnd::Io(e) => log::warn!("rx: read error: {e}; link down"),
        RxEnd::Decode(e) => log::warn!("rx: {e}; link down"),
        RxEnd::Panicked => {}
    }
    if let Some(summary) = reader.stats().drop_summary() {
        log::warn!("rx: {summary}");
    }
    net.set_link(false);
    RxExit {
        end,
        stats: reader.stats().clone(),
    }
}

/// Counters of a [`StreamSink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Frames written.
    pub frames: u64,
    /// Frames dropped because the reader of the stream went away (EPIPE).
    pub dropped_closed: u64,
    /// Frames dropped after another write error ended the stream.
    pub dropped_error: u64,
    /// Frames no framing can carry (outside 14..=65535 bytes).
    pub dropped_invalid: u64,
}

#[derive(Debug, Default)]
struct SinkCounters {
    frames: AtomicU64,
    dropped_closed: AtomicU64,
    dropped_error: AtomicU64,
    dropped_invalid: AtomicU64,
}

/// Reads a [`StreamSink`]'s counters after the sink moved into the device.
#[derive(Debug, Clone)]
pub struct SinkStatsHandle(Arc<SinkCounters>);

impl SinkStatsHandle {
    pub fn get(&self) -> SinkStats {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SinkStats {
            frames: get(&c.frames),
            dropped_closed: get(&c.dropped_closed),
            dropped_error: get(&c.dropped_error),
            dropped_invalid: get(&c.dropped_invalid),
        }
    }
}

/// Why a [`StreamSink`] stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The reader went away (EPIPE).
    Pipe,
    /// Another write error; the stream may end inside a frame.
    Error,
}

/// A frame that comes this long after the previous one is written by the
/// kernel's own thread when it can be (see [`TxQueue`]).
const TX_INLINE_AFTER: std::time::Duration = std::time::Duration::from_micros(40);

/// The first frames of a burst are written inline (an ACK and a request,
/// say); the rest of a longer one goes to the writer.
const TX_INLINE_BURST: u32 = 3;

/// Frames a [`TxQueue`] holds before it says it is full.
const TXQ_FRAMES: usize = 128;

/// A [`FrameSink`] that never blocks the kernel: frames go into a bounded
/// queue, and a writer thread hands them to the sink it wraps (which may
/// block in `write(2)` as long as the stream's reader takes). When the
/// queue is full, [`FrameSink::ready`] says no and the device leaves
/// frames in its ring; the writer calls the `resume` given to
/// [`TxQueue::start`] once half the queue has drained.
pub struct TxQueue {
    shared: Arc<TxShared>,
}

struct TxShared {
    q: Mutex<TxQ>,
    /// The wrapped sink: the writer's, or the kernel's for a frame that
    /// can be written at once.
    inner: Mutex<Box<dyn FrameSink>>,
    /// The writer waits here for frames; flushers for an empty queue.
    cv: std::sync::Condvar,
    resume: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

#[derive(Default)]
struct TxQ {
    frames: std::collections::VecDeque<Vec<u8>>,
    /// Buffers of written frames, for reuse.
    spare: Vec<Vec<u8>>,
    /// The device was told no, and waits for resume.
    wanted: bool,
    /// A frame is being written by the writer.
    busy: bool,
    /// A frame is being written by the kernel's thread (see send).
    inline: bool,
    /// When the last frame came, and how many came since the last pause.
    last: Option<std::time::Instant>,
    burst: u32,
    /// The queue was dropped: the writer ends once it is empty.
    closed: bool,
}

impl TxQueue {
    /// Starts the writer thread over `inner`.
    pub fn start(inner: Box<dyn FrameSink>) -> io::Result<TxQueue> {
        let shared = Arc::new(TxShared {
            q: Mutex::new(TxQ::default()),
            inner: Mutex::new(inner),
            cv: std::sync::Condvar::new(),
            resume: std::sync::OnceLock::new(),
        });
        let s = shared.clone();
        crate::sys::spawn_quiet("stdpkt-tx", 0, move || tx_writer(&s))?;
        Ok(TxQueue { shared })
    }

    /// A handle to set the resume callback once the device exists, and to
    /// wait for the queue to drain.
    pub fn handle(&self) -> TxQueueHandle {
        TxQueueHandle(self.shared.clone())
    }
}

/// See [`TxQueue::handle`].
#[derive(Clone)]
pub struct TxQueueHandle(Arc<TxShared>);

impl TxQueueHandle {
    /// What the writer calls when the device may transmit again (once).
    pub fn set_resume(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.resume.set(Box::new(f));
    }

    /// Frames waiting for the writer.
    pub fn queued(&self) -> usize {
        lock(&self.0.q).frames.len()
    }

    /// Waits until every queued frame was handed on, or `limit` passes;
    /// returns whether the queue is empty.
    pub fn flush(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let mut q = lock(&self.0.q);
        while !q.frames.is_empty() || q.busy || q.inline {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            q = self
                .0
                .cv
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl FrameSink for TxQueue {
    fn ready(&mut self) -> bool {
        let mut q = lock(&self.shared.q);
        if q.frames.len() < TXQ_FRAMES {
            return true;
        }
        q.wanted = true;
        false
    }

    fn send(&mut self, frame: &[u8]) {
        let mut q = lock(&self.shared.q);
        // The first frames after a pause, nothing queued: write them here
        // if that cannot block, saving the writer's wake-up, which a
        // request and its response wait for. The rest of a stream goes to
        // the writer, which writes while the kernel goes on.
        let now = std::time::Instant::now();
        if q.last.is_none_or(|t| now - t > TX_INLINE_AFTER) {
            q.burst = 0;
        }
        q.burst = q.burst.saturating_add(1);
        q.last = Some(now);
        if q.burst <= TX_INLINE_BURST && q.frames.is_empty() && !q.busy {
            q.inline = true;
            drop(q);
            let done = lock(&self.shared.inner).send_now(frame);
            q = lock(&self.shared.q);
            q.inline = false;
            if done {
                drop(q);
                self.shared.cv.notify_all();
                return;
            }
        }
        let mut buf = q.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        q.frames.push_back(buf);
        drop(q);
        self.shared.cv.notify_all();
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        lock(&self.shared.q).closed = true;
        self.shared.cv.notify_all();
    }
}

fn tx_writer(s: &TxShared) {
    let mut q = lock(&s.q);
    loop {
        let Some(frame) = q.frames.pop_front() else {
            q.busy = false;
            s.cv.notify_all();
            if q.closed {
                return;
            }
            q =
                s.cv.wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            continue;
        };
        q.busy = true;
        drop(q);
        lock(&s.inner).send(&frame);
        q = lock(&s.q);
        q.spare.push(frame);
        if q.wanted && q.frames.len() <= TXQ_FRAMES / 2 {
            q.wanted = false;
            drop(q);
            if let Some(resume) = s.resume.get() {
                resume();
            }
            q = lock(&s.q);
        }
    }
}

/// Whether `fd` is a regular file (fstat; no dup, which the interposer
/// refuses on our own fds once they are hidden).
fn is_regular_file(fd: BorrowedFd<'_>) -> bool {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills in the stat buffer it is given; `fd` is borrowed.
    let r = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    // SAFETY: filled in by the successful call.
    r == 0 && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// A [`FrameSink`] that writes frames to a stream with a [`FrameWriter`].
///
/// Once a write fails the sink stops writing for good and counts later
/// frames as dropped: after a failed write the stream may end inside a
/// frame, so nothing after it could be decoded. EPIPE (the reader went
/// away) is the normal way for this to happen and is logged at info level;
/// other errors as warnings. It never panics.
pub struct StreamSink<W: Write + AsFd> {
    writer: FrameWriter<Blocking<Hidden<W>>>,
    closed: Option<Closed>,
    counters: Arc<SinkCounters>,
    /// Bytes a frame takes on the stream beyond its own, if that is
    /// fixed (raw, pcap): for [`StreamSink::writable_now`].
    overhead: Option<usize>,
    /// A regular file: writes never wait for a reader.
    regular: bool,
}

impl<W: Write + AsFd> StreamSink<W> {
    /// Wraps `output` and writes the stream header at once (pcap), so a
    /// reader like `tcpdump -r -` starts before the first frame. A reader
    /// already gone (EPIPE) gives a sink that drops everything; other
    /// errors are returned.
    pub fn new(output: W, format: impl Into<OutputFormat>) -> io::Result<Self>
    where
        W: From<OwnedFd> + Into<OwnedFd>,
    {
        let format = format.into();
        let overhead = match format {
            OutputFormat::Raw => Some(2),
            OutputFormat::Pcap => Some(16),
            OutputFormat::Ascii | OutputFormat::Text2pcap => None,
        };
        let regular = is_regular_file(output.as_fd());
        let output = Hidden::new(output);
        let mut sink = StreamSink {
            writer: FrameWriter::new(Blocking(output), format),
            closed: None,
            counters: Arc::default(),
            overhead,
            regular,
        };
        match sink.writer.write_header() {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                log::info!("tx: output closed before the first frame; dropping frames");
                sink.closed = Some(Closed::Pipe);
            }
            Err(e) => return Err(e),
        }
        Ok(sink)
    }

    /// A handle on the counters that stays usable after the sink is boxed
    /// into the device.
    pub fn stats_handle(&self) -> SinkStatsHandle {
        SinkStatsHandle(self.counters.clone())
    }

    pub fn stats(&self) -> SinkStats {
        self.stats_handle().get()
    }

    /// Whether the reader of the stream left (EPIPE).
    pub fn reader_gone(&self) -> bool {
        matches!(self.closed, Some(Closed::Pipe))
    }

    /// Whether the sink has stopped writing.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Whether a frame of `len` bytes can be written without waiting: to
    /// a regular file, or to a pipe that has room, if the whole write is
    /// at most PIPE_BUF (a pipe then takes it at once, whole).
    pub fn writable_now(&self, len: usize) -> bool {
        if self.closed.is_some() || self.regular {
            return true;
        }
        let Some(extra) = self.overhead else {
            return false;
        };
        len + extra <= libc::PIPE_BUF
            && crate::sys::ready_now(self.writer.get_ref().0.as_fd(), libc::POLLOUT)
    }
}

impl<W: Write + AsFd + Send> FrameSink for StreamSink<W> {
    fn send(&mut self, frame: &[u8]) {
        let c = &self.counters;
        match self.closed {
            Some(Closed::Pipe) => return inc(&c.dropped_closed),
            Some(Closed::Error) => return inc(&c.dropped_error),
            None => {}
        }
        // Checked here so that an InvalidInput below is the OS's (EINVAL).
        if check_frame_len(frame.len()).is_err() {
            return inc(&c.dropped_invalid);
        }
        match self.writer.write_frame_now(frame) {
            Ok(()) => inc(&c.frames),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                log::info!("tx: output closed by its reader; dropping frames");
                self.closed = Some(Closed::Pipe);
                inc(&c.dropped_closed);
            }
            Err(e) => {
                log::warn!("tx: write error: {e}; dropping frames");
                self.closed = Some(Closed::Error);
                inc(&c.dropped_error);
            }
        }
    }
}

impl<W: Write + AsFd> std::fmt::Debug for StreamSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSink")
            .field("format", &self.writer.format())
            .field("closed", &self.closed)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::net::{NetConfig, RxNoBuffer, NET_HDR_LEN};
    use crate::virtio::testutil::{frame, Harness};
    use std::mem::MaybeUninit;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn running(rx_no_buffer: RxNoBuffer) -> Harness {
        let mut h = Harness::new(NetConfig {
            rx_no_buffer,
            ..NetConfig::new(MAC)
        });
        h.init(None);
        h
    }

    fn set_nonblocking(fd: &impl AsFd) {
        let fd = fd.as_fd().as_raw_fd();
        // SAFETY: fcntl on a descriptor the caller keeps open; no memory is
        // passed.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            assert!(flags >= 0);
            assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
        }
    }

    /// The signals blocked in the calling thread.
    fn blocked_signals() -> Vec<i32> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: with a null new set, pthread_sigmask only fills `set`.
        let rc =
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), set.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: filled in by the successful call.
        let set = unsafe { set.assume_init() };
        (1..libc::SIGRTMIN())
            // SAFETY: `set` is a valid, initialized signal set.
            .filter(|&s| unsafe { libc::sigismember(&set, s) } == 1)
            .collect()
    }

    /// A sink that blocks while its gate is shut, as a write to a stalled
    /// reader does.
    struct Gate(
        Arc<(Mutex<bool>, std::sync::Condvar)>,
        Arc<Mutex<Vec<Vec<u8>>>>,
    );

    impl FrameSink for Gate {
        fn send(&mut self, frame: &[u8]) {
            let (open, cv) = &*self.0;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.1.lock().unwrap().push(frame.to_vec());
        }
    }

    #[test]
    fn tx_queue_says_full_then_resumes_the_device() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut q = TxQueue::start(Box::new(Gate(gate.clone(), got.clone()))).unwrap();
        let resumed = Arc::new(AtomicU64::new(0));
        let r = resumed.clone();
        q.handle().set_resume(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        // The writer holds one frame in its blocked write; the queue the rest.
        let mut n = 0u8;
        while q.ready() {
            q.send(&[n; 60]);
            n = n.wrapping_add(1);
            assert!(usize::from(n) <= TXQ_FRAMES + 1, "never full");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(usize::from(n) >= TXQ_FRAMES);
        assert_eq!(resumed.load(Ordering::SeqCst), 0);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert!(q.handle().flush(std::time::Duration::from_secs(10)));
        assert_eq!(resumed.load(Ordering::SeqCst), 1);
        let got = got.lock().unwrap();
        assert_eq!(got.len(), usize::from(n));
        assert!(got.iter().enumerate().all(|(i, f)| f[0] == i as u8));
    }

    #[test]
    fn threads_start_with_signals_blocked() {
        let before = blocked_signals();
        let t = crate::sys::spawn_quiet("sigtest", 0, blocked_signals).unwrap();
        let inside = t.join().unwrap();
        for s in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGCHLD,
            libc::SIGALRM,
            libc::SIGPIPE,
            libc::SIGWINCH,
        ] {
            assert!(inside.contains(&s), "signal {s} not blocked");
        }
        assert_eq!(blocked_signals(), before, "caller's mask restored");
    }

    #[test]
    fn rx_thread_delivers_until_eof() {
        let mut h = running(RxNoBuffer::Drop);
        let frames: Vec<_> = (0..20).map(|i| frame(60 + i * 10, i as u8)).collect();
        let bufs: Vec<u64> = frames.iter().map(|_| h.post_rx(&[2048])[0]).collect();
        let (r, w) = io::pipe().unwrap();
        let rx = spawn_rx(h.net.clone(), r, Framing::Raw).unwrap();
        let mut out = FrameWriter::new(w, Framing::Raw);
        for f in &frames[..10] {
            out.write_frame_now(f).unwrap();
        }
        // A malformed record (length 5) in the middle: skipped, counted.
        out.get_mut().write_all(&[0, 5, 1, 2, 3, 4, 5]).unwrap();
        for f in &frames[10..] {
            out.write_frame_now(f).unwrap();
        }
        drop(out);
        let exit = rx.join();
        assert!(matches!(exit.end, RxEnd::Eof), "{:?}", exit.end);
        assert_eq!((exit.stats.frames, exit.stats.dropped), (20, 1));
        assert!(exit.stats.first_error.is_some());

        let used = h.take_used(0);
        assert_eq!(used.len(), 20);
        for ((f, buf), (_, len)) in frames.iter().zip(&bufs).zip(&used) {
            assert_eq!(*len as usize, NET_HDR_LEN + f.len());
            assert_eq!(&h.read_mem(buf + NET_HDR_LEN as u64, f.len()), f);
        }
        // End of input: link down, announced by a config interrupt.
        assert!(!h.net.link_up());
        assert_eq!(h.config(6, 2), [0, 0]);
        assert_eq!(
            h.r(virtio_bindings::virtio_mmio::VIRTIO_MMIO_INTERRUPT_STATUS)
                & crate::virtio::INT_CONFIG,
            crate::virtio::INT_CONFIG
        );
    }

    #[test]
    fn rx_thread_stats_while_running() {
        let h = running(RxNoBuffer::Drop);
        let (r, w) = io::pipe().unwrap();
        let rx = spawn_rx(h.net.clone(), r, Framing::Ascii).unwrap();
        let mut w = w;
        w.write_all(b"zz\nffffffffffff 020000000001 0800 00\n")
            .unwrap();
        while rx.stats().frames < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let s = rx.stats();
        assert_eq!((s.frames, s.dropped), (1, 1));
        assert!(s.first_error.unwrap().contains("line 1"));
        assert!(!rx.is_finished());
        // No buffer was posted: the device dropped and counted it.
        assert_eq!(h.net.stats().rx_dropped_no_buffer, 1);
        drop(w);
        assert!(matches!(rx.join().end, RxEnd::Eof));
    }

    #[test]
    fn rx_thread_ends_on_fatal_input() {
        let h = running(RxNoBuffer::Drop);
        let (r, mut w) = io::pipe().unwrap();
        let rx = spawn_rx(h.net.clone(), r, Framing::Pcap).unwrap();
        w.write_all(b"this is not a pcap stream at all").unwrap();
        let exit = rx.join();
        assert!(matches!(
            exit.end,
            RxEnd::Decode(FrameError::PcapBadMagic { .. })
        ));
        assert!(!h.net.link_up());
    }

    /// Many frames through a pipe, a ring's worth of buffers, and a driver
    /// that refills as it consumes: the RX thread waits for buffers instead
    /// of dropping, and everything arrives in order.
    #[test]
    fn rx_thread_keeps_up_with_a_refilling_driver() {
        const N: usize = 3000;
        let mut h = running(RxNoBuffer::Wait(Duration::from_secs(20)));
        for _ in 0..256 {
            h.post_rx(&[2048]);
        }
        let expected = |i: usize| frame(60 + i % 1400, i as u8);
        let (r, w) = io::pipe().unwrap();
        let rx = spawn_rx(h.net.clone(), r, Framing::Raw).unwrap();
        let writer = std::thread::spawn(move || {
            let mut out = FrameWriter::new(w, Framing::Raw);
            for i in 0..N {
                out.write_frame_now(&expected(i)).unwrap();
            }
        });
        let mut got = 0;
        while got < N {
            let used = h.take_used(0);
            if used.is_empty() {
                assert!(!rx.is_finished(), "RX thread ended after {got} frames");
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            for (id, len) in used {
                let f = expected(got);
                assert_eq!(len as usize, NET_HDR_LEN + f.len(), "frame {got}");
                let buf = h.slot(0, id as u16) + NET_HDR_LEN as u64;
                assert_eq!(h.read_mem(buf, f.len()), f, "frame {got}");
                got += 1;
                h.post_rx(&[2048]);
            }
            h.kick(0);
        }
        writer.join().unwrap();
        let exit = rx.join();
        assert!(matches!(exit.end, RxEnd::Eof));
        let s = h.net.stats();
        assert_eq!((s.rx_frames, s.rx_dropped()), (N as u64, 0), "{s:?}");
    }

    #[test]
    fn rx_thread_reads_a_nonblocking_stream() {
        let mut h = running(RxNoBuffer::Drop);
        for _ in 0..3 {
            h.post_rx(&[2048]);
        }
        let (r, w) = io::pipe().unwrap();
        set_nonblocking(&r);
        let rx = spawn_rx(h.net.clone(), r, Framing::Raw).unwrap();
        let mut out = FrameWriter::new(w, Framing::Raw);
        for i in 0..3 {
            std::thread::sleep(Duration::from_millis(10));
            out.write_frame_now(&frame(100, i)).unwrap();
        }
        drop(out);
        let exit = rx.join();
        assert!(matches!(exit.end, RxEnd::Eof), "{:?}", exit.end);
        assert_eq!(h.take_used(0).len(), 3);
    }

    #[test]
    fn sink_writes_the_pcap_header_at_once() {
        let (mut r, w) = io::pipe().unwrap();
        let mut sink = StreamSink::new(w, Framing::Pcap).unwrap();
        let mut header = [0u8; crate::wire::pcap::GLOBAL_HEADER_LEN];
        r.read_exact(&mut header).unwrap();
        assert_eq!(header[..4], crate::wire::pcap::MAGIC_MICROS.to_ne_bytes());
        let frames = [frame(60, 1), frame(1514, 2)];
        for f in &frames {
            sink.send(f);
        }
        assert_eq!(sink.stats().frames, 2);
        drop(sink);
        let mut stream = header.to_vec();
        r.read_to_end(&mut stream).unwrap();
        let mut reader = FrameReader::new(&stream[..], Framing::Pcap);
        for f in &frames {
            assert_eq!(reader.read_frame().unwrap(), Some(&f[..]));
        }
        assert_eq!(reader.read_frame().unwrap(), None);
    }

    #[test]
    fn sink_drops_frames_once_the_reader_is_gone() {
        let (r, w) = io::pipe().unwrap();
        let mut sink = StreamSink::new(w, Framing::Raw).unwrap();
        let stats = sink.stats_handle();
        sink.send(&frame(60, 1));
        drop(r);
        for _ in 0..3 {
            sink.send(&frame(60, 2));
        }
        assert!(sink.is_closed());
        let s = stats.get();
        assert_eq!((s.frames, s.dropped_closed, s.dropped_error), (1, 3, 0));

        // Gone before the header: a sink that drops everything.
        let (r, w) = io::pipe().unwrap();
        drop(r);
        let mut sink = StreamSink::new(w, Framing::Pcap).unwrap();
        assert!(sink.is_closed());
        sink.send(&frame(60, 3));
        assert_eq!(sink.stats().dropped_closed, 1);
    }

    #[test]
    fn sink_drops_frames_no_framing_carries() {
        let (mut r, w) = io::pipe().unwrap();
        let mut sink = StreamSink::new(w, Framing::Raw).unwrap();
        sink.send(&[0u8; 13]);
        sink.send(&frame(60, 1));
        assert!(!sink.is_closed());
        let s = sink.stats();
        assert_eq!((s.frames, s.dropped_invalid), (1, 1));
        drop(sink);
        let mut stream = Vec::new();
        r.read_to_end(&mut stream).unwrap();
        assert_eq!(stream.len(), 2 + 60);
    }

    #[test]
    fn sink_waits_on_a_nonblocking_stream() {
        let (mut r, w) = io::pipe().unwrap();
        set_nonblocking(&w);
        let mut sink = StreamSink::new(w, Framing::Raw).unwrap();
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut stream = Vec::new();
            r.read_to_end(&mut stream).unwrap();
            stream
        });
        // Each is bigger than a pipe's default 64 KiB buffer.
        let frames = [frame(65535, 1), frame(65535, 2)];
        for f in &frames {
            sink.send(f);
        }
        let s = sink.stats();
        assert_eq!((s.frames, s.dropped_error), (2, 0));
        drop(sink);
        let stream = reader.join().unwrap();
        let mut rd = FrameReader::new(&stream[..], Framing::Raw);
        for f in &frames {
            assert_eq!(rd.read_frame().unwrap(), Some(&f[..]));
        }
        assert_eq!(rd.stats().dropped, 0);
    }
}
