// SPDX-License-Identifier: GPL-2.0-only
//! Boot and halt in a process of its own: after halt every kernel thread
//! has ended and been joined, and the kernel refuses further syscalls.

use std::time::Duration;

use lkl_sys as k;
use stdpkt::{host, kernel};

mod common;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn boot_then_halt_returns_every_thread() {
    common::kernel::with_timeout(60, || {
        let before = thread_count();
        kernel::boot("mem=32M loglevel=4").expect("boot");
        assert!(
            thread_count() > before,
            "the kernel runs on threads of its own"
        );
        assert!(host::ram().is_some());

        // A thread that made syscalls and exits gives its task back.
        std::thread::spawn(|| {
            let fd = k::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
            k::close(fd).unwrap();
        })
        .join()
        .unwrap();
        k::nanosleep(Duration::from_millis(20)).unwrap();

        kernel::halt().expect("halt");
        assert_eq!(thread_count(), before, "a kernel thread outlived halt");
        assert!(host::ram().is_none(), "kernel RAM not returned");
        assert_eq!(k::getpid(), Err(k::Errno(libc::ENODEV)));
        assert_eq!(kernel::halt(), Err(k::Errno(libc::ENODEV)));
        assert_eq!(
            kernel::boot("mem=32M"),
            Err(kernel::BootError::AlreadyBooted)
        );
    });
}
