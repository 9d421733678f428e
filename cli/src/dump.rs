// SPDX-License-Identifier: GPL-2.0-only
//! One human-readable line per Ethernet frame, in the spirit of
//! `tcpdump -e -n`: the engine of `stdpkt dump`.
//!
//! [`describe`] turns one frame into a line (without the time);
//! [`dump`] and [`dump_stdio`] decode a framed byte stream and print one
//! timestamped line per frame as soon as it is decoded.
//!
//! # Line format
//!
//! ```text
//! TIME SRC-MAC > DST-MAC, [vlan ID, ...]ethertype NAME (0xTYPE), length FRAME-LEN[: DETAILS]
//! ```
//!
//! * TIME is `HH:MM:SS.micro` in **UTC**: the pcap record's timestamp for
//!   pcap input, otherwise the moment the frame was decoded.
//! * VLAN tags (802.1Q, 802.1ad, QinQ) are shown by id, outermost first, and
//!   the ethertype is the one inside the innermost tag.
//! * DETAILS depend on the ethertype:
//!   - ARP: `Request who-has 192.0.2.2 tell 192.0.2.1`,
//!     `Reply 192.0.2.2 is-at 02:00:00:00:00:02`;
//!   - IPv4/IPv6: `SRC > DST: PROTO ...`, with `ADDR.PORT` for TCP and UDP,
//!     e.g. `192.0.2.1.40000 > 198.51.100.1.80: TCP, flags [S], seq 1000,
//!     win 64240, length 0` (flags as tcpdump writes them: `F S R P . U E W`,
//!     `.` for ACK), `UDP, length 12`, `ICMP echo request, id 4660, seq 1,
//!     length 40`, `ICMPv6 neighbor solicitation, who has 2001:db8::2, length
//!     32`. The final `length` is the TCP/UDP payload, the whole ICMP
//!     message, or the IP payload for other protocols.
//!   - any other ethertype: nothing.
//! * A frame that cannot be parsed to the end keeps what could be read and
//!   ends in `[malformed: REASON]`, e.g.
//!   `[malformed: IPv4 header truncated, 10 of 20 bytes]`.
//!
//! The parsing itself is etherparse's lax slicing ([`LaxSlicedPacket`]),
//! which never panics and reports where it stopped.

use core::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use etherparse::err::{self, packet::SliceError, Layer, LenError};
use etherparse::{
    icmpv4, icmpv6, ArpHardwareId, ArpOperation, ArpPacketSlice, EtherType, Icmpv4Slice,
    Icmpv4Type, Icmpv6Slice, Icmpv6Type, IgmpSlice, IgmpType, IpNumber, LaxIpPayloadSlice,
    LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TcpSlice, TransportSlice,
};

use stdpkt::wire::{ConvertError, ConvertErrorKind, FrameReader, Framing, ReadError, Stats};

/// Describes one Ethernet frame on one line (no time, no newline).
///
/// Never panics, whatever the bytes: what cannot be parsed is reported as
/// `[malformed: REASON]` at the end of the line.
pub fn describe(frame: &[u8]) -> String {
    let mut line = String::with_capacity(128);
    describe_into(&mut line, frame);
    line
}

/// Like [`describe`], appending to `out`.
pub fn describe_into(out: &mut String, frame: &[u8]) {
    // Writing into a String cannot fail.
    let _ = write_frame(out, frame);
}

/// `HH:MM:SS.micro` of `since_epoch`, in UTC.
pub fn time_of_day(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since_epoch.subsec_micros()
    )
}

/// Decodes frames from `input` in framing `from` and writes one line per
/// frame to `output` (`TIME DESCRIPTION\n`), each written and flushed as
/// soon as the frame is decoded.
///
/// Pcap input is stamped with its record times, other input with the time
/// the frame was decoded. Malformed input is dropped and counted in the
/// returned [`Stats`]; frames that decode but do not parse are still printed
/// (see [`describe`]).
pub fn dump<R: Read, W: Write>(
    input: R,
    mut output: W,
    from: Framing,
) -> Result<Stats, ConvertError> {
    let mut reader = FrameReader::new(input, from);
    let fail = |kind: ConvertErrorKind, reader: &FrameReader<R>| ConvertError {
        kind,
        stats: reader.stats().clone(),
    };
    let mut line = String::with_capacity(256);
    loop {
        match reader.advance() {
            Ok(true) => {}
            Ok(false) => return Ok(reader.stats().clone()),
            Err(ReadError::Io(e)) => return Err(fail(ConvertErrorKind::Read(e), &reader)),
            Err(ReadError::Decode(e)) => return Err(fail(ConvertErrorKind::Decode(e), &reader)),
        }
        let ts = reader.timestamp().unwrap_or_else(now);
        line.clear();
        line.push_str(&time_of_day(ts));
        line.push(' ');
        describe_into(&mut line, reader.frame());
        line.push('\n');
        if let Err(e) = output
            .write_all(line.as_bytes())
            .and_then(|()| output.flush())
        {
            return Err(fail(ConvertErrorKind::Write(e), &reader));
        }
    }
}

/// [`dump`] from stdin to stdout for the command line: reports to stderr as
/// `TOOL: message` and returns the exit status.
///
/// Both ends are plain `read()`/`write()` calls on duplicates of fd 0 and 1,
/// with no buffering that waits for more input, so each line appears as soon
/// as its frame has arrived. Exit status: 0 at end of input and when stdout
/// is closed (EPIPE: the reader has seen enough); 1 on a read or write error
/// or input that cannot be decoded any further. Dropped frames are summed up
/// in one line on stderr, e.g. `stdpkt dump: dropped 2 bad frames (first: …)`.
pub fn dump_stdio(tool: &str, from: Framing) -> ExitCode {
    crate::stdio::run_stdio(tool, |input, output| dump(input, output, from))
}

/// Time since the Unix epoch; zero if the clock is before 1970.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A MAC address as `02:00:00:00:00:01`.
struct Mac<'a>(&'a [u8]);

impl fmt::Display for Mac<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(':')?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn write_frame(out: &mut String, frame: &[u8]) -> fmt::Result {
    let pkt = match LaxSlicedPacket::from_ethernet(frame) {
        Ok(pkt) => pkt,
        Err(e) => {
            return write!(
                out,
                "length {}: [malformed: {}]",
                frame.len(),
                len_reason(&e)
            )
        }
    };
    let Some(LinkSlice::Ethernet2(eth)) = &pkt.link else {
        // from_ethernet always yields an Ethernet II link; be safe anyway.
        return write!(
            out,
            "length {}: [malformed: no Ethernet header]",
            frame.len()
        );
    };
    write!(
        out,
        "{} > {}, ",
        Mac(&eth.source()),
        Mac(&eth.destination())
    )?;
    let mut macsec = false;
    for ext in &pkt.link_exts {
        match ext {
            LaxLinkExtSlice::Vlan(vlan) => {
                write!(out, "vlan {}, ", vlan.vlan_identifier().value())?
            }
            LaxLinkExtSlice::Macsec(_) => {
                macsec = true;
                out.push_str("MACsec, ");
            }
        }
    }
    match pkt.ether_payload() {
        Some(payload) => write_ether_type(out, payload.ether_type)?,
        None if macsec => out.push_str("encrypted"),
        None => write_ether_type(out, eth.ether_type())?,
    }
    write!(out, ", length {}", frame.len())?;

    let mut details = String::new();
    let stopped = pkt.stop_err.is_some();
    let transport = pkt.transport.as_ref();
    let mut truncated = None;
    match &pkt.net {
        Some(LaxNetSlice::Arp(arp)) => write_arp(&mut details, arp)?,
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let payload = ip.payload();
            let fragment = format!(
                " (id {}, offset {}{})",
                h.identification(),
                u32::from(h.fragments_offset().value()) * 8,
                if h.more_fragments() { ", more" } else { "" }
            );
            let ip_addrs = (h.source_addr().into(), h.destination_addr().into());
            write_ip(
                &mut details,
                ip_addrs,
                payload,
                transport,
                &fragment,
                stopped,
            )?;
            if payload.incomplete {
                let have = frame.len() - offset_in(frame, h.slice());
                truncated = Some(("IPv4", have, usize::from(h.total_len())));
            }
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let payload = ip.payload();
            let ip_addrs = (h.source_addr().into(), h.destination_addr().into());
            write_ip(&mut details, ip_addrs, payload, transport, "", stopped)?;
            if payload.incomplete {
                let have = frame.len() - offset_in(frame, h.slice());
                let want = h.slice().len() + usize::from(h.payload_length());
                truncated = Some(("IPv6", have, want));
            }
        }
        None => {}
    }
    let reason = match (&pkt.stop_err, truncated) {
        (Some((e, _)), _) => Some(slice_reason(e)),
        (None, Some((ip, have, want))) => {
            Some(format!("{ip} packet truncated, {have} of {want} bytes"))
        }
        (None, None) => None,
    };
    if let Some(reason) = reason {
        if !details.is_empty() {
            details.push(' ');
        }
        write!(details, "[malformed: {reason}]")?;
    }
    if !details.is_empty() {
        out.push_str(": ");
        out.push_str(&details);
    }
    Ok(())
}

/// Where `part` starts inside `whole` (`part` must be a subslice of it).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

fn write_ether_type(out: &mut String, t: EtherType) -> fmt::Result {
    if t.0 <= 1500 {
        // An 802.3 length field, not a type.
        return write!(out, "802.3 length {}", t.0);
    }
    match ether_type_name(t.0) {
        Some(name) => write!(out, "ethertype {name} (0x{:04x})", t.0),
        None => write!(out, "ethertype 0x{:04x}", t.0),
    }
}

/// Names of common ethertypes, as tcpdump spells most of them.
fn ether_type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x0806 => "ARP",
        0x0842 => "Wake-on-LAN",
        0x8035 => "RARP",
        0x8100 => "802.1Q",
        0x86dd => "IPv6",
        0x8808 => "Ethernet flow control",
        0x8847 => "MPLS unicast",
        0x8848 => "MPLS multicast",
        0x8863 => "PPPoE D",
        0x8864 => "PPPoE S",
        0x888e => "EAPOL",
        0x88a8 => "802.1ad",
        0x88cc => "LLDP",
        0x88e5 => "MACsec",
        0x88f7 => "PTP",
        0x9000 => "Loopback",
        0x9100 => "802.1Q-9100",
        _ => return None,
    })
}

fn ipv4_at(bytes: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(bytes).ok().map(Ipv4Addr::from)
}

fn write_arp(out: &mut String, arp: &ArpPacketSlice<'_>) -> fmt::Result {
    let addrs = (
        ipv4_at(arp.sender_protocol_addr()),
        ipv4_at(arp.target_protocol_addr()),
    );
    let (Some(spa), Some(tpa)) = addrs else {
        return write!(
            out,
            "ARP hardware type {}, protocol 0x{:04x}, op {}",
            arp.hw_addr_type().0,
            arp.proto_addr_type().0,
            arp.operation().0
        );
    };
    let sha = Mac(arp.sender_hw_addr());
    let tha = Mac(arp.target_hw_addr());
    if arp.hw_addr_type() != ArpHardwareId::ETHERNET || arp.proto_addr_type() != EtherType::IPV4 {
        write!(
            out,
            "ARP hardware type {}, protocol 0x{:04x}, ",
            arp.hw_addr_type().0,
            arp.proto_addr_type().0
        )?;
    }
    match arp.operation() {
        ArpOperation::REQUEST => write!(out, "Request who-has {tpa} tell {spa}"),
        ArpOperation::REPLY => write!(out, "Reply {spa} is-at {sha}"),
        op => write!(out, "op {}, {spa} ({sha}) > {tpa} ({tha})", op.0),
    }
}

/// The name of an IP protocol: `TCP`, `ICMPv6`, `GRE`, or `ip-proto-N`.
fn ip_proto_name(n: IpNumber) -> String {
    match n {
        etherparse::ip_number::IPV6_ICMP => "ICMPv6".to_owned(),
        _ => match n.keyword_str() {
            Some(k) if !k.is_empty() && !k.contains(' ') => k.to_owned(),
            _ => format!("ip-proto-{}", n.0),
        },
    }
}

fn write_ip(
    out: &mut String,
    (src, dst): (IpAddr, IpAddr),
    payload: &LaxIpPayloadSlice<'_>,
    transport: Option<&TransportSlice<'_>>,
    fragment: &str,
    stopped: bool,
) -> fmt::Result {
    match transport {
        Some(TransportSlice::Tcp(t)) => write!(
            out,
            "{src}.{} > {dst}.{}: ",
            t.source_port(),
            t.destination_port()
        )?,
        Some(TransportSlice::Udp(u)) => write!(
            out,
            "{src}.{} > {dst}.{}: ",
            u.source_port(),
            u.destination_port()
        )?,
        _ => write!(out, "{src} > {dst}: ")?,
    }
    match transport {
        Some(TransportSlice::Tcp(t)) => write_tcp(out, t),
        Some(TransportSlice::Udp(u)) => write!(out, "UDP, length {}", u.payload().len()),
        Some(TransportSlice::Icmpv4(i)) => write_icmpv4(out, i),
        Some(TransportSlice::Icmpv6(i)) => write_icmpv6(out, i),
        Some(TransportSlice::Igmp(g)) => write_igmp(out, g),
        None => {
            out.push_str(&ip_proto_name(payload.ip_number));
            if payload.fragmented {
                write!(out, " fragment{fragment}")?;
            }
            if stopped {
                Ok(())
            } else {
                write!(out, ", length {}", payload.payload.len())
            }
        }
    }
}

fn write_tcp(out: &mut String, t: &TcpSlice<'_>) -> fmt::Result {
    out.push_str("TCP, flags [");
    let flags = [
        (t.fin(), 'F'),
        (t.syn(), 'S'),
        (t.rst(), 'R'),
        (t.psh(), 'P'),
        (t.ack(), '.'),
        (t.urg(), 'U'),
        (t.ece(), 'E'),
        (t.cwr(), 'W'),
    ];
    let mut any = false;
    for (_, c) in flags.iter().filter(|(set, _)| *set) {
        out.push(*c);
        any = true;
    }
    if !any {
        out.push_str("none");
    }
    write!(out, "], seq {}", t.sequence_number())?;
    if t.ack() {
        write!(out, ", ack {}", t.acknowledgment_number())?;
    }
    write!(
        out,
        ", win {}, length {}",
        t.window_size(),
        t.payload().len()
    )
}

fn write_icmpv4(out: &mut String, i: &Icmpv4Slice<'_>) -> fmt::Result {
    use icmpv4::{DestUnreachableHeader as U, RedirectCode as R, TimeExceededCode as T};
    out.push_str("ICMP ");
    match i.icmp_type() {
        Icmpv4Type::EchoRequest(e) => write!(out, "echo request, id {}, seq {}", e.id, e.seq)?,
        Icmpv4Type::EchoReply(e) => write!(out, "echo reply, id {}, seq {}", e.id, e.seq)?,
        Icmpv4Type::DestinationUnreachable(u) => {
            let why = match u {
                U::Network => "net",
                U::Host => "host",
                U::Protocol => "protocol",
                U::Port => "port",
                U::FragmentationNeeded { next_hop_mtu } => {
                    return write!(
                        out,
                        "unreachable (need to frag, mtu {next_hop_mtu}), length {}",
                        i.slice().len()
                    )
                }
                U::SourceRouteFailed => "source route failed",
                U::NetworkUnknown => "net unknown",
                U::HostUnknown => "host unknown",
                U::Isolated => "source host isolated",
                U::NetworkProhibited => "net prohibited",
                U::HostProhibited => "host prohibited",
                U::TosNetwork => "net for TOS",
                U::TosHost => "host for TOS",
                U::FilterProhibited => "admin prohibited",
                U::HostPrecedenceViolation => "host precedence violation",
                U::PrecedenceCutoff => "precedence cutoff",
            };
            write!(out, "unreachable ({why})")?;
        }
        Icmpv4Type::TimeExceeded(code) => out.push_str(match code {
            T::TtlExceededInTransit => "time exceeded (ttl)",
            T::FragmentReassemblyTimeExceeded => "time exceeded (fragment reassembly)",
        }),
        Icmpv4Type::Redirect(r) => {
            let what = match r.code {
                R::RedirectForNetwork => "net",
                R::RedirectForHost => "host",
                R::RedirectForTypeOfServiceAndNetwork => "TOS and net",
                R::RedirectForTypeOfServiceAndHost => "TOS and host",
            };
            let gw = Ipv4Addr::from(r.gateway_internet_address);
            write!(out, "redirect ({what}) to {gw}")?;
        }
        Icmpv4Type::ParameterProblem(_) => out.push_str("parameter problem"),
        Icmpv4Type::TimestampRequest(_) => out.push_str("timestamp request"),
        Icmpv4Type::TimestampReply(_) => out.push_str("timestamp reply"),
        Icmpv4Type::Unknown {
            type_u8, code_u8, ..
        } => write!(out, "type {type_u8}, code {code_u8}")?,
    }
    write!(out, ", length {}", i.slice().len())
}

fn write_icmpv6(out: &mut String, i: &Icmpv6Slice<'_>) -> fmt::Result {
    use icmpv6::{DestUnreachableCode as U, Icmpv6PayloadSlice as P, TimeExceededCode as T};
    out.push_str("ICMPv6 ");
    // A body too short for its type, reported after the length.
    let mut short = None;
    match i.icmp_type() {
        Icmpv6Type::EchoRequest(e) => write!(out, "echo request, id {}, seq {}", e.id, e.seq)?,
        Icmpv6Type::EchoReply(e) => write!(out, "echo reply, id {}, seq {}", e.id, e.seq)?,
        Icmpv6Type::DestinationUnreachable(code) => {
            let why = match code {
                U::NoRoute => "no route",
                U::Prohibited => "admin prohibited",
                U::BeyondScope => "beyond scope",
                U::Address => "address",
                U::Port => "port",
                U::SourceAddressFailedPolicy => "source address failed policy",
                U::RejectRoute => "reject route",
            };
            write!(out, "unreachable ({why})")?;
        }
        Icmpv6Type::PacketTooBig { mtu } => write!(out, "packet too big, mtu {mtu}")?,
        Icmpv6Type::TimeExceeded(code) => out.push_str(match code {
            T::HopLimitExceeded => "time exceeded (hop limit)",
            T::FragmentReassemblyTimeExceeded => "time exceeded (fragment reassembly)",
        }),
        Icmpv6Type::ParameterProblem(_) => out.push_str("parameter problem"),
        Icmpv6Type::RouterSolicitation => out.push_str("router solicitation"),
        Icmpv6Type::RouterAdvertisement(ra) => write!(
            out,
            "router advertisement, hop limit {}, lifetime {}s",
            ra.cur_hop_limit, ra.router_lifetime
        )?,
        Icmpv6Type::NeighborSolicitation => {
            out.push_str("neighbor solicitation");
            match i.payload_slice() {
                Ok(P::NeighborSolicitation(ns)) => {
                    write!(out, ", who has {}", ns.target_address())?
                }
                Ok(_) => {}
                Err(e) => short = Some(e),
            }
        }
        Icmpv6Type::NeighborAdvertisement(na) => {
            out.push_str("neighbor advertisement");
            match i.payload_slice() {
                Ok(P::NeighborAdvertisement(p)) => write!(out, ", tgt is {}", p.target_address())?,
                Ok(_) => {}
                Err(e) => short = Some(e),
            }
            let flags = [
                (na.router, "router"),
                (na.solicited, "solicited"),
                (na.r#override, "override"),
            ];
            let set: Vec<&str> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
            if !set.is_empty() {
                write!(out, ", flags [{}]", set.join(", "))?;
            }
        }
        Icmpv6Type::Redirect => {
            out.push_str("redirect");
            if let Ok(P::Redirect(r)) = i.payload_slice() {
                write!(
                    out,
                    ", {} to {}",
                    r.destination_address(),
                    r.target_address()
                )?;
            }
        }
        Icmpv6Type::Unknown {
            type_u8, code_u8, ..
        } => match type_u8 {
            130 => out.push_str("multicast listener query"),
            131 => out.push_str("multicast listener report"),
            132 => out.push_str("multicast listener done"),
            143 => out.push_str("multicast listener report v2"),
            _ => write!(out, "type {type_u8}, code {code_u8}")?,
        },
    }
    write!(out, ", length {}", i.slice().len())?;
    match short {
        Some(e) => write!(out, " [malformed: {}]", len_reason(&e)),
        None => Ok(()),
    }
}

fn write_igmp(out: &mut String, g: &IgmpSlice<'_>) -> fmt::Result {
    out.push_str(match g.igmp_type() {
        IgmpType::MembershipQuery(_) => "IGMP query",
        IgmpType::MembershipQueryWithSources(_) => "IGMP v3 query",
        IgmpType::MembershipReportV1(_) => "IGMP v1 report",
        IgmpType::MembershipReportV2(_) => "IGMP v2 report",
        IgmpType::MembershipReportV3(_) => "IGMP v3 report",
        IgmpType::LeaveGroup(_) => "IGMP leave",
        IgmpType::Unknown(_) => return write!(out, "IGMP type 0x{:02x}", g.type_u8()),
    });
    write!(out, ", length {}", g.slice().len())
}

/// A short name for the part of a packet that could not be parsed.
fn layer_name(layer: Layer) -> String {
    match layer {
        Layer::Ethernet2Header => "Ethernet header".to_owned(),
        Layer::EtherPayload => "Ethernet payload".to_owned(),
        Layer::VlanHeader => "VLAN header".to_owned(),
        Layer::IpHeader => "IP header".to_owned(),
        Layer::Ipv4Header => "IPv4 header".to_owned(),
        Layer::Ipv4Packet => "IPv4 packet".to_owned(),
        Layer::Ipv6Header => "IPv6 header".to_owned(),
        Layer::Ipv6Packet => "IPv6 packet".to_owned(),
        Layer::UdpHeader => "UDP header".to_owned(),
        Layer::UdpPayload => "UDP payload".to_owned(),
        Layer::TcpHeader => "TCP header".to_owned(),
        Layer::Icmpv4 => "ICMP message".to_owned(),
        Layer::Icmpv6 => "ICMPv6 message".to_owned(),
        Layer::Igmp => "IGMP message".to_owned(),
        Layer::Arp => "ARP packet".to_owned(),
        other => other.to_string(),
    }
}

fn len_reason(e: &LenError) -> String {
    let layer = layer_name(e.layer);
    if e.required_len > e.len {
        format!("{layer} truncated, {} of {} bytes", e.len, e.required_len)
    } else {
        format!(
            "{layer} too long, {} bytes (at most {})",
            e.len, e.required_len
        )
    }
}

fn slice_reason(e: &SliceError) -> String {
    match e {
        SliceError::Len(l) => len_reason(l),
        SliceError::Ip(err::ip::HeaderError::UnsupportedIpVersion { version_number }) => {
            format!("IP version {version_number}")
        }
        SliceError::Ip(err::ip::HeaderError::Ipv4HeaderLengthSmallerThanHeader { ihl }) => {
            format!("IPv4 header length {ihl} (at least 5)")
        }
        SliceError::Tcp(err::tcp::HeaderError::DataOffsetTooSmall { data_offset }) => {
            format!("TCP data offset {data_offset} (at least 5)")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const BCAST: [u8; 6] = [0xff; 6];
    // Documentation ranges only (RFC 5737, RFC 3849).
    const IP_A: [u8; 4] = [192, 0, 2, 1];
    const IP_B: [u8; 4] = [192, 0, 2, 2];
    const IP_C: [u8; 4] = [198, 51, 100, 1];
    const IP_D: [u8; 4] = [203, 0, 113, 7];

    fn ip6(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = last;
        a
    }

    /// Internet checksum (RFC 1071).
    fn checksum(data: &[u8]) -> u16 {
        let mut sum: u32 = data
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn ether(dst: [u8; 6], src: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend(src);
        f.extend(ether_type.to_be_bytes());
        f.extend(payload);
        f
    }

    fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0x00, 0x01, 0x08, 0x00, 6, 4];
        p.extend(op.to_be_bytes());
        p.extend(sha);
        p.extend(spa);
        p.extend(tha);
        p.extend(tpa);
        p
    }

    /// An IPv4 packet with a correct header checksum.
    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
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

    /// An ICMP message with a correct checksum.
    fn icmp(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0];
        m.extend(rest);
        m.extend(data);
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }

    /// An IPv6 packet; an ICMPv6 payload gets its checksum filled in.
    fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut payload = payload.to_vec();
        let len = payload.len() as u16;
        if next == 58 {
            let mut pseudo = src.to_vec();
            pseudo.extend(dst);
            pseudo.extend(u32::from(len).to_be_bytes());
            pseudo.extend([0, 0, 0, 58]);
            pseudo.extend(&payload);
            let c = checksum(&pseudo);
            payload[2..4].copy_from_slice(&c.to_be_bytes());
        }
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend(len.to_be_bytes());
        ip.extend([next, 255]);
        ip.extend(src);
        ip.extend(dst);
        ip.extend(payload);
        ip
    }

    fn icmp6(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0];
        m.extend(rest);
        m.extend(data);
        m
    }

    fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut t = sport.to_be_bytes().to_vec();
        t.extend(dport.to_be_bytes());
        t.extend(seq.to_be_bytes());
        t.extend(ack.to_be_bytes());
        t.extend([5 << 4, flags]);
        t.extend(64240u16.to_be_bytes());
        t.extend([0, 0, 0, 0]);
        t.extend(data);
        t
    }

    fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend(dport.to_be_bytes());
        u.extend(((8 + data.len()) as u16).to_be_bytes());
        u.extend([0, 0]);
        u.extend(data);
        u
    }

    fn echo_request_v4() -> Vec<u8> {
        let data: Vec<u8> = (0..32u8).collect();
        let m = icmp(8, 0, [0x12, 0x34, 0x00, 0x01], &data);
        ether(MAC_B, MAC_A, 0x0800, &ipv4(1, IP_A, IP_C, &m))
    }

    #[test]
    fn arp_request_and_reply() {
        let req = ether(BCAST, MAC_A, 0x0806, &arp(1, MAC_A, IP_A, [0; 6], IP_B));
        assert_eq!(
            describe(&req),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: \
             Request who-has 192.0.2.2 tell 192.0.2.1"
        );
        let mut reply = ether(MAC_A, MAC_B, 0x0806, &arp(2, MAC_B, IP_B, MAC_A, IP_A));
        // Padded to the Ethernet minimum, as on a real wire.
        reply.resize(60, 0);
        assert_eq!(
            describe(&reply),
            "02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype ARP (0x0806), length 60: \
             Reply 192.0.2.2 is-at 02:00:00:00:00:02"
        );
        let rarp = ether(BCAST, MAC_A, 0x0806, &arp(3, MAC_A, IP_A, MAC_A, IP_A));
        assert_eq!(
            describe(&rarp),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: \
             op 3, 192.0.2.1 (02:00:00:00:00:01) > 192.0.2.1 (02:00:00:00:00:01)"
        );
    }

    #[test]
    fn ipv4_icmp_echo_request() {
        let f = echo_request_v4();
        // The builder's checksums are right: summing over them gives zero.
        assert_eq!(checksum(&f[14..34]), 0);
        assert_eq!(checksum(&f[34..]), 0);
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74: \
             192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq 1, length 40"
        );
    }

    #[test]
    fn icmp_errors_are_named() {
        let quoted = ipv4(17, IP_A, IP_C, &udp(5353, 53, &[]));
        let cases = [
            (3, 3, [0; 4], "unreachable (port)"),
            (3, 1, [0; 4], "unreachable (host)"),
            (
                3,
                4,
                [0, 0, 0x05, 0x78],
                "unreachable (need to frag, mtu 1400)",
            ),
            (11, 0, [0; 4], "time exceeded (ttl)"),
            (11, 1, [0; 4], "time exceeded (fragment reassembly)"),
            (0, 0, [0, 7, 0, 9], "echo reply, id 7, seq 9"),
            (42, 0, [0; 4], "type 42, code 0"),
        ];
        for (ty, code, rest, want) in cases {
            let m = icmp(ty, code, rest, &quoted);
            let f = ether(MAC_A, MAC_B, 0x0800, &ipv4(1, IP_C, IP_A, &m));
            assert_eq!(
                describe(&f),
                format!(
                    "02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), \
                     length 70: 198.51.100.1 > 192.0.2.1: ICMP {want}, length 36"
                )
            );
        }
    }

    #[test]
    fn ipv6_icmpv6_echo() {
        let m = icmp6(128, 0, [0, 7, 0, 3], b"ping");
        let f = ether(MAC_B, MAC_A, 0x86dd, &ipv6(58, ip6(1), ip6(2), &m));
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv6 (0x86dd), length 66: \
             2001:db8::1 > 2001:db8::2: ICMPv6 echo request, id 7, seq 3, length 12"
        );
    }

    #[test]
    fn icmpv6_neighbor_discovery_and_errors() {
        let mut target = ip6(2).to_vec();
        let line = |m: Vec<u8>| {
            let f = ether(MAC_B, MAC_A, 0x86dd, &ipv6(58, ip6(1), ip6(2), &m));
            let d = describe(&f);
            let (_, rest) = d.split_once("2001:db8::2: ").unwrap();
            rest.to_owned()
        };
        assert_eq!(
            line(icmp6(135, 0, [0; 4], &target)),
            "ICMPv6 neighbor solicitation, who has 2001:db8::2, length 24"
        );
        assert_eq!(
            line(icmp6(136, 0, [0x60, 0, 0, 0], &target)),
            "ICMPv6 neighbor advertisement, tgt is 2001:db8::2, \
             flags [solicited, override], length 24"
        );
        assert_eq!(
            line(icmp6(133, 0, [0; 4], &[])),
            "ICMPv6 router solicitation, length 8"
        );
        target.clear();
        target.extend([0u8; 8]); // reachable time, retrans timer
        assert_eq!(
            line(icmp6(134, 0, [64, 0, 0x07, 0x08], &target)),
            "ICMPv6 router advertisement, hop limit 64, lifetime 1800s, length 16"
        );
        assert_eq!(
            line(icmp6(1, 4, [0; 4], &[0x60, 0, 0, 0])),
            "ICMPv6 unreachable (port), length 12"
        );
        assert_eq!(
            line(icmp6(3, 0, [0; 4], &[])),
            "ICMPv6 time exceeded (hop limit), length 8"
        );
        assert_eq!(
            line(icmp6(2, 0, [0, 0, 0x05, 0x00], &[])),
            "ICMPv6 packet too big, mtu 1280, length 8"
        );
        assert_eq!(
            line(icmp6(143, 0, [0; 4], &[])),
            "ICMPv6 multicast listener report v2, length 8"
        );
        // A solicitation too short to hold its target address.
        assert_eq!(
            line(icmp6(135, 0, [0; 4], &[0; 4])),
            "ICMPv6 neighbor solicitation, length 12 [malformed: ICMPv6 message \
             truncated, 4 of 16 bytes]"
        );
    }

    #[test]
    fn tcp_syn_and_syn_ack() {
        let syn = tcp(40000, 80, 1000, 0, 0x02, &[]);
        let f = ether(MAC_B, MAC_A, 0x0800, &ipv4(6, IP_A, IP_C, &syn));
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 54: \
             192.0.2.1.40000 > 198.51.100.1.80: TCP, flags [S], seq 1000, win 64240, length 0"
        );
        let syn_ack = tcp(80, 40000, 7, 1001, 0x12, &[]);
        let f = ether(MAC_A, MAC_B, 0x0800, &ipv4(6, IP_C, IP_A, &syn_ack));
        assert!(describe(&f).ends_with(
            "198.51.100.1.80 > 192.0.2.1.40000: TCP, flags [S.], seq 7, ack 1001, \
             win 64240, length 0"
        ));
        let push = tcp(80, 40000, 8, 1001, 0x18, b"hello");
        let f = ether(MAC_A, MAC_B, 0x0800, &ipv4(6, IP_C, IP_A, &push));
        assert!(describe(&f).ends_with("flags [P.], seq 8, ack 1001, win 64240, length 5"));
        let none = tcp(1, 2, 0, 0, 0, &[]);
        let f = ether(MAC_A, MAC_B, 0x0800, &ipv4(6, IP_C, IP_A, &none));
        assert!(describe(&f).contains("TCP, flags [none], seq 0,"));
    }

    #[test]
    fn udp_over_ipv4_and_ipv6() {
        let u = udp(5353, 53, &[1, 2, 3, 4]);
        let f = ether(MAC_B, MAC_A, 0x0800, &ipv4(17, IP_A, IP_D, &u));
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 46: \
             192.0.2.1.5353 > 203.0.113.7.53: UDP, length 4"
        );
        let f = ether(MAC_B, MAC_A, 0x86dd, &ipv6(17, ip6(1), ip6(2), &u));
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv6 (0x86dd), length 66: \
             2001:db8::1.5353 > 2001:db8::2.53: UDP, length 4"
        );
    }

    #[test]
    fn vlan_tags_show_id_and_inner_type() {
        let inner = echo_request_v4();
        let mut tagged = inner[..12].to_vec();
        tagged.extend([0x81, 0x00, 0x00, 100]); // 802.1Q, PCP 0, VID 100
        tagged.extend(&inner[12..]);
        assert_eq!(
            describe(&tagged),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, vlan 100, ethertype IPv4 (0x0800), \
             length 78: 192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq 1, length 40"
        );
        // QinQ: outer 802.1ad tag 7, inner 802.1Q tag 100 (PCP 5).
        let mut qinq = inner[..12].to_vec();
        qinq.extend([0x88, 0xa8, 0x00, 7, 0x81, 0x00, 0xa0, 100]);
        qinq.extend(&inner[12..]);
        assert!(describe(&qinq).starts_with(
            "02:00:00:00:00:01 > 02:00:00:00:00:02, vlan 7, vlan 100, ethertype IPv4"
        ));
        // A tag cut short.
        let cut = ether(MAC_B, MAC_A, 0x8100, &[0x00]);
        assert_eq!(
            describe(&cut),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 15: \
             [malformed: VLAN header truncated, 1 of 4 bytes]"
        );
    }

    #[test]
    fn truncated_and_garbage_frames() {
        let full = echo_request_v4();
        // IPv4 header cut after 10 bytes.
        assert_eq!(
            describe(&full[..24]),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 24: \
             [malformed: IPv4 header truncated, 10 of 20 bytes]"
        );
        // Header complete, payload cut short.
        assert_eq!(
            describe(&full[..50]),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 50: \
             192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq 1, length 16 \
             [malformed: IPv4 packet truncated, 36 of 60 bytes]"
        );
        // TCP header cut short.
        let syn = tcp(40000, 80, 1000, 0, 0x02, &[]);
        let f = ether(MAC_B, MAC_A, 0x0800, &ipv4(6, IP_A, IP_C, &syn));
        assert!(describe(&f[..42]).ends_with(
            "192.0.2.1 > 198.51.100.1: TCP [malformed: TCP header truncated, 8 of 20 bytes]"
        ));
        // Not even an Ethernet header.
        assert_eq!(
            describe(&full[..10]),
            "length 10: [malformed: Ethernet header truncated, 10 of 14 bytes]"
        );
        // Wrong IP version behind an IPv4 ethertype.
        let f = ether(MAC_B, MAC_A, 0x0800, &[0x55; 20]);
        assert!(describe(&f).ends_with("length 34: [malformed: IP version 5]"));
    }

    #[test]
    fn unknown_ethertype_header_only() {
        let f = ether(MAC_B, MAC_A, 0x88b5, &[]);
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 0x88b5, length 14"
        );
        let f = ether(MAC_B, MAC_A, 0x88cc, &[0; 40]);
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype LLDP (0x88cc), length 54"
        );
        let f = ether(MAC_B, MAC_A, 46, &[0; 46]);
        assert_eq!(
            describe(&f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, 802.3 length 46, length 60"
        );
    }

    #[test]
    fn other_ip_protocols_and_fragments() {
        let f = ether(MAC_B, MAC_A, 0x0800, &ipv4(47, IP_A, IP_C, &[0; 24]));
        assert!(describe(&f).ends_with("192.0.2.1 > 198.51.100.1: GRE, length 24"));
        let f = ether(MAC_B, MAC_A, 0x0800, &ipv4(253, IP_A, IP_C, &[0; 4]));
        assert!(describe(&f).ends_with("192.0.2.1 > 198.51.100.1: ip-proto-253, length 4"));
        // Second fragment of a UDP datagram: offset 1480 (185 * 8), no more.
        let mut ip = ipv4(17, IP_A, IP_C, &[0; 16]);
        ip[6..8].copy_from_slice(&185u16.to_be_bytes());
        let f = ether(MAC_B, MAC_A, 0x0800, &ip);
        assert!(describe(&f)
            .ends_with("192.0.2.1 > 198.51.100.1: UDP fragment (id 4660, offset 1480), length 16"));
    }

    #[test]
    fn never_panics_on_prefixes_or_noise() {
        let mut frames = vec![
            echo_request_v4(),
            ether(BCAST, MAC_A, 0x0806, &arp(1, MAC_A, IP_A, [0; 6], IP_B)),
            ether(
                MAC_B,
                MAC_A,
                0x86dd,
                &ipv6(6, ip6(1), ip6(2), &tcp(1, 2, 3, 4, 0x10, b"x")),
            ),
        ];
        // Deterministic noise behind every ethertype of interest.
        let mut x: u32 = 0x1234_5678;
        for ether_type in [0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x88e5] {
            for len in [0usize, 1, 7, 20, 40, 60, 200] {
                let body: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (x >> 16) as u8
                    })
                    .collect();
                frames.push(ether(MAC_B, MAC_A, ether_type, &body));
            }
        }
        for f in &frames {
            for end in 0..=f.len() {
                let line = describe(&f[..end]);
                assert!(!line.contains('\n'), "{line}");
                assert!(line.contains(&format!("length {end}")), "{line}");
            }
        }
    }

    #[test]
    fn time_of_day_is_utc() {
        let t = Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(time_of_day(t), "22:13:20.123456");
        assert_eq!(time_of_day(Duration::ZERO), "00:00:00.000000");
    }

    #[test]
    fn dump_prints_lines_and_counts_drops() {
        let f = echo_request_v4();
        let mut input = Vec::new();
        input.extend((f.len() as u16).to_be_bytes());
        input.extend(&f);
        input.extend([0x00, 0x05, 1, 2, 3, 4, 5]); // too short: dropped
        input.extend((f.len() as u16).to_be_bytes());
        input.extend(&f);
        let mut out = Vec::new();
        let stats = dump(&input[..], &mut out, Framing::Raw).unwrap();
        assert_eq!((stats.frames, stats.dropped), (2, 1));
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let (time, rest) = line.split_once(' ').unwrap();
            assert_eq!(time.len(), 15, "{time}");
            assert_eq!(rest, describe(&f));
        }
    }
}
