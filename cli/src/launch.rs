// SPDX-License-Identifier: GPL-2.0-only
//! The one launcher: runs a program with libstdpkt.so preloaded. `stdpkt
//! run` is it, and `scripts/lkl-hijack.sh` execs `stdpkt run`.
//!
//! Before it execs the program it makes sure the program will really run
//! inside an instance, because the dynamic loader runs a program whose
//! preload library cannot be loaded anyway (it only prints an error), and
//! then the program would send on the host's network:
//! - the library must load: it is opened here first (with its constructor
//!   told to do nothing), and a failure stops the launch with status 2;
//! - programs with setuid/setgid or file capabilities, for which the
//!   loader ignores LD_PRELOAD, run as an unprivileged copy;
//! - a statically linked program cannot be preloaded: a warning says so.
//!
//! For users other than root, the programs a script starts by name get
//! the same care: unprivileged copies of the setuid and capability
//! programs of PATH, made once per user, go first in the program's PATH.
//!
//! It also gives each user a private iptables lock (`XTABLES_LOCKFILE`),
//! so that iptables inside an instance never waits on the host's
//! /run/xtables.lock (or fails for users who cannot write /run).

use std::ffi::{OsStr, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The library's file name.
const PRELOAD_LIB: &str = "libstdpkt.so";

/// Finds libstdpkt.so (see RUN_ABOUT); the error carries the exit status.
fn find_preload_lib(flag: Option<&Path>) -> Result<PathBuf, (u8, String)> {
    fn usable(p: &Path) -> Result<PathBuf, String> {
        if !p.is_file() {
            return Err("no such file".into());
        }
        let abs = std::fs::canonicalize(p).map_err(|e| e.to_string())?;
        // LD_PRELOAD separates its entries with spaces and colons.
        if abs.to_string_lossy().contains([' ', ':']) {
            return Err(format!(
                "{}: LD_PRELOAD cannot hold a path with a space or ':'",
                abs.display()
            ));
        }
        Ok(abs)
    }
    if let Some(p) = flag {
        return usable(p).map_err(|m| (2, format!("--lib {}: {m}", p.display())));
    }
    if let Some(p) = std::env::var_os("STDPKT_LIB").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return usable(&p).map_err(|m| (2, format!("STDPKT_LIB={}: {m}", p.display())));
    }
    let mut tried = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        tried.push(dir.join(PRELOAD_LIB));
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("release") => tried.push(dir.with_file_name("debug").join(PRELOAD_LIB)),
            Some("debug") => tried.push(dir.with_file_name("release").join(PRELOAD_LIB)),
            Some("bin") => tried.push(dir.with_file_name("lib").join(PRELOAD_LIB)),
            _ => {}
        }
    }
    tried.push(Path::new("/usr/local/lib").join(PRELOAD_LIB));
    if let Some(p) = tried.iter().find(|p| p.is_file()) {
        return usable(p).map_err(|m| (1, m));
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err((
        1,
        format!(
            "{PRELOAD_LIB} not found (looked at {}); build it with \
             'cargo build --release -p stdpkt-preload' or give --lib PATH",
            tried.join(", ")
        ),
    ))
}

/// The file `cmd` names: itself if it holds a '/', else the first executable
/// regular file of that name in $PATH.
fn resolve_command(cmd: &OsStr) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if cmd.as_bytes().contains(&b'/') {
        return Some(cmd.into());
    }
    if cmd.is_empty() {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).find_map(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            ".".into()
        } else {
            dir
        };
        let c = dir.join(cmd);
        let m = std::fs::metadata(&c).ok()?;
        (m.is_file() && m.permissions().mode() & 0o111 != 0).then_some(c)
    })
}

/// What an ELF file's program headers say about preloading.
#[derive(PartialEq)]
enum ElfKind {
    /// Not ELF (a script, say), or a layout not inspected here.
    Other,
    /// Has a program interpreter (PT_INTERP): LD_PRELOAD applies.
    Dynamic,
    /// No program interpreter: nothing can be preloaded.
    Static,
}

fn elf_kind(path: &Path) -> ElfKind {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(path) else {
        return ElfKind::Other;
    };
    let mut h = [0u8; 64];
    // 64-bit little-endian ELF only (the hosts stdpkt runs on).
    if f.read_exact_at(&mut h, 0).is_err() || h[..4] != *b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return ElfKind::Other;
    }
    let phoff = u64::from_le_bytes(h[32..40].try_into().unwrap_or_default());
    let phentsize = u64::from(u16::from_le_bytes([h[54], h[55]]));
    let phnum = u64::from(u16::from_le_bytes([h[56], h[57]]));
    for i in 0..phnum {
        let mut p_type = [0u8; 4];
        if f.read_exact_at(&mut p_type, phoff + i * phentsize).is_err() {
            return ElfKind::Other;
        }
        if u32::from_le_bytes(p_type) == 3 {
            return ElfKind::Dynamic;
        }
    }
    ElfKind::Static
}

/// Why the loader would ignore LD_PRELOAD for `path`, if it would.
fn privileges(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    if m.mode() & 0o6000 != 0 {
        return Some("the setuid or setgid bit");
    }
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: NUL-terminated strings; a null buffer of size 0 only asks
    // for the attribute's size.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    (n > 0).then_some("file capabilities")
}

/// An unprivileged copy of `src`, open read-only (so that it can be
/// executed), in a memfd or in an already deleted file in $TMPDIR.
fn unprivileged_copy(src: &Path, memfd: bool) -> std::io::Result<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let mut input = std::fs::File::open(src)?;
    let mut rw = if memfd {
        let name = std::ffi::CString::new(src.file_name().unwrap_or_default().as_bytes())
            .unwrap_or_default();
        // SAFETY: NUL-terminated name; the new fd is owned by the File.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just created and nothing else owns it.
        unsafe { std::fs::File::from_raw_fd(fd) }
    } else {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let p = std::env::temp_dir().join(format!("stdpkt-run-{}-{nanos}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&p)?;
        std::fs::remove_file(&p)?;
        f
    };
    std::io::copy(&mut input, &mut rw)?;
    // Executing a file that is open for writing fails (ETXTBSY): reopen it
    // read-only and close the writable descriptor.
    let ro = std::fs::File::open(format!("/proc/self/fd/{}", rw.as_raw_fd()))?;
    drop(rw);
    Ok(ro)
}

/// Makes sure `lib` loads, as the loader would preload it: a library that
/// does not (wrong architecture, a missing dependency, not readable) would
/// leave the program running on the host's network.
fn check_loadable(lib: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(lib.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // The library's constructor boots nothing when STDPKT_DISABLE is set.
    // This process is single-threaded here, and execs right after.
    std::env::set_var("STDPKT_DISABLE", "1");
    // SAFETY: a NUL-terminated path; the handle is deliberately kept (the
    // process execs the program next, which drops it).
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    std::env::remove_var("STDPKT_DISABLE");
    if handle.is_null() {
        // SAFETY: dlerror returns a NUL-terminated message or null.
        let why = unsafe {
            let e = libc::dlerror();
            if e.is_null() {
                "unknown error".into()
            } else {
                std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        return Err(why);
    }
    Ok(())
}

/// For a user other than root: a private directory of unprivileged copies
/// of the setuid, setgid and capability programs in `path`, to go first in
/// the program's PATH. A script run in an instance starts programs by
/// name; the loader would ignore LD_PRELOAD for those (Debian's ping), and
/// they would run on the host's network. Made once per user, then reused.
fn unprivileged_dir(path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        // Root keeps LD_PRELOAD for these: nothing is raised.
        return None;
    }
    let dir = std::env::temp_dir().join(format!("stdpkt-unprivileged-{uid}"));
    if dir.is_dir() {
        return Some(dir);
    }
    let tmp =
        std::env::temp_dir().join(format!("stdpkt-unprivileged-{uid}.{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&tmp).ok()?;
    for d in std::env::split_paths(path) {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_file() || privileges(&p).is_none() || elf_kind(&p) != ElfKind::Dynamic {
                continue;
            }
            let target = tmp.join(e.file_name());
            if target.exists() || std::fs::copy(&p, &target).is_err() {
                continue;
            }
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700));
        }
    }
    // Another launcher may have won the race: either directory will do.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir.is_dir().then_some(dir)
}

/// The private iptables lock of this user (see the module comment).
fn xtables_lock() -> OsString {
    let mut p = std::env::temp_dir().into_os_string();
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    p.push(format!("/stdpkt-xtables-{uid}.lock"));
    p
}

/// Runs `command` (program and arguments) with the library preloaded and
/// `env` set: `lib` or the library found as `stdpkt run --help` describes.
/// Returns only if it could not: the exit status (2 for a library that
/// cannot be used, 126 or 127 for the program) and a one-line message.
pub fn exec(lib: Option<&Path>, command: &[OsString], env: &[(String, String)]) -> (u8, String) {
    let lib = match find_preload_lib(lib) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if let Err(why) = check_loadable(&lib) {
        return (
            2,
            format!(
                "{} cannot be loaded ({why}): not starting the program, which would run on the host's network",
                lib.display()
            ),
        );
    }
    let preload = match std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        Some(old) => {
            let mut s = lib.into_os_string();
            s.push(" ");
            s.push(old);
            s
        }
        None => lib.into_os_string(),
    };
    let Some((cmd, args)) = command.split_first() else {
        return (2, "no program to run".into());
    };
    let Some(path) = resolve_command(cmd) else {
        return (127, format!("{}: command not found", cmd.to_string_lossy()));
    };
    let xtables = std::env::var_os("XTABLES_LOCKFILE").unwrap_or_else(xtables_lock);
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let child_path = unprivileged_dir(&search).map(|d| {
        let mut p = d.into_os_string();
        p.push(":");
        p.push(&search);
        p
    });
    let command = |program: &Path| {
        let mut c = std::process::Command::new(program);
        c.arg0(cmd)
            .args(args)
            .env_remove("STDPKT_LIB")
            .env("LD_PRELOAD", &preload)
            .env("XTABLES_LOCKFILE", &xtables);
        if let Some(p) = &child_path {
            c.env("PATH", p);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c
    };
    let kind = elf_kind(&path);
    if kind == ElfKind::Static {
        crate::sayln!(
            "stdpkt run: warning: {} is statically linked: it will not see the instance",
            path.display()
        );
    }
    let err = match privileges(&path).filter(|_| kind == ElfKind::Dynamic) {
        None => command(&path).exec(),
        Some(why) => {
            crate::sayln!(
                "stdpkt run: {} has {why}, which make the loader ignore LD_PRELOAD: \
                 running an unprivileged copy",
                path.display()
            );
            // Each attempt returns only if the copy could not be run.
            let mut errors = Vec::new();
            for (memfd, place) in [(true, "memfd"), (false, "$TMPDIR")] {
                let e = match unprivileged_copy(&path, memfd) {
                    Ok(copy) => {
                        let fd_path = format!("/proc/self/fd/{}", copy.as_raw_fd());
                        command(Path::new(&fd_path)).exec()
                    }
                    Err(e) => e,
                };
                errors.push(format!("{place}: {e}"));
            }
            return (
                126,
                format!(
                    "{} has {why}, which make the loader ignore LD_PRELOAD, \
                     and no unprivileged copy could be run ({})",
                    path.display(),
                    errors.join("; ")
                ),
            );
        }
    };
    let status = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    (status, format!("{}: {err}", path.display()))
}
