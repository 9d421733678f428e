// SPDX-License-Identifier: GPL-2.0-only
//! epoll over instance fds, host fds, or both.
//!
//! # Design
//!
//! An epoll fd the program creates is a host epoll fd. The first time an
//! instance fd is added to it, it gets a *shadow*: a kernel epoll fd that
//! holds the instance fds with the program's own events and data (so
//! edge-triggered and one-shot modes keep the kernel's exact semantics).
//! Waiting:
//! - no shadow: the host's epoll_wait;
//! - a shadow and no host fd ever added: the kernel's epoll_pwait;
//! - both: the mixed wait of [`crate::poll`] with the host epoll fd on one
//!   side and the shadow (an epoll fd is pollable) on the other, then
//!   non-blocking epoll_waits on both collect the events.
//!
//! Closing the host epoll fd closes its shadow. Not handled: a dup of an
//! epoll fd that has a shadow (the copy sees only host fds), and epoll
//! fds nested in epoll fds across the two sides.

use std::collections::HashMap;
use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use libc::{epoll_event, sigset_t, timespec};
use lkl_sys as k;

use crate::poll::{mixed_wait, ms_to_ts};
use crate::{args, dead, ksys, real, ret, route, running, set_errno, Route};

#[derive(Clone, Copy)]
struct Shadow {
    /// The kernel epoll fd.
    kfd: c_int,
    /// Whether the host epoll fd may hold host fds.
    host_used: bool,
}

static SHADOWS: RwLock<Option<HashMap<c_int, Shadow>>> = RwLock::new(None);
static NSHADOWS: AtomicUsize = AtomicUsize::new(0);

/// Before fork: a duplicate of every kernel epoll fd, for the child (see
/// `FORK_DUPS` in lib.rs): (host epoll fd, the child's kernel fd).
pub(crate) fn fork_dups() -> Vec<(c_int, c_int)> {
    let m = SHADOWS.read().unwrap_or_else(|e| e.into_inner());
    let Some(m) = m.as_ref() else {
        return Vec::new();
    };
    m.iter()
        .filter_map(|(&epfd, sh)| {
            // SAFETY: no pointers.
            let nk = unsafe { ksys(k::__NR_dup, args!(sh.kfd)) }.ok()?;
            Some((epfd, nk as c_int))
        })
        .collect()
}

/// In the forked child: its epoll fds stand for the duplicates.
pub(crate) fn apply_fork_dups(dups: &[(c_int, c_int)]) {
    let mut m = SHADOWS.write().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = m.as_mut() {
        for &(epfd, nk) in dups {
            if let Some(sh) = m.get_mut(&epfd) {
                sh.kfd = nk;
            }
        }
    }
}

fn shadow_of(epfd: c_int) -> Option<Shadow> {
    if NSHADOWS.load(Ordering::Acquire) == 0 {
        return None;
    }
    let m = SHADOWS.read().unwrap_or_else(|e| e.into_inner());
    m.as_ref().and_then(|m| m.get(&epfd).copied())
}

/// Whether host epoll fd `epfd` watches any fd (from /proc/self/fdinfo).
/// Uses the host's functions directly: std's would come back through our
/// own close().
fn host_epoll_nonempty(epfd: c_int) -> bool {
    let path = format!("/proc/self/fdinfo/{epfd}\0");
    // SAFETY: a NUL-terminated path; open is not shadowed here.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return true;
    }
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is 4096 bytes.
        let n = unsafe {
            real!(read: fn(c_int, *mut c_void, usize) -> isize)(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n <= 0 {
            break;
        }
        text.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: closing the fd opened above.
    unsafe { real!(close: fn(c_int) -> c_int)(fd) };
    text.split(|&b| b == b'\n').any(|l| l.starts_with(b"tfd:"))
}

/// Called when host fd `fd` is closed: drops its shadow, if any.
pub(crate) fn on_close(fd: c_int) {
    if NSHADOWS.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut m = SHADOWS.write().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = m.as_mut().and_then(|m| m.remove(&fd)) {
        NSHADOWS.fetch_sub(1, Ordering::AcqRel);
        crate::io::close_kernel(s.kfd);
    }
}

fn shadow_for_add(epfd: c_int) -> Result<Shadow, c_int> {
    if let Some(s) = shadow_of(epfd) {
        return Ok(s);
    }
    // Outside the lock: it reads a file.
    let host_used = host_epoll_nonempty(epfd);
    let mut m = SHADOWS.write().unwrap_or_else(|e| e.into_inner());
    let m = m.get_or_insert_with(HashMap::new);
    if let Some(s) = m.get(&epfd) {
        return Ok(*s);
    }
    // SAFETY: F_GETFD only checks that epfd is open.
    if unsafe { real!(fcntl: fn(c_int, c_int; ...) -> c_int)(epfd, libc::F_GETFD) } < 0 {
        return Err(libc::EBADF);
    }
    // SAFETY: no pointers.
    let kfd = unsafe { ksys(k::__NR_epoll_create1, args!(libc::EPOLL_CLOEXEC)) }.map_err(|e| e.0)?
        as c_int;
    let s = Shadow { kfd, host_used };
    m.insert(epfd, s);
    NSHADOWS.fetch_add(1, Ordering::AcqRel);
    Ok(s)
}

fn mark_host_used(epfd: c_int) {
    if shadow_of(epfd).is_some_and(|s| !s.host_used) {
        let mut m = SHADOWS.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.as_mut().and_then(|m| m.get_mut(&epfd)) {
            s.host_used = true;
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut epoll_event,
) -> c_int {
    match route(fd) {
        Route::Kernel(kfd) => {
            let s = match shadow_for_add(epfd) {
                Ok(s) => s,
                Err(e) => {
                    set_errno(e);
                    return -1;
                }
            };
            // SAFETY: ev is null or the program's epoll_event (packed, 12
            // bytes, in both the kernel's UAPI and glibc on x86_64).
            ret(unsafe { ksys(k::__NR_epoll_ctl, args!(s.kfd, op, kfd, ev)) }) as c_int
        }
        Route::Dead => dead() as c_int,
        Route::Host => {
            // SAFETY: plain epoll_ctl on the host.
            let r = unsafe {
                real!(epoll_ctl: fn(c_int, c_int, c_int, *mut epoll_event) -> c_int)(
                    epfd, op, fd, ev,
                )
            };
            if r == 0 && op == libc::EPOLL_CTL_ADD {
                mark_host_used(epfd);
            }
            r
        }
    }
}

fn host_epoll_wait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ms: c_int,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: the program's event buffer of max entries.
    unsafe {
        real!(epoll_pwait: fn(c_int, *mut epoll_event, c_int, c_int, *const sigset_t) -> c_int)(
            epfd, ev, max, ms, mask,
        )
    }
}

fn kernel_epoll_wait(
    kfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ms: c_int,
) -> Result<c_long, lkl_sys::Errno> {
    // SAFETY: the program's event buffer of max entries (same layout).
    unsafe { ksys(k::__NR_epoll_pwait, args!(kfd, ev, max, ms, 0, 8)) }
}

/// The wait for an epoll fd with a shadow; `ts` is the relative timeout.
fn wait_shadowed(
    epfd: c_int,
    s: Shadow,
    ev: *mut epoll_event,
    max: c_int,
    ts: Option<timespec>,
    mask: *const sigset_t,
) -> c_int {
    if max <= 0 || ev.is_null() {
        set_errno(libc::EINVAL);
        return -1;
    }
    if !s.host_used {
        // As in poll::kernel_only_ppoll: what is ready now is answered
        // here; a wait that blocks runs where any host handler ends it.
        let now = kernel_epoll_wait(s.kfd, ev, max, 0);
        if now != Ok(0) || ts.is_some_and(|t| t.tv_sec <= 0 && t.tv_nsec <= 0) {
            return ret(now) as c_int;
        }
    }
    let deadline = ts.map(|t| {
        Instant::now()
            + Duration::new(
                t.tv_sec.max(0) as u64,
                t.tv_nsec.clamp(0, 999_999_999) as u32,
            )
    });
    loop {
        let left = deadline.map(|d| {
            let l = d.saturating_duration_since(Instant::now());
            timespec {
                tv_sec: l.as_secs() as _,
                tv_nsec: l.subsec_nanos() as _,
            }
        });
        let mut hfds = Vec::new();
        if s.host_used {
            hfds.push(libc::pollfd {
                fd: epfd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let mut kfds = vec![k::pollfd {
            fd: s.kfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        let (hr, kr) = mixed_wait(&mut hfds, &mut kfds, left, mask);
        let mut n = 0;
        if hfds.first().is_some_and(|p| p.revents != 0) {
            let r = host_epoll_wait(epfd, ev, max, 0, std::ptr::null());
            n += r.max(0);
        }
        if kfds[0].revents != 0 && n < max {
            // SAFETY: ev has max entries; n of them are used.
            let r = kernel_epoll_wait(s.kfd, unsafe { ev.add(n as usize) }, max - n, 0);
            n += r.unwrap_or(0) as c_int;
        }
        if n > 0 {
            return n;
        }
        match (hr, kr) {
            (Err(e), _) => {
                set_errno(e);
                return -1;
            }
            (_, Err(e)) => return ret(Err(e)) as c_int,
            _ => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        // Ready but consumed elsewhere (another thread, one-shot): wait on.
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ms: c_int,
    mask: *const sigset_t,
) -> c_int {
    match shadow_of(epfd) {
        Some(s) if running() => wait_shadowed(epfd, s, ev, max, ms_to_ts(ms), mask),
        _ => host_epoll_wait(epfd, ev, max, ms, mask),
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ms: c_int,
) -> c_int {
    // SAFETY: as epoll_pwait without a mask.
    unsafe { epoll_pwait(epfd, ev, max, ms, std::ptr::null()) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    match shadow_of(epfd) {
        Some(s) if running() => {
            // SAFETY: ts is null or the program's timespec.
            let t = unsafe { ts.as_ref() }.copied();
            wait_shadowed(epfd, s, ev, max, t, mask)
        }
        // SAFETY: plain epoll_pwait2 on the host.
        _ => unsafe {
            real!(epoll_pwait2: fn(c_int, *mut epoll_event, c_int, *const timespec, *const sigset_t) -> c_int)(
                epfd, ev, max, ts, mask,
            )
        },
    }
}

/// Creating an epoll fd is the host's business (see the module notes).
#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: plain epoll_create1 on the host.
    unsafe { real!(epoll_create1: fn(c_int) -> c_int)(flags) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    // SAFETY: plain epoll_create on the host.
    unsafe { real!(epoll_create: fn(c_int) -> c_int)(size) }
}
