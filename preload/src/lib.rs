// SPDX-License-Identifier: GPL-2.0-only
//! libstdpkt.so: preloaded into a program (`LD_PRELOAD`), boots an instance
//! (a Linux kernel inside the process, see `stdpkt::instance`) before `main`
//! and routes the program's network calls into it.
//!
//! # What goes where
//!
//! - `socket()` for `AF_INET`, `AF_INET6`, `AF_NETLINK` and `AF_PACKET`
//!   creates the socket in the instance; every other family (`AF_UNIX`, ...)
//!   and every non-socket fd stays on the host. Instance sockets appear to
//!   the program as ordinary host fd numbers ([`fdtable`]).
//! - Calls on an instance fd (read, send, ioctl, fcntl, ...) run in the
//!   kernel; calls on host fds go to the C library's own function
//!   ([`real`]).
//! - poll/select/epoll over sets that mix both kinds wait on both sides at
//!   once ([`poll`], [`epoll`]).
//! - getifaddrs and the if_* name functions answer from the instance
//!   ([`ifaddrs`]).
//!
//! # Environment
//!
//! The instance is configured by the variables documented in
//! `stdpkt::config`. Two more matter here:
//! - `STDPKT_LOG`: filter for stdpkt's log on stderr (`env_logger` syntax,
//!   default `warn`).
//! - `STDPKT_DISABLE=1` (also `true`/`yes`): boot nothing and route nothing;
//!   the program runs exactly as without the library (on the host network!).
//!   For programs in a hijacked shell's pipeline that have no business
//!   with the NICs, and for debugging.
//!
//! A bad configuration prints one line to stderr and exits with status 2
//! before `main`; a kernel that fails to start exits with status 1.
//!
//! # Processes
//!
//! One instance, many programs (`stdpkt::remote`): the first program
//! started with the library boots the instance and serves every program
//! it starts, so a script's commands act on one kernel.
//! - `fork()`: the child is a client of the parent's instance (its copy of
//!   the kernel has no threads and is never entered). It shares the
//!   parent's instance sockets as on Linux: before the fork each kernel fd
//!   is duplicated for the child, so either side may close its copy.
//! - `exec`: a program that finds `STDPKT_INSTANCE` boots nothing and runs
//!   its network calls on that instance. Instance fds do not survive exec
//!   yet. A process that booted an instance and then execs boots anew.
//! - `vfork()`/`posix_spawn` children share our memory but run no fork
//!   handlers: closing fds there (close_range before exec) leaves the
//!   parent's table alone.
//! - The host stays, serving its clients, until they end.
//!
//! # Signals
//!
//! The kernel never delivers signals. A send or write on an instance
//! socket that fails with `EPIPE` raises `SIGPIPE` in the calling thread
//! unless `MSG_NOSIGNAL` was given, as on the host.
//!
//! A host signal reaches a call blocked in the instance the way it reaches
//! one blocked in the host kernel: the thread sleeps on a futex, a handler
//! without `SA_RESTART` ends that sleep with EINTR, and the kernel port
//! then marks the thread's task as having a signal pending (arch/lkl,
//! `lkl_signal_kick`), so the syscall ends as Linux ends it: EINTR, or a
//! partial count. A handler with `SA_RESTART` lets the call go on, which
//! is what Linux does for accept, connect, send and receive without a
//! socket timeout. Where Linux returns EINTR even for an `SA_RESTART`
//! handler, so do we: a receive on a socket with `SO_RCVTIMEO`
//! (`poll::recv_interruptible`), and a poll, select or epoll wait over
//! instance fds only that has to block (`poll::kernel_only_ppoll`) wait
//! in the mixed-wait helper while the calling thread waits on the host,
//! which sees every handler. One difference is left: a send with
//! `SO_SNDTIMEO` runs on until sent or timed out. Mixed host/instance
//! waits are exact (their host side is the host's own wait). A handler
//! itself never runs inside an instance call: it runs as the call returns
//! ([`signals`]), as Linux runs it on the way out of a syscall.
//!
//! # stdpkt's own fds
//!
//! The NICs' streams, the kernel's timers and the instance's sockets are
//! moved to high numbers and hidden (`stdpkt_core::sys::hide_fd`): to the
//! program their numbers are free, so close, close_range, closefrom, dup2,
//! dup3 and fcntl on them fail with EBADF (or skip them), and poll reports
//! POLLNVAL, while the NIC keeps its streams.
//!
//! # Known gaps
//!
//! glibc's own internal calls (its DNS resolver, stdio on an `fdopen`ed
//! socket, ...) use private entry points that no preload can see: they run
//! on the host. Where getaddrinfo/getnameinfo depend on interfaces (scope
//! names in IPv6 addresses, AI_ADDRCONFIG), the `scope` module answers in
//! front of glibc.

// The exported functions are C ABI entry points whose contract is the C
// library's (see their man pages), not something a `# Safety` section in
// Rust adds to.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_long};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

mod real;
pub(crate) use real::real;

mod epoll;
mod fdtable;
mod ifaddrs;
mod io;
mod net;
mod poll;
mod procfs;
mod scope;
mod signals;

/// The instance is not (yet) up: everything goes to the host.
const OFF: u8 = 0;
/// The instance runs: instance fds go to the kernel.
const RUNNING: u8 = 1;
/// A forked child: the kernel lives in the parent only.
const FORKED: u8 = 2;
/// A program started from an instance's process (or forked from it):
/// its instance calls run on that instance ([`stdpkt_core::remote`]).
const CLIENT: u8 = 3;

/// The instance a client's calls go to (the value of STDPKT_INSTANCE).
static INSTANCE_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

static STATE: AtomicU8 = AtomicU8::new(OFF);

/// The process that booted the instance.
static OWNER: AtomicI32 = AtomicI32::new(0);

/// False in a child made by vfork (or clone with shared memory), which
/// runs no fork handlers and shares our fd table's memory but not the
/// host fd table: there, closing an fd must leave the table alone, or
/// the parent would lose its sockets (e.g. close_range between vfork and
/// exec). Costs a getpid, so only fd-destroying calls ask.
pub(crate) fn owner_process() -> bool {
    // SAFETY: getpid has no preconditions.
    OWNER.load(Ordering::Relaxed) == unsafe { libc::getpid() }
}

/// Whether instance calls can be made: in the process that booted the
/// instance, or in a client of it.
#[inline]
pub(crate) fn running() -> bool {
    matches!(STATE.load(Ordering::Acquire), RUNNING | CLIENT)
}

#[inline]
pub(crate) fn forked() -> bool {
    STATE.load(Ordering::Acquire) == FORKED
}

/// Where a call on host fd `fd` goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Route {
    Host,
    /// An instance fd: its kernel fd.
    Kernel(c_int),
    /// An instance fd in a forked child: unusable.
    Dead,
}

#[inline]
pub(crate) fn route(fd: c_int) -> Route {
    match fdtable::get(fd) {
        None => Route::Host,
        Some(k) => match STATE.load(Ordering::Acquire) {
            RUNNING | CLIENT => Route::Kernel(k),
            FORKED => Route::Dead,
            _ => Route::Host,
        },
    }
}

#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// Converts a kernel result to the C convention: the value, or -1 with
/// errno set.
#[inline]
pub(crate) fn ret(r: Result<c_long, lkl_sys::Errno>) -> c_long {
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

/// Builds the six syscall arguments.
macro_rules! args {
    ($($a:expr),* $(,)?) => {{
        let mut a = [0 as std::ffi::c_long; 6];
        let v = [$($a as std::ffi::c_long),*];
        a[..v.len()].copy_from_slice(&v);
        a
    }};
}
pub(crate) use args;

/// Runs kernel syscall `no`.
///
/// # Safety
/// The arguments must be valid for that syscall (pointers to memory of the
/// sizes the syscall reads or writes).
#[inline]
pub(crate) unsafe fn ksys(no: u32, a: [c_long; 6]) -> Result<c_long, lkl_sys::Errno> {
    if STATE.load(Ordering::Relaxed) == CLIENT {
        // A handler may run during a remote call, as it did on a host
        // syscall: the call is the server's, and nothing of it is half
        // done here. One that returns lets the call go on; one that
        // longjmps leaves this thread's connection borrowed, and later
        // calls use connections of their own. (Deferring it could wait
        // forever: a client's blocked receive cannot be interrupted yet.)
        let name = INSTANCE_NAME.get().map(String::as_str).unwrap_or_default();
        let r = stdpkt_core::remote::Client::syscall(name, no, a);
        return if (-4095..0).contains(&r) {
            Err(lkl_sys::Errno(-r as i32))
        } else {
            Ok(r)
        };
    }
    // Handlers of signals that come meanwhile run as the call returns.
    let _inside = signals::Inside::new();
    // SAFETY: the caller vouches for the arguments.
    unsafe { lkl_sys::syscall(no, a) }
}

/// The error for an instance fd used in a forked child: warns once on
/// stderr, sets errno to ENOTSUP and returns -1.
pub(crate) fn dead() -> c_long {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        let msg = format!(
            "stdpkt: process {} was forked from the one running the network \
             instance: its sockets are not usable here (ENOTSUP); exec a \
             program to get an instance of its own\n",
            std::process::id()
        );
        // SAFETY: a valid buffer to stderr.
        unsafe {
            real!(write: fn(c_int, *const libc::c_void, usize) -> isize)(
                2,
                msg.as_ptr().cast(),
                msg.len(),
            )
        };
    }
    set_errno(libc::ENOTSUP);
    -1
}

/// Whether `STDPKT_DISABLE` asks for no instance.
fn disabled() -> bool {
    match std::env::var("STDPKT_DISABLE") {
        Ok(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
        Err(_) => false,
    }
}

/// Kernel fds duplicated for a child about to be forked: (host fd, the
/// child's kernel fd). The kernel's fd table is one for the whole
/// instance, so parent and child need numbers of their own for the same
/// sockets, or a close on one side would close the other's.
static FORK_DUPS: std::sync::Mutex<Vec<(c_int, c_int)>> = std::sync::Mutex::new(Vec::new());
/// The same for epoll fds' kernel shadows.
static FORK_EPOLL_DUPS: std::sync::Mutex<Vec<(c_int, c_int)>> = std::sync::Mutex::new(Vec::new());

extern "C" fn before_fork() {
    if !running() {
        return;
    }
    let mut dups = FORK_DUPS.lock().unwrap_or_else(|e| e.into_inner());
    dups.clear();
    for (h, k) in fdtable::all() {
        // SAFETY: no pointers.
        if let Ok(nk) = unsafe { ksys(lkl_sys::__NR_dup, args!(k)) } {
            dups.push((h, nk as c_int));
        }
    }
    *FORK_EPOLL_DUPS.lock().unwrap_or_else(|e| e.into_inner()) = epoll::fork_dups();
}

extern "C" fn after_fork_in_parent() {
    // The duplicates are the child's now (a failed fork leaks them).
    FORK_DUPS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    FORK_EPOLL_DUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

extern "C" fn after_fork_in_child() {
    // A real child (vfork's run no handlers): it owns its fd table.
    // SAFETY: getpid has no preconditions.
    OWNER.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    match STATE.load(Ordering::Acquire) {
        RUNNING => {
            // Our copy of the kernel has no threads: use the parent's.
            if let Ok(n) = std::env::var(stdpkt_core::remote::ENV) {
                let _ = INSTANCE_NAME.set(n);
            }
            let next = if INSTANCE_NAME.get().is_some() {
                CLIENT
            } else {
                FORKED
            };
            STATE.store(next, Ordering::Release);
        }
        CLIENT => stdpkt_core::remote::Client::forget_connection(),
        _ => return,
    }
    poll::after_fork();
    signals::after_fork();
    let dups = std::mem::take(&mut *FORK_DUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for (h, nk) in dups {
        fdtable::set(h, nk);
    }
    let dups = std::mem::take(&mut *FORK_EPOLL_DUPS.lock().unwrap_or_else(|e| e.into_inner()));
    epoll::apply_fork_dups(&dups);
}

fn register_process_handlers() {
    // SAFETY: registering plain extern "C" functions.
    let r = unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_in_parent),
            Some(after_fork_in_child),
        )
    };
    if r != 0 {
        log::warn!("pthread_atfork failed ({r}): forked children may hang");
    }
    // SAFETY: registering a plain extern "C" function.
    if unsafe { libc::atexit(at_exit) } != 0 {
        log::warn!("atexit failed: no linger, no drop report");
    }
}

/// Sets the instance's CLOCK_REALTIME to the host's, so that kernel
/// timestamps (SO_TIMESTAMP, which ping uses) agree with gettimeofday.
fn sync_realtime_clock() {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: now is a valid out pointer; the kernel reads the same layout.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
        if let Err(e) = ksys(
            lkl_sys::__NR_clock_settime,
            args!(libc::CLOCK_REALTIME, &now as *const libc::timespec),
        ) {
            log::warn!("cannot set the instance's clock: {e}");
        }
    }
}

/// Runs before `main` (and before the program's own constructors): boots
/// the instance or exits, or becomes a client of an instance that started
/// this program.
extern "C" fn init() {
    if disabled() {
        return;
    }
    let filter = std::env::var("STDPKT_LOG").unwrap_or_else(|_| "warn".into());
    let _ = env_logger::Builder::new()
        .parse_filters(&filter)
        .target(env_logger::Target::Stderr)
        .try_init();
    let inherited = std::env::var(stdpkt_core::remote::ENV)
        .ok()
        .filter(|n| !stdpkt_core::remote::is_own(n));
    if let Some(name) = inherited {
        // Started from a process that runs an instance: use that one.
        let _ = INSTANCE_NAME.set(name);
        // SAFETY: getpid has no preconditions.
        OWNER.store(unsafe { libc::getpid() }, Ordering::Relaxed);
        // While the program has one thread (our fds live high).
        stdpkt_core::sys::grow_fd_table();
        STATE.store(CLIENT, Ordering::Release);
        register_process_handlers();
        log::debug!("a client of the instance {:?}", INSTANCE_NAME.get());
        return;
    }
    let config = match stdpkt_core::config::from_env() {
        Ok(c) => c,
        Err(e) => return boot(Err(e.into())),
    };
    boot(stdpkt_core::instance::start(config));
}

/// Makes a started instance the one calls are routed to, or, if it could
/// not start, reports why and leaves.
fn boot(
    started: Result<&'static stdpkt_core::instance::Instance, stdpkt_core::instance::StartError>,
) {
    match started {
        Ok(_) => {
            sync_realtime_clock();
            // SAFETY: getpid has no preconditions.
            OWNER.store(unsafe { libc::getpid() }, Ordering::Relaxed);
            STATE.store(RUNNING, Ordering::Release);
            register_process_handlers();
            let name = started.as_ref().ok().and_then(|i| i.config().name.clone());
            match stdpkt_core::remote::serve(name.as_deref()) {
                Ok(name) => log::debug!("serving programs started from here at {name}"),
                Err(e) => {
                    log::warn!("cannot serve other programs (they get instances of their own): {e}")
                }
            }
            log::debug!("instance up; routing network calls into it");
        }
        Err(e) => {
            let msg = format!("{e}\n");
            // SAFETY: a valid buffer to stderr, then leaving without
            // running the program's atexit handlers (it never started, or
            // cannot go on without its network).
            unsafe {
                real!(write: fn(c_int, *const libc::c_void, usize) -> isize)(
                    2,
                    msg.as_ptr().cast(),
                    msg.len(),
                );
                libc::_exit(e.exit_status());
            }
        }
    }
}

/// At exit (after `main` returns, or `exit`/`_exit`), in the process that
/// booted the instance, once:
/// 1. the program's instance sockets are closed, as the host kernel closes
///    a dying process's fds;
/// 2. the instance stays, quietly, until every TCP connection has
///    delivered its queued data and had its FIN acknowledged (or
///    `STDPKT_EXIT_WAIT` runs out: one line names what was abandoned);
/// 3. `STDPKT_LINGER` keeps it forwarding until its inputs end;
/// 4. lost frames are reported on stderr.
extern "C" fn at_exit() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if STATE.load(Ordering::Acquire) == CLIENT {
        // Our sockets close as a dying process's do; the instance lives on.
        if !DONE.swap(true, Ordering::AcqRel) {
            for (_, kfd) in fdtable::take_range(0, u32::MAX) {
                io::close_kernel(kfd);
            }
        }
        return;
    }
    // SAFETY: getpid has no preconditions. A vforked child owns nothing.
    if OWNER.load(Ordering::Relaxed) != unsafe { libc::getpid() }
        || DONE.swap(true, Ordering::AcqRel)
    {
        return;
    }
    let Some(inst) = stdpkt_core::instance::get() else {
        return;
    };
    // Programs started from here still use the instance: serve them
    // until they end (SIGTERM or SIGINT ends the wait).
    inst.wait_for_clients();
    for (_, kfd) in fdtable::take_range(0, u32::MAX) {
        io::close_kernel(kfd);
    }
    let limit = std::time::Duration::from_secs(inst.config().exit_wait_secs.into());
    let (mut owed, end) = inst.wait_for_owed(limit);
    if end == stdpkt_core::instance::WaitEnd::InputsEnded {
        // Only a FIN left (it counts as one byte) to a peer that has gone:
        // nothing the program wrote is lost.
        owed.retain(|o| o.queued > 1);
    }
    if !owed.is_empty() {
        use stdpkt_core::instance::WaitEnd;
        let why = match end {
            WaitEnd::Timeout => format!("after {} s (STDPKT_EXIT_WAIT)", limit.as_secs()),
            WaitEnd::Signal => "on a signal".into(),
            WaitEnd::InputsEnded => "as its NICs' inputs have ended".into(),
        };
        let list: Vec<String> = owed.iter().map(ToString::to_string).collect();
        say(&format!(
            "exit: gave up {why} on {} TCP connection(s) not yet done: {}",
            owed.len(),
            list.join(", ")
        ));
    }
    if inst.config().linger {
        inst.linger();
    }
    for line in inst.drop_report() {
        say(&line);
    }
}

/// `stdpkt: LINE` to the host's stderr in one write.
fn say(line: &str) {
    let msg = format!("stdpkt: {line}\n");
    // SAFETY: a valid buffer to the host's stderr.
    unsafe {
        real!(write: fn(c_int, *const libc::c_void, usize) -> isize)(
            2,
            msg.as_ptr().cast(),
            msg.len(),
        );
    }
}

/// `_exit` skips atexit handlers, but the instance must still deliver
/// what the program sent before it goes (see [`at_exit`]).
#[no_mangle]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    at_exit();
    // SAFETY: libc's _exit.
    unsafe { real!(_exit: fn(c_int) -> ())(status) };
    // SAFETY: the real _exit does not return.
    unsafe { std::hint::unreachable_unchecked() }
}

/// The C99 name of [`_exit`].
#[no_mangle]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    // SAFETY: as _exit.
    unsafe { _exit(status) }
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;
