// SPDX-License-Identifier: GPL-2.0-only
//! Raw framing: a 2-byte big-endian length, then the frame.
//!
//! This is VDE's stream format (what `vde_plug` reads and writes on its
//! stdin/stdout), so a stdpkt NIC can be plugged into a VDE switch.
//!
//! ```text
//! +--------+--------+----------------------------+
//! | len hi | len lo | frame (len bytes)          |
//! +--------+--------+----------------------------+
//! ```
//!
//! Decoding rules: a length of 0 is padding and skipped silently; a length of
//! 1..=13 cannot be an Ethernet frame, so that record is dropped and counted.
//! The length is then still trusted to find the next record, since a byte
//! stream offers nothing else to resynchronise on.

use std::ops::Range;
use std::time::Duration;

use super::{
    check_frame_len, FrameDecoder, FrameEncoder, FrameError, FrameLenError, Stats, MIN_FRAME_LEN,
};

/// Size of the length field.
pub const HEADER_LEN: usize = 2;

/// Encoder for the raw framing. Stateless.
#[derive(Debug, Clone, Default)]
pub struct RawEncoder;

impl RawEncoder {
    pub fn new() -> Self {
        RawEncoder
    }
}

impl FrameEncoder for RawEncoder {
    fn encode(
        &mut self,
        frame: &[u8],
        _ts: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameLenError> {
        check_frame_len(frame.len())?;
        // The check above guarantees the length fits in 16 bits.
        out.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        out.extend_from_slice(frame);
        Ok(())
    }
}

/// Incremental decoder for the raw framing.
#[derive(Debug, Default)]
pub struct RawDecoder {
    /// Fed bytes; `buf[pos..]` is not decoded yet.
    buf: Vec<u8>,
    pos: usize,
    /// Where the last decoded frame lies in `buf`.
    frame: Range<usize>,
    /// Bytes of a dropped record still to discard.
    skip: usize,
    /// Stream offset of `buf[pos]`, for error messages.
    offset: u64,
    stats: Stats,
}

impl RawDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }
}

impl FrameDecoder for RawDecoder {
    fn feed(&mut self, bytes: &[u8]) {
        // Forget what was decoded, so the buffer only ever holds about one
        // frame plus one chunk.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.frame = 0..0;
        self.buf.extend_from_slice(bytes);
    }

    fn advance(&mut self) -> Option<Result<(), FrameError>> {
        self.frame = 0..0;
        loop {
            let avail = self.buf.len() - self.pos;
            if self.skip > 0 {
                let n = self.skip.min(avail);
                self.skip -= n;
                self.consume(n);
                if self.skip > 0 {
                    return None;
                }
                continue;
            }
            if avail < HEADER_LEN {
                return None;
            }
            let len = u16::from_be_bytes([self.buf[self.pos], self.buf[self.pos + 1]]);
            let len_usize = usize::from(len);
            if len == 0 {
                self.consume(HEADER_LEN);
                continue;
            }
            if len_usize < MIN_FRAME_LEN {
                let err = FrameError::RawTooShort {
                    len,
                    offset: self.offset,
                };
                self.consume(HEADER_LEN);
                self.skip = len_usize;
                self.stats.record_drop(&err);
                return Some(Err(err));
            }
            if avail < HEADER_LEN + len_usize {
                return None;
            }
            let start = self.pos + HEADER_LEN;
            self.frame = start..start + len_usize;
            self.consume(HEADER_LEN + len_usize);
            self.stats.frames += 1;
            return Some(Ok(()));
        }
    }

    fn frame(&self) -> &[u8] {
        &self.buf[self.frame.clone()]
    }

    fn finish(&mut self) -> Option<FrameError> {
        let pending = self.buf.len() - self.pos;
        self.buf.clear();
        self.pos = 0;
        self.frame = 0..0;
        // A short record cut off by EOF was already counted when its length
        // was read.
        let skipping = std::mem::take(&mut self.skip) > 0;
        if pending == 0 || skipping {
            return None;
        }
        let err = FrameError::RawTruncated {
            offset: self.offset,
            pending,
        };
        self.offset += pending as u64;
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
    use crate::wire::MAX_FRAME_LEN;

    fn record(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RawEncoder.encode(frame, Duration::ZERO, &mut out).unwrap();
        out
    }

    #[test]
    fn encode_layout() {
        let f = frame(20, 9);
        let out = record(&f);
        assert_eq!(&out[..2], &[0, 20]);
        assert_eq!(&out[2..], &f[..]);
        let big = frame(MAX_FRAME_LEN, 1);
        assert_eq!(&record(&big)[..2], &[0xff, 0xff]);
    }

    #[test]
    fn round_trip() {
        let frames = sample_frames();
        let bytes = encode_all(&mut RawEncoder::new(), &frames);
        let got = decode_all(&mut RawDecoder::new(), &bytes);
        assert_eq!(got.frames, frames);
        assert!(got.errors.is_empty());
    }

    #[test]
    fn every_split_point() {
        let frames = vec![frame(14, 1), frame(60, 2), frame(15, 3)];
        let bytes = encode_all(&mut RawEncoder::new(), &frames);
        let got = check_all_splits(RawDecoder::new, &bytes);
        assert_eq!(got.frames, frames);
    }

    #[test]
    fn merged_reads_and_stats() {
        let frames: Vec<_> = (0..100).map(|i| frame(14 + i, i as u8)).collect();
        let bytes = encode_all(&mut RawEncoder::new(), &frames);
        let mut dec = RawDecoder::new();
        let got = decode_chunks(&mut dec, bytes.chunks(1000));
        assert_eq!(got.frames, frames);
        assert_eq!(dec.stats().frames, 100);
        assert_eq!(dec.stats().dropped, 0);
    }

    #[test]
    fn zero_length_skipped_silently() {
        let mut bytes = vec![0, 0, 0, 0];
        bytes.extend(record(&frame(14, 1)));
        bytes.extend([0, 0]);
        bytes.extend(record(&frame(30, 2)));
        bytes.extend([0, 0]);
        let mut dec = RawDecoder::new();
        let got = check_all_splits(RawDecoder::new, &bytes);
        assert_eq!(got.frames, vec![frame(14, 1), frame(30, 2)]);
        assert!(got.errors.is_empty());
        decode_all(&mut dec, &bytes);
        assert_eq!(dec.stats().dropped, 0);
    }

    #[test]
    fn short_length_dropped_then_resync() {
        let mut bytes = record(&frame(14, 1));
        // A 9-byte record at offset 16, skipped by trusting its length.
        bytes.extend([0, 9]);
        bytes.extend([0xee; 9]);
        bytes.extend(record(&frame(20, 2)));
        let mut dec = RawDecoder::new();
        let got = decode_all(&mut dec, &bytes);
        assert_eq!(got.frames, vec![frame(14, 1), frame(20, 2)]);
        assert_eq!(
            got.errors,
            vec![FrameError::RawTooShort { len: 9, offset: 16 }]
        );
        assert_eq!(dec.stats().dropped, 1);
        assert_eq!(
            dec.stats().first_error.as_deref(),
            Some("raw: frame length 9 < 14 at byte offset 16")
        );
        check_all_splits(RawDecoder::new, &bytes);
    }

    #[test]
    fn truncated_at_eof() {
        let mut bytes = record(&frame(14, 1));
        let partial = record(&frame(100, 2));
        bytes.extend(&partial[..50]);
        let mut dec = RawDecoder::new();
        let got = decode_all(&mut dec, &bytes);
        assert_eq!(got.frames, vec![frame(14, 1)]);
        assert_eq!(
            got.errors,
            vec![FrameError::RawTruncated {
                offset: 16,
                pending: 50
            }]
        );
        assert_eq!(dec.stats().dropped, 1);

        // Half a length field is truncated input too.
        let got = decode_all(&mut RawDecoder::new(), &[0]);
        assert_eq!(
            got.errors,
            vec![FrameError::RawTruncated {
                offset: 0,
                pending: 1
            }]
        );

        // A short record cut by EOF is counted once, not twice.
        let mut dec = RawDecoder::new();
        let got = decode_all(&mut dec, &[0, 5, 1, 2]);
        assert_eq!(got.errors.len(), 1);
        assert_eq!(dec.stats().dropped, 1);

        // Nothing pending, nothing dropped.
        assert_eq!(decode_all(&mut RawDecoder::new(), &[]), Decoded::default());
    }

    #[test]
    fn garbage_never_panics_and_short_lengths_resync() {
        let mut rng = XorShift::new(0x5eed);
        for round in 0..200 {
            let mut garbage = vec![0u8; rng.range(0, 300)];
            rng.fill(&mut garbage);
            // Random bytes decode to something arbitrary, without panics.
            let mut dec = RawDecoder::new();
            let got = decode_random_chunks(&mut dec, &garbage, &mut rng, 40);
            assert_eq!(dec.stats().frames as usize, got.frames.len());

            // Bad short records (len 1..=13) between good ones are dropped
            // and the good frames after them all arrive.
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            for i in 0..rng.range(1, 8) {
                let bad = rng.range(1, 13);
                bytes.extend((bad as u16).to_be_bytes());
                let mut junk = vec![0u8; bad];
                rng.fill(&mut junk);
                bytes.extend(&junk);
                let f = frame(rng.range(14, 1600), (round + i) as u8);
                bytes.extend(record(&f));
                want.push(f);
            }
            let mut dec = RawDecoder::new();
            let got = decode_random_chunks(&mut dec, &bytes, &mut rng, 64);
            assert_eq!(got.frames, want);
            assert_eq!(got.errors.len(), want.len());
        }
    }
}
