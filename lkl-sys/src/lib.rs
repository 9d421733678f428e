// SPDX-License-Identifier: GPL-2.0-only
//! Linux 6.12 as an in-process library: the kernel object built by
//! `build.rs` (arch/lkl port over Debian's linux-source-6.12), bindings to
//! its entry points and UAPI types, and thin syscall wrappers.
//!
//! Everything here is raw: the host operations and the boot API live in
//! the `stdpkt` crate.

#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]
#![allow(dead_code, clippy::all)]

/// Generated from the kernel's own UAPI headers for the lkl architecture.
#[allow(clippy::undocumented_unsafe_blocks)]
pub mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

mod syscalls;

pub use bindings::*;
pub use syscalls::*;
