// SPDX-License-Identifier: GPL-2.0-only
//! stdpkt: a real Linux network stack inside any program, with NICs on byte streams.
//!
//! Layers, in the order data flows: interposers → kernel (lkl-sys) → virtio-net
//! device → framing (`wire`) → file descriptors.

pub mod config;
pub mod dump;
pub mod host;
pub mod instance;
pub mod kernel;
pub mod netconf;
pub mod nics;
pub mod ping;
pub mod virtio;
pub mod wire;

/// Writes one line to stderr in a single write, so that lines from
/// processes sharing a terminal or log do not interleave mid-line
/// (`eprintln!` writes each formatted piece separately).
pub fn say(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut line = args.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `eprintln!` as one write; see [`say`].
#[macro_export]
macro_rules! sayln {
    ($($arg:tt)*) => {
        $crate::say(format_args!($($arg)*))
    };
}
