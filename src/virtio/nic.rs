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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::lock;
use super::net::{FrameSink, VirtioNet};
use crate::wire::{
    check_frame_len, FrameError, FrameReader, FrameWriter, Framing, OutputFormat, ReadError, Stats,
};

/// Spawns a thread with every signal blocked.
///
/// stdpkt lives inside arbitrary host programs. A process-directed signal
/// (SIGINT, SIGCHLD, SIGALRM, a SIGUSR1 the program uses for itself…) is
/// delivered to any thread that does not block it; if that were one of
/// ours, the program's handler would run on a thread it knows nothing
/// about, or its `sigwait` would never see the signal. Blocking everything
/// in our threads leaves signals to the program's own threads.
///
/// The mask is inherited from the spawning thread, so it is set around the
/// spawn and restored afterwards.
pub fn spawn_with_signals_blocked<F, T>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initializes the set it is given; it cannot fail
    // for a valid pointer.
    unsafe { libc::sigfillset(all.as_mut_ptr()) };
    // SAFETY: `all` is initialized; `old` is valid for the current mask.
    let rc =
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let spawned = thread::Builder::new().name(name.to_owned()).spawn(f);
    // SAFETY: `old` was filled in by the successful call above.
    let rc =
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
    if rc != 0 {
        // Cannot happen with a mask we got from the kernel; say so if it does.
        log::error!(
            "cannot restore the signal mask: {}",
            io::Error::from_raw_os_error(rc)
        );
    }
    spawned
}

/// Waits until `fd` is ready for `events` (POLLIN or POLLOUT).
fn wait_ready(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid pollfd, and `fd` is borrowed, so it
        // stays open during the call.
        if unsafe { libc::poll(&mut pfd, 1, -1) } >= 0 {
            // Ready, or an error/hangup that the retried call reports.
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
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
}

impl RxShared {
    fn update(&self, stats: &Stats) {
        self.frames.store(stats.frames, Ordering::Relaxed);
        if self.dropped.swap(stats.dropped, Ordering::Relaxed) != stats.dropped {
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
/// The thread runs with all signals blocked ([`spawn_with_signals_blocked`]).
/// There is no way to stop it early other than ending its input: a thread
/// blocked in `read(2)` cannot be woken portably. Frames that arrive before
/// the driver has started the device are dropped (and counted by `net`),
/// so start the thread once the interface is up.
pub fn spawn_rx<R>(net: Arc<VirtioNet>, input: R, framing: Framing) -> io::Result<RxThread>
where
    R: Read + AsFd + Send + 'static,
{
    let shared = Arc::new(RxShared::default());
    let thread_shared = shared.clone();
    let handle = spawn_with_signals_blocked("stdpkt-rx", move || {
        rx_loop(&net, input, framing, &thread_shared)
    })?;
    Ok(RxThread { handle, shared })
}

fn rx_loop<R: Read + AsFd>(
    net: &VirtioNet,
    input: R,
    framing: Framing,
    shared: &RxShared,
) -> RxExit {
    let mut reader = FrameReader::new(Blocking(input), framing);
    let end = loop {
        let next = reader.advance();
        shared.update(reader.stats());
        match next {
            Ok(true) => {
                net.deliver(reader.frame());
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

/// A [`FrameSink`] that writes frames to a stream with a [`FrameWriter`].
///
/// Once a write fails the sink stops writing for good and counts later
/// frames as dropped: after a failed write the stream may end inside a
/// frame, so nothing after it could be decoded. EPIPE (the reader went
/// away) is the normal way for this to happen and is logged at info level;
/// other errors as warnings. It never panics.
pub struct StreamSink<W: Write + AsFd> {
    writer: FrameWriter<Blocking<W>>,
    closed: Option<Closed>,
    counters: Arc<SinkCounters>,
}

impl<W: Write + AsFd> StreamSink<W> {
    /// Wraps `output` and writes the stream header at once (pcap), so a
    /// reader like `tcpdump -r -` starts before the first frame. A reader
    /// already gone (EPIPE) gives a sink that drops everything; other
    /// errors are returned.
    pub fn new(output: W, format: impl Into<OutputFormat>) -> io::Result<Self> {
        let mut sink = StreamSink {
            writer: FrameWriter::new(Blocking(output), format),
            closed: None,
            counters: Arc::default(),
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

    /// Whether the sink has stopped writing.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
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
