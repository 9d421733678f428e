// SPDX-License-Identifier: GPL-2.0-only
//! The device side of virtio: the NIC that the kernel's own drivers drive.
//!
//! The kernel runs inside our process and probes its upstream `virtio_mmio`
//! and `virtio_net` drivers against a register window that we emulate:
//!
//! * [`mmio`] — the virtio-mmio transport, version 2 (virtio 1.x §4.2.2):
//!   identification, feature negotiation, queue setup, status, interrupts.
//! * [`net`] — the virtio-net device (§5.1): one RX and one TX split
//!   virtqueue, MAC/link/MTU config space, frames in and out.
//! * [`nic`] — the glue between the device and byte streams: an RX thread
//!   that decodes frames with [`crate::wire::FrameReader`], and a
//!   [`net::FrameSink`] that encodes them with [`crate::wire::FrameWriter`].
//!
//! # Memory
//!
//! The kernel has no MMU of its own and its RAM is one host allocation.
//! Devices see the kernel's "physical" addresses: [`GuestRam`] maps them
//! to host addresses with a fixed offset (the identity, or the LKL port's
//! `LKL_RAM_PHYS_BASE`). Every address that comes from the driver (rings,
//! buffers) is checked against that range before use, so a buggy driver
//! gets its request dropped and counted, never a wild access or a panic.
//!
//! # Why not rust-vmm's `virtio-queue` and `vm-memory`
//!
//! stdpkt is GPL-2.0-only (it links Linux). `virtio-queue` is licensed
//! "Apache-2.0 AND BSD-3-Clause" (both apply) and `vm-memory` has files
//! under Apache-2.0 alone (`io.rs`, always built); Apache-2.0 is not
//! compatible with GPLv2, so neither can be linked into what we ship. The
//! split ring is small and fully specified, so it is written here
//! ([`queue`]). Both crates are still used as dev-dependencies: the tests
//! drive this device with `virtio-queue`'s independent driver-side mock,
//! which cross-checks our reading of the ring layout. Constants come from
//! `virtio-bindings` (BSD-3-Clause OR Apache-2.0, taken as BSD-3-Clause).
//!
//! # Threads and locks
//!
//! Two kinds of threads call in: kernel threads (register accesses, queue
//! notifications) and the NIC's RX thread ([`net::VirtioNet::deliver`]).
//! The interrupt callback may run kernel code synchronously, and that code
//! reads and writes registers again, so no lock of ours is ever held while
//! the callback runs. The registers most used in the interrupt path
//! (InterruptStatus/ACK, QueueNotify, config space) take no transport lock
//! at all.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub mod mmio;
pub mod net;
pub mod nic;
mod queue;
mod ram;

#[cfg(test)]
mod testutil;

pub use mmio::{MmioDevice, MMIO_SIZE};
pub use net::{FrameSink, NetConfig, NetStats, RxNoBuffer, VirtioNet};
pub use queue::{QueueConfig, QueueError};
pub use ram::{GuestRam, MemError};

/// Raises the device's interrupt line (wired to the kernel's IRQ entry).
pub type IrqCallback = Arc<dyn Fn() + Send + Sync>;

/// InterruptStatus bit: a queue has new used buffers.
pub const INT_VRING: u32 = virtio_bindings::virtio_mmio::VIRTIO_MMIO_INT_VRING;
/// InterruptStatus bit: the configuration space changed.
pub const INT_CONFIG: u32 = virtio_bindings::virtio_mmio::VIRTIO_MMIO_INT_CONFIG;

/// A device's interrupt: the InterruptStatus register and the line.
pub struct Interrupt {
    status: AtomicU32,
    callback: IrqCallback,
}

impl Interrupt {
    pub fn new(callback: IrqCallback) -> Self {
        Interrupt {
            status: AtomicU32::new(0),
            callback,
        }
    }

    /// Sets `bits` in InterruptStatus, then raises the line.
    ///
    /// The bits are set first so that a handler running synchronously
    /// inside the callback already sees them. Callers must hold no lock
    /// that the handler's register accesses could need.
    pub fn raise(&self, bits: u32) {
        self.status.fetch_or(bits, Ordering::SeqCst);
        (self.callback)();
    }

    /// The InterruptStatus register.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    /// InterruptACK: clears `bits`.
    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    /// Clears every bit (device reset).
    pub fn clear(&self) {
        self.status.store(0, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Why a device refused to start when the driver set DRIVER_OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivateError {
    /// A queue the device needs was not set up (index).
    QueueNotReady(u16),
    /// A queue's size or rings are invalid.
    Queue { index: u16, error: QueueError },
    /// The device was shut down for good.
    ShutDown,
}

impl std::fmt::Display for ActivateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivateError::QueueNotReady(i) => write!(f, "queue {i} is not ready"),
            ActivateError::Queue { index, error } => write!(f, "queue {index}: {error}"),
            ActivateError::ShutDown => f.write_str("device is shut down"),
        }
    }
}

impl std::error::Error for ActivateError {}

/// What a virtio device offers its transport.
///
/// The transport keeps the registers (features, status, queue setup) and
/// calls in for what is device specific. Every method may be called from a
/// kernel thread while another thread uses the device.
pub trait VirtioDevice: Send + Sync {
    /// The virtio device ID (1 for a network card).
    fn device_id(&self) -> u32;
    /// Feature bits offered to the driver.
    fn features(&self) -> u64;
    /// Maximum size of each queue; the number of queues is the length.
    fn queue_max_sizes(&self) -> &[u16];
    /// Reads the device configuration space at `offset`.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes the device configuration space at `offset`.
    fn write_config(&self, offset: u64, data: &[u8]);
    /// ConfigGeneration: changes whenever the config space changes.
    fn config_generation(&self) -> u32;
    /// Starts the device with the negotiated features and the queue setup
    /// (DRIVER_OK).
    fn activate(&self, features: u64, queues: &[QueueConfig]) -> Result<(), ActivateError>;
    /// Stops using the queues (status 0). Returns once no thread of the
    /// device touches guest memory any more.
    fn reset(&self);
    /// The driver notified queue `index` (QueueNotify).
    fn queue_notify(&self, index: u16);
    /// The device's interrupt status and line.
    fn interrupt(&self) -> &Interrupt;
}

/// Locks `m`, ignoring poisoning: every critical section here leaves its
/// state consistent at each step, and a panic elsewhere must not spread
/// into the kernel's threads.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
