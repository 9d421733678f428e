// SPDX-License-Identifier: GPL-2.0-only
//! Output-only hexdump in the layout Wireshark's `text2pcap` reads.
//!
//! ```text
//! 0000  ff ff ff ff ff ff 00 11 22 33 44 55 08 06 00 01
//! 0010  08 00 06 04 00 01
//!
//! ```
//!
//! Each line is a hex offset, two spaces and up to 16 bytes; an offset of
//! 0000 starts a new frame in text2pcap, and the blank line after each frame
//! keeps the dump readable. `stdpkt convert --to text2pcap | text2pcap - out`
//! turns it into a capture file. Timestamps are not written: text2pcap
//! invents them.

use std::time::Duration;

use super::{check_frame_len, push_hex, FrameEncoder, FrameLenError, HEX_DIGITS};

/// Bytes per hexdump line.
pub const BYTES_PER_LINE: usize = 16;

/// Encoder for the text2pcap hexdump. Stateless.
#[derive(Debug, Clone, Default)]
pub struct HexdumpEncoder;

impl HexdumpEncoder {
    pub fn new() -> Self {
        HexdumpEncoder
    }
}

impl FrameEncoder for HexdumpEncoder {
    fn encode(
        &mut self,
        frame: &[u8],
        _ts: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameLenError> {
        check_frame_len(frame.len())?;
        // Offset (4) + 2 spaces + newline per line, 3 characters per byte.
        out.reserve(frame.len() * 3 + frame.len().div_ceil(BYTES_PER_LINE) * 7 + 1);
        for (i, line) in frame.chunks(BYTES_PER_LINE).enumerate() {
            // Frames are at most 65535 bytes, so 4 digits always suffice.
            let offset = i * BYTES_PER_LINE;
            for shift in [12, 8, 4, 0] {
                out.push(HEX_DIGITS[(offset >> shift) & 0xf]);
            }
            out.push(b' ');
            for &b in line {
                out.push(b' ');
                push_hex(out, b);
            }
            out.push(b'\n');
        }
        out.push(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::frame;
    use crate::wire::MAX_FRAME_LEN;

    fn dump(frame: &[u8]) -> String {
        let mut out = Vec::new();
        HexdumpEncoder
            .encode(frame, Duration::ZERO, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn layout() {
        let mut f = vec![0xff; 6];
        f.extend([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x06, 0x00, 0x01]);
        f.extend([0x08, 0x00, 0x06, 0x04, 0x00, 0x01]);
        assert_eq!(
            dump(&f),
            "0000  ff ff ff ff ff ff 00 11 22 33 44 55 08 06 00 01\n\
             0010  08 00 06 04 00 01\n\n"
        );
        assert_eq!(dump(&f[..16]).lines().count(), 2);
    }

    #[test]
    fn largest_frame_offsets() {
        let s = dump(&frame(MAX_FRAME_LEN, 0));
        let last = s.lines().rev().nth(1).unwrap();
        assert!(last.starts_with("fff0  "), "{last}");
        assert_eq!(last.split(' ').count(), 2 + 15);
    }
}
