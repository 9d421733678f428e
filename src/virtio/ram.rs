// SPDX-License-Identifier: GPL-2.0-only
//! The kernel's RAM as seen by a device.

use core::fmt;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

/// An access outside the kernel's RAM, or a misaligned ring field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemError {
    /// `len` bytes at `addr` are not all inside the RAM.
    OutOfRange { addr: u64, len: u64 },
    /// A ring field at `addr` is not aligned for atomic access.
    Misaligned { addr: u64 },
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemError::OutOfRange { addr, len } => {
                write!(f, "{len} bytes at 0x{addr:x} are outside the kernel's RAM")
            }
            MemError::Misaligned { addr } => write!(f, "misaligned ring field at 0x{addr:x}"),
        }
    }
}

impl std::error::Error for MemError {}

/// The kernel's RAM as the driver addresses it: one range of host memory
/// whose first byte has the "physical" address `guest_base`.
///
/// The kernel hands devices physical addresses (`__pa()`); the byte at
/// address `a` is at host address `ptr + (a - guest_base)`. With an
/// identity map (`guest_base` = the host address, see [`Self::identity`])
/// the two coincide.
///
/// Cheap to copy; every copy refers to the same memory. All accesses check
/// their range first. The memory is shared with kernel threads, so bytes
/// are copied with `ptr::copy` (the virtio protocol hands a buffer to the
/// device before we touch it) and ring indices are accessed atomically.
#[derive(Clone, Copy)]
pub struct GuestRam {
    ptr: NonNull<u8>,
    base: u64,
    size: u64,
}

// SAFETY: a GuestRam only names memory that `new`'s caller promised stays
// valid for every thread for as long as any copy is used; the kernel's own
// threads share it the same way. No access through it assumes exclusive
// ownership of that memory.
unsafe impl Send for GuestRam {}
// SAFETY: as for Send: all methods take &self and access the shared memory
// with copies and atomics only.
unsafe impl Sync for GuestRam {}

impl GuestRam {
    /// The RAM at host `ptr..ptr + size`, whose first byte the driver
    /// calls `guest_base`.
    ///
    /// Fails if `ptr` is null, `size` is 0, or either range wraps around.
    ///
    /// # Safety
    ///
    /// The host range must be one allocation, valid for reads and writes
    /// from any thread, for as long as this value or any copy of it can be
    /// used: in practice the kernel's RAM must outlive the devices built on
    /// it and must never be unmapped while the kernel runs (shut devices
    /// down with [`super::VirtioNet::shutdown`] before freeing it). The
    /// memory may be changed by other threads at any time; Rust references
    /// into it must not exist.
    pub unsafe fn new(ptr: *mut u8, size: usize, guest_base: u64) -> Result<Self, MemError> {
        let bad = MemError::OutOfRange {
            addr: guest_base,
            len: size as u64,
        };
        let ptr = NonNull::new(ptr).ok_or(bad)?;
        let host_end = (ptr.as_ptr() as usize).checked_add(size);
        if size == 0 || host_end.is_none() || guest_base.checked_add(size as u64).is_none() {
            return Err(bad);
        }
        Ok(GuestRam {
            ptr,
            base: guest_base,
            size: size as u64,
        })
    }

    /// [`new`](Self::new) with physical addresses equal to host addresses.
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new).
    pub unsafe fn identity(ptr: *mut u8, size: usize) -> Result<Self, MemError> {
        // SAFETY: the caller upholds `new`'s contract.
        unsafe { Self::new(ptr, size, ptr as usize as u64) }
    }

    /// The driver's address of the first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size of the RAM in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Checks that `len` bytes at `addr` are inside the RAM.
    pub fn check(&self, addr: u64, len: u64) -> Result<(), MemError> {
        let fits = addr
            .checked_sub(self.base)
            .and_then(|off| off.checked_add(len))
            .is_some_and(|end| end <= self.size);
        if fits {
            Ok(())
        } else {
            Err(MemError::OutOfRange { addr, len })
        }
    }

    /// The host pointer for `len` bytes at `addr`, after checking the range.
    fn host_ptr(&self, addr: u64, len: usize) -> Result<*mut u8, MemError> {
        self.check(addr, len as u64)?;
        let off = (addr - self.base) as usize;
        // SAFETY: off + len <= size (checked above), so the result stays
        // inside the allocation that `new` was given; it keeps that
        // allocation's provenance.
        Ok(unsafe { self.ptr.as_ptr().add(off) })
    }

    /// Copies `buf.len()` bytes at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let src = self.host_ptr(addr, buf.len())?;
        // SAFETY: `src` is valid for buf.len() bytes (range checked, memory
        // valid per `new`'s contract); `buf` is valid for writes. `copy`
        // tolerates overlap, should a caller pass a slice of the RAM.
        unsafe { ptr::copy(src, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `buf` to `addr`.
    pub fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let dst = self.host_ptr(addr, buf.len())?;
        // SAFETY: as in `read`, with the directions swapped.
        unsafe { ptr::copy(buf.as_ptr(), dst, buf.len()) };
        Ok(())
    }

    /// The little-endian u16 ring field at `addr`, as an atomic.
    fn atomic_u16(&self, addr: u64) -> Result<&AtomicU16, MemError> {
        let p = self.host_ptr(addr, 2)?.cast::<u16>();
        if !p.is_aligned() {
            return Err(MemError::Misaligned { addr });
        }
        // SAFETY: `p` is inside the RAM, 2-aligned, and valid for as long as
        // `self` is (per `new`'s contract); AtomicU16 has u16's layout. The
        // driver accesses ring indices with single aligned 16-bit loads and
        // stores, so atomic access from our side is sound in practice.
        Ok(unsafe { AtomicU16::from_ptr(p) })
    }

    /// Loads a little-endian u16 ring field.
    pub(crate) fn load_u16(&self, addr: u64, order: Ordering) -> Result<u16, MemError> {
        Ok(u16::from_le(self.atomic_u16(addr)?.load(order)))
    }

    /// Stores a little-endian u16 ring field.
    pub(crate) fn store_u16(&self, addr: u64, val: u16, order: Ordering) -> Result<(), MemError> {
        self.atomic_u16(addr)?.store(val.to_le(), order);
        Ok(())
    }
}

impl fmt::Debug for GuestRam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GuestRam(0x{:x}+0x{:x})", self.base, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let mut buf = vec![0u16; 32];
        let ptr = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `buf` outlives `ram` and nothing else uses it meanwhile.
        let ram = unsafe { GuestRam::identity(ptr, 64) }.unwrap();
        let base = ram.base();
        assert_eq!(base, ptr as u64);
        assert!(ram.check(base, 64).is_ok());
        assert!(ram.check(base + 64, 0).is_ok());
        assert!(ram.check(base + 1, 64).is_err());
        assert!(ram.check(base - 1, 1).is_err());
        assert!(ram.check(u64::MAX, 2).is_err());
        assert!(ram.check(base + 8, u64::MAX).is_err());

        ram.write(base + 60, &[1, 2, 3, 4]).unwrap();
        let mut out = [0; 4];
        ram.read(base + 60, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
        assert!(ram.write(base + 61, &[0; 4]).is_err());
        assert!(ram.read(base + 61, &mut out).is_err());

        ram.store_u16(base + 2, 0xabcd, Ordering::Release).unwrap();
        assert_eq!(ram.read(base + 2, &mut out[..2]), Ok(()));
        assert_eq!(out[..2], [0xcd, 0xab]);
        assert_eq!(ram.load_u16(base + 2, Ordering::Acquire), Ok(0xabcd));
        assert_eq!(
            ram.load_u16(base + 3, Ordering::Acquire),
            Err(MemError::Misaligned { addr: base + 3 })
        );
        assert!(ram.load_u16(base + 63, Ordering::Acquire).is_err());
        drop(buf);
    }

    #[test]
    fn offset_map() {
        let mut buf = vec![0u8; 256];
        let ptr = buf.as_mut_ptr();
        // SAFETY: `buf` outlives `ram` and is only used through it meanwhile.
        let ram = unsafe { GuestRam::new(ptr, 256, 0x100_0000) }.unwrap();
        ram.write(0x100_0010, &[7, 8]).unwrap();
        assert!(ram.check(0x100_0000 + 256, 1).is_err());
        assert!(ram.check(0xff_ffff, 1).is_err());
        assert!(
            ram.check(ptr as u64 + 0x10, 1).is_err(),
            "host addresses mean nothing"
        );
        assert_eq!(buf[0x10..0x12], [7, 8]);
    }

    #[test]
    fn rejects_bad_ranges() {
        // SAFETY: the constructor fails before the pointer could be used.
        unsafe {
            assert!(GuestRam::new(ptr::null_mut(), 4096, 0x1000).is_err());
            assert!(GuestRam::new(ptr::dangling_mut::<u8>(), 0, 0x1000).is_err());
            assert!(GuestRam::new(ptr::dangling_mut::<u8>(), 2, u64::MAX - 1).is_err());
            assert!(GuestRam::identity(ptr::without_provenance_mut(usize::MAX - 1), 2).is_err());
        }
    }
}
