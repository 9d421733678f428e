// SPDX-License-Identifier: GPL-2.0-only
//! The socket API: sockets of the instance's families are created in the
//! kernel; every call on them runs there. Structures (sockaddr*, msghdr,
//! mmsghdr, iovec, timespec, timeval) have the same layout in the kernel's
//! UAPI as in glibc on x86_64, so the program's pointers pass straight
//! through.

use std::ffi::{c_int, c_long, c_uint, c_void};

use libc::{msghdr, sockaddr, socklen_t};
use lkl_sys as k;

use crate::io::{adopt, sigpipe};
use crate::poll::recv_interruptible;
use crate::{args, dead, forked, ksys, real, ret, route, running, Route};

/// Families the instance owns. Everything else (AF_UNIX above all) stays
/// on the host.
fn instance_family(domain: c_int) -> bool {
    matches!(
        domain,
        libc::AF_INET | libc::AF_INET6 | libc::AF_NETLINK | libc::AF_PACKET
    )
}

/// Runs `kern(kfd)` for an instance fd, `host()` for a host fd.
#[inline]
fn dispatch(
    fd: c_int,
    kern: impl FnOnce(c_int) -> c_long,
    host: impl FnOnce() -> c_long,
) -> c_long {
    match route(fd) {
        Route::Kernel(kfd) => kern(kfd),
        Route::Dead => dead(),
        Route::Host => host(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    if instance_family(domain) {
        if running() {
            // SAFETY: no pointers.
            return match unsafe { ksys(k::__NR_socket, args!(domain, ty, proto)) } {
                Ok(kfd) => adopt(kfd as c_int, ty & libc::SOCK_CLOEXEC != 0) as c_int,
                Err(e) => ret(Err(e)) as c_int,
            };
        }
        if forked() {
            return dead() as c_int;
        }
    }
    // SAFETY: plain socket on the host.
    unsafe { real!(socket: fn(c_int, c_int, c_int) -> c_int)(domain, ty, proto) }
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    proto: c_int,
    sv: *mut c_int,
) -> c_int {
    if instance_family(domain) {
        if running() {
            let mut pair = [-1 as c_int; 2];
            // SAFETY: pair holds two ints.
            let r = unsafe {
                ksys(
                    k::__NR_socketpair,
                    args!(domain, ty, proto, pair.as_mut_ptr()),
                )
            };
            if let Err(e) = r {
                return ret(Err(e)) as c_int;
            }
            let cloexec = ty & libc::SOCK_CLOEXEC != 0;
            let a = adopt(pair[0], cloexec);
            if a < 0 {
                crate::io::close_kernel(pair[1]);
                return -1;
            }
            let b = adopt(pair[1], cloexec);
            if b < 0 {
                // SAFETY: closing the placeholder we just made.
                unsafe { crate::io::close(a as c_int) };
                return -1;
            }
            // SAFETY: the program's array of two ints.
            unsafe {
                *sv = a as c_int;
                *sv.add(1) = b as c_int;
            }
            return 0;
        }
        if forked() {
            return dead() as c_int;
        }
    }
    // SAFETY: plain socketpair on the host.
    unsafe {
        real!(socketpair: fn(c_int, c_int, c_int, *mut c_int) -> c_int)(domain, ty, proto, sv)
    }
}

#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's address of len bytes.
        |kfd| ret(unsafe { ksys(k::__NR_bind, args!(kfd, addr, len)) }),
        // SAFETY: plain bind on the host.
        || unsafe { real!(bind: fn(c_int, *const sockaddr, socklen_t) -> c_int)(fd, addr, len) }
            as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's address of len bytes.
        |kfd| ret(unsafe { ksys(k::__NR_connect, args!(kfd, addr, len)) }),
        // SAFETY: plain connect on the host.
        || unsafe { real!(connect: fn(c_int, *const sockaddr, socklen_t) -> c_int)(fd, addr, len) }
            as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    dispatch(
        fd,
        // SAFETY: no pointers.
        |kfd| ret(unsafe { ksys(k::__NR_listen, args!(kfd, backlog)) }),
        // SAFETY: plain listen on the host.
        || unsafe { real!(listen: fn(c_int, c_int) -> c_int)(fd, backlog) } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's address buffer and length (or nulls).
        |kfd| match unsafe { ksys(k::__NR_accept4, args!(kfd, addr, len, flags)) } {
            Ok(nk) => adopt(nk as c_int, flags & libc::SOCK_CLOEXEC != 0),
            Err(e) => ret(Err(e)),
        },
        // SAFETY: plain accept4 on the host.
        || unsafe {
            real!(accept4: fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int)(
                fd, addr, len, flags,
            )
        } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    match route(fd) {
        // SAFETY: as accept4.
        Route::Kernel(_) | Route::Dead => unsafe { accept4(fd, addr, len, 0) },
        // SAFETY: plain accept on the host.
        Route::Host => unsafe {
            real!(accept: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int)(fd, addr, len)
        },
    }
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    dispatch(
        fd,
        // SAFETY: no pointers.
        |kfd| ret(unsafe { ksys(k::__NR_shutdown, args!(kfd, how)) }),
        // SAFETY: plain shutdown on the host.
        || unsafe { real!(shutdown: fn(c_int, c_int) -> c_int)(fd, how) } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> isize {
    dispatch(
        fd,
        // SAFETY: the program's buffer and address.
        |kfd| {
            sigpipe(
                // SAFETY: as above, the program's own arguments.
                unsafe { ksys(k::__NR_sendto, args!(kfd, buf, n, flags, addr, len)) },
                flags,
            )
        },
        // SAFETY: plain sendto on the host.
        || unsafe {
            real!(sendto: fn(c_int, *const c_void, usize, c_int, *const sockaddr, socklen_t) -> isize)(
                fd, buf, n, flags, addr, len,
            )
        } as c_long,
    ) as isize
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: usize, flags: c_int) -> isize {
    match route(fd) {
        // SAFETY: as sendto without an address.
        Route::Kernel(_) | Route::Dead => unsafe { sendto(fd, buf, n, flags, std::ptr::null(), 0) },
        // SAFETY: plain send on the host.
        Route::Host => unsafe {
            real!(send: fn(c_int, *const c_void, usize, c_int) -> isize)(fd, buf, n, flags)
        },
    }
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> isize {
    dispatch(
        fd,
        // SAFETY: the program's msghdr (same layout as the kernel's user_msghdr).
        |kfd| {
            sigpipe(
                // SAFETY: as above, the program's own arguments.
                unsafe { ksys(k::__NR_sendmsg, args!(kfd, msg, flags)) },
                flags,
            )
        },
        // SAFETY: plain sendmsg on the host.
        || unsafe { real!(sendmsg: fn(c_int, *const msghdr, c_int) -> isize)(fd, msg, flags) }
            as c_long,
    ) as isize
}

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    vec: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's mmsghdr array of vlen entries.
        |kfd| {
            sigpipe(
                // SAFETY: as above, the program's own arguments.
                unsafe { ksys(k::__NR_sendmmsg, args!(kfd, vec, vlen, flags)) },
                flags,
            )
        },
        // SAFETY: plain sendmmsg on the host.
        || unsafe {
            real!(sendmmsg: fn(c_int, *mut libc::mmsghdr, c_uint, c_int) -> c_int)(
                fd, vec, vlen, flags,
            )
        } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> isize {
    dispatch(
        fd,
        |kfd| {
            ret(recv_interruptible(kfd, flags, |extra| {
                // SAFETY: the program's buffer, address buffer and length
                // (written only on success, so a retry is safe).
                unsafe {
                    ksys(
                        k::__NR_recvfrom,
                        args!(kfd, buf, n, flags | extra, addr, len),
                    )
                }
            }))
        },
        // SAFETY: plain recvfrom on the host.
        || unsafe {
            real!(recvfrom: fn(c_int, *mut c_void, usize, c_int, *mut sockaddr, *mut socklen_t) -> isize)(
                fd, buf, n, flags, addr, len,
            )
        } as c_long,
    ) as isize
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: usize, flags: c_int) -> isize {
    match route(fd) {
        // SAFETY: as recvfrom without an address.
        Route::Kernel(_) | Route::Dead => unsafe {
            recvfrom(
                fd,
                buf,
                n,
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        },
        // SAFETY: plain recv on the host.
        Route::Host => unsafe {
            real!(recv: fn(c_int, *mut c_void, usize, c_int) -> isize)(fd, buf, n, flags)
        },
    }
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    buflen: usize,
    flags: c_int,
) -> isize {
    if n > buflen {
        // SAFETY: glibc's own overflow report; does not return.
        unsafe { real!(__chk_fail: fn() -> ())() };
    }
    // SAFETY: as recv.
    unsafe { recv(fd, buf, n, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    buflen: usize,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> isize {
    if n > buflen {
        // SAFETY: glibc's own overflow report; does not return.
        unsafe { real!(__chk_fail: fn() -> ())() };
    }
    // SAFETY: as recvfrom.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize {
    dispatch(
        fd,
        |kfd| {
            ret(recv_interruptible(kfd, flags, |extra| {
                // SAFETY: the program's msghdr (same layout as the kernel's
                // user_msghdr; written back only on success).
                unsafe { ksys(k::__NR_recvmsg, args!(kfd, msg, flags | extra)) }
            }))
        },
        // SAFETY: plain recvmsg on the host.
        || unsafe { real!(recvmsg: fn(c_int, *mut msghdr, c_int) -> isize)(fd, msg, flags) }
            as c_long,
    ) as isize
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    vec: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's mmsghdr array and timespec (64-bit time in both).
        |kfd| ret(unsafe { ksys(k::__NR_recvmmsg, args!(kfd, vec, vlen, flags, timeout)) }),
        // SAFETY: plain recvmmsg on the host.
        || unsafe {
            real!(recvmmsg: fn(c_int, *mut libc::mmsghdr, c_uint, c_int, *mut libc::timespec) -> c_int)(
                fd, vec, vlen, flags, timeout,
            )
        } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's option buffer and length.
        |kfd| ret(unsafe { ksys(k::__NR_getsockopt, args!(kfd, level, name, val, len)) }),
        // SAFETY: plain getsockopt on the host.
        || unsafe {
            real!(getsockopt: fn(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int)(
                fd, level, name, val, len,
            )
        } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    dispatch(
        fd,
        |kfd| {
            crate::poll::note_sockopt(level, name);
            // SAFETY: the program's option buffer of len bytes.
            ret(unsafe { ksys(k::__NR_setsockopt, args!(kfd, level, name, val, len)) })
        },
        // SAFETY: plain setsockopt on the host.
        || unsafe {
            real!(setsockopt: fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int)(
                fd, level, name, val, len,
            )
        } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's address buffer and length.
        |kfd| ret(unsafe { ksys(k::__NR_getsockname, args!(kfd, addr, len)) }),
        // SAFETY: plain getsockname on the host.
        || unsafe {
            real!(getsockname: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int)(fd, addr, len)
        } as c_long,
    ) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    dispatch(
        fd,
        // SAFETY: the program's address buffer and length.
        |kfd| ret(unsafe { ksys(k::__NR_getpeername, args!(kfd, addr, len)) }),
        // SAFETY: plain getpeername on the host.
        || unsafe {
            real!(getpeername: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int)(fd, addr, len)
        } as c_long,
    ) as c_int
}
