// SPDX-License-Identifier: GPL-2.0-only
//! Pcap framing: a libpcap capture file, read and written as a stream.
//!
//! ```text
//! global header (24 bytes): magic u32, version 2.4 (u16, u16), thiszone i32,
//!                           sigfigs u32, snaplen u32, linktype u32
//! per frame (16 bytes):     ts_sec u32, ts_usec/ts_nsec u32,
//!                           incl_len u32, orig_len u32, then incl_len bytes
//! ```
//!
//! The encoder writes the native byte order with the microsecond magic
//! `0xa1b2c3d4`, snaplen 65535 and link type 1 (Ethernet), so
//! `stdpkt … | tcpdump -n -r -` shows frames as they pass.
//!
//! The decoder takes either byte order and the microsecond or nanosecond
//! magic (`tcpdump -w -`, a saved capture). A bad magic, a major version
//! other than 2 or a link type other than Ethernet is fatal. Record policy:
//!
//! * `incl_len < orig_len` (cut by the snaplen), `incl_len < 14`, or
//!   `incl_len` above the snaplen or 65535: the record is dropped, counted
//!   and skipped by its length — as long as `incl_len` is at most
//!   [`MAX_PLAUSIBLE_LEN`], the largest snaplen libpcap ever writes.
//! * `incl_len > MAX_PLAUSIBLE_LEN`: no writer produces that, so the stream is
//!   corrupt; it is fatal rather than a blind skip of up to 4 GiB that would
//!   only land in more garbage.

use std::ops::Range;
use std::time::Duration;

use super::{
    check_frame_len, FrameDecoder, FrameEncoder, FrameError, FrameLenError, Stats, MAX_FRAME_LEN,
    MIN_FRAME_LEN,
};

/// Magic number of a microsecond-resolution capture.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic number of a nanosecond-resolution capture.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// First four bytes of a pcapng file (same in both byte orders).
pub const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
/// The only link type carried: Ethernet (LINKTYPE_ETHERNET).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Size of the global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Size of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Snaplen written by the encoder: every frame fits whole.
pub const SNAPLEN: u32 = MAX_FRAME_LEN as u32;
/// Largest record length taken as sane (libpcap's maximum snaplen).
pub const MAX_PLAUSIBLE_LEN: u32 = 262_144;

/// Encoder for the pcap framing. Emits the global header once.
#[derive(Debug, Clone, Default)]
pub struct PcapEncoder {
    header_done: bool,
}

impl PcapEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The global header this encoder writes.
    pub fn global_header() -> [u8; GLOBAL_HEADER_LEN] {
        let mut h = [0u8; GLOBAL_HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC_MICROS.to_ne_bytes());
        h[4..6].copy_from_slice(&2u16.to_ne_bytes());
        h[6..8].copy_from_slice(&4u16.to_ne_bytes());
        // thiszone and sigfigs stay 0, as every modern writer does.
        h[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
        h
    }
}

impl FrameEncoder for PcapEncoder {
    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_done {
            self.header_done = true;
            out.extend_from_slice(&Self::global_header());
        }
    }

    fn encode(
        &mut self,
        frame: &[u8],
        ts: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameLenError> {
        check_frame_len(frame.len())?;
        self.header(out);
        // The length check makes these casts lossless; ts_sec wraps in 2106
        // as it does for every pcap writer.
        let len = (frame.len() as u32).to_ne_bytes();
        let mut rec = [0u8; RECORD_HEADER_LEN];
        rec[0..4].copy_from_slice(&(ts.as_secs() as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&ts.subsec_micros().to_ne_bytes());
        rec[8..12].copy_from_slice(&len);
        rec[12..16].copy_from_slice(&len);
        out.extend_from_slice(&rec);
        out.extend_from_slice(frame);
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for the global header.
    Header,
    /// Between or inside records.
    Records,
    /// The stream is unusable; the error is repeated on every call.
    Fatal(FrameError),
}

/// Incremental decoder for the pcap framing.
#[derive(Debug)]
pub struct PcapDecoder {
    /// Fed bytes; `buf[pos..]` is not decoded yet.
    buf: Vec<u8>,
    pos: usize,
    frame: Range<usize>,
    state: State,
    big_endian: bool,
    nanos: bool,
    /// Largest record length accepted as a frame.
    limit: u32,
    /// Bytes of a dropped record still to discard.
    skip: usize,
    /// Stream offset of `buf[pos]`, and number of the next record (1-based),
    /// for error messages.
    offset: u64,
    record: u64,
    timestamp: Duration,
    stats: Stats,
}

impl Default for PcapDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapDecoder {
    pub fn new() -> Self {
        PcapDecoder {
            buf: Vec::new(),
            pos: 0,
            frame: 0..0,
            state: State::Header,
            big_endian: false,
            nanos: false,
            limit: SNAPLEN,
            skip: 0,
            offset: 0,
            record: 1,
            timestamp: Duration::ZERO,
            stats: Stats::default(),
        }
    }

    /// Whether the stream's timestamps are in nanoseconds (known once the
    /// global header is read).
    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = [self.buf[at], self.buf[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = [
            self.buf[at],
            self.buf[at + 1],
            self.buf[at + 2],
            self.buf[at + 3],
        ];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    fn fail(&mut self, err: FrameError) -> Option<Result<(), FrameError>> {
        self.state = State::Fatal(err.clone());
        self.buf = Vec::new();
        self.pos = 0;
        self.skip = 0;
        Some(Err(err))
    }

    /// Parses the global header once enough bytes are there.
    fn header(&mut self) -> Option<Result<(), FrameError>> {
        let avail = self.buf.len() - self.pos;
        // Judge the magic as soon as it is there, so a wrong input fails fast.
        if avail < 4 {
            return None;
        }
        let p = self.pos;
        let raw = [
            self.buf[p],
            self.buf[p + 1],
            self.buf[p + 2],
            self.buf[p + 3],
        ];
        (self.big_endian, self.nanos) = match u32::from_le_bytes(raw) {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m == MAGIC_MICROS.swap_bytes() => (true, false),
            m if m == MAGIC_NANOS.swap_bytes() => (true, true),
            // Shown in file order, as a hexdump would show it.
            _ => {
                return self.fail(FrameError::PcapBadMagic {
                    magic: u32::from_be_bytes(raw),
                })
            }
        };
        if avail < GLOBAL_HEADER_LEN {
            return None;
        }
        let (major, minor) = (self.u16_at(p + 4), self.u16_at(p + 6));
        if major != 2 {
            return self.fail(FrameError::PcapBadVersion { major, minor });
        }
        let snaplen = self.u32_at(p + 16);
        let linktype = self.u32_at(p + 20);
        if linktype != LINKTYPE_ETHERNET {
            return self.fail(FrameError::PcapLinkType { linktype });
        }
        // Some writers put 0 for "no limit".
        self.limit = if snaplen == 0 {
            SNAPLEN
        } else {
            snaplen.min(SNAPLEN)
        };
        self.consume(GLOBAL_HEADER_LEN);
        self.state = State::Records;
        Some(Ok(()))
    }
}

impl FrameDecoder for PcapDecoder {
    fn feed(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Fatal(_)) {
            return;
        }
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
            match &self.state {
                State::Fatal(e) => return Some(Err(e.clone())),
                State::Header => match self.header()? {
                    Ok(()) => continue,
                    Err(e) => return Some(Err(e)),
                },
                State::Records => {}
            }
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
            if avail < RECORD_HEADER_LEN {
                return None;
            }
            let p = self.pos;
            let (record, offset) = (self.record, self.offset);
            let incl_len = self.u32_at(p + 8);
            let orig_len = self.u32_at(p + 12);
            let err = if incl_len > MAX_PLAUSIBLE_LEN {
                return self.fail(FrameError::PcapImplausibleLen {
                    record,
                    offset,
                    incl_len,
                });
            } else if incl_len < MIN_FRAME_LEN as u32 {
                Some(FrameError::PcapTooShort {
                    record,
                    offset,
                    incl_len,
                })
            } else if incl_len > self.limit {
                Some(FrameError::PcapTooLong {
                    record,
                    offset,
                    incl_len,
                    limit: self.limit,
                })
            } else if incl_len < orig_len {
                Some(FrameError::PcapTruncatedCapture {
                    record,
                    offset,
                    incl_len,
                    orig_len,
                })
            } else {
                None
            };
            let len = incl_len as usize;
            if let Some(err) = err {
                self.record += 1;
                self.consume(RECORD_HEADER_LEN);
                self.skip = len;
                self.stats.record_drop(&err);
                return Some(Err(err));
            }
            if avail < RECORD_HEADER_LEN + len {
                return None;
            }
            let secs = u64::from(self.u32_at(p));
            let frac = u64::from(self.u32_at(p + 4));
            // A corrupt fraction above one second just carries into seconds.
            let nanos = if self.nanos { frac } else { frac * 1000 };
            self.timestamp = Duration::from_secs(secs) + Duration::from_nanos(nanos);
            let start = p + RECORD_HEADER_LEN;
            self.frame = start..start + len;
            self.record += 1;
            self.consume(RECORD_HEADER_LEN + len);
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
        let skipping = std::mem::take(&mut self.skip) > 0;
        let err = match self.state {
            State::Fatal(_) => return None,
            _ if pending == 0 || skipping => return None,
            State::Header => FrameError::PcapTruncatedHeader { pending },
            State::Records => FrameError::PcapTruncated {
                record: self.record,
                offset: self.offset,
                pending,
            },
        };
        self.offset += pending as u64;
        self.stats.record_drop(&err);
        Some(err)
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn timestamp(&self) -> Option<Duration> {
        Some(self.timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::*;

    /// Hand-built capture bytes in a chosen byte order, independent of the
    /// encoder under test.
    struct Capture {
        be: bool,
        bytes: Vec<u8>,
    }

    impl Capture {
        fn new(be: bool, magic: u32, snaplen: u32, linktype: u32) -> Self {
            let mut c = Capture {
                be,
                bytes: Vec::new(),
            };
            c.u32(magic);
            c.u16(2);
            c.u16(4);
            c.u32(0);
            c.u32(0);
            c.u32(snaplen);
            c.u32(linktype);
            c
        }
        fn u16(&mut self, v: u16) {
            let b = if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.bytes.extend(b);
        }
        fn u32(&mut self, v: u32) {
            let b = if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.bytes.extend(b);
        }
        fn record(&mut self, sec: u32, frac: u32, frame: &[u8]) -> &mut Self {
            self.record_lens(sec, frac, frame.len() as u32, frame.len() as u32, frame)
        }
        fn record_lens(
            &mut self,
            sec: u32,
            frac: u32,
            incl: u32,
            orig: u32,
            data: &[u8],
        ) -> &mut Self {
            self.u32(sec);
            self.u32(frac);
            self.u32(incl);
            self.u32(orig);
            self.bytes.extend(data);
            self
        }
    }

    #[test]
    fn encode_layout() {
        let mut out = Vec::new();
        let mut enc = PcapEncoder::new();
        let f = frame(60, 1);
        enc.encode(&f, Duration::new(1_700_000_000, 123_456_789), &mut out)
            .unwrap();
        let mut want = Capture::new(cfg!(target_endian = "big"), MAGIC_MICROS, 65535, 1);
        want.record(1_700_000_000, 123_456, &f);
        assert_eq!(out, want.bytes);
        // The header comes once, whether or not header() was called first.
        let mut again = Vec::new();
        enc.header(&mut again);
        enc.encode(&f, Duration::ZERO, &mut again).unwrap();
        assert_eq!(again.len(), RECORD_HEADER_LEN + 60);
    }

    #[test]
    fn header_alone() {
        let mut enc = PcapEncoder::new();
        let mut out = Vec::new();
        enc.header(&mut out);
        assert_eq!(out, PcapEncoder::global_header());
        let got = decode_all(&mut PcapDecoder::new(), &out);
        assert_eq!(got, Decoded::default());
    }

    #[test]
    fn round_trip_with_timestamps() {
        let frames = sample_frames();
        let bytes = encode_all(&mut PcapEncoder::new(), &frames);
        let mut dec = PcapDecoder::new();
        dec.feed(&bytes);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(dec.next_frame(), Some(Ok(&f[..])));
            let ts = Duration::new(1_700_000_000 + i as u64, 123_456_000);
            assert_eq!(dec.timestamp(), Some(ts));
        }
        assert_eq!(dec.next_frame(), None);
        assert_eq!(dec.finish(), None);
        assert_eq!(dec.stats().frames, frames.len() as u64);
    }

    #[test]
    fn every_split_point() {
        let mut c = Capture::new(false, MAGIC_MICROS, 262_144, 1);
        c.record(1, 2, &frame(14, 1)).record(3, 4, &frame(40, 2));
        c.record_lens(5, 6, 10, 10, &[7; 10]);
        let got = check_all_splits(PcapDecoder::new, &c.bytes);
        assert_eq!(got.frames, vec![frame(14, 1), frame(40, 2)]);
        assert_eq!(got.errors.len(), 1);
    }

    #[test]
    fn big_endian_and_nanosecond_input() {
        for (be, magic) in [
            (true, MAGIC_MICROS),
            (true, MAGIC_NANOS),
            (false, MAGIC_NANOS),
            (false, MAGIC_MICROS),
        ] {
            let mut c = Capture::new(be, magic, 262_144, 1);
            c.record(1_600_000_000, 999_999, &frame(60, 1));
            c.record(1_600_000_001, 5, &frame(1514, 2));
            let mut dec = PcapDecoder::new();
            dec.feed(&c.bytes);
            let frac_ns = |v: u64| if magic == MAGIC_NANOS { v } else { v * 1000 };
            assert_eq!(dec.next_frame(), Some(Ok(&frame(60, 1)[..])));
            assert_eq!(
                dec.timestamp(),
                Some(Duration::from_secs(1_600_000_000) + Duration::from_nanos(frac_ns(999_999)))
            );
            assert_eq!(dec.next_frame(), Some(Ok(&frame(1514, 2)[..])));
            assert_eq!(
                dec.timestamp(),
                Some(Duration::from_secs(1_600_000_001) + Duration::from_nanos(frac_ns(5)))
            );
            assert_eq!(dec.next_frame(), None);
            assert_eq!(dec.is_nanosecond(), magic == MAGIC_NANOS);
        }
    }

    #[test]
    fn non_ethernet_link_type_is_fatal() {
        let mut c = Capture::new(true, MAGIC_MICROS, 65535, 113);
        c.record(0, 0, &frame(60, 1));
        let mut dec = PcapDecoder::new();
        let got = decode_all(&mut dec, &c.bytes);
        let err = got.fatal.unwrap();
        assert_eq!(err, FrameError::PcapLinkType { linktype: 113 });
        assert_eq!(err.to_string(), "pcap link type 113 is not Ethernet (1)");
        assert!(got.frames.is_empty());
        // It stays failed, whatever comes next.
        dec.feed(&c.bytes);
        assert_eq!(dec.next_frame(), Some(Err(err)));
        assert_eq!(dec.finish(), None);
    }

    #[test]
    fn bad_magic_and_version_are_fatal() {
        let got = decode_all(&mut PcapDecoder::new(), b"\x00\x0eHello, world!\n");
        assert_eq!(
            got.fatal,
            Some(FrameError::PcapBadMagic { magic: 0x000e_4865 })
        );
        assert_eq!(
            got.fatal.unwrap().to_string(),
            "pcap: bad magic 0x000e4865, input is not a pcap stream"
        );
        // The magic is judged before the rest of the header arrives.
        let mut dec = PcapDecoder::new();
        dec.feed(b"\x0a\x0d\x0d\x0a");
        let err = dec.next_frame().unwrap().unwrap_err();
        assert!(err.is_fatal());
        assert!(err.to_string().contains("pcapng"), "{err}");

        let mut c = Capture::new(false, MAGIC_MICROS, 65535, 1);
        c.bytes[4] = 3;
        let got = decode_all(&mut PcapDecoder::new(), &c.bytes);
        assert_eq!(
            got.fatal,
            Some(FrameError::PcapBadVersion { major: 3, minor: 4 })
        );
    }

    #[test]
    fn bad_records_dropped_and_skipped() {
        let mut c = Capture::new(false, MAGIC_MICROS, 1600, 1);
        c.record(0, 0, &frame(14, 1)); // record 1, offset 24
        c.record_lens(0, 0, 10, 10, &[0xee; 10]); // 2: too short (offset 54)
        c.record_lens(0, 0, 1601, 1601, &[0xee; 1601]); // 3: above snaplen
        c.record_lens(0, 0, 96, 1514, &[0xee; 96]); // 4: cut by snaplen
        c.record_lens(0, 0, 0, 0, &[]); // 5: empty
        c.record(0, 0, &frame(1600, 2)); // 6: fine
        let mut dec = PcapDecoder::new();
        let got = decode_all(&mut dec, &c.bytes);
        assert_eq!(got.frames, vec![frame(14, 1), frame(1600, 2)]);
        assert_eq!(
            got.errors,
            vec![
                FrameError::PcapTooShort {
                    record: 2,
                    offset: 54,
                    incl_len: 10
                },
                FrameError::PcapTooLong {
                    record: 3,
                    offset: 80,
                    incl_len: 1601,
                    limit: 1600
                },
                FrameError::PcapTruncatedCapture {
                    record: 4,
                    offset: 1697,
                    incl_len: 96,
                    orig_len: 1514
                },
                FrameError::PcapTooShort {
                    record: 5,
                    offset: 1809,
                    incl_len: 0
                },
            ]
        );
        assert_eq!(dec.stats().dropped, 4);
        assert_eq!(
            dec.stats().first_error.as_deref(),
            Some("pcap record 2 at byte offset 54: incl_len 10 < 14")
        );
        check_all_splits(PcapDecoder::new, &c.bytes);
    }

    #[test]
    fn oversized_records() {
        // Above 65535 but plausible: skipped without being buffered.
        let mut c = Capture::new(false, MAGIC_MICROS, 262_144, 1);
        c.record_lens(0, 0, 70_000, 70_000, &vec![0; 70_000]);
        c.record(0, 0, &frame(20, 1));
        let mut dec = PcapDecoder::new();
        let got = decode_chunks(&mut dec, c.bytes.chunks(1000));
        assert_eq!(got.frames, vec![frame(20, 1)]);
        assert_eq!(got.errors.len(), 1);
        assert!(matches!(
            got.errors[0],
            FrameError::PcapTooLong { limit: 65535, .. }
        ));
        assert!(dec.buf.capacity() < 4096);

        // Wild: fatal.
        c.record_lens(0, 0, 0x7fff_0000, 0x7fff_0000, &[0; 100]);
        c.record(0, 0, &frame(20, 2));
        let got = decode_chunks(&mut PcapDecoder::new(), c.bytes.chunks(1000));
        assert_eq!(got.frames, vec![frame(20, 1)]);
        assert!(matches!(
            got.fatal,
            Some(FrameError::PcapImplausibleLen { record: 3, .. })
        ));
    }

    #[test]
    fn truncated_at_eof() {
        let mut c = Capture::new(false, MAGIC_MICROS, 65535, 1);
        let got = decode_all(&mut PcapDecoder::new(), &c.bytes[..10]);
        assert_eq!(
            got.errors,
            vec![FrameError::PcapTruncatedHeader { pending: 10 }]
        );
        c.record(0, 0, &frame(60, 1));
        let got = decode_all(&mut PcapDecoder::new(), &c.bytes[..c.bytes.len() - 1]);
        assert_eq!(
            got.errors,
            vec![FrameError::PcapTruncated {
                record: 1,
                offset: 24,
                pending: 75
            }]
        );
        // Empty input: an empty capture.
        assert_eq!(decode_all(&mut PcapDecoder::new(), &[]), Decoded::default());
    }

    #[test]
    fn garbage_never_panics_and_good_records_survive() {
        let mut rng = XorShift::new(0x9ca9);
        for round in 0..300 {
            // Arbitrary bytes, with or without a valid header before them.
            let mut junk = vec![0u8; rng.range(0, 400)];
            rng.fill(&mut junk);
            let mut input = if round % 2 == 0 {
                Capture::new(round % 4 == 0, MAGIC_MICROS, 65535, 1).bytes
            } else {
                Vec::new()
            };
            input.extend(&junk);
            let mut dec = PcapDecoder::new();
            let got = decode_random_chunks(&mut dec, &input, &mut rng, 64);
            assert_eq!(dec.stats().frames as usize, got.frames.len());

            // Records with good lengths but bad content, or lengths the
            // policy skips, do not disturb the good ones.
            let mut c = Capture::new(round % 3 == 0, MAGIC_NANOS, 65535, 1);
            let mut want = Vec::new();
            for i in 0..rng.range(1, 6) {
                let bad = rng.range(0, 13);
                let mut junk = vec![0u8; bad];
                rng.fill(&mut junk);
                c.record_lens(rng.next_u64() as u32, 0, bad as u32, bad as u32, &junk);
                let f = frame(rng.range(14, 2000), (round + i) as u8);
                c.record(rng.next_u64() as u32, rng.next_u64() as u32, &f);
                want.push(f);
            }
            let mut dec = PcapDecoder::new();
            let got = decode_random_chunks(&mut dec, &c.bytes, &mut rng, 100);
            assert_eq!(got.frames, want);
            assert_eq!(got.errors.len(), want.len());
            assert!(got.fatal.is_none());
        }
    }
}
