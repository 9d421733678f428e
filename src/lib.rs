// SPDX-License-Identifier: GPL-2.0-only
//! stdpkt: a real Linux network stack inside any program, with NICs on byte streams.
//!
//! Layers, in the order data flows: interposers → kernel (lkl-sys) → virtio-net
//! device → framing (`wire`) → file descriptors.

pub mod config;
pub mod host;
pub mod instance;
pub mod kernel;
pub mod netconf;
pub mod nics;
pub mod owed;
pub mod remote;
pub mod sys;
pub mod virtio;
pub mod wire;
