// SPDX-License-Identifier: GPL-2.0-only
//! Ethernet frames built by hand, byte by byte (nothing here uses stdpkt's
//! own parsers, which these frames test), and the raw and ascii framings.

pub const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
pub const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
// Documentation address ranges (RFC 5737).
pub const IP_A: [u8; 4] = [192, 0, 2, 1];
pub const IP_B: [u8; 4] = [192, 0, 2, 2];
pub const IP_C: [u8; 4] = [198, 51, 100, 1];

/// Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn ether(dst: [u8; 6], src: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend(src);
    f.extend(ether_type.to_be_bytes());
    f.extend(payload);
    f
}

/// IPv4 packet (id 0x1234, DF, TTL 64) with a valid header checksum.
pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0x00];
    ip.extend(total.to_be_bytes());
    ip.extend([0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    ip.extend(src);
    ip.extend(dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend(payload);
    ip
}

/// ARP request from MAC_A: who has 192.0.2.2? tell 192.0.2.1.
pub fn arp_request() -> Vec<u8> {
    let mut arp = vec![0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01];
    arp.extend(MAC_A);
    arp.extend(IP_A);
    arp.extend([0; 6]);
    arp.extend(IP_B);
    ether([0xff; 6], MAC_A, 0x0806, &arp)
}

/// ICMP echo request MAC_A -> MAC_B, 192.0.2.1 -> 198.51.100.1, id 0x1234,
/// 32 bytes of payload, valid IPv4 and ICMP checksums.
pub fn icmp_echo(seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend(seq.to_be_bytes());
    icmp.extend(0..32u8);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ether(MAC_B, MAC_A, 0x0800, &ipv4(1, IP_A, IP_C, &icmp))
}

/// The raw framing: each frame after its length (2 bytes, big-endian).
pub fn raw_stream(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend((f.len() as u16).to_be_bytes());
        out.extend(f);
    }
    out
}

/// The ascii framing of one frame: `DST SRC TYPE` in hex, then the payload
/// one hex byte at a time, and a newline.
pub fn ascii_line(frame: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut s = format!(
        "{} {} {}",
        hex(&frame[..6]),
        hex(&frame[6..12]),
        hex(&frame[12..14])
    );
    for b in &frame[14..] {
        s.push_str(&format!(" {b:02x}"));
    }
    s.push('\n');
    s
}
