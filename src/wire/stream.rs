// SPDX-License-Identifier: GPL-2.0-only
//! The codecs wrapped around `std::io` readers and writers.

use core::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, SystemTime};

use super::{
    Decoder, Encoder, FrameDecoder, FrameEncoder, FrameError, Framing, OutputFormat, Stats,
};

/// Size of one read: a whole maximal raw frame fits in one call.
const READ_CHUNK: usize = 64 * 1024;

/// Why a [`FrameReader`] stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The underlying reader failed.
    Io(io::Error),
    /// The input cannot be decoded any further ([`FrameError::is_fatal`]).
    Decode(FrameError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read error: {e}"),
            ReadError::Decode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::Decode(e) => Some(e),
        }
    }
}

/// Reads frames from a byte stream.
///
/// Each `read()` on the inner reader takes whatever is available (up to
/// 64 KiB) and frames are handed out as soon as they are complete, so it
/// works in the middle of a live pipeline. Do not wrap the inner reader in a
/// `BufReader`: it adds a copy and nothing else. Malformed input is skipped
/// and counted in [`stats`](Self::stats).
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    decoder: Decoder,
    chunk: Box<[u8]>,
    eof: bool,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R, framing: Framing) -> Self {
        FrameReader {
            inner,
            decoder: Decoder::new(framing),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            eof: false,
        }
    }

    /// The next frame, or `Ok(None)` at end of input. Interrupted reads are
    /// retried; a reader in non-blocking mode yields `ErrorKind::WouldBlock`
    /// and may be called again later.
    pub fn read_frame(&mut self) -> Result<Option<&[u8]>, ReadError> {
        Ok(if self.advance()? {
            Some(self.decoder.frame())
        } else {
            None
        })
    }

    /// Like [`read_frame`](Self::read_frame), but leaves the frame in
    /// [`frame`](Self::frame): `Ok(true)` if there is one, `Ok(false)` at end
    /// of input. Lets the caller look at [`timestamp`](Self::timestamp) or
    /// [`stats`](Self::stats) while holding the frame.
    pub fn advance(&mut self) -> Result<bool, ReadError> {
        loop {
            match self.decoder.advance() {
                Some(Ok(())) => return Ok(true),
                Some(Err(e)) if e.is_fatal() => return Err(ReadError::Decode(e)),
                // Dropped input: already counted in the decoder's stats.
                Some(Err(_)) => continue,
                None => {}
            }
            if self.eof {
                return Ok(false);
            }
            match self.inner.read(&mut self.chunk) {
                Ok(0) => {
                    self.eof = true;
                    self.decoder.finish();
                }
                Ok(n) => self.decoder.feed(&self.chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Like [`advance`](Self::advance), but only from input already read:
    /// `Ok(false)` when no complete frame is buffered (never blocks). Lets
    /// a reader hand on every frame one read brought in as a batch.
    pub fn advance_buffered(&mut self) -> Result<bool, ReadError> {
        loop {
            match self.decoder.advance() {
                Some(Ok(())) => return Ok(true),
                Some(Err(e)) if e.is_fatal() => return Err(ReadError::Decode(e)),
                Some(Err(_)) => continue,
                None => return Ok(false),
            }
        }
    }

    /// The frame found by the last successful [`advance`](Self::advance).
    pub fn frame(&self) -> &[u8] {
        self.decoder.frame()
    }

    /// Counters of the decoder.
    pub fn stats(&self) -> &Stats {
        self.decoder.stats()
    }

    /// Capture time of the last frame, if the framing carries one (pcap).
    pub fn timestamp(&self) -> Option<Duration> {
        self.decoder.timestamp()
    }

    pub fn framing(&self) -> Framing {
        self.decoder.framing()
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes frames to a byte stream.
///
/// Each frame is encoded into a reused buffer and handed to the inner writer
/// with one `write_all` and then flushed, so a frame that fits a pipe's
/// atomic size is one `write()` that readers never see torn. Do not wrap the
/// inner writer in a `BufWriter` or `LineWriter`: they could split a frame
/// across writes. I/O errors (EPIPE included) go to the caller, who decides.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: W,
    encoder: Encoder,
    buf: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W, format: impl Into<OutputFormat>) -> Self {
        FrameWriter {
            inner,
            encoder: Encoder::new(format),
            buf: Vec::new(),
        }
    }

    /// Writes the stream header now, if the format has one (pcap). Without
    /// this call it goes out with the first frame.
    pub fn write_header(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.encoder.header(&mut self.buf);
        if self.buf.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.buf)?;
        self.inner.flush()
    }

    /// Writes one frame stamped with `ts` (time since the Unix epoch). A
    /// frame outside 14..=65535 bytes is an `InvalidInput` error.
    pub fn write_frame(&mut self, frame: &[u8], ts: Duration) -> io::Result<()> {
        self.buf.clear();
        self.encoder
            .encode(frame, ts, &mut self.buf)
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        self.inner.write_all(&self.buf)?;
        self.inner.flush()
    }

    /// Writes one frame stamped with the current time.
    pub fn write_frame_now(&mut self, frame: &[u8]) -> io::Result<()> {
        self.write_frame(frame, now())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    pub fn format(&self) -> OutputFormat {
        self.encoder.format()
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Time since the Unix epoch; zero if the clock is before 1970.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// What stopped a [`convert`].
#[derive(Debug)]
pub enum ConvertErrorKind {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed (a closed pipe shows up here as
    /// `ErrorKind::BrokenPipe`).
    Write(io::Error),
    /// The input cannot be decoded any further.
    Decode(FrameError),
}

/// A failed [`convert`], with the counters up to the failure.
#[derive(Debug)]
pub struct ConvertError {
    pub kind: ConvertErrorKind,
    pub stats: Stats,
}

impl ConvertError {
    /// Whether the output was closed by its reader (EPIPE), which a filter
    /// usually takes as a normal end.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.kind, ConvertErrorKind::Write(e) if e.kind() == ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConvertErrorKind::Read(e) => write!(f, "reading input: {e}"),
            ConvertErrorKind::Write(e) => write!(f, "writing output: {e}"),
            ConvertErrorKind::Decode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConvertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConvertErrorKind::Read(e) | ConvertErrorKind::Write(e) => Some(e),
            ConvertErrorKind::Decode(e) => Some(e),
        }
    }
}

/// Copies frames from `input` in framing `from` to `output` in format `to`,
/// frame by frame, until end of input.
///
/// Each frame is written and flushed as soon as it is decoded. Pcap input
/// keeps its timestamps; other input is stamped with the time it was read.
/// Malformed input is dropped and counted in the returned [`Stats`].
pub fn convert<R: Read, W: Write>(
    input: R,
    output: W,
    from: Framing,
    to: OutputFormat,
) -> Result<Stats, ConvertError> {
    let mut reader = FrameReader::new(input, from);
    let mut writer = FrameWriter::new(output, to);
    let fail = |kind: ConvertErrorKind, reader: &FrameReader<R>| ConvertError {
        kind,
        stats: reader.stats().clone(),
    };
    // Sent before any frame, so e.g. `tcpdump -r -` starts right away.
    if let Err(e) = writer.write_header() {
        return Err(fail(ConvertErrorKind::Write(e), &reader));
    }
    loop {
        match reader.advance() {
            Ok(true) => {}
            Ok(false) => return Ok(reader.stats().clone()),
            Err(ReadError::Io(e)) => return Err(fail(ConvertErrorKind::Read(e), &reader)),
            Err(ReadError::Decode(e)) => return Err(fail(ConvertErrorKind::Decode(e), &reader)),
        }
        let ts = reader.timestamp().unwrap_or_else(now);
        if let Err(e) = writer.write_frame(reader.frame(), ts) {
            return Err(fail(ConvertErrorKind::Write(e), &reader));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::*;

    /// A reader that returns its data in fixed pieces, like a pipe would.
    struct Pieces<'a> {
        data: &'a [u8],
        piece: usize,
        reads: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Every third call is interrupted by a "signal".
            self.reads += 1;
            if self.reads == 3 {
                self.reads = 0;
                return Err(ErrorKind::Interrupted.into());
            }
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A writer that records each write call separately.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reader_and_writer_round_trip() {
        let frames = sample_frames();
        for framing in Framing::ALL {
            let mut w = FrameWriter::new(Writes::default(), framing);
            w.write_header().unwrap();
            for f in &frames {
                w.write_frame_now(f).unwrap();
            }
            let writes = w.into_inner().0;
            // One write per frame, plus the pcap header.
            let header = usize::from(framing == Framing::Pcap);
            assert_eq!(writes.len(), frames.len() + header, "{framing}");
            let bytes = writes.concat();
            for piece in [1, 7, 1000, 1 << 20] {
                let mut r = FrameReader::new(
                    Pieces {
                        data: &bytes,
                        piece,
                        reads: 0,
                    },
                    framing,
                );
                let mut got = Vec::new();
                while let Some(f) = r.read_frame().unwrap() {
                    got.push(f.to_vec());
                }
                assert_eq!(got, frames, "{framing} piece {piece}");
                assert_eq!(r.stats().frames, frames.len() as u64);
                assert_eq!(r.read_frame().unwrap(), None);
            }
        }
    }

    #[test]
    fn advance_buffered_hands_out_only_what_one_read_brought() {
        // Small frames, so that all of them fit in one read.
        let frames: Vec<_> = sample_frames()
            .into_iter()
            .filter(|f| f.len() <= 200)
            .collect();
        assert!(frames.len() > 2);
        for framing in Framing::ALL {
            let mut w = FrameWriter::new(Writes::default(), framing);
            w.write_header().unwrap();
            for f in &frames {
                w.write_frame_now(f).unwrap();
            }
            let bytes = w.into_inner().0.concat();
            // Nothing read yet: nothing buffered, and no read happens.
            let mut r = FrameReader::new(
                Pieces {
                    data: &bytes,
                    piece: bytes.len(),
                    reads: 0,
                },
                framing,
            );
            assert!(!r.advance_buffered().unwrap(), "{framing}");
            // One read brings everything in; the rest comes from the buffer.
            assert!(r.advance().unwrap());
            let mut got = vec![r.frame().to_vec()];
            while r.advance_buffered().unwrap() {
                got.push(r.frame().to_vec());
            }
            assert_eq!(got, frames, "{framing}");
            assert!(!r.advance().unwrap(), "{framing}: end of input");
        }
    }

    #[test]
    fn writer_rejects_bad_frames() {
        let mut w = FrameWriter::new(Writes::default(), Framing::Raw);
        let err = w.write_frame(&[0; 10], Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(w.get_ref().0.is_empty());
    }

    #[test]
    fn convert_drops_bad_input_and_keeps_going() {
        let input = b"# hello\nffffffffffff 001122334455 0806 00 01\nzz\n\
                      ffffffffffff 001122334455 0800 45\nff";
        let mut out = Vec::new();
        let stats = convert(&input[..], &mut out, Framing::Ascii, OutputFormat::Raw).unwrap();
        assert_eq!(stats.frames, 2);
        assert_eq!(stats.dropped, 2);
        assert_eq!(
            stats.first_error.as_deref(),
            Some("ascii line 3: non-hex character 'z' at column 1")
        );
        let got = decode_all(&mut crate::wire::RawDecoder::new(), &out);
        assert_eq!(got.frames.len(), 2);
        assert_eq!(&got.frames[1][12..], &[0x08, 0x00, 0x45]);
    }

    #[test]
    fn convert_keeps_pcap_timestamps() {
        let frames = sample_frames();
        let pcap = encode_all(&mut crate::wire::PcapEncoder::new(), &frames);
        let mut out = Vec::new();
        convert(&pcap[..], &mut out, Framing::Pcap, OutputFormat::Pcap).unwrap();
        assert_eq!(out, pcap);
    }

    #[test]
    fn convert_fatal_error_reports_stats() {
        let mut out = Vec::new();
        let err = convert(
            &b"not a capture"[..],
            &mut out,
            Framing::Pcap,
            OutputFormat::Ascii,
        )
        .unwrap_err();
        assert!(matches!(
            err.kind,
            ConvertErrorKind::Decode(FrameError::PcapBadMagic { .. })
        ));
        assert!(!err.is_broken_pipe());
        assert!(out.is_empty());
    }

    #[test]
    fn convert_reports_broken_pipe() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let raw = encode_all(&mut crate::wire::RawEncoder::new(), &sample_frames());
        let err = convert(&raw[..], Closed, Framing::Raw, OutputFormat::Ascii).unwrap_err();
        assert!(err.is_broken_pipe());
        assert_eq!(err.stats.frames, 1);
    }
}
