// SPDX-License-Identifier: GPL-2.0-only
//! Frame encodings for byte streams.
//!
//! stdpkt's virtual NICs exchange Ethernet frames over plain Unix byte
//! streams (stdin/stdout, fifos, sockets). A byte stream has no message
//! boundaries, so every frame is wrapped in one of three framings:
//!
//! * [`Framing::Raw`] — a 2-byte big-endian length, then the frame: the VDE
//!   stream format, so `vde_plug` can sit on the other end ([`raw`]).
//! * [`Framing::Ascii`] — one frame per line in lowercase hex, EtherPIPE
//!   layout `DST SRC TYPE b1 b2 …`, friendly to grep/awk/sed ([`ascii`]).
//! * [`Framing::Pcap`] — a libpcap capture stream, so `tcpdump -r -` can read
//!   it live and `tcpdump -w -` can feed it ([`pcap`]).
//!
//! A fourth, output-only format ([`OutputFormat::Text2pcap`]) writes the
//! hexdump that Wireshark's `text2pcap` reads ([`hexdump`]).
//!
//! The codecs are pure: they never touch a file descriptor. Encoders append
//! the bytes of one frame to a caller's buffer; decoders are push-style
//! ([`FrameDecoder::feed`] then [`FrameDecoder::next_frame`] until `None`) so
//! they cope with any chunking of the input and never block. Malformed input
//! is dropped and counted in [`Stats`]; only damage that leaves no way to find
//! the next frame (a bad pcap global header, a wild pcap record length) is a
//! fatal [`FrameError`]. No decoder panics on any input.
//!
//! [`FrameReader`], [`FrameWriter`] and [`convert`] wrap the codecs around
//! `std::io` readers and writers.
//!
//! A frame is an Ethernet frame of [`MIN_FRAME_LEN`]`..=`[`MAX_FRAME_LEN`]
//! bytes; beyond its length the codecs do not look inside it.

use core::fmt;
use core::str::FromStr;
use std::time::Duration;

pub mod ascii;
pub mod hexdump;
pub mod pcap;
pub mod raw;
mod stream;

pub use ascii::{AsciiDecoder, AsciiEncoder};
pub use hexdump::HexdumpEncoder;
pub use pcap::{PcapDecoder, PcapEncoder};
pub use raw::{RawDecoder, RawEncoder};
pub use stream::{convert, ConvertError, ConvertErrorKind, FrameReader, FrameWriter, ReadError};

/// Smallest valid frame: an Ethernet header (dst, src, ethertype).
pub const MIN_FRAME_LEN: usize = 14;
/// Largest frame any framing carries (the raw length field is 16 bits).
pub const MAX_FRAME_LEN: usize = 65535;

/// A framing for Ethernet frames on a byte stream (input and output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Framing {
    /// The default for NICs (`IFTYPEn` unset).
    #[default]
    Raw,
    Ascii,
    Pcap,
}

impl Framing {
    /// All framings, in the order they are listed to users.
    pub const ALL: [Framing; 3] = [Framing::Raw, Framing::Ascii, Framing::Pcap];

    /// The lowercase name accepted by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Framing::Raw => "raw",
            Framing::Ascii => "ascii",
            Framing::Pcap => "pcap",
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown framing or output format name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFramingError {
    given: String,
    choices: &'static str,
}

impl fmt::Display for ParseFramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown framing {:?} (choose one of: {})",
            self.given, self.choices
        )
    }
}

impl std::error::Error for ParseFramingError {}

impl FromStr for Framing {
    type Err = ParseFramingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw" => Ok(Framing::Raw),
            "ascii" => Ok(Framing::Ascii),
            "pcap" => Ok(Framing::Pcap),
            _ => Err(ParseFramingError {
                given: s.to_owned(),
                choices: "raw, ascii, pcap",
            }),
        }
    }
}

/// What an encoder can produce: any [`Framing`], or the `text2pcap` hexdump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Raw,
    Ascii,
    Pcap,
    /// Wireshark `text2pcap` hexdump; there is no decoder for it.
    Text2pcap,
}

impl OutputFormat {
    /// All output formats, in the order they are listed to users.
    pub const ALL: [OutputFormat; 4] = [
        OutputFormat::Raw,
        OutputFormat::Ascii,
        OutputFormat::Pcap,
        OutputFormat::Text2pcap,
    ];

    /// The lowercase name accepted by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Ascii => "ascii",
            OutputFormat::Pcap => "pcap",
            OutputFormat::Text2pcap => "text2pcap",
        }
    }
}

impl From<Framing> for OutputFormat {
    fn from(f: Framing) -> Self {
        match f {
            Framing::Raw => OutputFormat::Raw,
            Framing::Ascii => OutputFormat::Ascii,
            Framing::Pcap => OutputFormat::Pcap,
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = ParseFramingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text2pcap" => Ok(OutputFormat::Text2pcap),
            _ => s
                .parse::<Framing>()
                .map(Into::into)
                .map_err(|_| ParseFramingError {
                    given: s.to_owned(),
                    choices: "raw, ascii, pcap, text2pcap",
                }),
        }
    }
}

/// Why some input was dropped (or, if [`FrameError::is_fatal`], why the
/// stream cannot be decoded any further).
///
/// Positions are what a person needs to find the bad input: a byte offset
/// from the start of the stream, or a 1-based ascii line number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// raw: a length field between 1 and 13; its bytes are skipped.
    RawTooShort { len: u16, offset: u64 },
    /// raw: the input ended inside a length field or frame.
    RawTruncated { offset: u64, pending: usize },
    /// ascii: a byte that is neither hex, space, tab nor line end.
    AsciiBadChar { line: u64, column: usize, byte: u8 },
    /// ascii: a line with an odd number of hex digits.
    AsciiOddDigits { line: u64, digits: usize },
    /// ascii: a line with fewer than [`MIN_FRAME_LEN`] bytes.
    AsciiTooShort { line: u64, len: usize },
    /// ascii: a line with more than [`MAX_FRAME_LEN`] bytes.
    AsciiTooLong { line: u64 },
    /// ascii: a line longer than [`ascii::MAX_LINE_LEN`] characters.
    AsciiLineTooLong { line: u64 },
    /// ascii: the input ended in the middle of a line.
    AsciiTruncated { line: u64 },
    /// pcap (fatal): the stream does not start with a pcap magic number.
    PcapBadMagic { magic: u32 },
    /// pcap (fatal): a major version other than 2.
    PcapBadVersion { major: u16, minor: u16 },
    /// pcap (fatal): the capture is not of Ethernet frames.
    PcapLinkType { linktype: u32 },
    /// pcap: a record shorter than [`MIN_FRAME_LEN`]; skipped.
    PcapTooShort {
        record: u64,
        offset: u64,
        incl_len: u32,
    },
    /// pcap: a record longer than the snaplen or [`MAX_FRAME_LEN`]; skipped.
    PcapTooLong {
        record: u64,
        offset: u64,
        incl_len: u32,
        limit: u32,
    },
    /// pcap: a record cut short by the capture's snaplen; skipped.
    PcapTruncatedCapture {
        record: u64,
        offset: u64,
        incl_len: u32,
        orig_len: u32,
    },
    /// pcap (fatal): a record length no pcap writer produces; trusting it
    /// could mean skipping gigabytes, so the stream is taken as corrupt.
    PcapImplausibleLen {
        record: u64,
        offset: u64,
        incl_len: u32,
    },
    /// pcap: the input ended inside the global header.
    PcapTruncatedHeader { pending: usize },
    /// pcap: the input ended inside a record.
    PcapTruncated {
        record: u64,
        offset: u64,
        pending: usize,
    },
}

impl FrameError {
    /// A fatal error ends decoding of the stream: nothing after it can be
    /// trusted. Any other error dropped some input and decoding goes on.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FrameError::PcapBadMagic { .. }
                | FrameError::PcapBadVersion { .. }
                | FrameError::PcapLinkType { .. }
                | FrameError::PcapImplausibleLen { .. }
        )
    }
}

/// Writes a byte the way a person would read it in an error message.
struct ShowByte(u8);

impl fmt::Display for ShowByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::RawTooShort { len, offset } => write!(
                f,
                "raw: frame length {len} < {MIN_FRAME_LEN} at byte offset {offset}"
            ),
            FrameError::RawTruncated { offset, pending } => write!(
                f,
                "raw: input ended inside a frame ({pending} bytes from byte offset {offset})"
            ),
            FrameError::AsciiBadChar { line, column, byte } => write!(
                f,
                "ascii line {line}: non-hex character {} at column {column}",
                ShowByte(byte)
            ),
            FrameError::AsciiOddDigits { line, digits } => {
                write!(f, "ascii line {line}: odd number of hex digits ({digits})")
            }
            FrameError::AsciiTooShort { line, len } => {
                write!(f, "ascii line {line}: frame of {len} bytes < {MIN_FRAME_LEN}")
            }
            FrameError::AsciiTooLong { line } => {
                write!(f, "ascii line {line}: frame longer than {MAX_FRAME_LEN} bytes")
            }
            FrameError::AsciiLineTooLong { line } => write!(
                f,
                "ascii line {line}: line longer than {} characters",
                ascii::MAX_LINE_LEN
            ),
            FrameError::AsciiTruncated { line } => {
                write!(f, "ascii line {line}: input ended without a newline")
            }
            FrameError::PcapBadMagic { magic } if magic == pcap::PCAPNG_MAGIC => f.write_str(
                "pcap: input is pcapng, not pcap (convert it with `editcap -F pcap`, \
                 or capture with `tcpdump -w -`)",
            ),
            FrameError::PcapBadMagic { magic } => {
                write!(f, "pcap: bad magic 0x{magic:08x}, input is not a pcap stream")
            }
            FrameError::PcapBadVersion { major, minor } => {
                write!(f, "pcap: unsupported format version {major}.{minor}")
            }
            FrameError::PcapLinkType { linktype } => write!(
                f,
                "pcap link type {linktype} is not Ethernet ({})",
                pcap::LINKTYPE_ETHERNET
            ),
            FrameError::PcapTooShort { record, offset, incl_len } => write!(
                f,
                "pcap record {record} at byte offset {offset}: incl_len {incl_len} < {MIN_FRAME_LEN}"
            ),
            FrameError::PcapTooLong { record, offset, incl_len, limit } => write!(
                f,
                "pcap record {record} at byte offset {offset}: incl_len {incl_len} > {limit}"
            ),
            FrameError::PcapTruncatedCapture { record, offset, incl_len, orig_len } => write!(
                f,
                "pcap record {record} at byte offset {offset}: truncated capture \
                 (incl_len {incl_len} < orig_len {orig_len})"
            ),
            FrameError::PcapImplausibleLen { record, offset, incl_len } => write!(
                f,
                "pcap record {record} at byte offset {offset}: incl_len {incl_len} is \
                 implausible, stream corrupt"
            ),
            FrameError::PcapTruncatedHeader { pending } => write!(
                f,
                "pcap: input ended inside the global header ({pending} of {} bytes)",
                pcap::GLOBAL_HEADER_LEN
            ),
            FrameError::PcapTruncated { record, offset, pending } => write!(
                f,
                "pcap record {record} at byte offset {offset}: input ended inside the \
                 record ({pending} bytes)"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame handed to an encoder is outside `MIN_FRAME_LEN..=MAX_FRAME_LEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLenError {
    pub len: usize,
}

impl fmt::Display for FrameLenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes is not an Ethernet frame ({MIN_FRAME_LEN}..={MAX_FRAME_LEN} bytes)",
            self.len
        )
    }
}

impl std::error::Error for FrameLenError {}

/// Checks a frame length against what every framing can carry.
#[inline]
pub fn check_frame_len(len: usize) -> Result<(), FrameLenError> {
    if (MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&len) {
        Ok(())
    } else {
        Err(FrameLenError { len })
    }
}

/// Decoder counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames decoded.
    pub frames: u64,
    /// Frames (or unframeable pieces of input) dropped as malformed.
    pub dropped: u64,
    /// Description of the first dropped input, to point a person at it.
    pub first_error: Option<String>,
}

impl Stats {
    /// Counts one drop, remembering the first reason.
    pub fn record_drop(&mut self, err: &FrameError) {
        self.dropped += 1;
        if self.first_error.is_none() {
            self.first_error = Some(err.to_string());
        }
    }

    /// One line for a person if anything was dropped, e.g.
    /// `dropped 3 bad frames (first: ascii line 7: odd number of hex digits (27))`.
    pub fn drop_summary(&self) -> Option<String> {
        if self.dropped == 0 {
            return None;
        }
        let plural = if self.dropped == 1 { "" } else { "s" };
        let mut s = format!("dropped {} bad frame{plural}", self.dropped);
        if let Some(first) = &self.first_error {
            s.push_str(&format!(" (first: {first})"));
        }
        Some(s)
    }
}

/// Push-style incremental decoder.
///
/// Usage: after each [`feed`](Self::feed), call [`next_frame`](Self::next_frame)
/// (or [`advance`](Self::advance) + [`frame`](Self::frame)) until it returns
/// `None`; at end of input call [`finish`](Self::finish). Input may be split
/// or merged arbitrarily between `feed` calls.
pub trait FrameDecoder {
    /// Appends input bytes. Ignored after a fatal error.
    fn feed(&mut self, bytes: &[u8]);

    /// Decodes the next event from the fed input: `Some(Ok(()))` when a frame
    /// is ready in [`frame`](Self::frame), `Some(Err(_))` for dropped input
    /// (already counted in [`stats`](Self::stats)) or a fatal error (returned
    /// again on every later call), `None` when more input is needed.
    ///
    /// This split from `frame()` lets loops that return the frame borrow
    /// the decoder only after the decision is made.
    fn advance(&mut self) -> Option<Result<(), FrameError>>;

    /// The frame found by the last `advance()` that returned `Some(Ok(()))`;
    /// empty otherwise. Valid until the next `feed` or `advance`.
    fn frame(&self) -> &[u8];

    /// `advance()` and `frame()` in one call.
    fn next_frame(&mut self) -> Option<Result<&[u8], FrameError>> {
        match self.advance()? {
            Ok(()) => Some(Ok(self.frame())),
            Err(e) => Some(Err(e)),
        }
    }

    /// Ends the input. Leftover bytes of an incomplete frame count as one
    /// dropped frame, which is returned. Call after `next_frame` gave `None`.
    fn finish(&mut self) -> Option<FrameError>;

    /// Counters so far.
    fn stats(&self) -> &Stats;

    /// Capture time of the last frame, for framings that carry one (pcap).
    fn timestamp(&self) -> Option<Duration> {
        None
    }
}

/// Encodes frames one at a time into a caller's buffer.
pub trait FrameEncoder {
    /// Appends the stream header, if the format has one and it has not been
    /// emitted yet (pcap). Lets a writer announce the stream before the first
    /// frame, e.g. so `tcpdump -r -` starts up at once.
    fn header(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Appends exactly the bytes for one frame (plus the stream header before
    /// the first frame, if `header` was not called). `ts` is the capture time
    /// as time since the Unix epoch; framings without timestamps ignore it.
    /// On error `out` is left unchanged.
    fn encode(
        &mut self,
        frame: &[u8],
        ts: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameLenError>;
}

/// A decoder for any [`Framing`], chosen at run time.
#[derive(Debug)]
pub enum Decoder {
    Raw(RawDecoder),
    Ascii(AsciiDecoder),
    Pcap(PcapDecoder),
}

impl Decoder {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Raw => Decoder::Raw(RawDecoder::new()),
            Framing::Ascii => Decoder::Ascii(AsciiDecoder::new()),
            Framing::Pcap => Decoder::Pcap(PcapDecoder::new()),
        }
    }

    pub fn framing(&self) -> Framing {
        match self {
            Decoder::Raw(_) => Framing::Raw,
            Decoder::Ascii(_) => Framing::Ascii,
            Decoder::Pcap(_) => Framing::Pcap,
        }
    }
}

macro_rules! each_decoder {
    ($self:expr, $d:ident => $e:expr) => {
        match $self {
            Decoder::Raw($d) => $e,
            Decoder::Ascii($d) => $e,
            Decoder::Pcap($d) => $e,
        }
    };
}

impl FrameDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8]) {
        each_decoder!(self, d => d.feed(bytes))
    }
    fn advance(&mut self) -> Option<Result<(), FrameError>> {
        each_decoder!(self, d => d.advance())
    }
    fn frame(&self) -> &[u8] {
        each_decoder!(self, d => d.frame())
    }
    fn finish(&mut self) -> Option<FrameError> {
        each_decoder!(self, d => d.finish())
    }
    fn stats(&self) -> &Stats {
        each_decoder!(self, d => d.stats())
    }
    fn timestamp(&self) -> Option<Duration> {
        each_decoder!(self, d => d.timestamp())
    }
}

/// An encoder for any [`OutputFormat`], chosen at run time.
#[derive(Debug)]
pub enum Encoder {
    Raw(RawEncoder),
    Ascii(AsciiEncoder),
    Pcap(PcapEncoder),
    Text2pcap(HexdumpEncoder),
}

impl Encoder {
    pub fn new(format: impl Into<OutputFormat>) -> Self {
        match format.into() {
            OutputFormat::Raw => Encoder::Raw(RawEncoder::new()),
            OutputFormat::Ascii => Encoder::Ascii(AsciiEncoder::new()),
            OutputFormat::Pcap => Encoder::Pcap(PcapEncoder::new()),
            OutputFormat::Text2pcap => Encoder::Text2pcap(HexdumpEncoder::new()),
        }
    }

    pub fn format(&self) -> OutputFormat {
        match self {
            Encoder::Raw(_) => OutputFormat::Raw,
            Encoder::Ascii(_) => OutputFormat::Ascii,
            Encoder::Pcap(_) => OutputFormat::Pcap,
            Encoder::Text2pcap(_) => OutputFormat::Text2pcap,
        }
    }
}

impl FrameEncoder for Encoder {
    fn header(&mut self, out: &mut Vec<u8>) {
        match self {
            Encoder::Raw(e) => e.header(out),
            Encoder::Ascii(e) => e.header(out),
            Encoder::Pcap(e) => e.header(out),
            Encoder::Text2pcap(e) => e.header(out),
        }
    }

    fn encode(
        &mut self,
        frame: &[u8],
        ts: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameLenError> {
        match self {
            Encoder::Raw(e) => e.encode(frame, ts, out),
            Encoder::Ascii(e) => e.encode(frame, ts, out),
            Encoder::Pcap(e) => e.encode(frame, ts, out),
            Encoder::Text2pcap(e) => e.encode(frame, ts, out),
        }
    }
}

/// Lowercase hex digits, shared by the text encoders.
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `b` as two lowercase hex digits.
#[inline]
pub(crate) fn push_hex(out: &mut Vec<u8>, b: u8) {
    out.push(HEX_DIGITS[usize::from(b >> 4)]);
    out.push(HEX_DIGITS[usize::from(b & 0xf)]);
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers shared by the codec unit tests.
    use super::*;

    /// xorshift64*: deterministic pseudo-random numbers without a crate.
    pub struct XorShift(u64);

    impl XorShift {
        pub fn new(seed: u64) -> Self {
            XorShift(seed.max(1))
        }
        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Uniform-ish in `lo..=hi`.
        pub fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
        }
        pub fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.next_u64() as u8;
            }
        }
    }

    /// A frame of `len` bytes whose content identifies `seed`.
    pub fn frame(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    /// A few frames of assorted sizes, including both limits.
    pub fn sample_frames() -> Vec<Vec<u8>> {
        vec![
            frame(MIN_FRAME_LEN, 1),
            frame(60, 2),
            frame(1514, 3),
            frame(15, 4),
            frame(MAX_FRAME_LEN, 5),
            frame(64, 6),
        ]
    }

    pub fn encode_all<E: FrameEncoder>(enc: &mut E, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let ts = Duration::new(1_700_000_000 + i as u64, 123_456_000);
            enc.encode(f, ts, &mut out).unwrap();
        }
        out
    }

    /// Everything a decoder produced: frames, drop errors, fatal error.
    #[derive(Debug, Default, PartialEq)]
    pub struct Decoded {
        pub frames: Vec<Vec<u8>>,
        pub errors: Vec<FrameError>,
        pub fatal: Option<FrameError>,
    }

    /// Feeds `chunks` in order, then finishes; stops at a fatal error.
    pub fn decode_chunks<'a, D: FrameDecoder>(
        dec: &mut D,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Decoded {
        let mut out = Decoded::default();
        let drain = |dec: &mut D, out: &mut Decoded| -> bool {
            while let Some(r) = dec.next_frame() {
                match r {
                    Ok(f) => {
                        assert!((MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&f.len()));
                        out.frames.push(f.to_vec());
                    }
                    Err(e) if e.is_fatal() => {
                        out.fatal = Some(e);
                        return false;
                    }
                    Err(e) => out.errors.push(e),
                }
            }
            true
        };
        for c in chunks {
            dec.feed(c);
            if !drain(dec, &mut out) {
                return out;
            }
        }
        if let Some(e) = dec.finish() {
            out.errors.push(e);
        }
        assert!(dec.next_frame().is_none(), "events after finish()");
        out
    }

    pub fn decode_all<D: FrameDecoder>(dec: &mut D, input: &[u8]) -> Decoded {
        decode_chunks(dec, [input])
    }

    /// Feeds `input` in pseudo-random chunks of 1..=max bytes.
    pub fn decode_random_chunks<D: FrameDecoder>(
        dec: &mut D,
        input: &[u8],
        rng: &mut XorShift,
        max: usize,
    ) -> Decoded {
        let mut chunks = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = rng.range(1, max).min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        decode_chunks(dec, chunks)
    }

    /// Checks that every split of `input` into two feeds, and a feed of one
    /// byte at a time, decode the same as one feed.
    pub fn check_all_splits<D: FrameDecoder>(new: impl Fn() -> D, input: &[u8]) -> Decoded {
        let whole = decode_all(&mut new(), input);
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(decode_chunks(&mut new(), [a, b]), whole, "split at {at}");
        }
        let bytes = decode_chunks(&mut new(), input.chunks(1));
        assert_eq!(bytes, whole, "one byte at a time");
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_names_round_trip() {
        for f in Framing::ALL {
            assert_eq!(f.to_string().parse::<Framing>(), Ok(f));
            assert_eq!(f.to_string().parse::<OutputFormat>(), Ok(f.into()));
        }
        for f in OutputFormat::ALL {
            assert_eq!(f.to_string().parse::<OutputFormat>(), Ok(f));
        }
    }

    #[test]
    fn framing_parse_error_lists_choices() {
        let e = "vde".parse::<Framing>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown framing \"vde\" (choose one of: raw, ascii, pcap)"
        );
        let e = "pcapng".parse::<OutputFormat>().unwrap_err().to_string();
        assert!(
            e.ends_with("(choose one of: raw, ascii, pcap, text2pcap)"),
            "{e}"
        );
        assert!("text2pcap".parse::<Framing>().is_err());
    }

    #[test]
    fn frame_len_limits() {
        assert!(check_frame_len(13).is_err());
        assert!(check_frame_len(14).is_ok());
        assert!(check_frame_len(65535).is_ok());
        assert_eq!(check_frame_len(65536), Err(FrameLenError { len: 65536 }));
    }

    #[test]
    fn stats_keep_first_error() {
        let mut s = Stats::default();
        s.record_drop(&FrameError::AsciiOddDigits {
            line: 7,
            digits: 27,
        });
        s.record_drop(&FrameError::AsciiTooLong { line: 9 });
        assert_eq!(s.dropped, 2);
        assert_eq!(
            s.first_error.as_deref(),
            Some("ascii line 7: odd number of hex digits (27)")
        );
        assert_eq!(
            s.drop_summary().unwrap(),
            "dropped 2 bad frames (first: ascii line 7: odd number of hex digits (27))"
        );
        assert_eq!(Stats::default().drop_summary(), None);
    }

    #[test]
    fn enum_codecs_round_trip() {
        let frames = testutil::sample_frames();
        for framing in Framing::ALL {
            let bytes = testutil::encode_all(&mut Encoder::new(framing), &frames);
            let got = testutil::decode_all(&mut Decoder::new(framing), &bytes);
            assert_eq!(got.frames, frames, "{framing}");
            assert!(got.errors.is_empty() && got.fatal.is_none(), "{framing}");
        }
    }

    #[test]
    fn encoders_reject_bad_lengths() {
        for format in OutputFormat::ALL {
            let mut enc = Encoder::new(format);
            let mut out = Vec::new();
            for len in [0, 13, MAX_FRAME_LEN + 1] {
                let frame = vec![0u8; len];
                assert_eq!(
                    enc.encode(&frame, Duration::ZERO, &mut out),
                    Err(FrameLenError { len }),
                    "{format}"
                );
                assert!(out.is_empty(), "{format}");
            }
        }
    }
}
