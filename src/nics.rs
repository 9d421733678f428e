// SPDX-License-Identifier: GPL-2.0-only
//! The instance's NICs: for each configured interface, its streams (with
//! stdio hygiene and fifo opening that never blocks start-up), its virtio
//! device registered as a virtio-mmio region, and its RX thread.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::{Endpoint, IfConfig};
use crate::host;
use crate::sys::spawn_quiet;
use crate::virtio::nic::{
    spawn_rx, spawn_rx_reopening, RxThread, StreamSink, TxQueue, TxQueueHandle,
};
use crate::virtio::{self, FrameSink, GuestRam, NetConfig, VirtioNet, MMIO_SIZE};
use crate::wire::Framing;

/// Frames kept while a TX fifo waits for its reader; older ones are
/// dropped beyond this.
const PENDING_TX_MAX: usize = 1024;

/// Moves the program's own stdin/stdout out of the way of a NIC that uses
/// them: the NIC keeps a private duplicate, the program's fd 1 then goes
/// to its stderr and its fd 0 reads /dev/null.
fn take_stdio(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: dup of a descriptor the process has; the result is owned.
    let private = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if private < 0 {
        return Err(io::Error::last_os_error());
    }
    let replacement = if fd == 0 {
        // SAFETY: NUL-terminated path literal.
        unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) }
    } else {
        2
    };
    // SAFETY: both descriptors are valid; dup2 replaces fd atomically.
    let r = unsafe { libc::dup2(replacement, fd) };
    if replacement > 2 {
        // SAFETY: the temporary /dev/null descriptor we opened.
        unsafe { libc::close(replacement) };
    }
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `private` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(private) })
}

/// A TX sink whose stream may open later (a fifo waits for its reader):
/// until then frames are queued, so nothing sent at start-up is lost. When
/// the reader of a fifo leaves, the fifo is opened again in the background
/// for the next reader, and frames sent meanwhile are queued the same way
/// (the oldest dropped and counted beyond [`PENDING_TX_MAX`]): a restarted
/// peer gets the answer to its first ARP request.
struct LateSink {
    state: Arc<Mutex<LateState>>,
}

struct LateState {
    sink: Option<StreamSink<File>>,
    pending: VecDeque<Vec<u8>>,
    /// Frames dropped from a full queue while waiting for a reader.
    dropped: u64,
    /// The TX path, for opening again after its reader left.
    path: Option<(std::path::PathBuf, Framing)>,
    /// Set when the path can no longer be opened: frames are dropped.
    failed: bool,
    /// The sink whose reader left, kept open (never written) until the
    /// next reader is there: a reader that opens the fifo meanwhile must
    /// not see the writer gone (EOF), which would end its input for good.
    old: Option<StreamSink<File>>,
    /// Frames lost by earlier sinks of this NIC, and after a failure.
    lost: u64,
}

impl FrameSink for LateSink {
    fn send(&mut self, frame: &[u8]) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.send_locked(&mut guard, frame);
    }

    fn send_now(&mut self, frame: &[u8]) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Queueing for a reader to come, or dropping, never blocks.
        if guard
            .sink
            .as_ref()
            .is_some_and(|s| !s.writable_now(frame.len()))
        {
            return false;
        }
        self.send_locked(&mut guard, frame);
        true
    }
}

impl LateSink {
    fn send_locked(&self, guard: &mut LateState, frame: &[u8]) {
        // Through a plain reference, so that borrows of fields split.
        let st = &mut *guard;
        if st.failed {
            st.lost += 1;
            return;
        }
        let Some(sink) = st.sink.as_mut() else {
            if st.pending.len() >= PENDING_TX_MAX {
                st.pending.pop_front();
                st.dropped += 1;
            }
            st.pending.push_back(frame.to_vec());
            return;
        };
        if sink.is_closed() {
            // Only counted: nothing is written.
            sink.send(frame);
            return;
        }
        // TX runs on whichever thread kicked the queue, maybe the
        // program's own: a reader that left must not kill it.
        crate::sys::without_sigpipe(|| {
            sink.send(frame);
            sink.is_closed()
        });
        if sink.reader_gone() && st.path.is_some() {
            let s = sink.stats();
            // This frame found the reader gone: it waits for the next one,
            // with those sent from now on.
            st.lost += s.dropped_closed.saturating_sub(1) + s.dropped_error + s.dropped_invalid;
            st.pending.push_back(frame.to_vec());
            st.old = st.sink.take();
            log::info!("tx: waiting for a new reader (queueing frames)");
            open_tx_in_background(self.state.clone(), st);
        }
    }
}

/// Opens the TX path of `state` on a background thread (a fifo's open waits
/// for its reader) and installs the sink, sending the queued frames.
fn open_tx_in_background(state: Arc<Mutex<LateState>>, st: &mut LateState) {
    let Some((p, format)) = st.path.clone() else {
        return;
    };
    let opener = move || {
        let opened = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .and_then(|f| StreamSink::new(f, format));
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        match opened {
            Ok(mut sink) => {
                for frame in s.pending.drain(..) {
                    sink.send(&frame);
                }
                s.sink = Some(sink);
                s.old = None;
            }
            Err(e) => {
                log::error!("{}: {e}", p.display());
                // Nothing will ever read: stop queueing.
                s.path = None;
                s.failed = true;
                s.old = None;
                s.lost += s.pending.len() as u64;
                s.pending.clear();
            }
        }
    };
    if let Err(e) = spawn_quiet("stdpkt-txopen", 0, opener) {
        log::error!("tx: cannot start the opener: {e}");
        st.path = None;
        st.failed = true;
    }
}

/// The device of one NIC, built on first register access: the kernel's
/// RAM only exists once boot has begun.
struct LazyNic {
    config: NetConfig,
    irq: i32,
    sink: Mutex<Option<Box<dyn FrameSink>>>,
    /// The transmit queue in front of the streams (see [`TxQueue`]).
    txq: TxQueueHandle,
    dev: OnceLock<(Arc<VirtioNet>, virtio::MmioDevice)>,
}

impl LazyNic {
    fn device(&self) -> &(Arc<VirtioNet>, virtio::MmioDevice) {
        self.dev.get_or_init(|| {
            let (base, size) = host::ram().expect("kernel RAM before its devices");
            // SAFETY: the kernel's RAM stays mapped for the life of the
            // kernel, which outlives device register accesses.
            let ram =
                unsafe { GuestRam::new(base as *mut u8, size, lkl_sys::LKL_RAM_PHYS_BASE as u64) }
                    .expect("kernel RAM range");
            let sink = self
                .sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("device built once");
            let irq = self.irq;
            let raise: virtio::IrqCallback = Arc::new(move || {
                // SAFETY: a valid IRQ number from lkl_get_free_irq.
                unsafe { lkl_sys::lkl_trigger_irq(irq) };
            });
            let net = Arc::new(
                VirtioNet::new(ram, self.config.clone(), sink, raise)
                    .expect("MTU checked by config"),
            );
            let weak = Arc::downgrade(&net);
            self.txq.set_resume(move || {
                if let Some(n) = weak.upgrade() {
                    n.resume_tx();
                }
            });
            let mmio = virtio::MmioDevice::new(net.clone());
            (net, mmio)
        })
    }
}

impl host::MmioDevice for LazyNic {
    fn read(&self, offset: u64, data: &mut [u8]) {
        virtio::MmioDevice::read(&self.device().1, offset, data)
    }

    fn write(&self, offset: u64, data: &[u8]) {
        virtio::MmioDevice::write(&self.device().1, offset, data)
    }
}

/// One NIC before and after boot.
pub struct Nic {
    pub config: IfConfig,
    dev: Arc<LazyNic>,
    tx_state: Arc<Mutex<LateState>>,
    rx: Option<RxSource>,
    rx_thread: Option<RxThread>,
    /// The kernel command line entry that declares the device.
    pub cmdline: String,
}

enum RxSource {
    Fd(OwnedFd),
    Path(std::path::PathBuf),
}

impl Nic {
    /// Prepares a NIC: takes stdio if asked, starts opening a TX path in
    /// the background and registers the device. Call before boot.
    pub fn prepare(config: &IfConfig) -> Result<Nic, String> {
        let name = format!("IF{}", config.index);
        let format = config.framing;
        let state = Arc::new(Mutex::new(LateState {
            sink: None,
            pending: VecDeque::new(),
            dropped: 0,
            path: None,
            failed: false,
            old: None,
            lost: 0,
        }));

        match &config.tx {
            Endpoint::Stdout => {
                let fd = take_stdio(1).map_err(|e| format!("{name}: taking stdout: {e}"))?;
                let sink = StreamSink::new(File::from(fd), format)
                    .map_err(|e| format!("{name}: stdout: {e}"))?;
                state.lock().unwrap().sink = Some(sink);
            }
            Endpoint::Stdin => return Err(format!("{name}: stdin cannot be written")),
            Endpoint::Path(p) => {
                // A fifo's open blocks until its reader opens it, maybe in a
                // process that starts after us: open in the background.
                check_path(p, false).map_err(|e| format!("{name}: {}: {e}", p.display()))?;
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.path = Some((p.clone(), format));
                open_tx_in_background(state.clone(), &mut st);
                if st.path.is_none() {
                    return Err(format!("{name}: cannot start the opener thread"));
                }
            }
        }

        let rx = match &config.rx {
            Endpoint::Stdin => {
                RxSource::Fd(take_stdio(0).map_err(|e| format!("{name}: taking stdin: {e}"))?)
            }
            Endpoint::Stdout => return Err(format!("{name}: stdout cannot be read")),
            Endpoint::Path(p) => {
                check_path(p, true).map_err(|e| format!("{name}: {}: {e}", p.display()))?;
                RxSource::Path(p.clone())
            }
        };

        // SAFETY: a NUL-terminated literal; the IRQ table is static.
        let irq = unsafe { lkl_sys::lkl_get_free_irq(c"virtio-net".as_ptr()) };
        if irq < 0 {
            return Err(format!("{name}: no free IRQ"));
        }
        let mut net_config = NetConfig::new(config.mac);
        net_config.mtu = config.mtu.map(|m| m as u16);
        // The kernel never waits for a stream: a writer thread does.
        let txq = TxQueue::start(Box::new(LateSink {
            state: state.clone(),
        }))
        .map_err(|e| format!("{name}: cannot start the writer thread: {e}"))?;
        let dev = Arc::new(LazyNic {
            config: net_config,
            irq,
            txq: txq.handle(),
            sink: Mutex::new(Some(Box::new(txq))),
            dev: OnceLock::new(),
        });
        let base = host::mmio_register(MMIO_SIZE, dev.clone());
        Ok(Nic {
            config: config.clone(),
            dev,
            tx_state: state,
            rx: Some(rx),
            rx_thread: None,
            cmdline: format!("virtio_mmio.device={MMIO_SIZE:#x}@{base:#x}:{irq}"),
        })
    }

    /// Starts receiving: called once the interface is up in the kernel.
    /// `on_up` runs each time a fifo input comes back (a new writer).
    pub fn start_rx(&mut self, on_up: impl FnMut() + Send + 'static) -> Result<(), String> {
        let name = format!("IF{}", self.config.index);
        let net = self.dev.device().0.clone();
        let format = self.config.framing;
        let thread = match self.rx.take() {
            Some(RxSource::Fd(fd)) => spawn_rx(net, File::from(fd), format),
            Some(RxSource::Path(p)) => {
                // Opened on the RX thread, which may wait there for a
                // writer; a fifo is opened again for the next writer
                // after each one leaves. A regular file is read once.
                let mut done = false;
                let open = move || {
                    if done {
                        return Ok(None);
                    }
                    let f = File::open(&p)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                    done = !f.metadata()?.file_type().is_fifo();
                    Ok(Some(f))
                };
                spawn_rx_reopening(net, format, open, on_up)
            }
            None => return Ok(()),
        };
        self.rx_thread = Some(thread.map_err(|e| format!("{name}: {e}"))?);
        Ok(())
    }

    /// Whether this NIC's input has ended (or could not be opened); a
    /// fifo input counts as ended while it waits for a new writer.
    pub fn rx_finished(&mut self) -> bool {
        self.rx_thread.as_ref().is_none_or(|t| t.is_down())
    }

    /// One line about frames this NIC lost (malformed input, no receive
    /// buffer, output closed), or None when nothing was lost.
    pub fn drop_report(&mut self) -> Option<String> {
        self.rx_finished();
        let mut parts = Vec::new();
        // What the kernel sent last must reach the stream first.
        if !self.flush_tx(std::time::Duration::from_secs(2)) {
            parts.push(format!(
                "output: {} frames still queued at exit (its reader stalled)",
                self.dev.txq.queued()
            ));
        }
        if let Some(summary) = self
            .rx_thread
            .as_ref()
            .and_then(|t| t.stats().drop_summary())
        {
            parts.push(format!("input: {summary}"));
        }
        if let Some(n) = self.net() {
            let st = n.stats();
            if st.rx_dropped() > 0 {
                parts.push(format!(
                    "{} received frames dropped by the device",
                    st.rx_dropped()
                ));
            }
            if st.tx_dropped() > 0 {
                parts.push(format!(
                    "{} sent frames dropped by the device",
                    st.tx_dropped()
                ));
            }
        }
        let st = self.tx_state.lock().unwrap_or_else(|e| e.into_inner());
        let mut lost = st.lost;
        if let Some(sink) = &st.sink {
            let s = sink.stats();
            lost += s.dropped_closed + s.dropped_error + s.dropped_invalid;
        }
        {
            if lost > 0 {
                parts.push(format!(
                    "output: {lost} frames dropped (reader gone or write error)"
                ));
            }
        }
        if st.dropped > 0 {
            parts.push(format!(
                "output: {} frames dropped while it had no reader",
                st.dropped
            ));
        }
        drop(st);
        if parts.is_empty() {
            None
        } else {
            Some(format!("{}: {}", self.config.name(), parts.join("; ")))
        }
    }

    /// Waits until the frames the kernel has sent are handed to the
    /// output stream (or queued for its next reader), for at most `limit`;
    /// returns whether they all were.
    pub fn flush_tx(&self, limit: std::time::Duration) -> bool {
        self.dev.txq.flush(limit)
    }

    pub fn net(&self) -> Option<&Arc<VirtioNet>> {
        self.dev.dev.get().map(|d| &d.0)
    }
}

/// The checks [`Nic::prepare`] makes on the paths of a NIC, without
/// preparing anything: for a program whose instance boots later.
pub fn check_paths(config: &IfConfig) -> Result<(), String> {
    let name = format!("IF{}", config.index);
    for (endpoint, read) in [(&config.rx, true), (&config.tx, false)] {
        if let Endpoint::Path(p) = endpoint {
            check_path(p, read).map_err(|e| format!("{name}: {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Fails early, with the OS error, on a path that cannot work: missing,
/// or not readable/writable. Does not open it (a fifo would block).
fn check_path(p: &std::path::Path, read: bool) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mode = if read { libc::R_OK } else { libc::W_OK };
    // SAFETY: NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), mode) } != 0 {
        let e = io::Error::last_os_error();
        // A TX file that does not exist yet is created on open.
        if !read && e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FrameReader, MIN_FRAME_LEN};
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::{Duration, Instant};

    fn frame(tag: u8) -> Vec<u8> {
        let mut f = vec![0u8; MIN_FRAME_LEN + 50];
        f[0] = 0x02;
        f[MIN_FRAME_LEN] = tag;
        f
    }

    fn fifo() -> (std::path::PathBuf, impl Drop) {
        struct Rm(std::path::PathBuf);
        impl Drop for Rm {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("stdpkt-nics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("tx");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        (p, Rm(dir))
    }

    /// A reader of the fifo that never blocks (the test must not hang),
    /// once the sink has opened the other end (until then a read would
    /// see EOF).
    fn reader(path: &std::path::Path, state: &Mutex<LateState>) -> FrameReader<File> {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap();
        wait_for("the sink", || state.lock().unwrap().sink.is_some());
        FrameReader::new(f, Framing::Raw)
    }

    /// The tags of the next `n` frames (panics after a few seconds).
    fn read_tags(r: &mut FrameReader<File>, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tags = Vec::new();
        while tags.len() < n {
            match r.read_frame() {
                Ok(Some(f)) => tags.push(f[MIN_FRAME_LEN]),
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(crate::wire::ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("read: {e}"),
            }
            assert!(Instant::now() < deadline, "got only {tags:?} of {n} frames");
        }
        tags
    }

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Frames sent while a TX fifo has no reader (before the first one,
    /// and after one left) reach the next reader in order, the one that
    /// found the reader gone included.
    #[test]
    fn frames_wait_for_the_next_reader() {
        let (path, _rm) = fifo();
        let state = Arc::new(Mutex::new(LateState {
            sink: None,
            pending: VecDeque::new(),
            dropped: 0,
            path: Some((path.clone(), Framing::Raw)),
            failed: false,
            old: None,
            lost: 0,
        }));
        open_tx_in_background(state.clone(), &mut state.lock().unwrap());
        let mut sink = LateSink {
            state: state.clone(),
        };
        sink.send(&frame(1));
        let mut r1 = reader(&path, &state);
        assert_eq!(read_tags(&mut r1, 1), [1]);
        sink.send(&frame(2));
        assert_eq!(read_tags(&mut r1, 1), [2]);
        drop(r1);
        // Finds the reader gone (EPIPE), then waits with the next two.
        sink.send(&frame(3));
        sink.send(&frame(4));
        sink.send(&frame(5));
        // A reader that arrives now sees a writer (no EOF), though the
        // sink that met EPIPE is no longer written. The lock keeps the
        // sink from being installed (and writing) during the probe.
        {
            let _st = state.lock().unwrap();
            let probe = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .unwrap();
            let mut byte = [0u8; 1];
            let r = (&probe).read(&mut byte);
            assert!(!matches!(r, Ok(0)), "a new reader saw EOF");
        }
        let mut r2 = reader(&path, &state);
        assert_eq!(read_tags(&mut r2, 3), [3, 4, 5]);
        sink.send(&frame(6));
        assert_eq!(read_tags(&mut r2, 1), [6]);
        let st = state.lock().unwrap();
        assert_eq!((st.lost, st.dropped), (0, 0));
    }
}
