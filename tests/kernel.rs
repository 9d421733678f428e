// SPDX-License-Identifier: GPL-2.0-only
//! The real kernel, in this test process: boot, loopback TCP and UDP,
//! concurrent syscalls from many host threads, sleeping, procfs.
//!
//! One kernel per process, so every test here shares one boot.

use std::time::{Duration, Instant};

use lkl_sys as k;
use stdpkt::kernel;

mod common;

/// The shared kernel (procfs mounted), then `f` on a thread of its own
/// under a deadline.
fn with_timeout<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    common::kernel::boot_once(&[("proc", "/proc")]);
    common::kernel::with_timeout(secs, f);
}

fn sockaddr(port: u16) -> k::sockaddr_in {
    k::sockaddr_in {
        sin_family: libc::AF_INET as _,
        sin_port: port.to_be(),
        sin_addr: k::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        ..Default::default()
    }
}

const SA_LEN: u32 = std::mem::size_of::<k::sockaddr_in>() as u32;

fn bound_socket(ty: i32, port: u16) -> i32 {
    let fd = k::socket(libc::AF_INET, ty, 0).expect("socket");
    let one = 1i32.to_ne_bytes();
    k::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one).expect("SO_REUSEADDR");
    let sa = sockaddr(port);
    // SAFETY: sa is a sockaddr_in of SA_LEN bytes.
    unsafe { k::bind(fd, (&sa as *const k::sockaddr_in).cast(), SA_LEN) }.expect("bind");
    fd
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn boots_and_answers_syscalls() {
    with_timeout(30, || {
        // Host tasks are threads of init's thread group.
        assert_eq!(k::getpid().unwrap(), 1);
        let fd = k::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        assert!(fd >= 0);
        k::close(fd).unwrap();
        // The fd table is shared by every test thread: probe an fd no
        // test can have open instead of closing ours twice.
        assert_eq!(k::close(1 << 20), Err(k::Errno(libc::EBADF)));
    });
}

#[test]
fn tcp_echo_over_loopback_1mib() {
    with_timeout(60, || {
        const LEN: usize = 1 << 20;
        let lfd = bound_socket(libc::SOCK_STREAM, 7001);
        k::listen(lfd, 4).unwrap();

        let server = std::thread::spawn(move || {
            // SAFETY: null address pointers are allowed.
            let c =
                unsafe { k::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), 0) }.unwrap();
            let mut buf = vec![0u8; 65536];
            let mut total = 0;
            loop {
                let n = k::read(c, &mut buf).unwrap();
                if n == 0 {
                    break;
                }
                let mut off = 0;
                while off < n {
                    off += k::write(c, &buf[off..n]).unwrap();
                }
                total += n;
            }
            k::close(c).unwrap();
            k::close(lfd).unwrap();
            total
        });

        let fd = k::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let sa = sockaddr(7001);
        // SAFETY: sa is a sockaddr_in of SA_LEN bytes.
        unsafe { k::connect(fd, (&sa as *const k::sockaddr_in).cast(), SA_LEN) }.unwrap();

        let data = pattern(LEN, 7);
        let to_send = data.clone();
        // Sender and receiver in parallel, or both sides' buffers fill up.
        let sender = std::thread::spawn(move || {
            let mut off = 0;
            while off < to_send.len() {
                off += k::write(fd, &to_send[off..(off + 32768).min(to_send.len())]).unwrap();
            }
            // SAFETY: no pointers.
            unsafe { k::syscall(k::__NR_shutdown, [fd as _, libc::SHUT_WR as _, 0, 0, 0, 0]) }
                .unwrap();
        });
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 65536];
        loop {
            let n = k::read(fd, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        sender.join().unwrap();
        k::close(fd).unwrap();
        assert_eq!(server.join().unwrap(), LEN);
        assert_eq!(got.len(), LEN);
        assert!(got == data, "echoed bytes differ");
    });
}

#[test]
fn udp_over_loopback() {
    with_timeout(30, || {
        let rx = bound_socket(libc::SOCK_DGRAM, 7002);
        let tx = bound_socket(libc::SOCK_DGRAM, 7003);
        let to = sockaddr(7002);
        for i in 0..100u32 {
            let msg = pattern(100 + i as usize * 10, i);
            // SAFETY: to is a sockaddr_in of SA_LEN bytes.
            let n =
                unsafe { k::sendto(tx, &msg, 0, (&to as *const k::sockaddr_in).cast(), SA_LEN) }
                    .unwrap();
            assert_eq!(n, msg.len());
            let mut buf = [0u8; 2048];
            let mut from = k::sockaddr_in::default();
            let mut flen = SA_LEN;
            // SAFETY: from/flen are valid out pointers.
            let n = unsafe {
                k::recvfrom(
                    rx,
                    &mut buf,
                    0,
                    (&mut from as *mut k::sockaddr_in).cast(),
                    &mut flen,
                )
            }
            .unwrap();
            assert_eq!(&buf[..n], &msg[..]);
            assert_eq!(u16::from_be(from.sin_port), 7003);
        }
        k::close(rx).unwrap();
        k::close(tx).unwrap();
    });
}

#[test]
fn eight_threads_make_concurrent_syscalls() {
    with_timeout(60, || {
        let threads: Vec<_> = (0..8u16)
            .map(|i| {
                std::thread::spawn(move || {
                    let port = 7100 + i;
                    let fd = bound_socket(libc::SOCK_DGRAM, port);
                    let to = sockaddr(port);
                    for j in 0..300u32 {
                        let msg = pattern(64, j * 8 + i as u32);
                        // SAFETY: to is a sockaddr_in of SA_LEN bytes.
                        unsafe {
                            k::sendto(fd, &msg, 0, (&to as *const k::sockaddr_in).cast(), SA_LEN)
                        }
                        .unwrap();
                        let mut buf = [0u8; 128];
                        let n = k::read(fd, &mut buf).unwrap();
                        assert_eq!(&buf[..n], &msg[..]);
                        let s = k::socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
                        k::close(s).unwrap();
                    }
                    k::close(fd).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn sleep_in_kernel_takes_the_asked_time() {
    with_timeout(30, || {
        let start = Instant::now();
        k::nanosleep(Duration::from_millis(200)).unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "woke early: {took:?}");
        assert!(took < Duration::from_secs(5), "woke far too late: {took:?}");
    });
}

#[test]
fn proc_net_dev_lists_loopback() {
    with_timeout(30, || {
        let text = String::from_utf8(kernel::read_file("/proc/net/dev").unwrap()).unwrap();
        assert!(text.contains("Inter-|"), "{text}");
        assert!(
            text.lines().any(|l| l.trim_start().starts_with("lo:")),
            "{text}"
        );
    });
}

#[test]
fn receive_timeout_fires() {
    // SO_RCVTIMEO sleeps on a timer-wheel timer (schedule_timeout), not
    // an hrtimer: ping's wait between echo requests.
    with_timeout(30, || {
        let fd = bound_socket(libc::SOCK_DGRAM, 7004);
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: timeval is plain data.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&tv as *const libc::timeval).cast::<u8>(),
                std::mem::size_of::<libc::timeval>(),
            )
        };
        k::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO_NEW, bytes).unwrap();
        for _ in 0..3 {
            let start = Instant::now();
            let mut buf = [0u8; 16];
            assert_eq!(k::read(fd, &mut buf), Err(k::Errno(libc::EAGAIN)));
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(190), "woke early: {took:?}");
            assert!(took < Duration::from_secs(5), "woke far too late: {took:?}");
        }
        k::close(fd).unwrap();
    });
}
