// SPDX-License-Identifier: GPL-2.0-only
//! TCP connections that still owe the network something: queued data not
//! yet acknowledged, or a FIN not yet acknowledged. Read from the kernel's
//! `/proc/net/tcp` and `/proc/net/tcp6`, so that an instance whose program
//! has exited can stay until they are delivered, as the host kernel does
//! for the sockets of a process that has gone.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One connection that is not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes sent but not acknowledged, or not yet sent.
    pub queued: u64,
    pub state: &'static str,
}

impl Owed {
    /// Whether the peer is inside the instance itself (loopback, or one of
    /// its own addresses): then no NIC is needed for it to finish.
    pub fn is_local(&self) -> bool {
        self.remote.ip().is_loopback() || self.remote.ip() == self.local.ip()
    }
}

impl fmt::Display for Owed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} ({}, {} bytes queued)",
            self.local, self.remote, self.state, self.queued
        )
    }
}

/// The states in which the kernel still has to hear from the peer before
/// what the program wrote is known to be delivered. ESTABLISHED and
/// CLOSE_WAIT count only with data queued: a socket still open by nobody
/// is closed first (see the callers), so these are rare.
fn owing_state(code: u8, queued: u64) -> Option<&'static str> {
    match code {
        0x01 if queued > 0 => Some("ESTABLISHED"),
        0x04 => Some("FIN_WAIT1"),
        0x08 if queued > 0 => Some("CLOSE_WAIT"),
        0x09 => Some("LAST_ACK"),
        0x0b => Some("CLOSING"),
        _ => None,
    }
}

/// The owing connections in the text of `/proc/net/tcp` (or `tcp6`).
/// Lines that do not parse are ignored.
pub fn parse(text: &str) -> Vec<Owed> {
    text.lines().skip(1).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Owed> {
    let mut f = line.split_whitespace();
    f.next()?; // "sl:"
    let local = parse_addr(f.next()?)?;
    let remote = parse_addr(f.next()?)?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let (tx, _rx) = f.next()?.split_once(':')?;
    let queued = u64::from_str_radix(tx, 16).ok()?;
    Some(Owed {
        local,
        remote,
        queued,
        state: owing_state(state, queued)?,
    })
}

/// `0100007F:1F40` (IPv4) or 32 hex digits and a port (IPv6). The kernel
/// prints each 32-bit word of the address as it lies in memory, read as a
/// host-order number: on little-endian hosts the bytes come out reversed.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                          retrnsmt   uid  timeout inode\n";

    fn le_hex(ip: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip))
    }

    #[test]
    fn ipv4_states() {
        let a = le_hex([198, 51, 100, 2]);
        let b = le_hex([198, 51, 100, 1]);
        let text = format!(
            "{HEADER}\
             0: {a}:C350 {b}:1B58 04 0002A000:00000000 01:00000014 00000000 0 0 0 1\n\
             1: {a}:C351 {b}:1B58 01 00000000:00000000 00:00000000 00000000 0 0 0 1\n\
             2: {a}:C352 {b}:1B58 01 00000010:00000000 00:00000000 00000000 0 0 0 1\n\
             3: {a}:C353 {b}:1B58 05 00000000:00000000 00:00000000 00000000 0 0 0 1\n\
             4: {a}:C354 {b}:1B58 09 00000000:00000000 00:00000000 00000000 0 0 0 1\n\
             5: {a}:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 0 1\n\
             garbage\n"
        );
        let owed = parse(&text);
        let states: Vec<_> = owed
            .iter()
            .map(|o| (o.local.port(), o.state, o.queued))
            .collect();
        assert_eq!(
            states,
            [
                (0xc350, "FIN_WAIT1", 0x2a000),
                (0xc352, "ESTABLISHED", 16),
                (0xc354, "LAST_ACK", 0)
            ]
        );
        assert_eq!(owed[0].remote, "198.51.100.1:7000".parse().unwrap());
        assert!(!owed[0].is_local());
        assert_eq!(
            owed[0].to_string(),
            "198.51.100.2:50000 -> 198.51.100.1:7000 (FIN_WAIT1, 172032 bytes queued)"
        );
    }

    #[test]
    fn ipv6_and_loopback() {
        let words = |ip: Ipv6Addr| -> String {
            ip.octets()
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes(c.try_into().unwrap())))
                .collect()
        };
        let db8: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let text = format!(
            "{HEADER}   0: {}:0050 {}:D431 0B 00000000:00000000 00:00000000 00000000 0 0 0 1\n",
            words(db8),
            words(Ipv6Addr::LOCALHOST),
        );
        let owed = parse(&text);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].local, SocketAddr::new(db8.into(), 80));
        assert_eq!(owed[0].state, "CLOSING");
        assert!(owed[0].is_local());
    }
}
