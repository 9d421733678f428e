// SPDX-License-Identifier: GPL-2.0-only
//! ICMP echo through the in-process kernel (ICMP datagram sockets), for
//! `stdpkt instance --ping`, tests and benchmarks that run without the
//! preload library.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lkl_sys as k;
use lkl_sys::Errno;

/// What a run of echo requests got back.
#[derive(Debug, Clone, Default)]
pub struct PingReport {
    pub sent: u32,
    pub received: u32,
    pub rtts: Vec<Duration>,
}

impl PingReport {
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * f64::from(self.sent - self.received) / f64::from(self.sent)
    }

    /// The loss as printed: exact to three decimals, never rounded to 0
    /// (1 of 200 lost is "0.5", 1 of 3 "33.333").
    pub fn loss_text(&self) -> String {
        let p = format!("{:.3}", self.loss_percent());
        let p = p.trim_end_matches('0').trim_end_matches('.');
        if p == "0" && self.received < self.sent {
            // Below 0.0005%: say so rather than print 0.
            return "<0.001".into();
        }
        p.to_owned()
    }
}

const PAYLOAD: usize = 56;

fn sockaddr(dst: IpAddr) -> (Vec<u8>, u32) {
    match dst {
        IpAddr::V4(a) => {
            let sa = k::sockaddr_in {
                sin_family: libc::AF_INET as _,
                sin_addr: k::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                ..Default::default()
            };
            let len = std::mem::size_of::<k::sockaddr_in>();
            // SAFETY: a plain C struct viewed as bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts((&sa as *const k::sockaddr_in).cast::<u8>(), len)
            };
            (bytes.to_vec(), len as u32)
        }
        IpAddr::V6(a) => {
            let mut sa = k::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as _,
                ..Default::default()
            };
            sa.sin6_addr.in6_u.u6_addr8 = a.octets();
            let len = std::mem::size_of::<k::sockaddr_in6>();
            // SAFETY: a plain C struct viewed as bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts((&sa as *const k::sockaddr_in6).cast::<u8>(), len)
            };
            (bytes.to_vec(), len as u32)
        }
    }
}

/// Sends `count` echo requests to `dst`, one per `interval`, and waits up
/// to `timeout` after the last for replies.
pub fn ping(
    dst: IpAddr,
    count: u32,
    interval: Duration,
    timeout: Duration,
) -> Result<PingReport, Errno> {
    let (family, proto, echo) = match dst {
        IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP, 8u8),
        IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6, 128u8),
    };
    let fd = k::socket(family, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, proto)?;
    let result = ping_on(fd, dst, echo, count, interval, timeout);
    let _ = k::close(fd);
    result
}

fn ping_on(
    fd: i32,
    dst: IpAddr,
    echo: u8,
    count: u32,
    interval: Duration,
    timeout: Duration,
) -> Result<PingReport, Errno> {
    let (sa, sa_len) = sockaddr(dst);
    let mut report = PingReport::default();
    let mut sent_at = vec![None; count as usize];
    let mut next_send = Instant::now();
    let mut seq = 0u32;
    let mut deadline = None;
    let mut buf = [0u8; 2048];
    let reply = if echo == 8 { 0 } else { 129 };
    loop {
        let now = Instant::now();
        if seq < count && now >= next_send {
            let mut pkt = vec![0u8; 8 + PAYLOAD];
            pkt[0] = echo;
            pkt[6..8].copy_from_slice(&(seq as u16).to_be_bytes());
            // The kernel fills in the identifier and checksum.
            // SAFETY: sa holds a sockaddr of sa_len bytes.
            unsafe { k::sendto(fd, &pkt, 0, sa.as_ptr().cast(), sa_len) }?;
            sent_at[seq as usize] = Some(now);
            report.sent += 1;
            seq += 1;
            next_send = now + interval;
            if seq == count {
                deadline = Some(now + timeout);
            }
        }
        if report.received == count || deadline.is_some_and(|d| now >= d) {
            return Ok(report);
        }
        let wake = if seq < count {
            next_send
        } else {
            deadline.unwrap()
        };
        let wait = wake.saturating_duration_since(Instant::now());
        let mut pfd = k::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = k::__kernel_timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: wait.subsec_nanos() as i64,
        };
        // SAFETY: one pollfd and a timespec that live across the call.
        unsafe {
            k::syscall(
                k::__NR_ppoll,
                [
                    (&mut pfd as *mut k::pollfd) as _,
                    1,
                    (&ts as *const k::__kernel_timespec) as _,
                    0,
                    0,
                    0,
                ],
            )
        }?;
        loop {
            // SAFETY: null source address pointers are allowed.
            let n = match unsafe {
                k::recvfrom(fd, &mut buf, 0, std::ptr::null_mut(), std::ptr::null_mut())
            } {
                Ok(n) => n,
                Err(Errno(libc::EAGAIN)) => break,
                Err(e) => return Err(e),
            };
            if n < 8 || buf[0] != reply {
                // Not an echo reply (type 0 for IPv4, 129 for IPv6).
                continue;
            }
            let s = u16::from_be_bytes([buf[6], buf[7]]) as usize;
            if let Some(Some(t)) = sent_at.get_mut(s).map(|t| t.take()) {
                report.received += 1;
                report.rtts.push(t.elapsed());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PingReport;

    fn loss(sent: u32, received: u32) -> String {
        PingReport {
            sent,
            received,
            rtts: Vec::new(),
        }
        .loss_text()
    }

    #[test]
    fn loss_is_printed_exactly() {
        assert_eq!(loss(200, 200), "0");
        assert_eq!(loss(200, 199), "0.5");
        assert_eq!(loss(3, 2), "33.333");
        assert_eq!(loss(4, 0), "100");
        assert_eq!(loss(0, 0), "0");
        assert_eq!(loss(1_000_000, 999_999), "<0.001");
    }
}
