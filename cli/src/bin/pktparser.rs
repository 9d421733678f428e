// SPDX-License-Identifier: GPL-2.0-only
//! `pktparser`: the legacy name for `stdpkt convert --from raw --to text2pcap`.

use std::process::ExitCode;

use clap::Parser;
use stdpkt::wire::{Framing, OutputFormat};

const LONG_ABOUT: &str = "\
Dump a raw frame stream on stdin as a text2pcap hexdump on stdout.

The input is the raw framing: each Ethernet frame preceded by its length as \
2 bytes big-endian (VDE stream format). The output is the hexdump that \
Wireshark's text2pcap reads, one block per frame.

This is the same as `stdpkt convert --from raw --to text2pcap`; pktparser is \
kept for scripts that use the old name.";

const EXAMPLES: &str = "\
Examples:
  pktparser < frames.raw | text2pcap -q - capture.pcapng
  pktparser < frames.raw | text2pcap -q - - | tcpdump -n -r -";

#[derive(Debug, Parser)]
#[command(
    name = "pktparser",
    version,
    about = "Dump a raw (VDE) frame stream as a text2pcap hexdump \
             (same as `stdpkt convert --from raw --to text2pcap`)",
    long_about = LONG_ABOUT,
    after_help = EXAMPLES
)]
struct Cli {}

fn main() -> ExitCode {
    Cli::parse();
    stdpkt_cli::stdio::convert_stdio("pktparser", Framing::Raw, OutputFormat::Text2pcap)
}
