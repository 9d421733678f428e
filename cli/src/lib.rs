// SPDX-License-Identifier: GPL-2.0-only
//! The command-line side of stdpkt: what the `stdpkt` and `pktparser`
//! binaries share. The layers themselves (kernel, virtio, framings) are in
//! the `stdpkt` library; this crate adds the terminal: stdin/stdout
//! drivers, messages, exit codes, `dump`'s packet summaries and the ICMP
//! helper of `stdpkt instance --ping`.

pub mod dump;
pub mod launch;
pub mod ping;
pub mod stdio;

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
