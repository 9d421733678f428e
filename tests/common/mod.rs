// SPDX-License-Identifier: GPL-2.0-only
//! What the integration test suites share: each one says `mod common;` and
//! takes what it needs. Not every suite uses every helper.
//!
//! - [`frames`]: hand-built Ethernet frames (ARP, ICMP echo) and their
//!   raw and ascii framings;
//! - [`kernel`]: this process's kernel, booted once, and a deadline for
//!   code that calls into it;
//! - [`process`]: child processes with captured output and deadlines;
//! - [`tempdir`]: a temporary directory per test, with fifos;
//! - below: where the built binaries and libstdpkt.so are.

#![allow(dead_code)]

pub mod frames;
pub mod kernel;
pub mod process;
pub mod tempdir;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The source tree.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The `stdpkt` binary Cargo built for these tests.
pub const STDPKT: &str = env!("CARGO_BIN_EXE_stdpkt");
/// The `pktparser` binary Cargo built for these tests.
pub const PKTPARSER: &str = env!("CARGO_BIN_EXE_pktparser");

/// libstdpkt.so built with the profile and target directory of this test
/// binary (once per test process).
pub fn preload_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        // This binary is <target>/<profile>/deps/<suite>-<hash>.
        let exe = std::env::current_exe().expect("test binary path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("profile directory")
            .to_path_buf();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(ROOT)
            .args(["build", "-q", "-p", "stdpkt-preload"]);
        if profile.file_name().is_some_and(|n| n == "release") {
            cargo.arg("--release");
        }
        if let Some(target) = profile.parent() {
            cargo.env("CARGO_TARGET_DIR", target);
        }
        let st = cargo.status().expect("run cargo");
        assert!(st.success(), "cargo build -p stdpkt-preload failed");
        let so = profile.join("libstdpkt.so");
        assert!(so.is_file(), "{} missing after the build", so.display());
        assert!(so.to_str().is_some(), "{}: not UTF-8", so.display());
        so
    })
}
