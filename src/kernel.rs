// SPDX-License-Identifier: GPL-2.0-only
//! Boot, use and halt the in-process kernel: a small safe layer over the
//! lkl entry points. One kernel per process: it is booted at most once.

use std::ffi::CString;
use std::fmt;
use std::sync::Mutex;

pub use lkl_sys::Errno;

use crate::host;

/// Why the kernel did not boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootError {
    /// `boot` was called before in this process.
    AlreadyBooted,
    /// The command line has a NUL byte or is too long.
    BadCommandLine(String),
    /// The kernel's own error.
    Kernel(Errno),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::AlreadyBooted => write!(f, "the kernel was already booted in this process"),
            BootError::BadCommandLine(why) => write!(f, "bad kernel command line: {why}"),
            BootError::Kernel(e) => write!(f, "kernel boot failed: {e}"),
        }
    }
}

impl std::error::Error for BootError {}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Off,
    Running,
    Halted,
}

static STATE: Mutex<State> = Mutex::new(State::Off);

/// Boots the kernel with `cmdline` (e.g. `mem=32M loglevel=4`). Returns
/// when the kernel is ready for syscalls from any thread.
pub fn boot(cmdline: &str) -> Result<(), BootError> {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if *state != State::Off {
        return Err(BootError::AlreadyBooted);
    }
    if cmdline.len() >= 4096 {
        return Err(BootError::BadCommandLine("longer than 4095 bytes".into()));
    }
    let c = CString::new(cmdline)
        .map_err(|_| BootError::BadCommandLine("contains a NUL byte".into()))?;
    // Before the kernel's threads exist (see sys::grow_fd_table).
    crate::sys::grow_fd_table();
    // SAFETY: HOST_OPS is 'static and complete; the command line is copied.
    let ret = unsafe { lkl_sys::lkl_start_kernel(&host::HOST_OPS, c.as_ptr()) };
    if ret < 0 {
        return Err(BootError::Kernel(Errno(-ret)));
    }
    *state = State::Running;
    Ok(())
}

/// Whether the kernel is up.
pub fn is_running() -> bool {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) == State::Running
}

/// Powers the kernel off: every kernel thread ends and is joined, and its
/// memory goes back to the host. Later syscalls fail with ENODEV.
pub fn halt() -> Result<(), Errno> {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if *state != State::Running {
        return Err(Errno(libc::ENODEV));
    }
    // SAFETY: the kernel is running; lkl_halt takes no arguments.
    let ret = unsafe { lkl_sys::lkl_halt() };
    if ret < 0 {
        return Err(Errno(-ret as i32));
    }
    *state = State::Halted;
    Ok(())
}

/// Mounts a pseudo filesystem (`proc`, `sysfs`) at `path` inside the
/// kernel, creating the directory.
pub fn mount_fs(fstype: &str, path: &str) -> Result<(), Errno> {
    let p = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    let t = CString::new(fstype).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: NUL-terminated strings that outlive the calls.
    unsafe {
        match lkl_sys::mkdirat(libc::AT_FDCWD, p.as_ptr(), 0o755) {
            Ok(()) | Err(Errno(libc::EEXIST)) => {}
            Err(e) => return Err(e),
        }
        lkl_sys::mount(t.as_ptr(), p.as_ptr(), t.as_ptr(), 0, std::ptr::null())
    }
}

/// Reads a whole file inside the kernel.
pub fn read_file(path: &str) -> Result<Vec<u8>, Errno> {
    let p = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: NUL-terminated path.
    let fd = unsafe { lkl_sys::openat(libc::AT_FDCWD, p.as_ptr(), libc::O_RDONLY, 0) }?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let res = loop {
        match lkl_sys::read(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    let _ = lkl_sys::close(fd);
    res.map(|()| out)
}

/// Writes a file inside the kernel (e.g. a /proc/sys value).
pub fn write_file(path: &str, data: &[u8]) -> Result<(), Errno> {
    let p = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: NUL-terminated path.
    let fd = unsafe { lkl_sys::openat(libc::AT_FDCWD, p.as_ptr(), libc::O_WRONLY, 0) }?;
    let res = lkl_sys::write(fd, data).map(drop);
    let _ = lkl_sys::close(fd);
    res
}

/// Sets interface flags (e.g. brings `lo` up) with SIOCSIFFLAGS.
pub fn set_link_up(ifname: &str) -> Result<(), Errno> {
    let fd = lkl_sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let mut ifr: lkl_sys::ifreq = Default::default();
    let name = ifname.as_bytes();
    let mut raw = [0 as core::ffi::c_char; 16];
    if name.len() >= raw.len() {
        let _ = lkl_sys::close(fd);
        return Err(Errno(libc::EINVAL));
    }
    for (d, s) in raw.iter_mut().zip(name) {
        *d = *s as _;
    }
    ifr.ifr_ifrn.ifrn_name = raw;
    // SAFETY: ifr is a valid ifreq for both ioctls.
    let res = unsafe {
        lkl_sys::ioctl(
            fd,
            lkl_sys::SIOCGIFFLAGS,
            (&mut ifr as *mut lkl_sys::ifreq).cast(),
        )
        .and_then(|_| {
            ifr.ifr_ifru.ifru_flags |= lkl_sys::net_device_flags_IFF_UP as i16;
            lkl_sys::ioctl(
                fd,
                lkl_sys::SIOCSIFFLAGS,
                (&mut ifr as *mut lkl_sys::ifreq).cast(),
            )
        })
    };
    let _ = lkl_sys::close(fd);
    res.map(drop)
}
