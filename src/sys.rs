// SPDX-License-Identifier: GPL-2.0-only
//! The OS edge shared by the layers above: threads that never take the
//! program's signals, SIGPIPE-safe writes, and the registry of the fds
//! stdpkt keeps for itself (which the interposer hides from the program).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;

thread_local! {
    /// Set on threads started here: they never receive signals.
    static QUIET_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is one of ours (all signals blocked).
pub fn on_quiet_thread() -> bool {
    QUIET_THREAD.with(|q| q.get())
}

/// Marks the calling thread as one of ours (started with every signal
/// blocked by other means than [`spawn_quiet`]).
pub fn mark_quiet_thread() {
    QUIET_THREAD.with(|q| q.set(true));
}

/// Runs `f` with every signal blocked in the calling thread, so threads it
/// spawns inherit a full mask and never receive the program's signals.
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain sigset manipulation on local storage; the old mask is
    // restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

/// Spawns a thread with every signal blocked.
///
/// stdpkt lives inside arbitrary host programs. A process-directed signal
/// (SIGINT, SIGCHLD, SIGALRM, a SIGUSR1 the program uses for itself…) is
/// delivered to any thread that does not block it; if that were one of
/// ours, the program's handler would run on a thread it knows nothing
/// about, or its `sigwait` would never see the signal. The mask is
/// inherited from the spawning thread, so it is set around the spawn.
/// `stack` of 0 takes std's default.
pub fn spawn_quiet<F, T>(name: &str, stack: usize, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with_signals_blocked(|| {
        let mut b = std::thread::Builder::new().name(name.into());
        if stack != 0 {
            b = b.stack_size(stack);
        }
        b.spawn(move || {
            QUIET_THREAD.with(|q| q.set(true));
            f()
        })
    })
}

/// Runs `f`, which may write to a pipe whose reader left, without letting
/// the program die of SIGPIPE: on the program's own threads SIGPIPE is
/// blocked around `f`, and if `f` says a write failed with EPIPE (returns
/// true) the SIGPIPE it raised is discarded.
pub fn without_sigpipe(f: impl FnOnce() -> bool) {
    if on_quiet_thread() {
        f();
        return;
    }
    // SAFETY: signal mask manipulation on local sets, restored before
    // returning; sigtimedwait with a zero timeout never blocks.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let broke = f();
        // A SIGPIPE pending while the program blocked it may be its own.
        if broke && libc::sigismember(&old, libc::SIGPIPE) == 0 {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if libc::sigismember(&pending, libc::SIGPIPE) == 1 {
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// ppoll(2) on one fd, as the raw system call: libc's poll is the
/// interposer's in a preloaded process, which reports our own hidden fds
/// as not open. `timeout` None waits for ever.
fn raw_ppoll(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout: Option<&libc::timespec>,
) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd; `fd` is borrowed, so it stays open; the
    // timeout is null or a valid timespec; no signal mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            &mut pfd as *mut libc::pollfd,
            1 as libc::nfds_t,
            timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec),
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(if r > 0 { pfd.revents } else { 0 })
    }
}

/// Waits, without a timeout, until `fd` has one of `events` (or an error
/// or hangup); returns its revents.
pub fn poll_one(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<libc::c_short> {
    loop {
        match raw_ppoll(fd, events, None) {
            Ok(0) => {}
            Ok(revents) => return Ok(revents),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether `fd` has one of `events` right now (a zero-timeout poll).
pub fn ready_now(fd: BorrowedFd<'_>, events: libc::c_short) -> bool {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    raw_ppoll(fd, events, Some(&zero)).is_ok_and(|r| r & events != 0)
}

/// fds below this are tracked in a bitmap: one load per lookup.
const DIRECT: usize = 1 << 16;
static DIRECT_BITS: [AtomicU64; DIRECT / 64] = [const { AtomicU64::new(0) }; DIRECT / 64];
static OVERFLOW_USED: AtomicBool = AtomicBool::new(false);
static OVERFLOW: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Marks `fd` as stdpkt's own: the interposer will not let the program
/// close it, dup onto it or change it (a daemon's closefrom(3) must not
/// take a NIC's streams away).
pub fn hide_fd(fd: RawFd) {
    let Ok(i) = usize::try_from(fd) else { return };
    if i < DIRECT {
        DIRECT_BITS[i / 64].fetch_or(1 << (i % 64), Ordering::AcqRel);
    } else {
        let mut v = OVERFLOW.lock().unwrap_or_else(|e| e.into_inner());
        v.push(fd);
        OVERFLOW_USED.store(true, Ordering::Release);
    }
}

/// Undoes [`hide_fd`], just before stdpkt closes `fd` itself.
pub fn unhide_fd(fd: RawFd) {
    let Ok(i) = usize::try_from(fd) else { return };
    if i < DIRECT {
        DIRECT_BITS[i / 64].fetch_and(!(1 << (i % 64)), Ordering::AcqRel);
    } else {
        let mut v = OVERFLOW.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|&f| f != fd);
    }
}

/// Whether `fd` is one of stdpkt's own (see [`hide_fd`]).
#[inline]
pub fn is_hidden_fd(fd: RawFd) -> bool {
    let Ok(i) = usize::try_from(fd) else {
        return false;
    };
    if i < DIRECT {
        return DIRECT_BITS[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0;
    }
    OVERFLOW_USED.load(Ordering::Acquire)
        && OVERFLOW
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&fd)
}

/// The hidden fds in `first..=last`, ascending.
pub fn hidden_fds_in(first: u32, last: u32) -> Vec<RawFd> {
    let mut out = Vec::new();
    let top = (last as usize).min(DIRECT - 1);
    let mut i = first as usize;
    while i <= top {
        let word = DIRECT_BITS[i / 64].load(Ordering::Acquire) >> (i % 64);
        if word == 0 {
            i = (i / 64 + 1) * 64;
            continue;
        }
        let j = i + word.trailing_zeros() as usize;
        if j <= top {
            out.push(j as RawFd);
        }
        i = j + 1;
    }
    if OVERFLOW_USED.load(Ordering::Acquire) {
        let v = OVERFLOW.lock().unwrap_or_else(|e| e.into_inner());
        let mut high: Vec<RawFd> = v
            .iter()
            .copied()
            .filter(|&f| (first..=last).contains(&(f as u32)))
            .collect();
        high.sort_unstable();
        out.extend(high);
    }
    out
}

/// Where stdpkt's own fds go: well above the numbers a program gets (the
/// lowest free), so a program never finds one of its closed numbers
/// taken by us, nor has its next open() land somewhere unexpected.
fn high_base() -> RawFd {
    static BASE: std::sync::OnceLock<RawFd> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills in the struct it is given.
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            lim.rlim_cur.min(1 << 20) as RawFd
        } else {
            1024
        };
        (soft / 2).clamp(16, 512)
    })
}

/// Makes the process's fd table big enough for [`high_base`] now. Linux
/// grows the table the first time a number past its size (64) is used,
/// and in a process of several threads that waits for an RCU grace period
/// (about 10 ms here): done while the process has one thread, it costs
/// microseconds instead of slowing every boot.
pub fn grow_fd_table() {
    // SAFETY: our own eventfd and its dup, both closed again; no pointers.
    unsafe {
        let fd = libc::eventfd(0, libc::EFD_CLOEXEC);
        if fd >= 0 {
            let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high_base());
            if high >= 0 {
                libc::close(high);
            }
            libc::close(fd);
        }
    }
}

/// Moves `fd` (ours, just made) to a high number (see [`high_base`]) and
/// hides it (see [`hide_fd`]); returns its new number. Where it cannot
/// move (a limit), it stays where it is, hidden all the same.
pub fn hide_high(fd: RawFd) -> RawFd {
    // SAFETY: a dup of our own fd; no pointers.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high_base()) };
    let fd = if high >= 0 {
        // SAFETY: the low number is ours and replaced by `high`.
        unsafe { libc::close(fd) };
        high
    } else {
        fd
    };
    hide_fd(fd);
    fd
}

/// An fd of stdpkt's own, moved out of the program's way and hidden from
/// it for as long as it lives (see [`hide_high`]); dropping it unhides,
/// then closes.
#[derive(Debug)]
pub struct Hidden<T: AsFd>(Option<T>);

impl<T: AsFd + From<OwnedFd> + Into<OwnedFd>> Hidden<T> {
    pub fn new(inner: T) -> Hidden<T> {
        let fd: OwnedFd = inner.into();
        let high = hide_high(fd.into_raw_fd());
        // SAFETY: `high` is the fd we own now, under its new number.
        Hidden(Some(T::from(unsafe { OwnedFd::from_raw_fd(high) })))
    }
}

impl<T: AsFd> Hidden<T> {
    pub fn get(&self) -> &T {
        self.0.as_ref().expect("present until drop")
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("present until drop")
    }
}

impl<T: AsFd> Drop for Hidden<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            unhide_fd(inner.as_fd().as_raw_fd());
        }
    }
}

impl<T: AsFd> AsRawFd for Hidden<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get().as_fd().as_raw_fd()
    }
}

impl<T: AsFd> AsFd for Hidden<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get().as_fd()
    }
}

impl<T: AsFd + Read> Read for Hidden<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.get_mut().read(buf)
    }
}

impl<T: AsFd + Write> Write for Hidden<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.get_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.get_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.get_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_fds_are_listed_by_range() {
        for fd in [60_005, 60_031, 60_032, 60_130, 70_000] {
            hide_fd(fd);
        }
        assert!(is_hidden_fd(60_031) && is_hidden_fd(70_000) && !is_hidden_fd(60_030));
        assert_eq!(hidden_fds_in(60_006, 60_200), vec![60_031, 60_032, 60_130]);
        assert_eq!(
            hidden_fds_in(60_000, u32::MAX),
            vec![60_005, 60_031, 60_032, 60_130, 70_000]
        );
        assert_eq!(hidden_fds_in(60_131, 69_999), Vec::<RawFd>::new());
        for fd in [60_005, 60_031, 60_032, 60_130, 70_000] {
            unhide_fd(fd);
        }
        assert!(hidden_fds_in(60_000, u32::MAX).is_empty());
    }
}
