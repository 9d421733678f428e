// SPDX-License-Identifier: GPL-2.0-only
//! Which host fds stand for instance (kernel) fds.
//!
//! An instance socket is a kernel fd `k`; the program sees a host fd `h`
//! that we keep open on the host (an eventfd, see [`crate::io::placeholder`])
//! so that the host never hands out the number `h` to anything else. This
//! table maps `h` to `k`. There is no fixed offset between the two number
//! spaces: the host allocates `h` with its own rules (lowest free number),
//! so a program holding thousands of host fds is unaffected.
//!
//! Lookups are on every read/write/poll of every fd, so the common range
//! (`h < DIRECT`) is a flat array of atomics: one load, no lock. Larger
//! numbers (a program with a huge RLIMIT_NOFILE) go to a locked map that is
//! only consulted once something was put there.

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::RwLock;

const DIRECT: usize = 1 << 16;

/// `k + 1`, or 0 for "not an instance fd".
static DIRECT_MAP: [AtomicI32; DIRECT] = [const { AtomicI32::new(0) }; DIRECT];
static OVERFLOW_USED: AtomicBool = AtomicBool::new(false);
static OVERFLOW: RwLock<Option<HashMap<c_int, c_int>>> = RwLock::new(None);

/// The kernel fd behind host fd `h`, if `h` is an instance fd.
#[inline]
pub(crate) fn get(h: c_int) -> Option<c_int> {
    if h < 0 {
        return None;
    }
    if let Some(slot) = DIRECT_MAP.get(h as usize) {
        return match slot.load(Ordering::Acquire) {
            0 => None,
            v => Some(v - 1),
        };
    }
    if !OVERFLOW_USED.load(Ordering::Acquire) {
        return None;
    }
    let map = OVERFLOW.read().unwrap_or_else(|e| e.into_inner());
    map.as_ref().and_then(|m| m.get(&h).copied())
}

/// Records that host fd `h` stands for kernel fd `k`; returns the kernel
/// fd `h` stood for before, if any (the caller closes it).
pub(crate) fn set(h: c_int, k: c_int) -> Option<c_int> {
    debug_assert!(h >= 0 && k >= 0);
    if let Some(slot) = DIRECT_MAP.get(h as usize) {
        return match slot.swap(k + 1, Ordering::AcqRel) {
            0 => None,
            v => Some(v - 1),
        };
    }
    let mut map = OVERFLOW.write().unwrap_or_else(|e| e.into_inner());
    OVERFLOW_USED.store(true, Ordering::Release);
    map.get_or_insert_with(HashMap::new).insert(h, k)
}

/// Forgets host fd `h`; returns its kernel fd if it was an instance fd.
pub(crate) fn take(h: c_int) -> Option<c_int> {
    if h < 0 {
        return None;
    }
    if let Some(slot) = DIRECT_MAP.get(h as usize) {
        return match slot.swap(0, Ordering::AcqRel) {
            0 => None,
            v => Some(v - 1),
        };
    }
    if !OVERFLOW_USED.load(Ordering::Acquire) {
        return None;
    }
    let mut map = OVERFLOW.write().unwrap_or_else(|e| e.into_inner());
    map.as_mut().and_then(|m| m.remove(&h))
}

/// Every instance fd: (host fd, kernel fd), left in the table.
pub(crate) fn all() -> Vec<(c_int, c_int)> {
    let mut out: Vec<(c_int, c_int)> = DIRECT_MAP
        .iter()
        .enumerate()
        .filter_map(|(h, slot)| match slot.load(Ordering::Acquire) {
            0 => None,
            v => Some((h as c_int, v - 1)),
        })
        .collect();
    if OVERFLOW_USED.load(Ordering::Acquire) {
        let map = OVERFLOW.read().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.as_ref() {
            out.extend(m.iter().map(|(&h, &k)| (h, k)));
        }
    }
    out
}

/// Every instance fd in `first..=last`, forgotten (for close_range).
pub(crate) fn take_range(first: u32, last: u32) -> Vec<(c_int, c_int)> {
    let mut out = Vec::new();
    let direct_last = (last as usize).min(DIRECT - 1);
    if (first as usize) <= direct_last {
        for (h, slot) in DIRECT_MAP
            .iter()
            .enumerate()
            .take(direct_last + 1)
            .skip(first as usize)
        {
            if slot.load(Ordering::Relaxed) != 0 {
                if let Some(k) = take(h as c_int) {
                    out.push((h as c_int, k));
                }
            }
        }
    }
    if OVERFLOW_USED.load(Ordering::Acquire) {
        let mut map = OVERFLOW.write().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.as_mut() {
            let hs: Vec<c_int> = m
                .keys()
                .copied()
                .filter(|&h| (first..=last).contains(&(h as u32)))
                .collect();
            for h in hs {
                if let Some(k) = m.remove(&h) {
                    out.push((h, k));
                }
            }
        }
    }
    out
}
