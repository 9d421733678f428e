// SPDX-License-Identifier: GPL-2.0-only
//! Thin wrappers: one kernel syscall each, errors as [`Errno`].
//!
//! Pointers passed to the kernel are host pointers (same address space);
//! the kernel copies from/to them with memcpy.

use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::fmt;

use crate::bindings as b;

/// A kernel error number (positive, as in `errno`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The host's description of this error number (numbers agree with
    /// Linux on every host this library supports).
    pub fn description(self) -> String {
        std::io::Error::from_raw_os_error(self.0).to_string()
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {})", self.0, self.description())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.description(), self.0)
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

/// Result of a kernel syscall.
pub type Result<T> = core::result::Result<T, Errno>;

/// Runs syscall `no` with up to six arguments in the kernel.
///
/// # Safety
/// The arguments must be valid for that syscall: pointers must point to
/// memory of the size the syscall reads or writes.
pub unsafe fn syscall(no: u32, args: [c_long; 6]) -> Result<c_long> {
    // SAFETY: the caller vouches for the arguments; lkl_syscall reads six.
    let ret = unsafe { b::lkl_syscall(no as c_long, args.as_ptr()) };
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret)
    }
}

macro_rules! args {
    ($($a:expr),*) => {{
        let mut a = [0 as c_long; 6];
        let v = [$($a as c_long),*];
        a[..v.len()].copy_from_slice(&v);
        a
    }};
}

pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<c_int> {
    // SAFETY: no pointers.
    unsafe { syscall(b::__NR_socket, args!(domain, ty, protocol)) }.map(|r| r as c_int)
}

/// # Safety
/// `addr` must point to `len` readable bytes.
pub unsafe fn bind(fd: c_int, addr: *const c_void, len: u32) -> Result<()> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_bind, args!(fd, addr, len)) }.map(drop)
}

/// # Safety
/// `addr` must point to `len` readable bytes.
pub unsafe fn connect(fd: c_int, addr: *const c_void, len: u32) -> Result<()> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_connect, args!(fd, addr, len)) }.map(drop)
}

pub fn listen(fd: c_int, backlog: c_int) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { syscall(b::__NR_listen, args!(fd, backlog)) }.map(drop)
}

/// # Safety
/// `addr`/`len` must be null or valid for writing as accept4(2) describes.
pub unsafe fn accept4(fd: c_int, addr: *mut c_void, len: *mut u32, flags: c_int) -> Result<c_int> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_accept4, args!(fd, addr, len, flags)) }.map(|r| r as c_int)
}

pub fn read(fd: c_int, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    unsafe { syscall(b::__NR_read, args!(fd, buf.as_mut_ptr(), buf.len())) }.map(|r| r as usize)
}

pub fn write(fd: c_int, buf: &[u8]) -> Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    unsafe { syscall(b::__NR_write, args!(fd, buf.as_ptr(), buf.len())) }.map(|r| r as usize)
}

pub fn close(fd: c_int) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { syscall(b::__NR_close, args!(fd)) }.map(drop)
}

/// # Safety
/// `addr` must be null or point to `len` readable bytes.
pub unsafe fn sendto(
    fd: c_int,
    buf: &[u8],
    flags: c_int,
    addr: *const c_void,
    len: u32,
) -> Result<usize> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe {
        syscall(
            b::__NR_sendto,
            args!(fd, buf.as_ptr(), buf.len(), flags, addr, len),
        )
    }
    .map(|r| r as usize)
}

/// # Safety
/// `addr`/`len` must be null or valid for writing as recvfrom(2) describes.
pub unsafe fn recvfrom(
    fd: c_int,
    buf: &mut [u8],
    flags: c_int,
    addr: *mut c_void,
    len: *mut u32,
) -> Result<usize> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe {
        syscall(
            b::__NR_recvfrom,
            args!(fd, buf.as_mut_ptr(), buf.len(), flags, addr, len),
        )
    }
    .map(|r| r as usize)
}

pub fn setsockopt(fd: c_int, level: c_int, name: c_int, val: &[u8]) -> Result<()> {
    // SAFETY: val is valid for val.len() bytes.
    unsafe {
        syscall(
            b::__NR_setsockopt,
            args!(fd, level, name, val.as_ptr(), val.len()),
        )
    }
    .map(drop)
}

/// # Safety
/// `arg` must be valid for what ioctl `req` reads and writes.
pub unsafe fn ioctl(fd: c_int, req: c_uint, arg: *mut c_void) -> Result<c_long> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_ioctl, args!(fd, req, arg)) }
}

/// # Safety
/// The strings must be NUL terminated; `data` null or valid for the fs.
pub unsafe fn mount(
    src: *const c_char,
    target: *const c_char,
    fstype: *const c_char,
    flags: c_long,
    data: *const c_void,
) -> Result<()> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_mount, args!(src, target, fstype, flags, data)) }.map(drop)
}

/// # Safety
/// `path` must be NUL terminated.
pub unsafe fn mkdirat(dirfd: c_int, path: *const c_char, mode: c_uint) -> Result<()> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_mkdirat, args!(dirfd, path, mode)) }.map(drop)
}

/// # Safety
/// `path` must be NUL terminated.
pub unsafe fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> Result<c_int> {
    // SAFETY: the pointers are the caller's, valid as this function's contract says.
    unsafe { syscall(b::__NR_openat, args!(dirfd, path, flags, mode)) }.map(|r| r as c_int)
}

/// Sleeps in the kernel (CLOCK_MONOTONIC, relative).
pub fn nanosleep(d: core::time::Duration) -> Result<()> {
    let ts = b::__kernel_timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as i64,
    };
    // SAFETY: ts lives across the call; rem is null.
    unsafe {
        syscall(
            b::__NR_clock_nanosleep,
            args!(1, 0, &ts as *const b::__kernel_timespec, 0),
        )
    }
    .map(drop)
}

pub fn getpid() -> Result<c_int> {
    // SAFETY: no pointers.
    unsafe { syscall(b::__NR_getpid, args!()) }.map(|r| r as c_int)
}
