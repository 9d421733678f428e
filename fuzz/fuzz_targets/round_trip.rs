// SPDX-License-Identifier: GPL-2.0-only
//! Arbitrary frames through each encoder and back through its decoder, fed
//! in arbitrary chunks: the same frames must come out, nothing dropped.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/wire/mod.rs"]
mod wire;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wire::{Decoder, Encoder, FrameDecoder, FrameEncoder, Framing, MIN_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    // Byte 0: framing and chunk size; then frames as [len u8][bytes], each
    // padded up to the minimum length.
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let framing = Framing::ALL[usize::from(sel % 3)];
    let chunk = usize::from(sel / 3) + 1;
    let mut frames = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let mut f = tail[..n].to_vec();
        f.resize(f.len().max(MIN_FRAME_LEN), 0);
        frames.push(f);
        rest = &tail[n..];
    }
    let mut enc = Encoder::new(framing);
    let mut bytes = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        enc.encode(f, Duration::from_micros(i as u64), &mut bytes)
            .unwrap();
    }
    let mut dec = Decoder::new(framing);
    let mut got = Vec::new();
    for c in bytes.chunks(chunk) {
        dec.feed(c);
        while let Some(r) = dec.next_frame() {
            got.push(r.unwrap().to_vec());
        }
    }
    assert_eq!(dec.finish(), None);
    assert_eq!(got, frames);
});
