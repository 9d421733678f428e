// SPDX-License-Identifier: GPL-2.0-only
//! poll, ppoll, select, pselect over instance fds, host fds, or both.
//!
//! # Design
//!
//! - Only host fds: the host's own call, untouched (the common case costs
//!   one table lookup per fd).
//! - Only instance fds: one kernel `ppoll` in the calling thread.
//! - Both: the two sides wait at the same time, with no busy loop:
//!   the calling thread runs the host `ppoll` over its host fds plus a host
//!   eventfd `hev`, while a helper thread (one per calling thread, made on
//!   first use, all signals blocked) runs the kernel `ppoll` over the
//!   instance fds plus a kernel eventfd `kev`. When the kernel side sees
//!   something it writes `hev`, which wakes the host side. When the host
//!   side returns (ready fds, timeout or a signal), it writes `kev`, which
//!   ends the kernel side, and waits for the helper to report. Both
//!   eventfds are drained before the next round, so no wakeup leaks into
//!   it. The host side keeps the program's signal mask and EINTR
//!   behaviour; the kernel side cannot see host signals.
//!
//! epoll ([`crate::epoll`]) uses the same helper with one fd per side.

use std::cell::Cell;
use std::ffi::{c_int, c_long, c_short, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use libc::{pollfd, sigset_t, timespec};
use lkl_sys as k;

use crate::{args, fdtable, forked, ksys, real, ret, route, set_errno, Route};

/// A wait that the host and the kernel side share.
enum Job {
    Idle,
    /// Kernel fds, timeout, and the host eventfd to write when one is
    /// ready.
    Run(Vec<k::pollfd>, Option<timespec>, c_int),
    Done(Vec<k::pollfd>, Result<c_long, lkl_sys::Errno>),
    Quit,
}

struct Shared {
    job: Mutex<Job>,
    cv: Condvar,
}

/// A calling thread's helper for mixed waits.
struct Waiter {
    shared: Arc<Shared>,
    /// Host eventfd: the kernel side's "something is ready".
    hev: c_int,
    /// Kernel eventfd: the host side's "stop waiting".
    kev: c_int,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn host_write_event(fd: c_int) {
    let one = 1u64;
    // SAFETY: eight bytes to an eventfd of ours.
    unsafe {
        real!(write: fn(c_int, *const c_void, usize) -> isize)(fd, (&one as *const u64).cast(), 8)
    };
}

fn host_drain_event(fd: c_int) {
    let mut v = 0u64;
    // SAFETY: eight bytes from a nonblocking eventfd of ours.
    unsafe {
        real!(read: fn(c_int, *mut c_void, usize) -> isize)(fd, (&mut v as *mut u64).cast(), 8)
    };
}

fn kernel_write_event(kfd: c_int) {
    let one = 1u64;
    // SAFETY: eight bytes to a kernel eventfd of ours.
    let _ = unsafe { ksys(k::__NR_write, args!(kfd, &one as *const u64, 8)) };
}

fn kernel_drain_event(kfd: c_int) {
    let mut v = 0u64;
    // SAFETY: eight bytes from a nonblocking kernel eventfd of ours.
    let _ = unsafe { ksys(k::__NR_read, args!(kfd, &mut v as *mut u64, 8)) };
}

/// Kernel ppoll with a relative timeout (None: forever), no signal mask.
pub(crate) fn kernel_ppoll(
    fds: &mut [k::pollfd],
    ts: Option<timespec>,
) -> Result<c_long, lkl_sys::Errno> {
    let mut t = ts;
    let tp = t
        .as_mut()
        .map_or(std::ptr::null_mut(), |t| t as *mut timespec);
    // SAFETY: fds is a valid array; tp null or a timespec (same layout as
    // __kernel_timespec on x86_64).
    unsafe { ksys(k::__NR_ppoll, args!(fds.as_mut_ptr(), fds.len(), tp, 0, 0)) }
}

/// A wait over instance fds only. Linux ends a poll with EINTR for any
/// handler that runs, SA_RESTART or not, but a handler with SA_RESTART
/// never ends our sleep in the kernel (the host restarts the futex wait).
/// So what is ready now is answered here, and a wait that would block
/// runs in the mixed-wait helper while this thread waits on the host,
/// where every handler is seen (and the program's signal mask applies).
pub(crate) fn kernel_only_ppoll(
    fds: &mut Vec<k::pollfd>,
    ts: Option<timespec>,
    mask: *const sigset_t,
) -> Result<c_long, lkl_sys::Errno> {
    let zero = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let now = kernel_ppoll(fds, Some(zero));
    if now != Ok(0) || ts.is_some_and(|t| t.tv_sec <= 0 && t.tv_nsec <= 0) {
        return now;
    }
    match mixed_wait(&mut Vec::new(), fds, ts, mask) {
        (_, Ok(n)) if n > 0 => Ok(n),
        (Err(e), _) => Err(lkl_sys::Errno(e)),
        (Ok(_), kr) => kr,
    }
}

/// Host ppoll; Err(errno) on failure.
pub(crate) fn host_ppoll(
    fds: &mut [pollfd],
    ts: Option<timespec>,
    mask: *const sigset_t,
) -> Result<c_int, c_int> {
    let tp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const timespec);
    // SAFETY: fds is a valid array; tp and mask null or valid.
    let r = unsafe {
        real!(ppoll: fn(*mut pollfd, libc::nfds_t, *const timespec, *const sigset_t) -> c_int)(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            tp,
            mask,
        )
    };
    if r < 0 {
        // SAFETY: reading this thread's errno.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(r)
    }
}

impl Waiter {
    fn new() -> Result<Waiter, c_int> {
        // SAFETY: no pointers.
        let hev = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if hev < 0 {
            // SAFETY: reading this thread's errno.
            return Err(unsafe { *libc::__errno_location() });
        }
        let hev = stdpkt_core::sys::hide_high(hev);
        // SAFETY: no pointers.
        let kev = match unsafe {
            ksys(
                k::__NR_eventfd2,
                args!(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC),
            )
        } {
            Ok(v) => v as c_int,
            Err(e) => {
                stdpkt_core::sys::unhide_fd(hev);
                // SAFETY: closing our own eventfd.
                unsafe { real!(close: fn(c_int) -> c_int)(hev) };
                return Err(e.0);
            }
        };
        let shared = Arc::new(Shared {
            job: Mutex::new(Job::Idle),
            cv: Condvar::new(),
        });
        let s = shared.clone();
        let (ready, started) = std::sync::mpsc::channel();
        let thread = stdpkt_core::sys::spawn_quiet("stdpkt-poll", 128 * 1024, move || {
            // In a client, the first call opens this thread's connection
            // to the instance: not during a wait, where its socket would
            // briefly hold the lowest free number, maybe one the program
            // is polling as closed.
            // SAFETY: no pointers.
            let _ = unsafe { ksys(k::__NR_getpid, args!()) };
            let _ = ready.send(());
            helper(&s)
        })
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
        let _ = started.recv();
        Ok(Waiter {
            shared,
            hev,
            kev,
            thread: Some(thread),
        })
    }

    /// Waits until some fd of `hfds` (host) or `kfds` (kernel) is ready,
    /// the timeout passes, or (host side) a signal arrives. Returns both
    /// sides' results; the revents of both arrays are filled in.
    fn wait(
        &self,
        hfds: &mut Vec<pollfd>,
        kfds: &mut Vec<k::pollfd>,
        ts: Option<timespec>,
        mask: *const sigset_t,
    ) -> (Result<c_int, c_int>, Result<c_long, lkl_sys::Errno>) {
        kfds.push(k::pollfd {
            fd: self.kev,
            events: libc::POLLIN,
            revents: 0,
        });
        {
            let mut job = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
            *job = Job::Run(std::mem::take(kfds), ts, self.hev);
        }
        self.shared.cv.notify_all();
        hfds.push(pollfd {
            fd: self.hev,
            events: libc::POLLIN,
            revents: 0,
        });
        let hr = host_ppoll(hfds, ts, mask);
        let hev_fired = hfds.pop().is_some_and(|p| p.revents != 0);
        kernel_write_event(self.kev);
        let mut job = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
        let kr = loop {
            match std::mem::replace(&mut *job, Job::Idle) {
                Job::Done(fds, r) => {
                    *kfds = fds;
                    break r;
                }
                other => {
                    *job = other;
                    job = self.shared.cv.wait(job).unwrap_or_else(|e| e.into_inner());
                }
            }
        };
        drop(job);
        let kev_fired = kfds.pop().is_some_and(|p| p.revents != 0);
        // Always drained: kev may have been written after the kernel side
        // had already returned for another fd.
        kernel_drain_event(self.kev);
        host_drain_event(self.hev);
        // Counts without our own eventfds.
        let hr = hr.map(|n| n - hev_fired as c_int);
        let kr = kr.map(|n| n - kev_fired as c_long);
        (hr, kr)
    }
}

/// The helper thread: runs kernel waits for its calling thread.
fn helper(shared: &Shared) {
    loop {
        let (mut fds, ts, notify) = {
            let mut job = shared.job.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match std::mem::replace(&mut *job, Job::Idle) {
                    Job::Run(fds, ts, notify) => break (fds, ts, notify),
                    Job::Quit => return,
                    other => {
                        *job = other;
                        job = shared.cv.wait(job).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        };
        let r = kernel_ppoll(&mut fds, ts);
        // The eventfd is drained right after Done: write it first, or the
        // write could come late and leak into the next wait.
        if found(&fds, &r) {
            host_write_event(notify);
        }
        *shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Job::Done(fds, r);
        shared.cv.notify_all();
    }
}

/// Whether a kernel wait over `fds` (our kernel eventfd last) found
/// something other than that eventfd (errors count): then the helper has
/// written the host eventfd.
fn found(fds: &[k::pollfd], r: &Result<c_long, lkl_sys::Errno>) -> bool {
    let kev_fired = fds.last().is_some_and(|p| p.revents != 0);
    match r {
        Ok(n) => *n > kev_fired as c_long,
        Err(_) => true,
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if forked() {
            // The helper thread and the kernel live in the parent only.
            return;
        }
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Job::Quit;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        crate::io::close_kernel(self.kev);
        stdpkt_core::sys::unhide_fd(self.hev);
        // SAFETY: closing our own eventfd.
        unsafe { real!(close: fn(c_int) -> c_int)(self.hev) };
    }
}

thread_local! {
    static WAITER: Cell<Option<Box<Waiter>>> = const { Cell::new(None) };
}

/// In a forked child: this thread's helper is the parent's (its thread
/// does not exist here, its kernel eventfd is the parent's): forget it,
/// and the next mixed wait makes one of the child's own.
pub(crate) fn after_fork() {
    let _ = WAITER.try_with(|c| std::mem::forget(c.take()));
}

/// Runs a mixed wait with this thread's helper (made on first use).
pub(crate) fn mixed_wait(
    hfds: &mut Vec<pollfd>,
    kfds: &mut Vec<k::pollfd>,
    ts: Option<timespec>,
    mask: *const sigset_t,
) -> (Result<c_int, c_int>, Result<c_long, lkl_sys::Errno>) {
    // A handler runs once both sides are done (the host side still ends
    // with EINTR): one that longjmps must not leave the helper waiting.
    let _inside = crate::signals::Inside::new();
    match with_waiter(|w| w.wait(hfds, kfds, ts, mask)) {
        Ok(r) => r,
        Err(e) => (Err(e), Ok(0)),
    }
}

/// Runs `f` with this thread's helper (made on first use); Err(errno) if
/// it cannot be made.
fn with_waiter<T>(f: impl FnOnce(&Waiter) -> T) -> Result<T, c_int> {
    // Taken out while in use: a nested call (from a signal handler) makes
    // its own.
    let w = match WAITER.with(|c| c.take()) {
        Some(w) => w,
        None => Box::new(Waiter::new()?),
    };
    let r = f(&w);
    WAITER.with(|c| c.set(Some(w)));
    Ok(r)
}

/// Set once any instance socket gets SO_RCVTIMEO: until then no receive
/// needs the timed path below.
static RCVTIMEO_SEEN: AtomicBool = AtomicBool::new(false);

/// Called when the program sets a socket option on an instance socket.
pub(crate) fn note_sockopt(level: c_int, name: c_int) {
    // SO_RCVTIMEO_OLD (libc's SO_RCVTIMEO on x86_64) and SO_RCVTIMEO_NEW.
    if level == libc::SOL_SOCKET && (name == libc::SO_RCVTIMEO || name == 66) {
        RCVTIMEO_SEEN.store(true, Ordering::Relaxed);
    }
}

/// A receive on instance socket `kfd` that a host signal interrupts as on
/// the host; `op(extra)` runs it with `extra` added to its flags.
///
/// A blocking receive normally runs as it is, on this thread: a signal
/// handler without SA_RESTART ends its wait through the kernel
/// (lkl_signal_kick in arch/lkl), giving EINTR, and one with SA_RESTART
/// lets it go on, as Linux does. A socket with SO_RCVTIMEO is different:
/// there Linux ends the wait with EINTR for any handler, so the wait runs
/// in the mixed-wait helper while this thread waits on the host, where
/// every handler is seen; the timeout gives EAGAIN.
pub(crate) fn recv_interruptible(
    kfd: c_int,
    flags: c_int,
    op: impl Fn(c_int) -> Result<c_long, lkl_sys::Errno>,
) -> Result<c_long, lkl_sys::Errno> {
    if flags & (libc::MSG_DONTWAIT | libc::MSG_ERRQUEUE | libc::MSG_WAITALL) != 0
        || !RCVTIMEO_SEEN.load(Ordering::Relaxed)
    {
        return op(0);
    }
    let again = Err(lkl_sys::Errno(libc::EAGAIN));
    let r = op(libc::MSG_DONTWAIT);
    if r != again || nonblocking(kfd) {
        return r;
    }
    let Some(timeout) = rcv_timeout(kfd) else {
        return op(0);
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return again;
        }
        let ts = timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut kfds = vec![k::pollfd {
            fd: kfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        let (hr, _) = mixed_wait(&mut Vec::new(), &mut kfds, Some(ts), std::ptr::null());
        if let Err(e) = hr {
            return Err(lkl_sys::Errno(e));
        }
        let r = op(libc::MSG_DONTWAIT);
        if r != again {
            return r;
        }
    }
}

/// Whether kernel fd `kfd` is in nonblocking mode.
fn nonblocking(kfd: c_int) -> bool {
    // SAFETY: no pointers.
    unsafe { ksys(k::__NR_fcntl, args!(kfd, libc::F_GETFL)) }
        .is_ok_and(|fl| fl as c_int & libc::O_NONBLOCK != 0)
}

/// SO_RCVTIMEO of kernel socket `kfd`; None: none (wait forever).
fn rcv_timeout(kfd: c_int) -> Option<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: a timeval and its length (the same layout in the kernel).
    let r = unsafe {
        ksys(
            k::__NR_getsockopt,
            args!(
                kfd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &mut tv as *mut libc::timeval,
                &mut len as *mut libc::socklen_t
            ),
        )
    };
    let t = Duration::new(
        tv.tv_sec.max(0) as u64,
        (tv.tv_usec.clamp(0, 999_999) * 1000) as u32,
    );
    (r.is_ok() && !t.is_zero()).then_some(t)
}

pub(crate) fn ms_to_ts(ms: c_int) -> Option<timespec> {
    (ms >= 0).then(|| timespec {
        tv_sec: (ms / 1000) as _,
        tv_nsec: ((ms % 1000) as i64 * 1_000_000) as _,
    })
}

/// The poll core for a set holding at least one instance fd. Fills in
/// `fds[i].revents`; returns the C result (count, or -1 with errno).
fn poll_mixed(fds: &mut [pollfd], ts: Option<timespec>, mask: *const sigset_t) -> c_int {
    let mut hidx = Vec::new();
    let mut hfds = Vec::new();
    let mut kidx = Vec::new();
    let mut kfds = Vec::new();
    let mut dead = 0;
    for (i, p) in fds.iter_mut().enumerate() {
        p.revents = 0;
        if p.fd < 0 {
            continue;
        }
        match route(p.fd) {
            Route::Kernel(kfd) => {
                kidx.push(i);
                kfds.push(k::pollfd {
                    fd: kfd,
                    events: p.events,
                    revents: 0,
                });
            }
            // stdpkt's own fds are free numbers to the program.
            Route::Dead => {
                p.revents = libc::POLLNVAL;
                dead += 1;
            }
            Route::Host if crate::io::hidden(p.fd) => {
                p.revents = libc::POLLNVAL;
                dead += 1;
            }
            Route::Host => {
                hidx.push(i);
                hfds.push(*p);
            }
        }
    }
    // A POLLNVAL entry makes poll return at once.
    let ts = if dead > 0 {
        Some(timespec {
            tv_sec: 0,
            tv_nsec: 0,
        })
    } else {
        ts
    };
    let (hr, kr) = if kfds.is_empty() {
        (host_ppoll(&mut hfds, ts, mask), Ok(0))
    } else if hfds.is_empty() {
        (Ok(0), kernel_only_ppoll(&mut kfds, ts, mask))
    } else {
        mixed_wait(&mut hfds, &mut kfds, ts, mask)
    };
    let mut n = dead;
    for (i, p) in hidx.iter().zip(&hfds) {
        fds[*i].revents = p.revents;
        n += (p.revents != 0) as c_int;
    }
    if kr.is_ok() {
        for (i, p) in kidx.iter().zip(&kfds) {
            fds[*i].revents = p.revents as c_short;
            n += (p.revents != 0) as c_int;
        }
    }
    if n > 0 {
        return n;
    }
    match (hr, kr) {
        (Err(e), _) => {
            set_errno(e);
            -1
        }
        (_, Err(e)) => ret(Err(e)) as c_int,
        _ => 0,
    }
}

/// Whether the set needs more than the host's poll: an instance fd, or
/// one of stdpkt's own (to be reported as not open).
fn any_instance(fds: &[pollfd]) -> bool {
    fds.iter()
        .any(|p| fdtable::get(p.fd).is_some() || crate::io::hidden(p.fd))
}

fn slice<'a>(fds: *mut pollfd, n: libc::nfds_t) -> &'a mut [pollfd] {
    if n == 0 || fds.is_null() {
        &mut []
    } else {
        // SAFETY: the program passes an array of n pollfds.
        unsafe { std::slice::from_raw_parts_mut(fds, n as usize) }
    }
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, n: libc::nfds_t, timeout: c_int) -> c_int {
    let s = slice(fds, n);
    if !any_instance(s) {
        // SAFETY: plain poll on the host.
        return unsafe {
            real!(poll: fn(*mut pollfd, libc::nfds_t, c_int) -> c_int)(fds, n, timeout)
        };
    }
    poll_mixed(s, ms_to_ts(timeout), std::ptr::null())
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    n: libc::nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    let s = slice(fds, n);
    if !any_instance(s) {
        // SAFETY: plain ppoll on the host.
        return unsafe {
            real!(ppoll: fn(*mut pollfd, libc::nfds_t, *const timespec, *const sigset_t) -> c_int)(
                fds, n, ts, mask,
            )
        };
    }
    // SAFETY: ts is null or the program's timespec.
    let t = unsafe { ts.as_ref() }.copied();
    poll_mixed(s, t, mask)
}

#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    n: libc::nfds_t,
    timeout: c_int,
    fdslen: usize,
) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < n as usize {
        // SAFETY: glibc's own overflow report; does not return.
        unsafe { real!(__chk_fail: fn() -> ())() };
    }
    // SAFETY: as poll.
    unsafe { poll(fds, n, timeout) }
}

#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    n: libc::nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
    fdslen: usize,
) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < n as usize {
        // SAFETY: glibc's own overflow report; does not return.
        unsafe { real!(__chk_fail: fn() -> ())() };
    }
    // SAFETY: as ppoll.
    unsafe { ppoll(fds, n, ts, mask) }
}

/// An fd_set of any size, as the words glibc stores it in.
struct FdBits(*mut u64);

impl FdBits {
    fn get(&self, fd: usize) -> bool {
        // SAFETY: callers only ask for fd < nfds, which the program's set holds.
        !self.0.is_null() && unsafe { *self.0.add(fd / 64) } & (1 << (fd % 64)) != 0
    }
    fn clear_all(&self, nfds: usize) {
        if !self.0.is_null() {
            for w in 0..nfds.div_ceil(64) {
                // SAFETY: words below nfds belong to the program's set.
                unsafe { *self.0.add(w) = 0 };
            }
        }
    }
    fn set(&self, fd: usize) {
        // SAFETY: fd < nfds (see get); only called on non-null sets.
        unsafe { *self.0.add(fd / 64) |= 1 << (fd % 64) };
    }
}

/// select's core on poll: the same readiness rules as the kernel's
/// (readable: IN, HUP or ERR; writable: OUT or ERR; exception: PRI).
fn select_mixed(
    nfds: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    ts: Option<timespec>,
    mask: *const sigset_t,
) -> c_int {
    let (rb, wb, eb) = (FdBits(r.cast()), FdBits(w.cast()), FdBits(e.cast()));
    let mut fds = Vec::new();
    for fd in 0..nfds.max(0) as usize {
        let mut ev = 0;
        if rb.get(fd) {
            ev |= libc::POLLIN;
        }
        if wb.get(fd) {
            ev |= libc::POLLOUT;
        }
        if eb.get(fd) {
            ev |= libc::POLLPRI;
        }
        if ev != 0 {
            fds.push(pollfd {
                fd: fd as c_int,
                events: ev,
                revents: 0,
            });
        }
    }
    let n = poll_mixed(&mut fds, ts, mask);
    if n < 0 {
        return n;
    }
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        set_errno(libc::EBADF);
        return -1;
    }
    for b in [&rb, &wb, &eb] {
        b.clear_all(nfds as usize);
    }
    let mut count = 0;
    for p in &fds {
        let fd = p.fd as usize;
        if p.events & libc::POLLIN != 0
            && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
        {
            rb.set(fd);
            count += 1;
        }
        if p.events & libc::POLLOUT != 0 && p.revents & (libc::POLLOUT | libc::POLLERR) != 0 {
            wb.set(fd);
            count += 1;
        }
        if p.events & libc::POLLPRI != 0 && p.revents & libc::POLLPRI != 0 {
            eb.set(fd);
            count += 1;
        }
    }
    count
}

fn select_has_instance(nfds: c_int, sets: [*mut libc::fd_set; 3]) -> bool {
    let bits = sets.map(|s| FdBits(s.cast()));
    (0..nfds.max(0) as usize).any(|fd| {
        bits.iter().any(|b| b.get(fd))
            && (fdtable::get(fd as c_int).is_some() || crate::io::hidden(fd as c_int))
    })
}

#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    tv: *mut libc::timeval,
) -> c_int {
    if !select_has_instance(nfds, [r, w, e]) {
        // SAFETY: plain select on the host.
        return unsafe {
            real!(select: fn(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *mut libc::timeval) -> c_int)(
                nfds, r, w, e, tv,
            )
        };
    }
    // SAFETY: tv is null or the program's timeval.
    let t = unsafe { tv.as_ref() }.copied();
    let ts = t.map(|t| timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_usec * 1000,
    });
    let start = Instant::now();
    let n = select_mixed(nfds, r, w, e, ts, std::ptr::null());
    if let Some(t) = t {
        // Like Linux: the timeout becomes the time left.
        let total = Duration::new(
            t.tv_sec.max(0) as u64,
            (t.tv_usec.clamp(0, 999_999) * 1000) as u32,
        );
        let left = total.saturating_sub(start.elapsed());
        // SAFETY: tv is the program's timeval (non-null here).
        unsafe {
            (*tv).tv_sec = left.as_secs() as _;
            (*tv).tv_usec = left.subsec_micros() as _;
        }
    }
    n
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    if !select_has_instance(nfds, [r, w, e]) {
        // SAFETY: plain pselect on the host.
        return unsafe {
            real!(pselect: fn(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *const timespec, *const sigset_t) -> c_int)(
                nfds, r, w, e, ts, mask,
            )
        };
    }
    // SAFETY: ts is null or the program's timespec.
    let t = unsafe { ts.as_ref() }.copied();
    select_mixed(nfds, r, w, e, t, mask)
}
