// SPDX-License-Identifier: GPL-2.0-only
//! The program's signal handlers run where Linux runs them: never in the
//! middle of an instance call.
//!
//! Linux delivers a signal on the way out of a syscall, so a handler that
//! calls `send` (async-signal-safe) or `longjmp`s out (iperf3's SIGTERM)
//! never finds the kernel half-way through its work. A host signal can
//! arrive while a thread is inside the instance: holding its CPU, in the
//! middle of a remote call, or between the two sides of a mixed wait. A
//! handler run there that enters the instance again waits for a CPU its
//! own thread holds, and one that longjmps leaves the kernel's state
//! half-changed.
//!
//! So the program's handlers (installed through `sigaction` or `signal`)
//! are wrapped: while the thread is inside the instance ([`Inside`]: an
//! in-process call, or a mixed wait; not a client's remote call, which
//! holds nothing here and could not be interrupted yet), the
//! wrapper only notes the signal and its siginfo, and the handler runs as
//! the instance call returns, with the mask the program asked for. The
//! wrapper is installed with the program's own flags, so a blocked call
//! still ends as on Linux (EINTR without `SA_RESTART`). Faults (SIGSEGV,
//! SIGBUS, ...) are synchronous and never deferred.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::real;

const NSIG: usize = 65;

/// The program's handler per signal (0: not wrapped), and its flags.
static HANDLER: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
static FLAGS: [AtomicI32; NSIG] = [const { AtomicI32::new(0) }; NSIG];
/// The program's whole sigaction per signal, for its mask and oldact.
static SAVED: Mutex<[Option<libc::sigaction>; NSIG]> = Mutex::new([None; NSIG]);

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Signals noted while inside, one bit each.
    static PENDING: Cell<u64> = const { Cell::new(0) };
    static INFO: UnsafeCell<[MaybeUninit<libc::siginfo_t>; NSIG]> =
        const { UnsafeCell::new([MaybeUninit::uninit(); NSIG]) };
}

/// Marks the calling thread as inside the instance while it lives; the
/// last one to go runs the handlers of the signals that came meanwhile.
pub(crate) struct Inside(());

impl Inside {
    pub(crate) fn new() -> Inside {
        let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
        Inside(())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let outer = DEPTH
            .try_with(|d| {
                d.set(d.get().saturating_sub(1));
                d.get() == 0
            })
            .unwrap_or(false);
        if outer && PENDING.try_with(|p| p.get()).unwrap_or(0) != 0 {
            deliver_pending();
        }
    }
}

/// Signals whose handlers are never deferred: faults are the program's
/// own instruction, and glibc's internal signals are its business.
fn wrappable(sig: c_int) -> bool {
    (1..NSIG as c_int).contains(&sig)
        && !matches!(
            sig,
            libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGILL
                | libc::SIGFPE
                | libc::SIGTRAP
                | libc::SIGSYS
        )
        && !(32..=33).contains(&sig)
}

extern "C" fn trampoline(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let inside = DEPTH.try_with(|d| d.get() > 0).unwrap_or(false);
    if !inside {
        call(sig, info, ctx);
        return;
    }
    let _ = INFO.try_with(|i| {
        // SAFETY: this thread's own slot; only this thread's handlers
        // write it, and the code they interrupt is inside the instance,
        // where it never reads it.
        unsafe { (*i.get())[sig as usize] = MaybeUninit::new(*info) };
    });
    let _ = PENDING.try_with(|p| p.set(p.get() | 1 << sig));
}

/// Runs the program's handler for `sig`.
fn call(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let h = HANDLER[sig as usize].load(Ordering::Acquire);
    if h == 0 || h == libc::SIG_DFL || h == libc::SIG_IGN {
        return;
    }
    if FLAGS[sig as usize].load(Ordering::Acquire) & libc::SA_SIGINFO != 0 {
        // SAFETY: the program installed this function as an SA_SIGINFO
        // handler.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the program installed this function as a plain handler.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

/// Runs the handlers of the signals noted while inside, lowest first, each
/// with the mask its sigaction asked for, as the kernel would.
fn deliver_pending() {
    loop {
        let Ok(p) = PENDING.try_with(|p| p.get()) else {
            return;
        };
        if p == 0 {
            return;
        }
        let sig = p.trailing_zeros() as c_int;
        let _ = PENDING.try_with(|q| q.set(q.get() & !(1 << sig)));
        let mut info = INFO
            .try_with(|i| {
                // SAFETY: written by the trampoline before it set the bit.
                unsafe { (*i.get())[sig as usize].assume_init() }
            })
            .expect("the thread's slots live as long as PENDING");
        let act = SAVED.lock().unwrap_or_else(|e| e.into_inner())[sig as usize];
        // SAFETY: local sigsets; the old mask is restored after the
        // handler (unless it longjmps away, as after a real signal).
        unsafe {
            let mut block: libc::sigset_t = act.map_or_else(|| std::mem::zeroed(), |a| a.sa_mask);
            if act.is_none_or(|a| a.sa_flags & libc::SA_NODEFER == 0) {
                libc::sigaddset(&mut block, sig);
            }
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
            call(sig, &mut info, std::ptr::null_mut());
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }
}

/// In a forked child: nothing noted in the parent is the child's.
pub(crate) fn after_fork() {
    let _ = PENDING.try_with(|p| p.set(0));
    let _ = DEPTH.try_with(|d| d.set(0));
}

fn real_sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    // SAFETY: the caller's pointers, null or valid.
    unsafe {
        real!(sigaction: fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int)(
            sig, act, old,
        )
    }
}

/// Installs `act` for `sig` (wrapped if it is a handler); fills `old`
/// with the program's previous action.
fn set(sig: c_int, act: Option<&libc::sigaction>, old: *mut libc::sigaction) -> c_int {
    let mut saved = SAVED.lock().unwrap_or_else(|e| e.into_inner());
    let before = saved[sig as usize];
    let r = match act {
        None => real_sigaction(sig, std::ptr::null(), old),
        Some(a) if a.sa_sigaction == libc::SIG_DFL || a.sa_sigaction == libc::SIG_IGN => {
            let r = real_sigaction(sig, a, old);
            if r == 0 {
                HANDLER[sig as usize].store(0, Ordering::Release);
                saved[sig as usize] = None;
            }
            r
        }
        Some(a) => {
            // The wrapper reads these as soon as it is installed.
            FLAGS[sig as usize].store(a.sa_flags, Ordering::Release);
            HANDLER[sig as usize].store(a.sa_sigaction, Ordering::Release);
            let mut ours = *a;
            ours.sa_sigaction = trampoline as *const () as usize;
            ours.sa_flags |= libc::SA_SIGINFO;
            let r = real_sigaction(sig, &ours, old);
            if r == 0 {
                saved[sig as usize] = Some(*a);
            } else if let Some(b) = before {
                FLAGS[sig as usize].store(b.sa_flags, Ordering::Release);
                HANDLER[sig as usize].store(b.sa_sigaction, Ordering::Release);
            }
            r
        }
    };
    if r == 0 && !old.is_null() {
        // SAFETY: the caller's out pointer, filled in by the real call.
        let o = unsafe { &mut *old };
        if o.sa_sigaction == trampoline as *const () as usize {
            if let Some(b) = before {
                *o = b;
            }
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    if !wrappable(sig) || !crate::running() {
        return real_sigaction(sig, act, old);
    }
    // SAFETY: null or the program's sigaction.
    set(sig, unsafe { act.as_ref() }, old)
}

/// glibc's signal(): BSD semantics (SA_RESTART, the signal blocked in its
/// handler), through our sigaction.
#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: sigaction structs are plain data; zero is a valid start.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = libc::SA_RESTART;
    // SAFETY: a local sigset.
    unsafe {
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaddset(&mut act.sa_mask, sig);
    }
    // SAFETY: local structs.
    if unsafe { sigaction(sig, &act, &mut old) } != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}
