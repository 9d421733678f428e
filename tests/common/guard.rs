// SPDX-License-Identifier: GPL-2.0-only
//! Keeps test traffic off the host's network. The dynamic loader runs a
//! program even when its LD_PRELOAD library fails to load (it prints an
//! error and goes on), and it ignores LD_PRELOAD for programs with the
//! setuid or setgid bit or file capabilities (Debian's ping) run by a user
//! they would give privileges to. Either way the program would talk on the
//! host's network, whose own addresses may be in the very documentation
//! ranges the tests use. So the helpers that start preloaded programs
//! check the library once, and run unprivileged copies of such programs.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};

use super::process::{clean_command, find_in, CLEAN_PATH};
use super::{preload_lib, tools};

/// Why the loader would ignore LD_PRELOAD for `path`, if it would.
pub fn privileged(path: &Path) -> Option<&'static str> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o4000 != 0 {
        return Some("the setuid bit");
    }
    if mode & 0o2000 != 0 {
        return Some("the setgid bit");
    }
    // What getcap reads, without needing getcap.
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: NUL-terminated strings; a null buffer of size 0 asks for the
    // size only.
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    (n > 0).then_some("file capabilities")
}

/// Fails unless `lib` really loads into a program: no loader error, and
/// the library mapped (once per library and test process).
pub fn check_library(lib: &Path) {
    static CHECKED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if checked.contains(lib) {
        return;
    }
    let real = std::fs::canonicalize(lib)
        .unwrap_or_else(|e| panic!("the preload library {}: {e}", lib.display()));
    // STDPKT_DISABLE: the library loads but boots nothing.
    let out = clean_command(tools::require("cat"), &["/proc/self/maps"])
        .env("LD_PRELOAD", lib)
        .env("STDPKT_DISABLE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run cat");
    let maps = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty() && maps.contains(real.to_str().unwrap_or("")),
        "{} does not load into programs: they would run on the host's network \
         ({}; stderr: {err})",
        lib.display(),
        out.status
    );
    checked.insert(lib.to_path_buf());
}

/// libstdpkt.so for these tests, checked by [`check_library`].
pub fn lib() -> &'static Path {
    let lib = preload_lib();
    check_library(lib);
    lib
}

/// PATH for preloaded programs: a directory of unprivileged copies of
/// every privileged program in [`CLEAN_PATH`], then [`CLEAN_PATH`]; so a
/// shell run with the library also starts the copies.
pub fn path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unprivileged");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut seen = BTreeSet::new();
        for d in std::env::split_paths(CLEAN_PATH) {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let p = d.join(&name);
                // The first of a name in PATH order is the one run.
                if !p.is_file() || !seen.insert(name.clone()) || privileged(&p).is_none() {
                    continue;
                }
                // Written aside and renamed: other test processes may be
                // running the previous copy.
                let copy = dir.join(&name);
                let tmp = dir.join(format!(
                    "{}.{}.tmp",
                    name.to_string_lossy(),
                    std::process::id()
                ));
                std::fs::copy(&p, &tmp)
                    .and_then(|_| {
                        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
                    })
                    .and_then(|_| std::fs::rename(&tmp, &copy))
                    .unwrap_or_else(|e| panic!("copy {} to {}: {e}", p.display(), copy.display()));
                if let Some(why) = privileged(&copy) {
                    panic!("the copy {} still has {why}", copy.display());
                }
            }
        }
        format!("{}:{CLEAN_PATH}", dir.display())
    })
}

/// The file a preloaded `program` (a name or a path) runs: looked up in
/// [`path`] (a missing one fails naming its package); a privileged path
/// given as such is swapped for its copy.
pub fn program(program: &str) -> PathBuf {
    let found = if program.contains('/') {
        tools::resolve(program)
    } else {
        find_in(program, path()).unwrap_or_else(|| panic!("{}", tools::missing(program)))
    };
    let Some(why) = privileged(&found) else {
        return found;
    };
    found
        .file_name()
        .and_then(|n| find_in(n.to_str()?, path()))
        .filter(|c| privileged(c).is_none())
        .unwrap_or_else(|| {
            panic!(
                "{} has {why}, so the loader would ignore LD_PRELOAD, and there is \
                 no unprivileged copy of it",
                found.display()
            )
        })
}
