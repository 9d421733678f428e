// SPDX-License-Identifier: GPL-2.0-only
//! Ascii framing: one frame per line in hex, EtherPIPE layout.
//!
//! ```text
//! ffffffffffff 001122334455 0806 00 01 08 00 06 04 00 01 …
//! ^ dst MAC    ^ src MAC    ^type ^ payload, one byte per field
//! ```
//!
//! The encoder writes lowercase hex with exactly that spacing, so the fields
//! work with `grep 001122334455`, `awk '$2 == "001122334455"'` and `sed`.
//!
//! The decoder is lenient about layout and strict about content: it takes
//! all hex digits on a line (either case, any spaces or tabs, or none), skips
//! blank lines and `#` comment lines, strips a trailing `\r`, and drops (and
//! counts) lines holding anything else, an odd number of digits, or a frame
//! outside 14..=65535 bytes. Lines are decoded on the fly, so memory stays
//! bounded whatever the input; a line longer than [`MAX_LINE_LEN`] is dropped.

use std::time::Duration;

use super::{
    check_frame_len, FrameDecoder, FrameEncoder, FrameError, FrameLenError, Stats, HEX_DIGITS,
    MAX_FRAME_LEN, MIN_FRAME_LEN,
};

/// Longest line the decoder considers (not counting the newline). A maximal
/// frame in the encoder's layout takes 3 * 65535 - 12 characters, so this
/// leaves room for looser spacing.
pub const MAX_LINE_LEN: usize = 256 * 1024;

/// Encoder for the ascii framing. Stateless.
#[derive(Debug, Clone, Default)]
pub struct AsciiEncoder;

impl AsciiEncoder {
    pub fn new() -> Self {
        AsciiEncoder
    }
}

impl FrameEncoder for AsciiEncoder {
    fn encode(
        &mut self,
        frame: &[u8],
        _ts: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameLenError> {
        check_frame_len(frame.len())?;
        // Sized up front and filled by index: several times faster than
        // pushing byte by byte.
        let (header, payload) = frame.split_at(MIN_FRAME_LEN);
        let start = out.len();
        out.resize(start + HEADER_CHARS + 3 * payload.len() + 1, b' ');
        let line = &mut out[start..];
        // "dddddddddddd ssssssssssss tttt": the spaces are already there.
        let fields = [(0, &header[..6]), (13, &header[6..12]), (26, &header[12..])];
        for (at, bytes) in fields {
            for (i, &b) in bytes.iter().enumerate() {
                line[at + 2 * i] = HEX_DIGITS[usize::from(b >> 4)];
                line[at + 2 * i + 1] = HEX_DIGITS[usize::from(b & 0xf)];
            }
        }
        // Then " xx" per payload byte.
        let body = &mut line[HEADER_CHARS..HEADER_CHARS + 3 * payload.len()];
        for (cell, &b) in body.chunks_exact_mut(3).zip(payload) {
            cell[1] = HEX_DIGITS[usize::from(b >> 4)];
            cell[2] = HEX_DIGITS[usize::from(b & 0xf)];
        }
        let last = line.len() - 1;
        line[last] = b'\n';
        Ok(())
    }
}

/// Characters of "dst src type" at the start of a line.
const HEADER_CHARS: usize = 12 + 1 + 12 + 1 + 4;

// Byte classes for the decoder: 0..=15 are hex digit values.
const C_SPACE: u8 = 16;
const C_CR: u8 = 17;
const C_HASH: u8 = 18;
const C_BAD: u8 = 19;

const CLASS: [u8; 256] = {
    let mut t = [C_BAD; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t[b' ' as usize] = C_SPACE;
    t[b'\t' as usize] = C_SPACE;
    t[b'\r' as usize] = C_CR;
    t[b'#' as usize] = C_HASH;
    t
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum LineState {
    /// Only whitespace so far.
    #[default]
    Start,
    /// Hex digits seen: a frame is being decoded.
    Data,
    /// A `#` comment: ignored up to the newline.
    Comment,
    /// Bad line, already reported: ignored up to the newline.
    Skip,
}

/// Incremental decoder for the ascii framing.
#[derive(Debug)]
pub struct AsciiDecoder {
    /// Fed bytes; `input[pos..]` is not looked at yet.
    input: Vec<u8>,
    pos: usize,
    /// Bytes decoded from the current line; a whole frame when `ready`.
    frame: Vec<u8>,
    ready: bool,
    /// The first digit of a byte whose second digit has not come yet.
    high_nibble: Option<u8>,
    state: LineState,
    /// The previous byte was `\r`: fine if a newline follows, bad otherwise.
    cr: bool,
    /// Current line number (1-based) and characters seen on it.
    line: u64,
    column: usize,
    stats: Stats,
}

impl Default for AsciiDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AsciiDecoder {
    pub fn new() -> Self {
        AsciiDecoder {
            input: Vec::new(),
            pos: 0,
            frame: Vec::new(),
            ready: false,
            high_nibble: None,
            state: LineState::Start,
            cr: false,
            line: 1,
            column: 0,
            stats: Stats::default(),
        }
    }

    /// Drops the current line: counts it and ignores the rest of it.
    fn drop_line(&mut self, err: FrameError) -> Option<Result<(), FrameError>> {
        self.state = LineState::Skip;
        self.frame.clear();
        self.high_nibble = None;
        self.cr = false;
        self.stats.record_drop(&err);
        Some(Err(err))
    }

    /// Fast path: decodes the run of hex digits and blanks at `pos`. Stops
    /// before any other byte, before the line gets too long and before the
    /// frame would, and leaves those cases to the byte-by-byte path.
    fn scan_hex(&mut self) {
        let budget = MAX_LINE_LEN.saturating_sub(self.column);
        let end = self.input.len().min(self.pos + budget);
        let mut high = self.high_nibble;
        let mut digits = false;
        let mut i = self.pos;
        while i < end {
            let class = CLASS[usize::from(self.input[i])];
            if class < 16 {
                match high {
                    None => high = Some(class),
                    Some(_) if self.frame.len() == MAX_FRAME_LEN => break,
                    Some(h) => {
                        self.frame.push(h << 4 | class);
                        high = None;
                    }
                }
                digits = true;
            } else if class != C_SPACE {
                break;
            }
            i += 1;
        }
        if digits {
            self.state = LineState::Data;
        }
        self.high_nibble = high;
        self.column += i - self.pos;
        self.pos = i;
    }

    /// Fast path: skips an ignored line up to its newline.
    fn skip_line(&mut self) {
        let rest = &self.input[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.column += n;
        self.pos += n;
    }

    /// Handles a newline: completes, rejects or ignores the line.
    fn end_line(&mut self) -> Option<Result<(), FrameError>> {
        let line = self.line;
        self.line += 1;
        self.column = 0;
        self.cr = false;
        let state = std::mem::take(&mut self.state);
        if state != LineState::Data {
            return None;
        }
        let err = if self.high_nibble.take().is_some() {
            FrameError::AsciiOddDigits {
                line,
                digits: self.frame.len() * 2 + 1,
            }
        } else if self.frame.len() < MIN_FRAME_LEN {
            FrameError::AsciiTooShort {
                line,
                len: self.frame.len(),
            }
        } else {
            self.ready = true;
            self.stats.frames += 1;
            return Some(Ok(()));
        };
        self.frame.clear();
        self.stats.record_drop(&err);
        Some(Err(err))
    }
}

impl FrameDecoder for AsciiDecoder {
    fn feed(&mut self, bytes: &[u8]) {
        if self.ready {
            self.frame.clear();
            self.ready = false;
        }
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    fn advance(&mut self) -> Option<Result<(), FrameError>> {
        if self.ready {
            self.frame.clear();
            self.ready = false;
        }
        while self.pos < self.input.len() {
            match self.state {
                LineState::Start | LineState::Data if !self.cr => self.scan_hex(),
                LineState::Comment | LineState::Skip => self.skip_line(),
                _ => {}
            }
            // Byte by byte for whatever the fast paths left: line ends,
            // errors, limits.
            let Some(&b) = self.input.get(self.pos) else {
                break;
            };
            self.pos += 1;
            if b == b'\n' {
                match self.end_line() {
                    Some(r) => return Some(r),
                    None => continue,
                }
            }
            self.column += 1;
            if matches!(self.state, LineState::Comment | LineState::Skip) {
                continue;
            }
            let line = self.line;
            if std::mem::take(&mut self.cr) {
                // Only a `\r` right before the newline is a line ending.
                return self.drop_line(FrameError::AsciiBadChar {
                    line,
                    column: self.column - 1,
                    byte: b'\r',
                });
            }
            if self.column > MAX_LINE_LEN {
                return self.drop_line(FrameError::AsciiLineTooLong { line });
            }
            let class = CLASS[usize::from(b)];
            if class < 16 {
                self.state = LineState::Data;
                match self.high_nibble.take() {
                    None => self.high_nibble = Some(class),
                    Some(_) if self.frame.len() == MAX_FRAME_LEN => {
                        return self.drop_line(FrameError::AsciiTooLong { line });
                    }
                    Some(hi) => self.frame.push(hi << 4 | class),
                }
                continue;
            }
            match class {
                C_SPACE => {}
                C_CR => self.cr = true,
                C_HASH if self.state == LineState::Start => self.state = LineState::Comment,
                _ => {
                    let column = self.column;
                    return self.drop_line(FrameError::AsciiBadChar {
                        line,
                        column,
                        byte: b,
                    });
                }
            }
        }
        None
    }

    fn frame(&self) -> &[u8] {
        if self.ready {
            &self.frame
        } else {
            &[]
        }
    }

    fn finish(&mut self) -> Option<FrameError> {
        let state = std::mem::take(&mut self.state);
        let line = self.line;
        self.input.clear();
        self.pos = 0;
        self.frame.clear();
        self.ready = false;
        self.high_nibble = None;
        self.cr = false;
        self.column = 0;
        if state != LineState::Data {
            return None;
        }
        // A last line without newline may have been cut mid-frame by a
        // killed writer, so it is not trusted.
        self.line += 1;
        let err = FrameError::AsciiTruncated { line };
        self.stats.record_drop(&err);
        Some(err)
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::*;

    fn line(frame: &[u8]) -> String {
        let mut out = Vec::new();
        AsciiEncoder
            .encode(frame, Duration::ZERO, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn arp() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        ]);
        f
    }

    #[test]
    fn encode_layout() {
        assert_eq!(line(&arp()), "ffffffffffff 001122334455 0806 00 01 08 00\n");
        assert_eq!(line(&arp()[..14]), "ffffffffffff 001122334455 0806\n");
        let big = frame(MAX_FRAME_LEN, 3);
        // 30 characters of header, 3 per payload byte, the newline.
        assert_eq!(line(&big).len(), 30 + (MAX_FRAME_LEN - 14) * 3 + 1);
    }

    #[test]
    fn round_trip() {
        let frames = sample_frames();
        let bytes = encode_all(&mut AsciiEncoder::new(), &frames);
        let got = decode_all(&mut AsciiDecoder::new(), &bytes);
        assert_eq!(got.frames, frames);
        assert!(got.errors.is_empty());
    }

    #[test]
    fn every_split_point() {
        let input = "# c\nffffffffffff 001122334455 0806 00 01\r\n\n\
                     ffffffffffff001122334455080600\nzz\n";
        let got = check_all_splits(AsciiDecoder::new, input.as_bytes());
        assert_eq!(got.frames.len(), 2);
        assert_eq!(got.errors.len(), 1);
    }

    #[test]
    fn lenient_layout() {
        let want = arp();
        let input = "\n\
            # a comment line\n\
            \t  # an indented comment 0011 zz\n\
            ffffffffffff 001122334455 0806 00 01 08 00\n\
            FFFFFFFFFFFF 001122334455 0806 00 01 08 00\n\
            ffffffffffff001122334455080600010800\n\
            \tff ff ff ff ff ff 00 11 22 33 44 55 08 06 00 01 08 00  \n\
            ffff ffff ffff\t0011 2233 4455 0806 0001 0800\r\n\
            \x20\t\r\n";
        let mut dec = AsciiDecoder::new();
        let got = decode_all(&mut dec, input.as_bytes());
        assert_eq!(got.frames, vec![want; 5]);
        assert!(got.errors.is_empty(), "{:?}", got.errors);
        assert_eq!(dec.stats().frames, 5);
    }

    #[test]
    fn bad_lines_dropped_and_reported() {
        let good = line(&arp());
        let input = [
            good.as_str(),
            "ffffffffffff 001122334455 0806 00 0x\n", // line 2: bad char
            "ffffffffffff 001122334455 0806 00 0\n",  // line 3: odd digits
            "ffffffffffff 001122334455 08\n",         // line 4: 13 bytes
            "ffffffffffff 001122334455\r0806 00 01 08 00\n", // line 5: bare \r
            good.as_str(),
            "ffffffffffff 001122334455 0806 # comment\n", // line 7: # mid-line
            good.as_str(),
        ]
        .concat();
        let mut dec = AsciiDecoder::new();
        let got = decode_all(&mut dec, input.as_bytes());
        assert_eq!(got.frames, vec![arp(); 3]);
        assert_eq!(
            got.errors,
            vec![
                FrameError::AsciiBadChar {
                    line: 2,
                    column: 36,
                    byte: b'x'
                },
                FrameError::AsciiOddDigits {
                    line: 3,
                    digits: 31
                },
                FrameError::AsciiTooShort { line: 4, len: 13 },
                FrameError::AsciiBadChar {
                    line: 5,
                    column: 26,
                    byte: b'\r'
                },
                FrameError::AsciiBadChar {
                    line: 7,
                    column: 32,
                    byte: b'#'
                },
            ]
        );
        assert_eq!(dec.stats().dropped, 5);
        assert_eq!(
            dec.stats().first_error.as_deref(),
            Some("ascii line 2: non-hex character 'x' at column 36")
        );
        assert_eq!(
            got.errors[1].to_string(),
            "ascii line 3: odd number of hex digits (31)"
        );
        check_all_splits(AsciiDecoder::new, input.as_bytes());
    }

    #[test]
    fn oversized_frames_and_lines() {
        let good = line(&arp());
        // 65536 bytes of frame: one too many.
        let mut input = "00".repeat(MAX_FRAME_LEN + 1);
        input.push('\n');
        // A valid 14-byte frame spread over a line longer than the limit.
        input.push_str(&"ab".repeat(7));
        input.push_str(&" ".repeat(MAX_LINE_LEN));
        input.push_str(&"cd".repeat(7));
        input.push('\n');
        // A line of just the maximum frame is fine.
        input.push_str(&"00".repeat(MAX_FRAME_LEN));
        input.push('\n');
        input.push_str(&good);
        let mut dec = AsciiDecoder::new();
        let got = decode_chunks(&mut dec, input.as_bytes().chunks(4096));
        assert_eq!(
            got.errors,
            vec![
                FrameError::AsciiTooLong { line: 1 },
                FrameError::AsciiLineTooLong { line: 2 },
            ]
        );
        assert_eq!(got.frames, vec![vec![0; MAX_FRAME_LEN], arp()]);
        // Memory stays bounded: no more than one frame and one chunk.
        assert!(dec.frame.capacity() <= 2 * MAX_FRAME_LEN);
        assert!(dec.input.capacity() <= 2 * 4096);
    }

    #[test]
    fn endless_line_uses_bounded_memory() {
        let mut dec = AsciiDecoder::new();
        let chunk = [b'a'; 4096];
        let mut errors = 0;
        for _ in 0..200 {
            dec.feed(&chunk);
            while let Some(r) = dec.next_frame() {
                assert!(r.is_err());
                errors += 1;
            }
        }
        assert_eq!(errors, 1);
        assert!(dec.frame.capacity() <= 2 * MAX_FRAME_LEN);
        assert!(dec.input.capacity() <= 2 * chunk.len());
        dec.feed(b"\nffffffffffff 001122334455 0806 00 01 08 00\n");
        assert_eq!(dec.next_frame(), Some(Ok(&arp()[..])));
    }

    #[test]
    fn truncated_at_eof() {
        let mut dec = AsciiDecoder::new();
        let got = decode_all(
            &mut dec,
            b"ffffffffffff 001122334455 0806 00 01\nffffffffffff 0011",
        );
        assert_eq!(got.frames.len(), 1);
        assert_eq!(got.errors, vec![FrameError::AsciiTruncated { line: 2 }]);
        assert_eq!(dec.stats().dropped, 1);
        // A trailing comment, blank or already-dropped line is not a frame.
        for tail in ["# x", "  \t", "\r", "zz"] {
            let mut dec = AsciiDecoder::new();
            let got = decode_all(&mut dec, tail.as_bytes());
            assert!(got.frames.is_empty());
            assert_eq!(dec.stats().dropped, u64::from(tail == "zz"), "{tail:?}");
        }
    }

    #[test]
    fn garbage_never_panics_and_good_lines_resync() {
        let mut rng = XorShift::new(0xa5c11);
        const ALPHABET: &[u8] = b"0123456789abcdefABCDEF \t\t#\r\n\nxz\x00\xff";
        for round in 0..300 {
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            for i in 0..rng.range(1, 6) {
                let mut junk = vec![0u8; rng.range(0, 200)];
                if round % 2 == 0 {
                    rng.fill(&mut junk);
                } else {
                    for b in junk.iter_mut() {
                        *b = ALPHABET[rng.range(0, ALPHABET.len() - 1)];
                    }
                }
                bytes.extend(&junk);
                // Whatever the junk left open, a newline closes it.
                bytes.push(b'\n');
                let f = frame(rng.range(14, 300), (round + i) as u8);
                bytes.extend(line(&f).as_bytes());
                want.push(f);
            }
            let mut dec = AsciiDecoder::new();
            let got = decode_random_chunks(&mut dec, &bytes, &mut rng, 50);
            // Junk might by chance spell a frame; the good ones must all be
            // there, in order.
            let mut it = got.frames.iter();
            for w in &want {
                assert!(it.any(|g| g == w), "round {round}: lost a good frame");
            }
            assert_eq!(dec.stats().frames as usize, got.frames.len());
            assert_eq!(dec.stats().dropped as usize, got.errors.len());
        }
    }
}
