// SPDX-License-Identifier: GPL-2.0-only
//! fd lifetime (close, dup*, fcntl, ioctl) and plain I/O (read, write,
//! readv, writev) on instance fds.

use std::ffi::{c_int, c_long, c_uint, c_ulong, c_void};

use lkl_sys as k;

use crate::{
    args, dead, epoll, fdtable, ksys, owner_process, real, ret, route, running, set_errno, Route,
};

/// Reserves a host fd number for an instance fd: an eventfd, the cheapest
/// fd there is. It is never read or written; its only job is to keep the
/// host from giving the number to something else while the program uses
/// it, and to carry the close-on-exec flag the program asked for.
fn placeholder(cloexec: bool) -> Result<c_int, c_int> {
    let flags = if cloexec { libc::EFD_CLOEXEC } else { 0 };
    // SAFETY: eventfd has no pointer arguments (and is not shadowed here).
    let h = unsafe { libc::eventfd(0, flags) };
    if h < 0 {
        // SAFETY: reading this thread's errno.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(h)
    }
}

/// Gives the new kernel fd `kfd` a host number, or closes it and fails.
pub(crate) fn adopt(kfd: c_int, cloexec: bool) -> c_long {
    match placeholder(cloexec) {
        Ok(h) => {
            if let Some(old) = fdtable::set(h, kfd) {
                // The host reused a number we still mapped: it was closed
                // behind our back. The old kernel fd is unreachable now.
                log::warn!("host fd {h} was closed without close(); dropping its old instance fd");
                close_kernel(old);
            }
            h as c_long
        }
        Err(e) => {
            close_kernel(kfd);
            set_errno(e);
            -1
        }
    }
}

/// Closes kernel fd `kfd`, ignoring errors (nobody can report them).
pub(crate) fn close_kernel(kfd: c_int) {
    if running() {
        // SAFETY: no pointers.
        let _ = unsafe { ksys(k::__NR_close, args!(kfd)) };
    }
}

fn kdup(kfd: c_int) -> Result<c_int, lkl_sys::Errno> {
    // SAFETY: no pointers.
    unsafe { ksys(k::__NR_dup, args!(kfd)) }.map(|r| r as c_int)
}

/// Maps `nh` (a new host dup of a placeholder, or an error) to a kernel
/// dup of `kfd`.
fn finish_dup(nh: c_int, nk: c_int) -> c_int {
    if nh < 0 {
        close_kernel(nk);
        return nh;
    }
    if let Some(old) = fdtable::set(nh, nk) {
        close_kernel(old);
    }
    nh
}

/// Whether `fd` is one of stdpkt's own (a NIC stream, a timer, the
/// instance's socket) and the caller is the program: to the program its
/// number is free, so closing or changing it fails with EBADF and the NIC
/// keeps its stream. Our own threads (std's try_clone is an fcntl) see it.
pub(crate) fn hidden(fd: c_int) -> bool {
    stdpkt_core::sys::is_hidden_fd(fd) && !stdpkt_core::sys::on_quiet_thread()
}

fn ebadf() -> c_int {
    set_errno(libc::EBADF);
    -1
}

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if hidden(fd) {
        return ebadf();
    }
    if fdtable::get(fd).is_some() && !owner_process() {
        // A vfork child: the table is the parent's.
        // SAFETY: plain close of a host fd.
        return unsafe { real!(close: fn(c_int) -> c_int)(fd) };
    }
    if let Some(kfd) = fdtable::take(fd) {
        close_kernel(kfd);
    } else {
        epoll::on_close(fd);
    }
    // SAFETY: plain close of a host fd.
    unsafe { real!(close: fn(c_int) -> c_int)(fd) }
}

/// The parts of `first..=last` that hold none of stdpkt's own fds.
fn unhidden_ranges(first: c_uint, last: c_uint) -> Vec<(c_uint, c_uint)> {
    let mut out = Vec::new();
    let mut from = first;
    for h in stdpkt_core::sys::hidden_fds_in(first, last) {
        let h = h as c_uint;
        if h > from {
            out.push((from, h - 1));
        }
        from = h + 1;
        if h == c_uint::MAX {
            return out;
        }
    }
    if from <= last {
        out.push((from, last));
    }
    out
}

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if first > last {
        return einval();
    }
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 && owner_process() {
        for (_, kfd) in fdtable::take_range(first, last) {
            close_kernel(kfd);
        }
    }
    for (a, b) in unhidden_ranges(first, last) {
        // SAFETY: plain close_range on the host, around our own fds.
        let r = unsafe { real!(close_range: fn(c_uint, c_uint, c_int) -> c_int)(a, b, flags) };
        if r != 0 {
            return r;
        }
    }
    0
}

fn einval() -> c_int {
    set_errno(libc::EINVAL);
    -1
}

#[no_mangle]
pub unsafe extern "C" fn closefrom(low: c_int) {
    let low = low.max(0) as c_uint;
    if owner_process() {
        for (_, kfd) in fdtable::take_range(low, c_uint::MAX) {
            close_kernel(kfd);
        }
    }
    let ranges = unhidden_ranges(low, c_uint::MAX);
    let Some(&(tail, _)) = ranges.last() else {
        return;
    };
    for &(a, b) in &ranges[..ranges.len() - 1] {
        // SAFETY: plain close_range on the host, around our own fds.
        unsafe { real!(close_range: fn(c_uint, c_uint, c_int) -> c_int)(a, b, 0) };
    }
    // glibc's closefrom has a fallback for kernels without close_range.
    // SAFETY: plain closefrom on the host, above our last own fd.
    unsafe { real!(closefrom: fn(c_int) -> ())(tail.min(c_int::MAX as c_uint) as c_int) }
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    match route(fd) {
        // SAFETY: plain dup on the host.
        Route::Host => unsafe { real!(dup: fn(c_int) -> c_int)(fd) },
        Route::Dead => dead() as c_int,
        Route::Kernel(kfd) => match kdup(kfd) {
            // SAFETY: dup of our placeholder.
            Ok(nk) => finish_dup(unsafe { real!(dup: fn(c_int) -> c_int)(fd) }, nk),
            Err(e) => ret(Err(e)) as c_int,
        },
    }
}

/// dup2 and dup3: `new` becomes a copy of `old`; an instance fd `new`
/// was closed first.
fn dup_onto(old: c_int, new: c_int, flags: c_int, three: bool) -> c_int {
    let host = |o, n| {
        if three {
            // SAFETY: plain dup3 on the host.
            unsafe { real!(dup3: fn(c_int, c_int, c_int) -> c_int)(o, n, flags) }
        } else {
            // SAFETY: plain dup2 on the host.
            unsafe { real!(dup2: fn(c_int, c_int) -> c_int)(o, n) }
        }
    };
    if hidden(old) || hidden(new) {
        return ebadf();
    }
    if old == new {
        return host(old, new);
    }
    if (fdtable::get(old).is_some() || fdtable::get(new).is_some()) && !owner_process() {
        // A vfork child: the table is the parent's; instance fds are
        // unusable here.
        return if fdtable::get(old).is_some() {
            dead() as c_int
        } else {
            host(old, new)
        };
    }
    match route(old) {
        Route::Host => {
            let r = host(old, new);
            if r >= 0 {
                if let Some(kfd) = fdtable::take(new) {
                    close_kernel(kfd);
                }
            }
            r
        }
        Route::Dead => dead() as c_int,
        Route::Kernel(kfd) => match kdup(kfd) {
            Ok(nk) => finish_dup(host(old, new), nk),
            Err(e) => ret(Err(e)) as c_int,
        },
    }
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    dup_onto(old, new, 0, false)
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    dup_onto(old, new, flags, true)
}

fn fcntl_common(fd: c_int, cmd: c_int, arg: c_long, real64: bool) -> c_int {
    let host = |fd, cmd, arg: c_long| {
        if real64 {
            // SAFETY: fcntl64 with the program's own arguments.
            unsafe { real!(fcntl64: fn(c_int, c_int; ...) -> c_int)(fd, cmd, arg) }
        } else {
            // SAFETY: fcntl with the program's own arguments.
            unsafe { real!(fcntl: fn(c_int, c_int; ...) -> c_int)(fd, cmd, arg) }
        }
    };
    if hidden(fd) {
        return ebadf();
    }
    let r = route(fd);
    match (r, cmd) {
        (Route::Host, _) => host(fd, cmd, arg),
        // Close-on-exec belongs to the host fd number.
        (_, libc::F_GETFD | libc::F_SETFD) => host(fd, cmd, arg),
        (Route::Dead, _) => dead() as c_int,
        (Route::Kernel(kfd), libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => match kdup(kfd) {
            Ok(nk) => finish_dup(host(fd, cmd, arg), nk),
            Err(e) => ret(Err(e)) as c_int,
        },
        // SAFETY: the program's own fcntl arguments, for a kernel fd: the
        // structures (flock, f_owner_ex) have the host's layout.
        (Route::Kernel(kfd), _) => {
            // SAFETY: see the arm's comment: the program's own arguments.
            ret(unsafe { ksys(k::__NR_fcntl, args!(kfd, cmd, arg)) }) as c_int
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    fcntl_common(fd, cmd, arg, false)
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    fcntl_common(fd, cmd, arg, true)
}

/// Every request on an instance fd goes to the kernel (socket ioctls and
/// others alike), except close-on-exec, which belongs to the host number.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    match route(fd) {
        Route::Kernel(kfd) if req != libc::FIOCLEX && req != libc::FIONCLEX => {
            // SAFETY: the program's own ioctl argument, for the same
            // request on a kernel fd (socket ioctl structures have the
            // host's layout).
            ret(unsafe { ksys(k::__NR_ioctl, args!(kfd, req, arg)) }) as c_int
        }
        Route::Dead if req != libc::FIOCLEX && req != libc::FIONCLEX => dead() as c_int,
        // SAFETY: the program's own ioctl, on the host.
        _ => unsafe { real!(ioctl: fn(c_int, c_ulong; ...) -> c_int)(fd, req, arg) },
    }
}

/// Raises SIGPIPE for a failed send/write on an instance socket, as the
/// host kernel would (the instance's kernel never sends signals).
pub(crate) fn sigpipe(r: Result<c_long, lkl_sys::Errno>, flags: c_int) -> c_long {
    if r == Err(lkl_sys::Errno(libc::EPIPE)) && flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: raising a signal in the calling thread.
        unsafe { libc::raise(libc::SIGPIPE) };
    }
    ret(r)
}

/// read/readv on an instance fd: as a receive with no flags (which is
/// what they are on a socket), so that host signals interrupt the wait;
/// `plain` for a kernel fd that is not a socket.
fn kernel_read(
    kfd: c_int,
    recv: impl Fn(c_int) -> Result<c_long, lkl_sys::Errno>,
    plain: impl FnOnce() -> Result<c_long, lkl_sys::Errno>,
) -> c_long {
    match crate::poll::recv_interruptible(kfd, 0, recv) {
        Err(lkl_sys::Errno(libc::ENOTSOCK)) => ret(plain()),
        r => ret(r),
    }
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize {
    match route(fd) {
        // read(2) of nothing consumes nothing; a zero-length recv would
        // drop a datagram.
        Route::Kernel(kfd) if n == 0 => {
            // SAFETY: no bytes are written.
            ret(unsafe { ksys(k::__NR_read, args!(kfd, buf, n)) }) as isize
        }
        Route::Kernel(kfd) => kernel_read(
            kfd,
            // SAFETY: the program's buffer of n bytes.
            |extra| unsafe { ksys(k::__NR_recvfrom, args!(kfd, buf, n, extra, 0, 0)) },
            // SAFETY: the program's buffer of n bytes.
            || unsafe { ksys(k::__NR_read, args!(kfd, buf, n)) },
        ) as isize,
        Route::Dead => dead() as isize,
        // SAFETY: the program's buffer of n bytes.
        Route::Host => unsafe { real!(read: fn(c_int, *mut c_void, usize) -> isize)(fd, buf, n) },
    }
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: usize, buflen: usize) -> isize {
    if n > buflen {
        // SAFETY: glibc's own overflow report; does not return.
        unsafe { real!(__chk_fail: fn() -> ())() };
    }
    // SAFETY: as read().
    unsafe { read(fd, buf, n) }
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    match route(fd) {
        Route::Kernel(kfd) => {
            // SAFETY: the program's buffer of n bytes.
            sigpipe(unsafe { ksys(k::__NR_write, args!(kfd, buf, n)) }, 0) as isize
        }
        Route::Dead => dead() as isize,
        // SAFETY: the program's buffer of n bytes.
        Route::Host => unsafe {
            real!(write: fn(c_int, *const c_void, usize) -> isize)(fd, buf, n)
        },
    }
}

/// Total length of an iovec array, 0 for a count outside 1..=IOV_MAX.
fn iov_bytes(iov: *const libc::iovec, cnt: c_int) -> usize {
    if iov.is_null() || !(1..=1024).contains(&cnt) {
        return 0;
    }
    // SAFETY: the program's array of cnt iovecs.
    let v = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    v.iter()
        .map(|i| i.iov_len)
        .fold(0usize, usize::saturating_add)
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    match route(fd) {
        // As in read(): nothing to read, or a count readv itself rejects.
        Route::Kernel(kfd) if iov_bytes(iov, cnt) == 0 => {
            // SAFETY: the program's iovec array (same layout in the kernel).
            ret(unsafe { ksys(k::__NR_readv, args!(kfd, iov, cnt)) }) as isize
        }
        Route::Kernel(kfd) => {
            // SAFETY: an all-zero msghdr is valid (no name, no control).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iov.cast_mut();
            msg.msg_iovlen = cnt.max(0) as _;
            let m = &mut msg as *mut libc::msghdr;
            kernel_read(
                kfd,
                // SAFETY: a msghdr over the program's iovec array.
                |extra| unsafe { ksys(k::__NR_recvmsg, args!(kfd, m, extra)) },
                // SAFETY: the program's iovec array (same layout in the kernel).
                || unsafe { ksys(k::__NR_readv, args!(kfd, iov, cnt)) },
            ) as isize
        }
        Route::Dead => dead() as isize,
        // SAFETY: the program's iovec array.
        Route::Host => unsafe {
            real!(readv: fn(c_int, *const libc::iovec, c_int) -> isize)(fd, iov, cnt)
        },
    }
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    match route(fd) {
        Route::Kernel(kfd) => {
            // SAFETY: the program's iovec array (same layout in the kernel).
            sigpipe(unsafe { ksys(k::__NR_writev, args!(kfd, iov, cnt)) }, 0) as isize
        }
        Route::Dead => dead() as isize,
        // SAFETY: the program's iovec array.
        Route::Host => unsafe {
            real!(writev: fn(c_int, *const libc::iovec, c_int) -> isize)(fd, iov, cnt)
        },
    }
}

/// sendfile with an instance fd on either side: copied through a buffer
/// (the host kernel cannot reach the instance's sockets, nor the other
/// way round). At most 64 KiB per call, like a short sendfile.
fn sendfile_copy(out: c_int, inp: c_int, offset: *mut i64, count: usize) -> isize {
    let mut buf = vec![0u8; count.min(64 * 1024)];
    if buf.is_empty() {
        return 0;
    }
    let p = buf.as_mut_ptr().cast::<c_void>();
    // SAFETY: buf has buf.len() bytes; offset is null or the program's.
    let n = unsafe {
        match (offset.is_null(), route(inp)) {
            (true, _) => read(inp, p, buf.len()),
            (false, Route::Host) => real!(pread64: fn(c_int, *mut c_void, usize, i64) -> isize)(
                inp,
                p,
                buf.len(),
                *offset,
            ),
            (false, _) => {
                set_errno(libc::ESPIPE);
                -1
            }
        }
    };
    if n <= 0 {
        return n;
    }
    let mut done = 0usize;
    while done < n as usize {
        // SAFETY: the first n bytes of buf are filled.
        let w = unsafe { write(out, p.cast::<u8>().add(done).cast(), n as usize - done) };
        if w < 0 {
            break;
        }
        done += w as usize;
    }
    if done < n as usize && offset.is_null() {
        // Give back what was read but not sent, where the input can seek.
        // SAFETY: lseek has no pointers (and is not shadowed).
        unsafe { libc::lseek(inp, done as i64 - n as i64, libc::SEEK_CUR) };
    }
    if !offset.is_null() {
        // SAFETY: the program's offset.
        unsafe { *offset += done as i64 };
    }
    if done == 0 {
        -1
    } else {
        done as isize
    }
}

#[no_mangle]
pub unsafe extern "C" fn sendfile(out: c_int, inp: c_int, offset: *mut i64, count: usize) -> isize {
    if route(out) == Route::Host && route(inp) == Route::Host {
        // SAFETY: plain sendfile on the host.
        return unsafe {
            real!(sendfile: fn(c_int, c_int, *mut i64, usize) -> isize)(out, inp, offset, count)
        };
    }
    sendfile_copy(out, inp, offset, count)
}

#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out: c_int,
    inp: c_int,
    offset: *mut i64,
    count: usize,
) -> isize {
    if route(out) == Route::Host && route(inp) == Route::Host {
        // SAFETY: plain sendfile64 on the host.
        return unsafe {
            real!(sendfile64: fn(c_int, c_int, *mut i64, usize) -> isize)(out, inp, offset, count)
        };
    }
    sendfile_copy(out, inp, offset, count)
}
