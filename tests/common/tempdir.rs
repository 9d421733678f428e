// SPDX-License-Identifier: GPL-2.0-only
//! A temporary directory per test, for fifos and files, removed at the end
//! however the test ends.

use std::path::{Path, PathBuf};

pub struct TempDir(PathBuf);

impl TempDir {
    /// `$TMPDIR/stdpkt-<suite>-<tag>-<pid>`, empty.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "stdpkt-{}-{tag}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the test directory");
        TempDir(p)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// `name` in the directory (not created).
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8 path").to_string()
    }

    /// A new fifo `name` in the directory.
    pub fn fifo(&self, name: &str) -> String {
        let p = self.path(name);
        let c = std::ffi::CString::new(p.as_str()).expect("no NUL in the path");
        // SAFETY: a NUL-terminated path.
        let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(r, 0, "mkfifo {p}: {}", std::io::Error::last_os_error());
        p
    }

    /// A new file `name` holding `data`.
    pub fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap_or_else(|e| panic!("write {p}: {e}"));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
