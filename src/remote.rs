// SPDX-License-Identifier: GPL-2.0-only
//! One instance, many programs: the process that booted the instance (the
//! host) runs the network syscalls of programs in other processes, its
//! descendants, on the same kernel.
//!
//! The host listens on an abstract Unix socket named in `STDPKT_INSTANCE`,
//! which it puts in its own environment so that every program it starts
//! inherits it. A program started with the library that finds the variable
//! boots nothing: each of its threads opens a connection and sends its
//! syscalls over it ([`Client`]). On the host, one thread per connection
//! runs them with `lkl_syscall_remote()`: the kernel then copies user
//! memory through [`remote_copy`] (process_vm_readv/writev on the
//! client), so every syscall works with the client's own pointers, sizes
//! decided by the kernel itself, and nothing is marshalled here.
//!
//! Only the host's own user (or root) may connect: the peer's credentials
//! are checked on accept.
//!
//! Wire format, native byte order: a request is the syscall number (u64)
//! and six arguments (i64); the reply is the kernel's return value (i64,
//! a negative errno on failure).

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::sys::Hidden;

/// The variable that names the instance to programs started from it.
pub const ENV: &str = "STDPKT_INSTANCE";

const REQUEST_LEN: usize = 8 * 7;

thread_local! {
    /// The client process whose syscall this host thread runs (0: none).
    static PEER: Cell<libc::pid_t> = const { Cell::new(0) };
}

/// Connections being served (client threads that have used the instance
/// and not yet ended).
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// How many client connections are open.
pub fn connections() -> usize {
    CONNECTIONS.load(Ordering::Acquire)
}

/// The host op behind the kernel's user copies in a remote syscall (see
/// arch/lkl asm/uaccess.h): copies between our `local` memory and the
/// client's `remote` address. Returns the number of bytes not copied.
///
/// # Safety
/// Called by the kernel with a kernel buffer of `n` bytes on our side.
pub(crate) unsafe extern "C" fn remote_copy(
    to: *mut libc::c_void,
    from: *const libc::c_void,
    n: libc::c_ulong,
    to_user: libc::c_int,
) -> libc::c_ulong {
    let pid = PEER.with(Cell::get);
    let n = n as usize;
    if pid == 0 {
        return n as libc::c_ulong;
    }
    let mut done = 0usize;
    while done < n {
        // SAFETY: the ranges are the kernel's buffer (ours) and the
        // client's address, which the kernel validated as far as it can;
        // a bad client address only makes the call fail (EFAULT).
        let r = unsafe {
            let local = libc::iovec {
                iov_base: if to_user != 0 {
                    (from as *mut u8).add(done).cast()
                } else {
                    (to as *mut u8).add(done).cast()
                },
                iov_len: n - done,
            };
            let remote = libc::iovec {
                iov_base: if to_user != 0 {
                    (to as *mut u8).add(done).cast()
                } else {
                    (from as *mut u8).add(done).cast()
                },
                iov_len: n - done,
            };
            if to_user != 0 {
                libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
            } else {
                libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
            }
        };
        if r <= 0 {
            break;
        }
        done += r as usize;
    }
    (n - done) as libc::c_ulong
}

/// Starts serving programs started from this process: binds the socket,
/// starts the thread that accepts clients and sets [`ENV`] in this
/// process's environment. Returns the socket's name.
pub fn serve(instance_name: Option<&str>) -> io::Result<String> {
    let mut token = [0u8; 8];
    // SAFETY: getrandom into a local buffer of its size.
    if unsafe { libc::getrandom(token.as_mut_ptr().cast(), token.len(), 0) } != 8 {
        return Err(io::Error::last_os_error());
    }
    let mut name = format!(
        "stdpkt/{}/{}",
        std::process::id(),
        token.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    if let Some(n) = instance_name {
        name.push('/');
        name.push_str(n);
    }
    let listener = Hidden::new(UnixListener::bind_addr(&SocketAddr::from_abstract_name(
        name.as_bytes(),
    )?)?);
    crate::sys::spawn_quiet("stdpkt-serve", 64 * 1024, move || accept_loop(listener))?;
    let value = format!("@{name}");
    let c = std::ffi::CString::new(format!("{ENV}={value}")).expect("no NUL in the name");
    // SAFETY: putenv keeps the string, so it is leaked on purpose; nothing
    // else in the process changes the environment at start-up.
    unsafe { libc::putenv(c.into_raw()) };
    Ok(value)
}

fn accept_loop(listener: Hidden<UnixListener>) {
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    for conn in listener.get().incoming() {
        let Ok(conn) = conn.map(Hidden::new) else {
            continue;
        };
        let Some(cred) = peer_cred(&conn) else {
            continue;
        };
        if cred.uid != me && cred.uid != 0 {
            log::warn!(
                "instance: refused a client of uid {} (pid {})",
                cred.uid,
                cred.pid
            );
            continue;
        }
        log::debug!("instance: a connection from pid {}", cred.pid);
        CONNECTIONS.fetch_add(1, Ordering::AcqRel);
        // Counted once, by whichever sees the client go first: the thread
        // serving it, or (while a call of a client that died blocks in the
        // kernel) the watcher of its hangup.
        let counted = Arc::new(AtomicBool::new(true));
        let done = {
            let counted = counted.clone();
            move || {
                if counted.swap(false, Ordering::AcqRel) {
                    log::debug!("instance: pid {}'s connection ended", cred.pid);
                    CONNECTIONS.fetch_sub(1, Ordering::AcqRel);
                }
            }
        };
        let watch = conn.get().try_clone().map(Hidden::new);
        let done2 = done.clone();
        let spawned = crate::sys::spawn_quiet("stdpkt-client", 256 * 1024, move || {
            serve_connection(conn, cred.pid);
            done();
        });
        if let Err(e) = spawned {
            done2();
            log::error!("instance: cannot serve a client: {e}");
            continue;
        }
        if let Ok(w) = watch {
            let _ = crate::sys::spawn_quiet("stdpkt-watch", 32 * 1024, move || {
                wait_hangup(&w);
                done2();
            });
        }
    }
}

/// Returns once the client has closed its end (or died).
fn wait_hangup(conn: &Hidden<UnixStream>) {
    let gone = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
    while crate::sys::poll_one(conn.as_fd(), libc::POLLRDHUP).is_ok_and(|r| r & gone == 0) {}
}

fn peer_cred(conn: &Hidden<UnixStream>) -> Option<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a ucred-sized out buffer and its length.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred)
}

/// Runs the requests of one client thread until it goes.
fn serve_connection(mut conn: Hidden<UnixStream>, pid: libc::pid_t) {
    PEER.with(|p| p.set(pid));
    let mut req = [0u8; REQUEST_LEN];
    while conn.read_exact(&mut req).is_ok() {
        let word = |i: usize| i64::from_ne_bytes(req[i * 8..i * 8 + 8].try_into().unwrap());
        let no = word(0);
        let args: [libc::c_long; 6] = std::array::from_fn(|i| word(i + 1) as libc::c_long);
        // SAFETY: the arguments are the client's; its pointers are only
        // reached through remote_copy, which fails cleanly on bad ones.
        let ret = unsafe { lkl_sys::lkl_syscall_remote(no as libc::c_long, args.as_ptr()) };
        if conn.write_all(&ret.to_ne_bytes()).is_err() {
            break;
        }
    }
}

/// An instance serving on this machine, as `stdpkt ps` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub pid: u32,
    /// `STDPKT_NAME`, if it was given.
    pub name: Option<String>,
    /// The value of [`ENV`] for its clients.
    pub address: String,
}

/// Every instance serving here: the listening sockets in `/proc/net/unix`
/// (of the host: this runs outside any instance) named `@stdpkt/...`,
/// whose process is still there.
pub fn list() -> io::Result<Vec<Listed>> {
    let text = std::fs::read_to_string("/proc/net/unix")?;
    let mut out: Vec<Listed> = Vec::new();
    for line in text.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode Path; listeners have
        // __SO_ACCEPTCON (0x10000) in Flags.
        let (Some(flags), Some(path)) = (w.get(3), w.get(7)) else {
            continue;
        };
        let listening = u32::from_str_radix(flags, 16).is_ok_and(|f| f & 0x1_0000 != 0);
        let Some(rest) = path.strip_prefix("@stdpkt/") else {
            continue;
        };
        let mut parts = rest.splitn(3, '/');
        let (Some(pid), Some(_token)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !listening
            || out.iter().any(|l| l.address == *path)
            || !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            continue;
        }
        out.push(Listed {
            pid,
            name: parts.next().map(str::to_owned),
            address: (*path).to_owned(),
        });
    }
    out.sort_by_key(|l| l.pid);
    Ok(out)
}

/// Whether instance `name` was this very process's: a process that booted
/// an instance and then exec'd (a shell's `exec`, a wrapper script) lost
/// it with its old image, and boots a new one.
pub fn is_own(name: &str) -> bool {
    name.strip_prefix("@stdpkt/")
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id())
}

/// A client's side: one connection per thread, opened on first use.
pub struct Client;

thread_local! {
    static CONN: RefCell<Option<Hidden<UnixStream>>> = const { RefCell::new(None) };
}

impl Client {
    /// Runs syscall `no` on the instance named `name` (the value of
    /// [`ENV`]); the kernel's return value, or -ENETDOWN when the instance
    /// cannot be reached.
    pub fn syscall(name: &str, no: u32, args: [libc::c_long; 6]) -> libc::c_long {
        let on = |slot: &mut Option<Hidden<UnixStream>>| {
            if slot.is_none() {
                match connect(name) {
                    Ok(s) => *slot = Some(s),
                    Err(e) => {
                        log::error!("instance {name}: {e}");
                        return -libc::ENETDOWN as libc::c_long;
                    }
                }
            }
            let r = call(slot.as_mut().expect("connected above"), no, &args);
            if r.is_none() {
                // The host has gone, and its instance with it.
                *slot = None;
            }
            r.unwrap_or(-libc::ENETDOWN as libc::c_long)
        };
        // At exit the thread's own connection may be gone already (its
        // thread-local destroyed): a call then gets one of its own.
        match CONN.try_with(|c| c.try_borrow_mut().map(|mut c| on(&mut c)).ok()) {
            Ok(Some(r)) => r,
            _ => on(&mut None),
        }
    }

    /// After fork, in the child: the thread's connection is the parent's
    /// and must not be shared. Closes the child's copy of it.
    pub fn forget_connection() {
        let _ = CONN.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = None;
            }
        });
    }
}

/// One request and its reply; None if the connection failed.
fn call(conn: &mut Hidden<UnixStream>, no: u32, args: &[libc::c_long; 6]) -> Option<libc::c_long> {
    let mut req = [0u8; REQUEST_LEN];
    req[..8].copy_from_slice(&u64::from(no).to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        req[8 + i * 8..16 + i * 8].copy_from_slice(&a.to_ne_bytes());
    }
    let mut reply = [0u8; 8];
    // write_all and read_exact retry on EINTR: the call goes on.
    conn.write_all(&req).ok()?;
    conn.read_exact(&mut reply).ok()?;
    Some(i64::from_ne_bytes(reply))
}

fn connect(name: &str) -> io::Result<Hidden<UnixStream>> {
    let abstract_name = name
        .strip_prefix('@')
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an instance name"))?;
    let s = UnixStream::connect_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes())?)?;
    // The host's server reads our memory: allow it even where ptrace is
    // restricted to descendants (it may not be our ancestor: attach).
    // SAFETY: prctl with plain integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0) };
    // std opens it close-on-exec: exec'd programs connect anew.
    Ok(Hidden::new(s))
}
