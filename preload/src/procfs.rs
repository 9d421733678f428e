// SPDX-License-Identifier: GPL-2.0-only
//! `/proc/sys/net` and `/proc/net` are the instance's: files under those
//! trees are opened in the instance's own procfs, so `sysctl -w
//! net.ipv4.ip_forward=1`, `cat /proc/net/dev`, `netstat` and `arp` see
//! and change the instance, never the host. Every other path stays the
//! host's.
//!
//! glibc's `fopen` opens through a private entry point, so it is
//! interposed too: the FILE it returns reads and writes the kernel file
//! (fopencookie). `stat` and `access` answer for the instance's files, so
//! tools that check a key before they open it find the instance's keys.
//! Directory listing (`sysctl -a`) is not covered yet.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

use lkl_sys as k;

use crate::io::adopt;
use crate::{args, ksys, real, ret, running};

/// The trees served from the instance.
const PREFIXES: &[&[u8]] = &[b"/proc/sys/net/", b"/proc/net/", b"/proc/self/net/"];

/// Whether `path` names a file of the instance (see the module comment).
fn instance_path(path: *const c_char) -> bool {
    if path.is_null() || !running() {
        return false;
    }
    // SAFETY: the program passed a NUL-terminated path.
    let p = unsafe { CStr::from_ptr(path) }.to_bytes();
    PREFIXES
        .iter()
        .any(|pre| p.starts_with(pre) && p.len() > pre.len())
        || p == b"/proc/net"
}

/// Opens `path` in the instance; a host fd standing for it, or -1.
fn open_in_instance(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the path is the program's, NUL-terminated.
    match unsafe {
        ksys(
            k::__NR_openat,
            args!(libc::AT_FDCWD, path, flags | libc::O_CLOEXEC, mode),
        )
    } {
        Ok(kfd) => adopt(kfd as c_int, flags & libc::O_CLOEXEC != 0) as c_int,
        Err(e) => ret(Err(e)) as c_int,
    }
}

#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    if instance_path(path) {
        return open_in_instance(path, flags, mode);
    }
    // SAFETY: the program's arguments, passed on.
    unsafe { real!(open: fn(*const c_char, c_int, c_uint) -> c_int)(path, flags, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: as open.
    unsafe { open(path, flags, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as open; the fortified form takes no mode.
    unsafe { open(path, flags, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as open.
    unsafe { open(path, flags, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    // Absolute paths only: a relative one names no instance file.
    if instance_path(path) {
        return open_in_instance(path, flags, mode);
    }
    // SAFETY: the program's arguments, passed on.
    unsafe {
        real!(openat: fn(c_int, *const c_char, c_int, c_uint) -> c_int)(dirfd, path, flags, mode)
    }
}

#[no_mangle]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    // SAFETY: as openat.
    unsafe { openat(dirfd, path, flags, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as openat.
    unsafe { openat(dirfd, path, flags, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as openat.
    unsafe { openat(dirfd, path, flags, 0) }
}

/// open(2) flags for an fopen mode ("r", "w+", "ae", ...).
fn fopen_flags(mode: &[u8]) -> Option<c_int> {
    let plus = mode.contains(&b'+');
    let mut f = match mode.first()? {
        b'r' if plus => libc::O_RDWR,
        b'r' => libc::O_RDONLY,
        b'w' if plus => libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
        b'w' => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        b'a' if plus => libc::O_RDWR | libc::O_CREAT | libc::O_APPEND,
        b'a' => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
        _ => return None,
    };
    if mode.contains(&b'e') {
        f |= libc::O_CLOEXEC;
    }
    Some(f)
}

/// glibc's `cookie_io_functions_t` (not in the libc crate).
#[repr(C)]
struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, funcs: CookieIo) -> *mut libc::FILE;
}

/// The cookie of an instance FILE: its kernel fd.
fn cookie_fd(cookie: *mut c_void) -> c_int {
    cookie as usize as c_int
}

unsafe extern "C" fn cookie_read(cookie: *mut c_void, buf: *mut c_char, n: usize) -> isize {
    // SAFETY: stdio's buffer of n bytes.
    ret(unsafe { ksys(k::__NR_read, args!(cookie_fd(cookie), buf, n)) }) as isize
}

unsafe extern "C" fn cookie_write(cookie: *mut c_void, buf: *const c_char, n: usize) -> isize {
    // SAFETY: stdio's buffer of n bytes.
    match unsafe { ksys(k::__NR_write, args!(cookie_fd(cookie), buf, n)) } {
        Ok(v) => v as isize,
        // stdio's convention for a failed write.
        Err(e) => {
            crate::set_errno(e.0);
            0
        }
    }
}

unsafe extern "C" fn cookie_seek(cookie: *mut c_void, off: *mut i64, whence: c_int) -> c_int {
    // SAFETY: stdio's offset.
    let r = unsafe { ksys(k::__NR_lseek, args!(cookie_fd(cookie), *off, whence)) };
    match r {
        Ok(v) => {
            // SAFETY: as above.
            unsafe { *off = v };
            0
        }
        Err(e) => ret(Err(e)) as c_int,
    }
}

unsafe extern "C" fn cookie_close(cookie: *mut c_void) -> c_int {
    // SAFETY: no pointers.
    ret(unsafe { ksys(k::__NR_close, args!(cookie_fd(cookie))) }) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    if !instance_path(path) || mode.is_null() {
        // SAFETY: the program's arguments, passed on.
        return unsafe {
            real!(fopen: fn(*const c_char, *const c_char) -> *mut libc::FILE)(path, mode)
        };
    }
    // SAFETY: a NUL-terminated mode from the program.
    let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
    let Some(flags) = fopen_flags(m) else {
        crate::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    // SAFETY: the program's NUL-terminated path.
    let kfd = match unsafe { ksys(k::__NR_openat, args!(libc::AT_FDCWD, path, flags, 0o666)) } {
        Ok(v) => v as c_int,
        Err(e) => {
            crate::set_errno(e.0);
            return std::ptr::null_mut();
        }
    };
    let funcs = CookieIo {
        read: Some(cookie_read),
        write: Some(cookie_write),
        seek: Some(cookie_seek),
        close: Some(cookie_close),
    };
    // SAFETY: the cookie is the kernel fd, which the callbacks own.
    let f = unsafe { fopencookie(kfd as usize as *mut c_void, mode, funcs) };
    if f.is_null() {
        crate::io::close_kernel(kfd);
    }
    f
}

#[no_mangle]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: as fopen.
    unsafe { fopen(path, mode) }
}

/// stat(2) of an instance file, through statx (whose layout is the same
/// everywhere), into the host's struct stat.
fn stat_in_instance(path: *const c_char, st: *mut libc::stat, follow: bool) -> c_int {
    let mut sx: libc::statx = unsafe_zeroed();
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: a NUL-terminated path and a statx-sized out buffer.
    let r = unsafe {
        ksys(
            k::__NR_statx,
            args!(
                libc::AT_FDCWD,
                path,
                flags,
                libc::STATX_BASIC_STATS,
                &mut sx as *mut libc::statx
            ),
        )
    };
    if let Err(e) = r {
        return ret(Err(e)) as c_int;
    }
    let mut out: libc::stat = unsafe_zeroed();
    out.st_dev = libc::makedev(sx.stx_dev_major, sx.stx_dev_minor);
    out.st_ino = sx.stx_ino;
    out.st_mode = sx.stx_mode.into();
    out.st_nlink = sx.stx_nlink.into();
    out.st_uid = sx.stx_uid;
    out.st_gid = sx.stx_gid;
    out.st_rdev = libc::makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
    out.st_size = sx.stx_size as i64;
    out.st_blksize = sx.stx_blksize.into();
    out.st_blocks = sx.stx_blocks as i64;
    out.st_atime = sx.stx_atime.tv_sec;
    out.st_atime_nsec = sx.stx_atime.tv_nsec.into();
    out.st_mtime = sx.stx_mtime.tv_sec;
    out.st_mtime_nsec = sx.stx_mtime.tv_nsec.into();
    out.st_ctime = sx.stx_ctime.tv_sec;
    out.st_ctime_nsec = sx.stx_ctime.tv_nsec.into();
    // SAFETY: the program's struct stat.
    unsafe { *st = out };
    0
}

/// A zeroed plain C struct.
fn unsafe_zeroed<T>() -> T {
    // SAFETY: only used for C structs of integers, for which zero is valid.
    unsafe { std::mem::zeroed() }
}

#[no_mangle]
pub unsafe extern "C" fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
    if instance_path(path) {
        return stat_in_instance(path, st, true);
    }
    // SAFETY: the program's arguments, passed on.
    unsafe { real!(stat: fn(*const c_char, *mut libc::stat) -> c_int)(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn stat64(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as stat (the same struct on 64-bit hosts).
    unsafe { stat(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn lstat(path: *const c_char, st: *mut libc::stat) -> c_int {
    if instance_path(path) {
        return stat_in_instance(path, st, false);
    }
    // SAFETY: the program's arguments, passed on.
    unsafe { real!(lstat: fn(*const c_char, *mut libc::stat) -> c_int)(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn lstat64(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as lstat.
    unsafe { lstat(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    if instance_path(path) {
        // SAFETY: the program's NUL-terminated path.
        return ret(unsafe { ksys(k::__NR_faccessat, args!(libc::AT_FDCWD, path, mode)) }) as c_int;
    }
    // SAFETY: the program's arguments, passed on.
    unsafe { real!(access: fn(*const c_char, c_int) -> c_int)(path, mode) }
}

#[cfg(test)]
mod tests {
    use super::fopen_flags;

    #[test]
    fn fopen_modes() {
        assert_eq!(fopen_flags(b"r"), Some(libc::O_RDONLY));
        assert_eq!(
            fopen_flags(b"we"),
            Some(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC)
        );
        assert_eq!(fopen_flags(b"r+"), Some(libc::O_RDWR));
        assert_eq!(fopen_flags(b"x"), None);
    }
}
