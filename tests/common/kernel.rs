// SPDX-License-Identifier: GPL-2.0-only
//! The kernel inside this test process: one per process, so the tests of a
//! suite share one boot.

use std::sync::{mpsc, Once};
use std::time::Duration;

use stdpkt::{host, kernel};

/// Boots the kernel on first use, with `lo` up and each `(fstype, mount
/// point)` of `mounts` mounted; later calls do nothing.
/// STDPKT_TEST_KLOG=1 copies the kernel log to stderr.
pub fn boot_once(mounts: &[(&str, &str)]) {
    static BOOT: Once = Once::new();
    BOOT.call_once(|| {
        if std::env::var_os("STDPKT_TEST_KLOG").is_some() {
            host::set_kernel_log_to_stderr(true);
        }
        kernel::boot("mem=32M loglevel=4").expect("boot");
        kernel::set_link_up("lo").expect("lo up");
        for (fstype, dir) in mounts {
            kernel::mount_fs(fstype, dir).unwrap_or_else(|e| panic!("mount {fstype}: {e:?}"));
        }
    });
}

/// Runs `f` on its own thread; a hang fails the test (with the kernel
/// log) instead of stalling CI, and a panic in `f` fails it as itself.
pub fn with_timeout<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "timed out after {secs}s; kernel log:\n{}",
            host::kernel_log_tail()
        ),
    }
}
