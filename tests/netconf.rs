// SPDX-License-Identifier: GPL-2.0-only
//! rtnetlink configuration against the real in-process kernel: links,
//! addresses and routes on `lo` (the only interface without NICs), read
//! back through netlink, /proc and /sys.
//!
//! One kernel per process, so every test here shares one boot and one
//! `lo`. Each test uses its own addresses; the one test that renames
//! `lo` and takes it down holds a write lock the others hold for reading.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{RwLock, RwLockReadGuard};

use stdpkt::kernel::{self, Errno};
use stdpkt::netconf::{self, Family, Route};

mod common;

/// Held for writing only while `lo` may be down or renamed.
static LO: RwLock<()> = RwLock::new(());

fn lo_shared() -> RwLockReadGuard<'static, ()> {
    LO.read().unwrap_or_else(|e| e.into_inner())
}

/// The shared kernel (procfs and sysfs mounted), then `f` on a thread of
/// its own under a deadline.
fn with_timeout<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    common::kernel::boot_once(&[("proc", "/proc"), ("sysfs", "/sys")]);
    common::kernel::with_timeout(secs, f);
}

fn text(path: &str) -> String {
    let bytes = kernel::read_file(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    String::from_utf8(bytes).unwrap()
}

fn lo() -> u32 {
    netconf::ifindex("lo").expect("ifindex lo")
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

/// An IPv4 address as /proc/net/route prints it: the in-memory
/// (network order) word in hex, in the kernel's byte order, which is
/// the host's.
fn proc_hex(a: [u8; 4]) -> String {
    format!("{:08X}", u32::from_ne_bytes(a))
}

#[test]
fn finds_loopback_by_name_and_mac() {
    with_timeout(30, || {
        let _lo = lo_shared();
        let index = lo();
        let sys = text("/sys/class/net/lo/ifindex");
        assert_eq!(sys.trim().parse::<u32>().unwrap(), index);
        // Loopback's hardware address is six zero bytes.
        assert_eq!(
            netconf::link_by_mac([0; 6]).unwrap(),
            Some((index, "lo".to_string()))
        );
        assert_eq!(
            netconf::link_by_mac([0x02, 0, 0, 0, 0x5e, 1]).unwrap(),
            None
        );
        assert_eq!(netconf::ifindex("nosuch0"), Err(Errno(libc::ENODEV)));
        assert_eq!(
            netconf::ifindex("name-too-long-xx"),
            Err(Errno(libc::EINVAL))
        );
    });
}

#[test]
fn addresses_on_loopback() {
    with_timeout(30, || {
        let _lo = lo_shared();
        let lo = lo();
        let a4 = v4([192, 0, 2, 1]);
        let a6 = v6("2001:db8::1");
        netconf::add_addr(lo, a4, 24).unwrap();
        netconf::add_addr(lo, a6, 64).unwrap();

        let got = netconf::addrs(lo).unwrap();
        assert!(got.contains(&(a4, 24)), "{got:?}");
        assert!(got.contains(&(a6, 64)), "{got:?}");
        assert!(got.contains(&(v4([127, 0, 0, 1]), 8)), "{got:?}");
        // Filtered by index: no interface has our addresses but lo.
        assert!(netconf::addrs(lo + 1000).unwrap().is_empty());

        // Adding again is refused: requests are NLM_F_EXCL.
        assert_eq!(netconf::add_addr(lo, a4, 24), Err(Errno(libc::EEXIST)));

        // if_inet6: address, ifindex, prefix, scope, flags, name (hex).
        let inet6 = text("/proc/net/if_inet6");
        let line = inet6
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"20010db8000000000000000000000001"))
            .unwrap_or_else(|| panic!("2001:db8::1 missing:\n{inet6}"));
        assert_eq!(line[1], format!("{lo:02x}"));
        assert_eq!(line[2], "40");
        assert_eq!(line[5], "lo");
        // Usable at once: not tentative (IFA_F_TENTATIVE 0x40).
        let flags = u32::from_str_radix(line[4], 16).unwrap();
        assert_eq!(flags & 0x40, 0, "tentative: {line:?}");
    });
}

#[test]
fn routes_on_loopback() {
    with_timeout(30, || {
        let _lo = lo_shared();
        let lo = lo();
        // Our own subnet on lo, so the gateway below is on-link.
        netconf::add_addr(lo, v4([203, 0, 113, 1]), 24).unwrap();
        netconf::add_route(v4([198, 51, 100, 0]), 24, None, Some(lo)).unwrap();
        let gw = v4([203, 0, 113, 254]);
        netconf::add_default_route(gw).unwrap();

        let got = netconf::routes(Family::V4).unwrap();
        let direct = Route {
            dst: v4([198, 51, 100, 0]),
            prefix: 24,
            gateway: None,
            oif: Some(lo),
        };
        let default = Route {
            dst: v4([0, 0, 0, 0]),
            prefix: 0,
            gateway: Some(gw),
            oif: Some(lo),
        };
        assert!(got.contains(&direct), "{got:?}");
        assert!(got.contains(&default), "{got:?}");
        assert!(got.iter().all(|r| r.dst.is_ipv4()), "{got:?}");

        // /proc/net/route: Iface Destination Gateway Flags ... Mask ...
        let table = text("/proc/net/route");
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        let has = |dst: [u8; 4], gw: [u8; 4], mask: [u8; 4]| {
            rows.iter().any(|r| {
                r.len() > 7
                    && r[0] == "lo"
                    && r[1] == proc_hex(dst)
                    && r[2] == proc_hex(gw)
                    && r[7] == proc_hex(mask)
            })
        };
        assert!(
            has([198, 51, 100, 0], [0; 4], [255, 255, 255, 0]),
            "{table}"
        );
        assert!(has([0; 4], [203, 0, 113, 254], [0; 4]), "{table}");

        // IPv6, on-link only: the kernel refuses lo as the device of a
        // route via an IPv6 gateway.
        let dst6 = v6("2001:db8:5::");
        netconf::add_route(dst6, 48, None, Some(lo)).unwrap();
        let got6 = netconf::routes(Family::V6).unwrap();
        let direct6 = Route {
            dst: dst6,
            prefix: 48,
            gateway: None,
            oif: Some(lo),
        };
        assert!(got6.contains(&direct6), "{got6:?}");
        assert!(got6.iter().all(|r| r.dst.is_ipv6()), "{got6:?}");
        // ipv6_route: destination and prefix length in hex.
        let table6 = text("/proc/net/ipv6_route");
        assert!(
            table6
                .lines()
                .any(|l| l.starts_with("20010db8000500000000000000000000 30 ")),
            "{table6}"
        );
    });
}

#[test]
fn errors_come_back_as_errno() {
    with_timeout(30, || {
        let _lo = lo_shared();
        let lo = lo();
        let none = 1_000_000;
        assert_eq!(
            netconf::add_addr(none, v4([192, 0, 2, 77]), 24),
            Err(Errno(libc::ENODEV))
        );
        assert_eq!(
            netconf::add_addr(none, v6("2001:db8:77::1"), 64),
            Err(Errno(libc::ENODEV))
        );
        assert_eq!(
            netconf::set_link(none, true, None),
            Err(Errno(libc::ENODEV))
        );

        // The same route twice: NLM_F_EXCL makes the second EEXIST.
        let dst = v4([198, 51, 100, 128]);
        netconf::add_route(dst, 25, None, Some(lo)).unwrap();
        assert_eq!(
            netconf::add_route(dst, 25, None, Some(lo)),
            Err(Errno(libc::EEXIST))
        );

        // Host bits set, prefix too long, mixed families: EINVAL.
        let einval = Err(Errno(libc::EINVAL));
        assert_eq!(
            netconf::add_route(v4([198, 51, 100, 1]), 24, None, Some(lo)),
            einval
        );
        assert_eq!(netconf::add_route(dst, 33, None, Some(lo)), einval);
        assert_eq!(netconf::add_addr(lo, v6("2001:db8:78::1"), 129), einval);
        assert_eq!(
            netconf::add_route(dst, 25, Some(v6("2001:db8::fe")), None),
            einval
        );
    });
}

/// Puts `lo` back as the other tests expect it, even if a check fails.
struct RestoreLo(u32);

impl Drop for RestoreLo {
    fn drop(&mut self) {
        let _ = netconf::rename_link(self.0, "lo");
        let _ = netconf::set_link(self.0, true, Some(65536));
    }
}

fn is_up(name: &str) -> bool {
    let flags = text(&format!("/sys/class/net/{name}/flags"));
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    flags & 1 != 0
}

#[test]
fn link_mtu_state_and_name() {
    with_timeout(30, || {
        let _excl = LO.write().unwrap_or_else(|e| e.into_inner());
        let lo = lo();
        let _restore = RestoreLo(lo);

        netconf::set_link(lo, true, Some(9000)).unwrap();
        assert_eq!(text("/sys/class/net/lo/mtu").trim(), "9000");
        assert!(is_up("lo"));

        // The kernel checks names itself.
        assert_eq!(
            netconf::rename_link(lo, "bad/name"),
            Err(Errno(libc::EINVAL))
        );
        // Linux 6.12 renames a link that is up (no EBUSY since 6.2).
        netconf::rename_link(lo, "stdpkt-lo").unwrap();
        assert_eq!(netconf::ifindex("stdpkt-lo"), Ok(lo));
        assert_eq!(netconf::ifindex("lo"), Err(Errno(libc::ENODEV)));
        assert_eq!(text("/sys/class/net/stdpkt-lo/mtu").trim(), "9000");
        assert!(is_up("stdpkt-lo"));
        netconf::rename_link(lo, "lo").unwrap();
        assert_eq!(netconf::ifindex("lo"), Ok(lo));

        netconf::set_link(lo, false, None).unwrap();
        assert!(!is_up("lo"));
        netconf::set_link(lo, true, Some(65536)).unwrap();
        assert!(is_up("lo"));
        assert_eq!(text("/sys/class/net/lo/mtu").trim(), "65536");
    });
}
