// SPDX-License-Identifier: GPL-2.0-only
//! Interface configuration of the in-process kernel through rtnetlink:
//! find links, rename them, set them up and their MTU, add addresses and
//! routes, and list what is configured.
//!
//! Every call opens its own NETLINK_ROUTE socket, so calls from many host
//! threads never read each other's replies. Changes ask for an
//! acknowledgement (NLM_F_ACK), and every reply must carry the sequence
//! number of its request. Replies are parsed without trusting any length
//! in them: a malformed reply is `EPROTO`, never a panic.

use core::ffi::c_int;
use core::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use lkl_sys as k;
pub use lkl_sys::Errno;

type Result<T> = core::result::Result<T, Errno>;

/// An IP address family, for the listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// A unicast route of the main table. Multipath routes show no gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
}

/// The index of the interface called `name` (`ENODEV` if there is none).
pub fn ifindex(name: &str) -> Result<u32> {
    let req = Request::new(k::RTM_GETLINK, k::NLM_F_REQUEST | k::NLM_F_ACK)
        .fixed(&ifinfomsg(&k::ifinfomsg::default()))
        .attr(k::IFLA_IFNAME, &ifname(name)?);
    for r in transact(&req)? {
        if u32::from(r.ty) == k::RTM_NEWLINK {
            let mut rd = Rd(&r.payload);
            return index_from_kernel(read_ifinfomsg(&mut rd)?.ifi_index);
        }
    }
    Err(eproto())
}

/// One interface of a link dump: index, name, hardware address.
struct Link {
    index: u32,
    name: Option<String>,
    mac: Option<Vec<u8>>,
}

/// Every interface, from one RTM_GETLINK dump.
fn links() -> Result<Vec<Link>> {
    let req = Request::new(k::RTM_GETLINK, k::NLM_F_REQUEST | k::NLM_F_DUMP)
        .fixed(&ifinfomsg(&k::ifinfomsg::default()));
    let mut out = Vec::new();
    for r in transact(&req)? {
        if u32::from(r.ty) != k::RTM_NEWLINK {
            continue;
        }
        let mut rd = Rd(&r.payload);
        let m = read_ifinfomsg(&mut rd)?;
        let mut link = Link {
            index: index_from_kernel(m.ifi_index)?,
            name: None,
            mac: None,
        };
        for (ty, data) in attrs(rd.0)? {
            match ty {
                k::IFLA_ADDRESS => link.mac = Some(data.to_vec()),
                // The name is NUL terminated; names need not be UTF-8.
                k::IFLA_IFNAME => {
                    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                    link.name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                }
                _ => {}
            }
        }
        out.push(link);
    }
    Ok(out)
}

/// The interface whose hardware address is `mac`: its index and name.
pub fn link_by_mac(mac: [u8; 6]) -> Result<Option<(u32, String)>> {
    match links()?
        .into_iter()
        .find(|l| l.mac.as_deref() == Some(&mac[..]))
    {
        Some(l) => Ok(Some((l.index, l.name.ok_or_else(eproto)?))),
        None => Ok(None),
    }
}

/// The hardware address of interface `index`, if it has one.
pub fn link_mac(index: u32) -> Result<Option<[u8; 6]>> {
    Ok(links()?
        .into_iter()
        .find(|l| l.index == index)
        .and_then(|l| l.mac?.try_into().ok()))
}

/// Makes the kernel announce interface `index`'s addresses again
/// (gratuitous ARP, unsolicited NA, with arp_notify and ndisc_notify on):
/// its hardware address, whatever it is now, is set to itself.
pub fn announce(index: u32) -> Result<()> {
    match link_mac(index)? {
        Some(mac) => set_mac(index, mac),
        None => Ok(()),
    }
}

/// Renames interface `index`. Linux 6.12 renames links that are up too
/// (kernels before 6.2 said `EBUSY`); a name in use is `EEXIST`, one with
/// `/`, `:` or whitespace `EINVAL`.
pub fn rename_link(index: u32, new_name: &str) -> Result<()> {
    let m = k::ifinfomsg {
        ifi_index: index_to_kernel(index)?,
        ..Default::default()
    };
    let req = Request::new(k::RTM_NEWLINK, k::NLM_F_REQUEST | k::NLM_F_ACK)
        .fixed(&ifinfomsg(&m))
        .attr(k::IFLA_IFNAME, &ifname(new_name)?);
    transact(&req).map(drop)
}

/// Brings interface `index` up or down and, with `mtu`, sets its MTU.
pub fn set_link(index: u32, up: bool, mtu: Option<u32>) -> Result<()> {
    let m = k::ifinfomsg {
        ifi_index: index_to_kernel(index)?,
        ifi_flags: if up { k::net_device_flags_IFF_UP } else { 0 },
        // Only IFF_UP changes; the other flags stay as they are.
        ifi_change: k::net_device_flags_IFF_UP,
        ..Default::default()
    };
    let mut req =
        Request::new(k::RTM_NEWLINK, k::NLM_F_REQUEST | k::NLM_F_ACK).fixed(&ifinfomsg(&m));
    if let Some(mtu) = mtu {
        req = req.attr(k::IFLA_MTU, &mtu.to_ne_bytes());
    }
    transact(&req).map(drop)
}

/// Sets the MAC address of interface `index` (to the one it has, to have
/// the kernel announce its addresses: a change of address sends a
/// gratuitous ARP and an unsolicited NA where `arp_notify` and
/// `ndisc_notify` are on).
pub fn set_mac(index: u32, mac: [u8; 6]) -> Result<()> {
    let m = k::ifinfomsg {
        ifi_index: index_to_kernel(index)?,
        ..Default::default()
    };
    let req = Request::new(k::RTM_NEWLINK, k::NLM_F_REQUEST | k::NLM_F_ACK)
        .fixed(&ifinfomsg(&m))
        .attr(k::IFLA_ADDRESS, &mac);
    transact(&req).map(drop)
}

/// Adds `addr/prefix` to interface `index` (`EEXIST` if it is there).
///
/// IPv4 addresses get the broadcast address of their subnet (not for /31
/// and /32, which have none). IPv6 addresses skip duplicate address
/// detection (IFA_F_NODAD): otherwise they stay tentative, unusable as a
/// source, for about a second after the link comes up, and a stdpkt
/// instance must be able to ping right after it starts. Its links are
/// byte streams it owns, so a duplicate is a configuration error anyway.
pub fn add_addr(index: u32, addr: IpAddr, prefix: u8) -> Result<()> {
    let fam = family_of(addr);
    check_prefix(fam, prefix)?;
    let mut m = k::ifaddrmsg {
        ifa_family: af(fam),
        ifa_prefixlen: prefix,
        ifa_scope: k::rt_scope_t_RT_SCOPE_UNIVERSE as u8,
        ifa_index: index,
        ..Default::default()
    };
    let flags = k::NLM_F_REQUEST | k::NLM_F_ACK | k::NLM_F_CREATE | k::NLM_F_EXCL;
    let req = match addr {
        IpAddr::V4(a) => {
            let req = Request::new(k::RTM_NEWADDR, flags)
                .fixed(&ifaddrmsg(&m))
                .attr(k::IFA_LOCAL, &a.octets())
                .attr(k::IFA_ADDRESS, &a.octets());
            if prefix < 31 {
                let bcast = Ipv4Addr::from(u32::from(a) | (u32::MAX >> prefix));
                req.attr(k::IFA_BROADCAST, &bcast.octets())
            } else {
                req
            }
        }
        IpAddr::V6(a) => {
            // The 8-bit field for old kernels, IFA_FLAGS for new ones.
            m.ifa_flags = k::IFA_F_NODAD as u8;
            Request::new(k::RTM_NEWADDR, flags)
                .fixed(&ifaddrmsg(&m))
                .attr(k::IFA_ADDRESS, &a.octets())
                .attr(k::IFA_FLAGS, &k::IFA_F_NODAD.to_ne_bytes())
        }
    };
    transact(&req).map(drop)
}

/// Adds the default route of `gw`'s family via `gw`.
pub fn add_default_route(gw: IpAddr) -> Result<()> {
    let any = match gw {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    add_route(any, 0, Some(gw), None)
}

/// Adds a unicast route to `dst/prefix` in the main table, via `gw` or
/// straight out of `oif` (at least one of them is needed). `EEXIST` if
/// the same route is there; `EINVAL` if `dst` has host bits set or the
/// families differ.
pub fn add_route(dst: IpAddr, prefix: u8, gw: Option<IpAddr>, oif: Option<u32>) -> Result<()> {
    let fam = family_of(dst);
    check_prefix(fam, prefix)?;
    if gw.is_some_and(|g| family_of(g) != fam) {
        return Err(Errno(libc::EINVAL));
    }
    let m = k::rtmsg {
        rtm_family: af(fam),
        rtm_dst_len: prefix,
        rtm_table: k::rt_class_t_RT_TABLE_MAIN as u8,
        rtm_protocol: k::RTPROT_STATIC as u8,
        // Without a gateway the destination is on the link.
        rtm_scope: if gw.is_some() {
            k::rt_scope_t_RT_SCOPE_UNIVERSE
        } else {
            k::rt_scope_t_RT_SCOPE_LINK
        } as u8,
        rtm_type: k::RTN_UNICAST as u8,
        ..Default::default()
    };
    let flags = k::NLM_F_REQUEST | k::NLM_F_ACK | k::NLM_F_CREATE | k::NLM_F_EXCL;
    let mut req = Request::new(k::RTM_NEWROUTE, flags)
        .fixed(&rtmsg(&m))
        .attr(k::rtattr_type_t_RTA_DST, &octets(dst));
    if let Some(gw) = gw {
        req = req.attr(k::rtattr_type_t_RTA_GATEWAY, &octets(gw));
    }
    if let Some(oif) = oif {
        req = req.attr(k::rtattr_type_t_RTA_OIF, &oif.to_ne_bytes());
    }
    transact(&req).map(drop)
}

/// The addresses of interface `index`, both families, with prefixes.
pub fn addrs(index: u32) -> Result<Vec<(IpAddr, u8)>> {
    let req = Request::new(k::RTM_GETADDR, k::NLM_F_REQUEST | k::NLM_F_DUMP)
        .fixed(&ifaddrmsg(&k::ifaddrmsg::default()));
    let mut out = Vec::new();
    for r in transact(&req)? {
        if u32::from(r.ty) != k::RTM_NEWADDR {
            continue;
        }
        let mut rd = Rd(&r.payload);
        let m = read_ifaddrmsg(&mut rd)?;
        if m.ifa_index != index {
            continue;
        }
        let (mut local, mut address) = (None, None);
        for (ty, data) in attrs(rd.0)? {
            match ty {
                k::IFA_LOCAL => local = Some(data),
                k::IFA_ADDRESS => address = Some(data),
                _ => {}
            }
        }
        // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL,
        // when present, is ours.
        let raw = local.or(address).ok_or_else(eproto)?;
        out.push((ip_from(m.ifa_family, raw)?, m.ifa_prefixlen));
    }
    Ok(out)
}

/// The unicast routes of the main table for `family`.
pub fn routes(family: Family) -> Result<Vec<Route>> {
    let m = k::rtmsg {
        rtm_family: af(family),
        ..Default::default()
    };
    let req = Request::new(k::RTM_GETROUTE, k::NLM_F_REQUEST | k::NLM_F_DUMP).fixed(&rtmsg(&m));
    let mut out = Vec::new();
    for r in transact(&req)? {
        if u32::from(r.ty) != k::RTM_NEWROUTE {
            continue;
        }
        let mut rd = Rd(&r.payload);
        let m = read_rtmsg(&mut rd)?;
        if m.rtm_family != af(family)
            || u32::from(m.rtm_type) != k::RTN_UNICAST
            || m.rtm_flags & k::RTM_F_CLONED != 0
        {
            continue;
        }
        let mut table = u32::from(m.rtm_table);
        let (mut dst, mut gateway, mut oif) = (None, None, None);
        for (ty, data) in attrs(rd.0)? {
            match ty {
                // Tables above 255 only fit in RTA_TABLE.
                k::rtattr_type_t_RTA_TABLE => table = Rd(data).u32()?,
                k::rtattr_type_t_RTA_DST => dst = Some(ip_from(m.rtm_family, data)?),
                k::rtattr_type_t_RTA_GATEWAY => gateway = Some(ip_from(m.rtm_family, data)?),
                k::rtattr_type_t_RTA_OIF => oif = Some(Rd(data).u32()?),
                _ => {}
            }
        }
        if table != k::rt_class_t_RT_TABLE_MAIN {
            continue;
        }
        // A default route carries no RTA_DST.
        let dst = match dst {
            Some(d) => d,
            None if m.rtm_dst_len == 0 => match family {
                Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            },
            None => return Err(eproto()),
        };
        out.push(Route {
            dst,
            prefix: m.rtm_dst_len,
            gateway,
            oif,
        });
    }
    Ok(out)
}

// ---- Requests: one netlink message, built with 4-byte alignment. ----

const NLMSG_HDRLEN: usize = size_of::<k::nlmsghdr>();
const RTA_HDRLEN: usize = size_of::<k::rtattr>();
/// The kernel sends at most 32 KiB per dump datagram; more never truncates.
const RECV_BUF: usize = 64 * 1024;
/// Dumps interrupted by concurrent changes are restarted this often.
const DUMP_TRIES: usize = 8;

// The encoders below write these UAPI structs field by field.
const _: () = assert!(NLMSG_HDRLEN == 16 && RTA_HDRLEN == 4);
const _: () = assert!(size_of::<k::ifinfomsg>() == 16);
const _: () = assert!(size_of::<k::ifaddrmsg>() == 8);
const _: () = assert!(size_of::<k::rtmsg>() == 12);

static SEQ: AtomicU32 = AtomicU32::new(1);

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn eproto() -> Errno {
    Errno(libc::EPROTO)
}

fn pad(buf: &mut Vec<u8>) {
    buf.resize(align4(buf.len()), 0);
}

/// A request without its nlmsghdr, which `encode` adds with a sequence
/// number (so a dump can be sent again).
struct Request {
    ty: u16,
    flags: u16,
    body: Vec<u8>,
}

impl Request {
    fn new(ty: u32, flags: u32) -> Self {
        Request {
            ty: ty as u16,
            flags: flags as u16,
            body: Vec::with_capacity(64),
        }
    }

    /// The family header (ifinfomsg, ifaddrmsg, rtmsg).
    fn fixed(mut self, bytes: &[u8]) -> Self {
        self.body.extend_from_slice(bytes);
        pad(&mut self.body);
        self
    }

    /// One attribute. Ours are at most 16 bytes.
    fn attr(mut self, ty: u32, data: &[u8]) -> Self {
        debug_assert!(data.len() < 256);
        let len = (RTA_HDRLEN + data.len()) as u16;
        self.body.extend_from_slice(&len.to_ne_bytes());
        self.body.extend_from_slice(&(ty as u16).to_ne_bytes());
        self.body.extend_from_slice(data);
        pad(&mut self.body);
        self
    }

    fn is_dump(&self) -> bool {
        u32::from(self.flags) & k::NLM_F_DUMP == k::NLM_F_DUMP
    }

    fn encode(&self, seq: u32) -> Result<Vec<u8>> {
        let len = u32::try_from(NLMSG_HDRLEN + self.body.len()).map_err(|_| Errno(libc::E2BIG))?;
        let mut out = Vec::with_capacity(len as usize);
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&self.ty.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        // Port 0 in a request: the kernel fills in ours.
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

fn ifinfomsg(m: &k::ifinfomsg) -> Vec<u8> {
    let mut v = vec![m.ifi_family, 0];
    v.extend_from_slice(&m.ifi_type.to_ne_bytes());
    v.extend_from_slice(&m.ifi_index.to_ne_bytes());
    v.extend_from_slice(&m.ifi_flags.to_ne_bytes());
    v.extend_from_slice(&m.ifi_change.to_ne_bytes());
    v
}

fn ifaddrmsg(m: &k::ifaddrmsg) -> Vec<u8> {
    let mut v = vec![m.ifa_family, m.ifa_prefixlen, m.ifa_flags, m.ifa_scope];
    v.extend_from_slice(&m.ifa_index.to_ne_bytes());
    v
}

fn rtmsg(m: &k::rtmsg) -> Vec<u8> {
    let mut v = vec![
        m.rtm_family,
        m.rtm_dst_len,
        m.rtm_src_len,
        m.rtm_tos,
        m.rtm_table,
        m.rtm_protocol,
        m.rtm_scope,
        m.rtm_type,
    ];
    v.extend_from_slice(&m.rtm_flags.to_ne_bytes());
    v
}

/// A NUL-terminated interface name the kernel may accept (it checks the
/// characters itself).
fn ifname(name: &str) -> Result<Vec<u8>> {
    if name.is_empty() || name.len() >= k::IFNAMSIZ as usize || name.contains('\0') {
        return Err(Errno(libc::EINVAL));
    }
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    Ok(v)
}

fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

fn af(f: Family) -> u8 {
    match f {
        Family::V4 => libc::AF_INET as u8,
        Family::V6 => libc::AF_INET6 as u8,
    }
}

fn check_prefix(f: Family, prefix: u8) -> Result<()> {
    let max = match f {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    if prefix > max {
        return Err(Errno(libc::EINVAL));
    }
    Ok(())
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Interface indices are u32 here and a C int in ifinfomsg; no index
/// above i32::MAX can exist.
fn index_to_kernel(index: u32) -> Result<c_int> {
    c_int::try_from(index).map_err(|_| Errno(libc::ENODEV))
}

fn index_from_kernel(index: c_int) -> Result<u32> {
    u32::try_from(index).map_err(|_| eproto())
}

// ---- Replies: bounds-checked reads, malformed means EPROTO. ----

/// A cursor over reply bytes.
struct Rd<'a>(&'a [u8]);

impl Rd<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N).ok_or_else(eproto)?;
        self.0 = rest;
        <[u8; N]>::try_from(head).map_err(|_| eproto())
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        self.take().map(u16::from_ne_bytes)
    }

    fn u32(&mut self) -> Result<u32> {
        self.take().map(u32::from_ne_bytes)
    }

    fn i32(&mut self) -> Result<i32> {
        self.take().map(i32::from_ne_bytes)
    }
}

fn read_nlmsghdr(rd: &mut Rd) -> Result<k::nlmsghdr> {
    Ok(k::nlmsghdr {
        nlmsg_len: rd.u32()?,
        nlmsg_type: rd.u16()?,
        nlmsg_flags: rd.u16()?,
        nlmsg_seq: rd.u32()?,
        nlmsg_pid: rd.u32()?,
    })
}

fn read_ifinfomsg(rd: &mut Rd) -> Result<k::ifinfomsg> {
    Ok(k::ifinfomsg {
        ifi_family: rd.u8()?,
        __ifi_pad: rd.u8()?,
        ifi_type: rd.u16()?,
        ifi_index: rd.i32()?,
        ifi_flags: rd.u32()?,
        ifi_change: rd.u32()?,
    })
}

fn read_ifaddrmsg(rd: &mut Rd) -> Result<k::ifaddrmsg> {
    Ok(k::ifaddrmsg {
        ifa_family: rd.u8()?,
        ifa_prefixlen: rd.u8()?,
        ifa_flags: rd.u8()?,
        ifa_scope: rd.u8()?,
        ifa_index: rd.u32()?,
    })
}

fn read_rtmsg(rd: &mut Rd) -> Result<k::rtmsg> {
    Ok(k::rtmsg {
        rtm_family: rd.u8()?,
        rtm_dst_len: rd.u8()?,
        rtm_src_len: rd.u8()?,
        rtm_tos: rd.u8()?,
        rtm_table: rd.u8()?,
        rtm_protocol: rd.u8()?,
        rtm_scope: rd.u8()?,
        rtm_type: rd.u8()?,
        rtm_flags: rd.u32()?,
    })
}

/// Splits a datagram into messages: header and payload.
fn messages(mut buf: &[u8]) -> Result<Vec<(k::nlmsghdr, &[u8])>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let h = read_nlmsghdr(&mut Rd(buf))?;
        let len = h.nlmsg_len as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(eproto());
        }
        out.push((h, &buf[NLMSG_HDRLEN..len]));
        // The last message need not be padded.
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Splits attributes into (type, data), flag bits masked off the type.
fn attrs(mut buf: &[u8]) -> Result<Vec<(u32, &[u8])>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let mut rd = Rd(buf);
        let len = rd.u16()? as usize;
        let ty = rd.u16()?;
        if len < RTA_HDRLEN || len > buf.len() {
            return Err(eproto());
        }
        let ty = u32::from(ty) & !(k::NLA_F_NESTED | k::NLA_F_NET_BYTEORDER);
        out.push((ty, &buf[RTA_HDRLEN..len]));
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

fn ip_from(family: u8, data: &[u8]) -> Result<IpAddr> {
    match c_int::from(family) {
        libc::AF_INET => Ok(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(data).map_err(|_| eproto())?,
        ))),
        libc::AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(data).map_err(|_| eproto())?,
        ))),
        _ => Err(eproto()),
    }
}

// ---- The socket and one request/reply exchange. ----

/// A NETLINK_ROUTE socket of the in-process kernel, closed on drop.
struct Socket(c_int);

const SA_NL_LEN: u32 = size_of::<k::sockaddr_nl>() as u32;

impl Socket {
    fn open() -> Result<Self> {
        let fd = k::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            k::NETLINK_ROUTE as c_int,
        )?;
        Ok(Socket(fd))
    }

    fn send(&self, msg: &[u8]) -> Result<()> {
        let kernel = k::sockaddr_nl {
            nl_family: libc::AF_NETLINK as u16,
            ..Default::default()
        };
        // SAFETY: `kernel` is a sockaddr_nl of SA_NL_LEN bytes that
        // outlives the call; `msg` is a valid slice.
        let n = unsafe {
            k::sendto(
                self.0,
                msg,
                0,
                (&kernel as *const k::sockaddr_nl).cast(),
                SA_NL_LEN,
            )
        }?;
        if n != msg.len() {
            return Err(eproto());
        }
        Ok(())
    }

    /// One datagram from the kernel. MSG_TRUNC makes the kernel report
    /// the real length, so a truncated datagram is an error, not a
    /// silently shortened reply.
    fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        let mut from = k::sockaddr_nl::default();
        let mut len = SA_NL_LEN;
        // SAFETY: `from` and `len` are valid for writing a sockaddr_nl of
        // SA_NL_LEN bytes; `buf` is a valid slice.
        let n = unsafe {
            k::recvfrom(
                self.0,
                buf,
                libc::MSG_TRUNC,
                (&mut from as *mut k::sockaddr_nl).cast(),
                &mut len,
            )
        }?;
        if n > buf.len() {
            return Err(Errno(libc::EMSGSIZE));
        }
        // Only the kernel (port 0) sends to us: we join no group.
        if from.nl_pid != 0 {
            return Err(eproto());
        }
        Ok(n)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = k::close(self.0);
    }
}

/// One reply message: its type and payload after the nlmsghdr.
struct Reply {
    ty: u16,
    payload: Vec<u8>,
}

/// Sends `req` and collects the replies up to the ACK or NLMSG_DONE.
/// A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: the list
/// changed while it was read) is done again.
fn transact(req: &Request) -> Result<Vec<Reply>> {
    let sock = Socket::open()?;
    let mut buf = vec![0u8; RECV_BUF];
    for _ in 0..DUMP_TRIES {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        sock.send(&req.encode(seq)?)?;
        let (replies, interrupted) = collect(&sock, &mut buf, seq)?;
        if !interrupted || !req.is_dump() {
            return Ok(replies);
        }
    }
    Err(Errno(libc::EAGAIN))
}

fn collect(sock: &Socket, buf: &mut [u8], seq: u32) -> Result<(Vec<Reply>, bool)> {
    let mut replies = Vec::new();
    let mut interrupted = false;
    loop {
        let n = sock.recv(buf)?;
        for (h, payload) in messages(&buf[..n])? {
            // The socket is ours alone: anything else is a stray reply.
            if h.nlmsg_seq != seq {
                return Err(eproto());
            }
            interrupted |= u32::from(h.nlmsg_flags) & k::NLM_F_DUMP_INTR != 0;
            match u32::from(h.nlmsg_type) {
                k::NLMSG_NOOP => {}
                // An nlmsgerr: 0 is the ACK, else a negated errno.
                k::NLMSG_ERROR => {
                    return match Rd(payload).i32()? {
                        0 => Ok((replies, interrupted)),
                        e @ -4095..=-1 => Err(Errno(-e)),
                        _ => Err(eproto()),
                    };
                }
                // Ends a dump; since Linux 4.x it may carry the dump's error.
                k::NLMSG_DONE => {
                    return match Rd(payload).i32() {
                        Ok(e @ -4095..=-1) => Err(Errno(-e)),
                        _ => Ok((replies, interrupted)),
                    };
                }
                k::NLMSG_OVERRUN => return Err(eproto()),
                _ => replies.push(Reply {
                    ty: h.nlmsg_type,
                    payload: payload.to_vec(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_aligned_and_sized() {
        let req = Request::new(k::RTM_NEWLINK, k::NLM_F_REQUEST)
            .fixed(&[1, 2, 3])
            .attr(7, &[9]);
        let msg = req.encode(42).unwrap();
        // 16 header + 4 (3 padded) + 8 (attr 5 padded).
        assert_eq!(msg.len(), 28);
        assert_eq!(u32::from_ne_bytes(msg[0..4].try_into().unwrap()), 28);
        assert_eq!(u32::from_ne_bytes(msg[8..12].try_into().unwrap()), 42);
        assert_eq!(&msg[16..20], &[1, 2, 3, 0]);
        assert_eq!(u16::from_ne_bytes(msg[20..22].try_into().unwrap()), 5);
        assert_eq!(&msg[24..28], &[9, 0, 0, 0]);
        let msgs = messages(&msg).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0.nlmsg_type as u32, k::RTM_NEWLINK);
        assert_eq!(attrs(&msgs[0].1[4..]).unwrap(), vec![(7, &[9u8][..])]);
    }

    #[test]
    fn malformed_replies_are_eproto() {
        let e = Err(eproto());
        assert_eq!(messages(&[1, 2, 3]).map(|v| v.len()), e);
        // nlmsg_len smaller than the header, and larger than the buffer.
        let mut m = vec![0u8; 16];
        m[0] = 8;
        assert_eq!(messages(&m).map(|v| v.len()), e);
        m[0] = 32;
        assert_eq!(messages(&m).map(|v| v.len()), e);
        assert_eq!(attrs(&[2, 0, 1, 0]).map(|v| v.len()), e);
        assert_eq!(attrs(&[9, 0, 1, 0, 0]).map(|v| v.len()), e);
        assert_eq!(attrs(&[8, 0]).map(|v| v.len()), e);
        assert_eq!(ip_from(libc::AF_INET as u8, &[1, 2, 3]), Err(eproto()));
        assert_eq!(ip_from(99, &[1, 2, 3, 4]), Err(eproto()));
        assert!(read_rtmsg(&mut Rd(&[0; 11])).is_err());
        // Every truncation of a valid message fails cleanly or parses.
        let req = Request::new(k::RTM_NEWADDR, 0)
            .fixed(&[0; 8])
            .attr(1, &[1; 4]);
        let msg = req.encode(1).unwrap();
        for cut in 0..msg.len() {
            let _ = messages(&msg[..cut]);
            let _ = attrs(&msg[16..cut.max(16)]);
        }
    }

    #[test]
    fn bad_arguments_fail_before_the_kernel() {
        assert_eq!(ifname(""), Err(Errno(libc::EINVAL)));
        assert_eq!(ifname("sixteen-chars-xx"), Err(Errno(libc::EINVAL)));
        assert_eq!(ifname("a\0b"), Err(Errno(libc::EINVAL)));
        assert_eq!(ifname("eth0").unwrap(), b"eth0\0");
        assert_eq!(check_prefix(Family::V4, 33), Err(Errno(libc::EINVAL)));
        assert_eq!(check_prefix(Family::V6, 128), Ok(()));
        assert_eq!(index_to_kernel(u32::MAX), Err(Errno(libc::ENODEV)));
    }
}
