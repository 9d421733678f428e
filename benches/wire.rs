// SPDX-License-Identifier: GPL-2.0-only
//! Throughput of the frame codecs, without I/O.
//!
//! `cargo bench --bench wire [-- FRAMES]` encodes and then decodes FRAMES
//! (default 1,000,000) frames of 64 and 1400 bytes in each framing and
//! prints frames/s and MB/s, where MB are frame bytes (10^6), not the
//! encoded stream. Decoding is fed in 64 KiB chunks, as a reader would.

use std::hint::black_box;
use std::time::{Duration, Instant};

use stdpkt::wire::{Decoder, Encoder, FrameDecoder, FrameEncoder, Framing, OutputFormat};

/// Frames encoded into one buffer before it is reused.
const BATCH: usize = 1000;
/// Size of each feed into a decoder.
const CHUNK: usize = 64 * 1024;

fn frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + 7) as u8).collect()
}

struct Rate {
    frames_per_s: f64,
    mb_per_s: f64,
}

fn rate(frames: usize, len: usize, elapsed: Duration) -> Rate {
    let s = elapsed.as_secs_f64();
    Rate {
        frames_per_s: frames as f64 / s,
        mb_per_s: (frames * len) as f64 / s / 1e6,
    }
}

/// Encodes `n` frames; returns the rate and one encoded batch (with any
/// stream header first) for the decoder.
fn encode(format: OutputFormat, len: usize, n: usize) -> (Rate, Vec<u8>, Vec<u8>) {
    let f = frame(len);
    let mut enc = Encoder::new(format);
    let mut header = Vec::new();
    enc.header(&mut header);
    let mut buf = Vec::new();
    let mut batch = Vec::new();
    let ts = Duration::new(1_700_000_000, 0);
    let start = Instant::now();
    for i in 0..n {
        enc.encode(black_box(&f), ts, &mut buf).unwrap();
        if (i + 1) % BATCH == 0 || i + 1 == n {
            black_box(&buf);
            if batch.is_empty() {
                batch = buf.clone();
            }
            buf.clear();
        }
    }
    (rate(n, len, start.elapsed()), header, batch)
}

/// Decodes the batch over and over until `n` frames came out.
fn decode(framing: Framing, len: usize, n: usize, header: &[u8], batch: &[u8]) -> Rate {
    let mut dec = Decoder::new(framing);
    dec.feed(header);
    assert!(dec.next_frame().is_none());
    let mut frames = 0;
    let mut bytes = 0;
    let start = Instant::now();
    while frames < n {
        for chunk in batch.chunks(CHUNK) {
            dec.feed(chunk);
            while let Some(r) = dec.next_frame() {
                bytes += r.unwrap().len();
                frames += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(bytes, frames * len);
    assert_eq!(dec.stats().dropped, 0);
    rate(frames, len, elapsed)
}

fn main() {
    // `cargo bench` passes `--bench`; the only argument we take is a count.
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse::<usize>().ok())
        .unwrap_or(1_000_000);
    println!("{n} frames per run; MB/s counts frame bytes");
    println!(
        "{:<10} {:>5}  {:>14} {:>10}  {:>14} {:>10}  {:>12}",
        "format", "bytes", "encode fr/s", "enc MB/s", "decode fr/s", "dec MB/s", "stream B/fr"
    );
    for format in OutputFormat::ALL {
        for len in [64, 1400] {
            let (enc, header, batch) = encode(format, len, n);
            let per_frame = batch.len() as f64 / BATCH.min(n) as f64;
            let (dec_fps, dec_mbs) = match format {
                OutputFormat::Raw => Some(Framing::Raw),
                OutputFormat::Ascii => Some(Framing::Ascii),
                OutputFormat::Pcap => Some(Framing::Pcap),
                OutputFormat::Text2pcap => None,
            }
            .map(|framing| {
                let d = decode(framing, len, n, &header, &batch);
                (
                    format!("{:.0}", d.frames_per_s),
                    format!("{:.0}", d.mb_per_s),
                )
            })
            .unwrap_or_else(|| ("-".into(), "-".into()));
            println!(
                "{:<10} {:>5}  {:>14.0} {:>10.0}  {:>14} {:>10}  {:>12.1}",
                format.name(),
                len,
                enc.frames_per_s,
                enc.mb_per_s,
                dec_fps,
                dec_mbs,
                per_frame
            );
        }
    }
}
