// SPDX-License-Identifier: GPL-2.0-only
//! The host's own definitions of the functions this library shadows,
//! found once with `dlsym(RTLD_NEXT, name)` and cached.
//!
//! Every call that stays on the host goes through these: calling
//! `libc::read` from inside this library would land on our own `read`.

use std::ffi::c_void;

/// Looks `name` (NUL terminated) up after this library in the search
/// order. A libc without it is unusable: print and abort.
pub(crate) fn resolve(name: &'static str) -> usize {
    // SAFETY: name is a NUL-terminated literal (checked by the macro).
    let p: *mut c_void = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    if p.is_null() {
        let msg = format!(
            "stdpkt: the C library has no {}\n",
            name.trim_end_matches('\0')
        );
        // SAFETY: writing a valid buffer to stderr, then aborting.
        unsafe {
            libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len());
            libc::abort();
        }
    }
    p as usize
}

/// `real!(name: fn(A, B) -> R)` is the host's `name` as a function pointer
/// of that C signature. Resolution is lock-free: racing threads store the
/// same address.
macro_rules! real {
    ($name:ident : fn($($t:ty),*) -> $r:ty) => {{
        use std::sync::atomic::{AtomicUsize, Ordering};
        static ADDR: AtomicUsize = AtomicUsize::new(0);
        let mut a = ADDR.load(Ordering::Relaxed);
        if a == 0 {
            a = $crate::real::resolve(concat!(stringify!($name), "\0"));
            ADDR.store(a, Ordering::Relaxed);
        }
        // SAFETY: `a` is libc's `$name`, whose C prototype is this one.
        #[allow(unused_unsafe)]
        let f = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($t),*) -> $r>(a) };
        f
    }};
    ($name:ident : fn($($t:ty),* ; ...) -> $r:ty) => {{
        use std::sync::atomic::{AtomicUsize, Ordering};
        static ADDR: AtomicUsize = AtomicUsize::new(0);
        let mut a = ADDR.load(Ordering::Relaxed);
        if a == 0 {
            a = $crate::real::resolve(concat!(stringify!($name), "\0"));
            ADDR.store(a, Ordering::Relaxed);
        }
        // SAFETY: `a` is libc's variadic `$name`, whose C prototype is this one.
        #[allow(unused_unsafe)]
        let f = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($t),* , ...) -> $r>(a) };
        f
    }};
}
pub(crate) use real;
