// SPDX-License-Identifier: GPL-2.0-only
//! Arbitrary bytes into each decoder, in arbitrary chunks: no panic, every
//! frame in 14..=65535 bytes, counters that match what was returned, and the
//! same result however the input is split.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/wire/mod.rs"]
mod wire;

use libfuzzer_sys::fuzz_target;
use wire::{Decoder, FrameDecoder, FrameError, Framing, MAX_FRAME_LEN, MIN_FRAME_LEN};

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    errors: Vec<FrameError>,
}

fn decode(framing: Framing, input: &[u8], chunk: usize) -> Outcome {
    let mut dec = Decoder::new(framing);
    let mut out = Outcome::default();
    for c in input.chunks(chunk) {
        dec.feed(c);
        while let Some(r) = dec.next_frame() {
            match r {
                Ok(f) => {
                    assert!((MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&f.len()));
                    out.frames.push(f.to_vec());
                }
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.errors.push(e);
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }
    out.errors.extend(dec.finish());
    assert!(dec.next_frame().is_none());
    let stats = dec.stats();
    assert_eq!(stats.frames as usize, out.frames.len());
    assert_eq!(stats.dropped as usize, out.errors.len());
    assert_eq!(stats.first_error, out.errors.first().map(|e| e.to_string()));
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the framing and a chunk size.
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let framing = Framing::ALL[usize::from(sel % 3)];
    let chunk = usize::from(sel / 3) + 1;
    let whole = decode(framing, input, input.len().max(1));
    assert_eq!(decode(framing, input, chunk), whole);
});
