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
pub mod guard;
pub mod kernel;
pub mod process;
pub mod tempdir;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The source tree.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The `stdpkt` binary (package stdpkt-cli), built for these tests.
pub fn stdpkt() -> &'static str {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    utf8(BIN.get_or_init(|| built("stdpkt-cli", "stdpkt")))
}

/// The `pktparser` binary (package stdpkt-cli), built for these tests.
pub fn pktparser() -> &'static str {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    utf8(BIN.get_or_init(|| built("stdpkt-cli", "pktparser")))
}

fn utf8(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("{}: not UTF-8", p.display()))
}

/// libstdpkt.so built with the profile and target directory of this test
/// binary (once per test process).
pub fn preload_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        // scripts/lkl-hijack.sh runs the stdpkt next to it.
        built("stdpkt-cli", "stdpkt");
        let so = built("stdpkt-preload", "libstdpkt.so");
        utf8(&so);
        so
    })
}

/// Builds `package` with the profile and target directory of this test
/// binary (other packages' artifacts are not built for a suite of this
/// one) and returns the path of its artifact `file`.
fn built(package: &str, file: &str) -> PathBuf {
    // This binary is <target>/<profile>/deps/<suite>-<hash>.
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("profile directory")
        .to_path_buf();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(ROOT).args(["build", "-q", "-p", package]);
    if profile.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    if let Some(target) = profile.parent() {
        cargo.env("CARGO_TARGET_DIR", target);
    }
    let st = cargo.status().expect("run cargo");
    assert!(st.success(), "cargo build -p {package} failed");
    let path = profile.join(file);
    assert!(path.is_file(), "{} missing after the build", path.display());
    path
}
