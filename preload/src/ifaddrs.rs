// SPDX-License-Identifier: GPL-2.0-only
//! getifaddrs and the interface name functions, answered by the instance.
//!
//! glibc implements these with sockets of its own, opened through private
//! entry points that a preload cannot see: without these replacements a
//! program would list the host's interfaces. Here they are built from
//! netlink dumps (RTM_GETLINK, RTM_GETADDR) and SIOCGIFINDEX/SIOCGIFNAME
//! ioctls in the kernel.
//!
//! Memory follows glibc's conventions, so either library's free function
//! works on either's result: getifaddrs returns one malloc'ed block (freed
//! with `free`), if_nameindex a malloc'ed array of malloc'ed names.
//!
//! Not covered: getaddrinfo's AI_ADDRCONFIG check, which glibc does with
//! a private netlink query, still sees the host's addresses.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::mem::size_of;

use libc::{ifaddrs, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_ll, sockaddr_storage};
use lkl_sys as k;

use crate::{args, dead, forked, ksys, real, running, set_errno};

const IFNAMSIZ: usize = 16;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS: u16 = 7;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
/// struct rtnl_link_stats: 24 __u32 counters.
const LINK_STATS_LEN: usize = 24 * 4;

/// A kernel socket closed on drop.
struct KSock(c_int);

impl KSock {
    fn new(domain: c_int, ty: c_int, proto: c_int) -> Result<KSock, c_int> {
        // SAFETY: no pointers.
        unsafe {
            ksys(
                k::__NR_socket,
                args!(domain, ty | libc::SOCK_CLOEXEC, proto),
            )
        }
        .map(|fd| KSock(fd as c_int))
        .map_err(|e| e.0)
    }
}

impl Drop for KSock {
    fn drop(&mut self) {
        crate::io::close_kernel(self.0);
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message of a dump: its type and payload.
struct NlMsg {
    ty: u16,
    body: Vec<u8>,
}

/// Runs an rtnetlink dump request (`ty` with a zeroed header of `hdr_len`
/// bytes, first byte the address family) and returns every reply.
fn dump(ty: u16, hdr_len: usize) -> Result<Vec<NlMsg>, c_int> {
    let s = KSock::new(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
    let len = NLMSG_HDRLEN + hdr_len;
    let mut req = vec![0u8; len];
    req[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&ty.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: req is len bytes; a null address sends to the kernel.
    unsafe { ksys(k::__NR_sendto, args!(s.0, req.as_ptr(), len, 0, 0, 0)) }.map_err(|e| e.0)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: buf is buf.len() bytes.
        let n = unsafe {
            ksys(
                k::__NR_recvfrom,
                args!(s.0, buf.as_mut_ptr(), buf.len(), 0, 0, 0),
            )
        }
        .map_err(|e| e.0)? as usize;
        if n == 0 {
            return Ok(out);
        }
        let mut off = 0;
        while off + NLMSG_HDRLEN <= n {
            let mlen = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let mty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if mlen < NLMSG_HDRLEN || off + mlen > n {
                return Err(libc::EIO);
            }
            match mty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let e =
                        i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap_or([0; 4]));
                    return Err(if e < 0 { -e } else { libc::EIO });
                }
                _ => out.push(NlMsg {
                    ty: mty,
                    body: buf[off + NLMSG_HDRLEN..off + mlen].to_vec(),
                }),
            }
            off += align4(mlen);
        }
    }
}

/// The route attributes in `b`: (type, payload).
fn attrs(b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= b.len() {
        let len = u16::from_ne_bytes([b[off], b[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([b[off + 2], b[off + 3]]) & 0x3fff;
        if len < 4 || off + len > b.len() {
            break;
        }
        out.push((ty, &b[off + 4..off + len]));
        off += align4(len);
    }
    out
}

struct Link {
    index: i32,
    ty: u16,
    flags: u32,
    name: Vec<u8>,
    addr: Vec<u8>,
    broadcast: Vec<u8>,
    stats: Option<Vec<u8>>,
}

fn links() -> Result<Vec<Link>, c_int> {
    let mut out = Vec::new();
    for m in dump(RTM_GETLINK, 16)? {
        if m.ty != RTM_NEWLINK || m.body.len() < 16 {
            continue;
        }
        let b = &m.body;
        let mut l = Link {
            ty: u16::from_ne_bytes([b[2], b[3]]),
            index: i32::from_ne_bytes(b[4..8].try_into().unwrap()),
            flags: u32::from_ne_bytes(b[8..12].try_into().unwrap()),
            name: Vec::new(),
            addr: Vec::new(),
            broadcast: Vec::new(),
            stats: None,
        };
        for (t, v) in attrs(&b[16..]) {
            match t {
                IFLA_IFNAME => l.name = v.split(|&c| c == 0).next().unwrap_or(&[]).to_vec(),
                IFLA_ADDRESS => l.addr = v.to_vec(),
                IFLA_BROADCAST => l.broadcast = v.to_vec(),
                IFLA_STATS if v.len() >= LINK_STATS_LEN => {
                    l.stats = Some(v[..LINK_STATS_LEN].to_vec())
                }
                _ => {}
            }
        }
        out.push(l);
    }
    Ok(out)
}

struct Addr {
    family: u8,
    prefix: u8,
    index: u32,
    label: Option<Vec<u8>>,
    address: Option<Vec<u8>>,
    local: Option<Vec<u8>>,
    broadcast: Option<Vec<u8>>,
}

/// Whether the instance has an IPv4 address other than 127.0.0.1, and an
/// IPv6 address other than ::1: glibc's test for AI_ADDRCONFIG.
pub(crate) fn families_configured() -> Result<(bool, bool), c_int> {
    let mut v4 = false;
    let mut v6 = false;
    for a in addrs()? {
        let Some(addr) = a.local.as_ref().or(a.address.as_ref()) else {
            continue;
        };
        match a.family as c_int {
            libc::AF_INET => v4 |= addr.as_slice() != [127, 0, 0, 1],
            libc::AF_INET6 => {
                let mut lo = [0u8; 16];
                lo[15] = 1;
                v6 |= addr.as_slice() != lo;
            }
            _ => {}
        }
    }
    Ok((v4, v6))
}

fn addrs() -> Result<Vec<Addr>, c_int> {
    let mut out = Vec::new();
    for m in dump(RTM_GETADDR, 8)? {
        if m.ty != RTM_NEWADDR || m.body.len() < 8 {
            continue;
        }
        let b = &m.body;
        let mut a = Addr {
            family: b[0],
            prefix: b[1],
            index: u32::from_ne_bytes(b[4..8].try_into().unwrap()),
            label: None,
            address: None,
            local: None,
            broadcast: None,
        };
        for (t, v) in attrs(&b[8..]) {
            match t {
                IFA_ADDRESS => a.address = Some(v.to_vec()),
                IFA_LOCAL => a.local = Some(v.to_vec()),
                IFA_BROADCAST => a.broadcast = Some(v.to_vec()),
                IFA_LABEL => a.label = Some(v.split(|&c| c == 0).next().unwrap_or(&[]).to_vec()),
                _ => {}
            }
        }
        out.push(a);
    }
    Ok(out)
}

/// Storage of one getifaddrs entry, inside the single allocation.
#[repr(C)]
struct Entry {
    ifa: ifaddrs,
    addr: sockaddr_storage,
    netmask: sockaddr_storage,
    ifu: sockaddr_storage,
    name: [c_char; IFNAMSIZ],
    data: [u32; 24],
}

/// What goes into one entry before it is laid out.
#[derive(Default)]
struct Plan {
    name: Vec<u8>,
    flags: u32,
    addr: Option<Sa>,
    netmask: Option<Sa>,
    ifu: Option<Sa>,
    data: Option<Vec<u8>>,
}

enum Sa {
    Ll(i32, u16, Vec<u8>),
    V4([u8; 4]),
    V6([u8; 16], u32),
}

fn write_sa(dst: &mut sockaddr_storage, sa: &Sa) {
    // SAFETY: sockaddr_storage is large and aligned enough for each kind.
    unsafe {
        match sa {
            Sa::Ll(index, hatype, bytes) => {
                let ll = &mut *(dst as *mut sockaddr_storage).cast::<sockaddr_ll>();
                ll.sll_family = libc::AF_PACKET as u16;
                ll.sll_ifindex = *index;
                ll.sll_hatype = *hatype;
                let n = bytes.len().min(8);
                ll.sll_halen = n as u8;
                ll.sll_addr[..n].copy_from_slice(&bytes[..n]);
            }
            Sa::V4(a) => {
                let s = &mut *(dst as *mut sockaddr_storage).cast::<sockaddr_in>();
                s.sin_family = libc::AF_INET as u16;
                s.sin_addr.s_addr = u32::from_ne_bytes(*a);
            }
            Sa::V6(a, scope) => {
                let s = &mut *(dst as *mut sockaddr_storage).cast::<sockaddr_in6>();
                s.sin6_family = libc::AF_INET6 as u16;
                s.sin6_addr.s6_addr = *a;
                s.sin6_scope_id = *scope;
            }
        }
    }
}

fn mask_bytes<const N: usize>(prefix: u8) -> [u8; N] {
    let mut m = [0u8; N];
    for (i, b) in m.iter_mut().enumerate() {
        let bits = (prefix as usize).saturating_sub(i * 8).min(8);
        *b = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
    }
    m
}

fn plans() -> Result<Vec<Plan>, c_int> {
    let links = links()?;
    let mut out = Vec::new();
    for l in &links {
        out.push(Plan {
            name: l.name.clone(),
            flags: l.flags,
            addr: Some(Sa::Ll(l.index, l.ty, l.addr.clone())),
            ifu: (!l.broadcast.is_empty()).then(|| Sa::Ll(l.index, l.ty, l.broadcast.clone())),
            data: l.stats.clone(),
            ..Default::default()
        });
    }
    for a in addrs()? {
        let link = links.iter().find(|l| l.index as u32 == a.index);
        let flags = link.map_or(0, |l| l.flags);
        let name = a
            .label
            .clone()
            .or_else(|| link.map(|l| l.name.clone()))
            .unwrap_or_default();
        let main = a.local.clone().or_else(|| a.address.clone());
        let p2p = flags & libc::IFF_POINTOPOINT as u32 != 0;
        let plan = match a.family as c_int {
            libc::AF_INET => {
                let v4 =
                    |v: &Option<Vec<u8>>| v.as_ref().and_then(|b| <[u8; 4]>::try_from(&b[..]).ok());
                Plan {
                    name,
                    flags,
                    addr: v4(&main).map(Sa::V4),
                    netmask: Some(Sa::V4(mask_bytes::<4>(a.prefix))),
                    ifu: if p2p {
                        v4(&a.address).map(Sa::V4)
                    } else {
                        v4(&a.broadcast).map(Sa::V4)
                    },
                    data: None,
                }
            }
            libc::AF_INET6 => {
                let v6 = main
                    .as_ref()
                    .and_then(|b| <[u8; 16]>::try_from(&b[..]).ok());
                let scope = |x: &[u8; 16]| {
                    let ll = x[0] == 0xfe && x[1] & 0xc0 == 0x80;
                    let mcll = x[0] == 0xff && x[1] & 0x0f == 0x2;
                    if ll || mcll {
                        a.index
                    } else {
                        0
                    }
                };
                Plan {
                    name,
                    flags,
                    addr: v6.map(|x| Sa::V6(x, scope(&x))),
                    netmask: Some(Sa::V6(mask_bytes::<16>(a.prefix), 0)),
                    ifu: None,
                    data: None,
                }
            }
            _ => continue,
        };
        out.push(plan);
    }
    Ok(out)
}

fn build() -> Result<*mut ifaddrs, c_int> {
    let plans = plans()?;
    if plans.is_empty() {
        return Ok(std::ptr::null_mut());
    }
    // SAFETY: calloc of n zeroed entries; glibc's freeifaddrs (free) and
    // ours release it.
    let base = unsafe { libc::calloc(plans.len(), size_of::<Entry>()) }.cast::<Entry>();
    if base.is_null() {
        return Err(libc::ENOMEM);
    }
    for (i, p) in plans.iter().enumerate() {
        // SAFETY: i < plans.len() entries were allocated, zeroed.
        let e = unsafe { &mut *base.add(i) };
        let n = p.name.len().min(IFNAMSIZ - 1);
        for (d, s) in e.name.iter_mut().zip(&p.name[..n]) {
            *d = *s as c_char;
        }
        e.ifa.ifa_name = e.name.as_mut_ptr();
        e.ifa.ifa_flags = p.flags as c_uint;
        if let Some(sa) = &p.addr {
            write_sa(&mut e.addr, sa);
            e.ifa.ifa_addr = (&mut e.addr as *mut sockaddr_storage).cast::<sockaddr>();
        }
        if let Some(sa) = &p.netmask {
            write_sa(&mut e.netmask, sa);
            e.ifa.ifa_netmask = (&mut e.netmask as *mut sockaddr_storage).cast::<sockaddr>();
        }
        if let Some(sa) = &p.ifu {
            write_sa(&mut e.ifu, sa);
            e.ifa.ifa_ifu = (&mut e.ifu as *mut sockaddr_storage).cast::<sockaddr>();
        }
        if let Some(d) = &p.data {
            for (w, c) in e.data.iter_mut().zip(d.chunks_exact(4)) {
                *w = u32::from_ne_bytes(c.try_into().unwrap());
            }
            e.ifa.ifa_data = e.data.as_mut_ptr().cast::<c_void>();
        }
        if i + 1 < plans.len() {
            // SAFETY: the next entry is in the same allocation.
            e.ifa.ifa_next = unsafe { &mut (*base.add(i + 1)).ifa };
        }
    }
    // SAFETY: ifa is the first field of the first entry.
    Ok(unsafe { &mut (*base).ifa })
}

#[no_mangle]
pub unsafe extern "C" fn getifaddrs(out: *mut *mut ifaddrs) -> c_int {
    if !running() {
        if forked() {
            return dead() as c_int;
        }
        // SAFETY: plain getifaddrs on the host.
        return unsafe { real!(getifaddrs: fn(*mut *mut ifaddrs) -> c_int)(out) };
    }
    match build() {
        Ok(p) => {
            // SAFETY: the program's out pointer.
            unsafe { *out = p };
            0
        }
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn freeifaddrs(ifa: *mut ifaddrs) {
    // SAFETY: one block from calloc (ours) or malloc (glibc's), either way.
    unsafe { libc::free(ifa.cast()) };
}

/// An ifreq: name, then an int (ifindex) or more; 40 bytes on x86_64.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    ifindex: c_int,
    _pad: [u8; 20],
}

fn ifreq_ioctl(req: c_uint, r: &mut IfReq) -> Result<(), c_int> {
    let s = KSock::new(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: r is a full ifreq.
    unsafe { ksys(k::__NR_ioctl, args!(s.0, req, r as *mut IfReq)) }
        .map(drop)
        .map_err(|e| e.0)
}

#[no_mangle]
pub unsafe extern "C" fn if_nametoindex(name: *const c_char) -> c_uint {
    if !running() {
        if forked() {
            return 0;
        }
        // SAFETY: plain if_nametoindex on the host.
        return unsafe { real!(if_nametoindex: fn(*const c_char) -> c_uint)(name) };
    }
    // SAFETY: the program's NUL-terminated name.
    let n = unsafe { CStr::from_ptr(name) }.to_bytes();
    if n.len() >= IFNAMSIZ {
        set_errno(libc::ENODEV);
        return 0;
    }
    let mut r = IfReq {
        name: [0; IFNAMSIZ],
        ifindex: 0,
        _pad: [0; 20],
    };
    r.name[..n.len()].copy_from_slice(n);
    match ifreq_ioctl(k::SIOCGIFINDEX, &mut r) {
        Ok(()) => r.ifindex as c_uint,
        Err(e) => {
            set_errno(e);
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn if_indextoname(index: c_uint, buf: *mut c_char) -> *mut c_char {
    if !running() {
        if forked() {
            set_errno(libc::ENXIO);
            return std::ptr::null_mut();
        }
        // SAFETY: plain if_indextoname on the host.
        return unsafe {
            real!(if_indextoname: fn(c_uint, *mut c_char) -> *mut c_char)(index, buf)
        };
    }
    let mut r = IfReq {
        name: [0; IFNAMSIZ],
        ifindex: index as c_int,
        _pad: [0; 20],
    };
    match ifreq_ioctl(k::SIOCGIFNAME, &mut r) {
        Ok(()) => {
            r.name[IFNAMSIZ - 1] = 0;
            // SAFETY: the program's buffer of IF_NAMESIZE bytes.
            unsafe { std::ptr::copy_nonoverlapping(r.name.as_ptr(), buf.cast::<u8>(), IFNAMSIZ) };
            buf
        }
        Err(e) => {
            set_errno(if e == libc::ENODEV { libc::ENXIO } else { e });
            std::ptr::null_mut()
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn if_nameindex() -> *mut libc::if_nameindex {
    if !running() {
        if forked() {
            dead();
            return std::ptr::null_mut();
        }
        // SAFETY: plain if_nameindex on the host.
        return unsafe { real!(if_nameindex: fn() -> *mut libc::if_nameindex)() };
    }
    let links = match links() {
        Ok(l) => l,
        Err(e) => {
            set_errno(e);
            return std::ptr::null_mut();
        }
    };
    // SAFETY: calloc of links + 1 zeroed entries (the last ends the array).
    let arr = unsafe { libc::calloc(links.len() + 1, size_of::<libc::if_nameindex>()) }
        .cast::<libc::if_nameindex>();
    if arr.is_null() {
        set_errno(libc::ENOMEM);
        return arr;
    }
    for (i, l) in links.iter().enumerate() {
        // SAFETY: a malloc'ed, NUL-terminated copy of the name.
        let name = unsafe { libc::calloc(l.name.len() + 1, 1) }.cast::<u8>();
        if name.is_null() {
            // SAFETY: frees what was built so far.
            unsafe { if_freenameindex(arr) };
            set_errno(libc::ENOMEM);
            return std::ptr::null_mut();
        }
        // SAFETY: name has room for the bytes and the NUL; entry i exists.
        unsafe {
            std::ptr::copy_nonoverlapping(l.name.as_ptr(), name, l.name.len());
            (*arr.add(i)).if_index = l.index as c_uint;
            (*arr.add(i)).if_name = name.cast();
        }
    }
    arr
}

#[no_mangle]
pub unsafe extern "C" fn if_freenameindex(arr: *mut libc::if_nameindex) {
    if arr.is_null() {
        return;
    }
    let mut p = arr;
    // SAFETY: an array ended by a {0, NULL} entry, as if_nameindex builds.
    unsafe {
        while (*p).if_index != 0 || !(*p).if_name.is_null() {
            libc::free((*p).if_name.cast());
            p = p.add(1);
        }
        libc::free(arr.cast());
    }
}
