// SPDX-License-Identifier: GPL-2.0-only
//! Environment configuration.
//!
//! stdpkt takes its whole configuration from the environment, read once at
//! startup before the program's `main` runs. This module turns those
//! variables into a [`Config`] and does nothing else: it opens no files and
//! touches no kernel, so every rule below can be unit-tested and fuzzed.
//!
//! # Variables
//!
//! `n` is an interface number from 0 to 7; interface `n` is called `ethn`
//! inside the kernel.
//!
//! | Variable | Value | Default | Example |
//! |----------|-------|---------|---------|
//! | `IFn` | `RX\|TX`: frames are read from RX and written to TX. Each side is a regular file, a fifo, `/dev/stdin`, `/dev/stdout` or `-` (stdin as RX, stdout as TX). | interface `n` does not exist | `IF0=-\|-` |
//! | `IFTYPEn` | framing of the frames on both streams: `raw`, `ascii` or `pcap` (case-insensitive) | `raw` | `IFTYPE0=pcap` |
//! | `MACn` | unicast MAC address, `:` or `-` separated (case-insensitive) | random locally administered unicast address, different per process and interface | `MAC0=02:00:00:00:00:01` |
//! | `IPn` | one or more comma-separated `ADDRESS/PREFIX`, IPv4 and/or IPv6 | no address | `IP0=192.0.2.1/24,2001:db8::1/64` |
//! | `MTUn` | 68 to 65521; at least 1280 if `IPn` has an IPv6 address | the device's default | `MTU0=9000` |
//! | `GW` | default gateways, comma-separated, at most one IPv4 and one IPv6 | no default route | `GW=192.0.2.254,2001:db8::fe` |
//! | `STDPKT_SYSCTL` | `;`-separated `key=value` sysctl settings, applied in order | none | `STDPKT_SYSCTL=net.ipv4.ip_forward=1;net.ipv6.conf.all.forwarding=1` |
//! | `STDPKT_BOOT` | extra kernel command line, e.g. `mem=` for the kernel's memory | empty | `STDPKT_BOOT=mem=64M` |
//! | `STDPKT_LOG` | filter for stdpkt's own log, in `env_logger` syntax | logging off | `STDPKT_LOG=stdpkt=debug` |
//! | `STDPKT_LINGER` | keep stdpkt's kernel running when the program exits: `1`/`0`, `true`/`false`, `yes`/`no` (case-insensitive) | `0` | `STDPKT_LINGER=1` |
//! | `STDPKT_NAME` | a name for the instance, for `stdpkt ps` and `stdpkt attach`: 1 to 32 letters, digits, `.`, `_` or `-` | none (found by its pid) | `STDPKT_NAME=router1` |
//! | `STDPKT_EXIT_WAIT` | at exit, the longest wait, in seconds (0 to 3600), for closed TCP connections to deliver their queued data and have their FIN acknowledged, as the host kernel would after the process has gone | `60` | `STDPKT_EXIT_WAIT=5` |
//!
//! # Rules
//!
//! - **Errors.** A bad configuration is never half-applied: stdpkt prints one
//!   line to stderr, `stdpkt: NAME="VALUE": what was expected`, and exits with
//!   status 2 ([`EXIT_STATUS`]) before `main`.
//! - **Typos are errors.** Any variable named `IF`, `IFTYPE`, `MAC`, `IP` or
//!   `MTU` followed by digits must use a number from 0 to 7, and every
//!   `STDPKT_*` variable must be one of those above. Other names, such as
//!   `IFS` or `MACHTYPE`, are left alone.
//! - **Interfaces need `IFn`.** `IFTYPEn`, `MACn`, `IPn` or `MTUn` without
//!   `IFn` is an error.
//! - **One stream, one interface.** Only one interface may read stdin and
//!   only one may write stdout. Both sides are required; `/dev/null` is
//!   accepted as an ordinary path. `/dev/fd/0` and `/proc/self/fd/0` count as
//!   stdin, `/dev/fd/1` and `/proc/self/fd/1` as stdout. Paths are taken
//!   literally (relative ones from the startup directory) and may not begin or
//!   end with whitespace.
//! - **Addresses.** `IPn` entries need a prefix length (`/24`, `/64`), must be
//!   unicast and may not repeat. MAC addresses must be unicast, not all-zero,
//!   and no two interfaces may share one.
//! - **Gateways** must lie inside the subnet of some `IPn` address, and may
//!   not be one of them. An IPv6 link-local gateway (`fe80::/10`) is accepted
//!   only when exactly one interface exists, as it names no interface.
//! - **sysctl keys** are dotted names (`net.ipv4.ip_forward`) whose segments
//!   hold only letters, digits, `_` and `-`; they are written to the matching
//!   file under `/proc/sys/`. Empty items, such as after a trailing `;`, are
//!   ignored; values may not be empty.
//! - **Empty values** are errors, except for `STDPKT_SYSCTL`, `STDPKT_BOOT`
//!   and `STDPKT_LOG`, where empty is meaningful.
//! - **Whitespace** around scalar values and around list items is ignored.
//! - **Control characters** (newlines included) are rejected in
//!   `STDPKT_BOOT` and in sysctl values.
//! - If the environment holds the same name twice, the first one counts, as
//!   with `getenv(3)`.
//! - There is no `STDPKT_MEM`: give the kernel's memory as `mem=` in
//!   `STDPKT_BOOT`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire::Framing;

/// Exit status for a bad configuration.
///
/// The caller prints the [`ConfigError`] to stderr and exits with this status
/// before the program's `main` runs: a program that silently lacks its
/// network would fail later in far more confusing ways.
pub const EXIT_STATUS: i32 = 2;

/// Number of interfaces, `IF0` to `IF7`.
pub const MAX_INTERFACES: u8 = 8;

/// Smallest MTU accepted: the IPv4 minimum (RFC 791).
pub const MTU_MIN: u32 = 68;

/// Largest MTU accepted.
pub const MTU_MAX: u32 = 65521;

/// Smallest MTU of an interface that carries IPv6 (RFC 8200).
pub const MTU_MIN_IPV6: u32 = 1280;

/// The global variables this module knows, other than `GW`.
pub const STDPKT_VARS: &[&str] = &[
    "STDPKT_SYSCTL",
    "STDPKT_BOOT",
    "STDPKT_LOG",
    "STDPKT_LINGER",
    "STDPKT_EXIT_WAIT",
    "STDPKT_NAME",
    // Set by the instance for the programs it starts (stdpkt::remote).
    "STDPKT_INSTANCE",
    // Read by the tools around the library, not by the instance:
    // STDPKT_LIB (where lkl-hijack.sh and `stdpkt run` find libstdpkt.so)
    // and STDPKT_DISABLE (preload does nothing).
    "STDPKT_LIB",
    "STDPKT_DISABLE",
];

/// The complete configuration, as read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Configured interfaces only, sorted by index.
    pub interfaces: Vec<IfConfig>,
    /// `GW`.
    pub gateways: Gateways,
    /// `STDPKT_SYSCTL`, in the order given.
    pub sysctls: Vec<Sysctl>,
    /// `STDPKT_BOOT`, trimmed; empty when unset.
    pub boot_args: String,
    /// `STDPKT_LOG`, verbatim.
    pub log_filter: Option<String>,
    /// `STDPKT_LINGER`.
    pub linger: bool,
    /// `STDPKT_EXIT_WAIT`, in seconds.
    pub exit_wait_secs: u32,
    /// `STDPKT_NAME`.
    pub name: Option<String>,
}

/// `STDPKT_EXIT_WAIT` when unset.
pub const DEFAULT_EXIT_WAIT_SECS: u32 = 60;

impl Default for Config {
    /// What an environment without stdpkt variables gives.
    fn default() -> Self {
        Config {
            interfaces: Vec::new(),
            gateways: Gateways::default(),
            sysctls: Vec::new(),
            boot_args: String::new(),
            log_filter: None,
            linger: false,
            exit_wait_secs: DEFAULT_EXIT_WAIT_SECS,
            name: None,
        }
    }
}

impl Config {
    /// The interface through which `gw` is reached: the first one with an
    /// address whose subnet contains `gw`, or the only interface for an IPv6
    /// link-local `gw`.
    pub fn gateway_interface(&self, gw: IpAddr) -> Option<&IfConfig> {
        if is_link_local_v6(gw) && self.interfaces.len() == 1 {
            return self.interfaces.first();
        }
        self.interfaces
            .iter()
            .find(|i| i.addrs.iter().any(|a| a.contains(gw)))
    }
}

/// One interface, `IFn` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfConfig {
    /// `n`, 0 to 7.
    pub index: u8,
    /// Where frames are read from.
    pub rx: Endpoint,
    /// Where frames are written to.
    pub tx: Endpoint,
    /// `IFTYPEn`.
    pub framing: Framing,
    /// `MACn`, or a generated address.
    pub mac: [u8; 6],
    /// True when `mac` was generated because `MACn` is unset.
    pub mac_is_default: bool,
    /// `IPn`, in the order given.
    pub addrs: Vec<IfAddr>,
    /// `MTUn`; `None` leaves the device's default.
    pub mtu: Option<u32>,
}

impl IfConfig {
    /// The kernel's name for this interface, `eth0` to `eth7`.
    pub fn name(&self) -> String {
        format!("eth{}", self.index)
    }

    /// Whether any IPv6 address is configured.
    pub fn has_ipv6(&self) -> bool {
        self.addrs.iter().any(|a| a.addr.is_ipv6())
    }
}

/// One side of an `IFn` stream pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The process's standard input (RX only).
    Stdin,
    /// The process's standard output (TX only).
    Stdout,
    /// A file or fifo, opened by path.
    Path(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Stdin => f.write_str("stdin"),
            Endpoint::Stdout => f.write_str("stdout"),
            Endpoint::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An interface address with its prefix length; displays as `192.0.2.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IfAddr {
    /// Whether `ip` lies in this address's subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                // checked_shl gives None for a shift of 32, i.e. prefix 0.
                let shift = 32u32.saturating_sub(u32::from(self.prefix));
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                ((u32::from(net) ^ u32::from(ip)) & mask) == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let shift = 128u32.saturating_sub(u32::from(self.prefix));
                let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                ((u128::from(net) ^ u128::from(ip)) & mask) == 0
            }
            _ => false,
        }
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Default gateways, at most one per address family (`GW`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gateways {
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

/// One `key=value` item of `STDPKT_SYSCTL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// Dotted name, e.g. `net.ipv4.ip_forward`.
    pub key: String,
    /// Value to write, trimmed and non-empty.
    pub value: String,
}

impl Sysctl {
    /// The path below `/proc/sys/`, e.g. `net/ipv4/ip_forward`.
    pub fn proc_path(&self) -> String {
        // Safe to map blindly: parsing guaranteed segments without `/`.
        self.key.replace('.', "/")
    }
}

/// A rejected variable; displays as one line,
/// `stdpkt: NAME="VALUE": what was expected/why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub var: String,
    /// The variable's value, verbatim (lossily decoded if not UTF-8).
    pub value: String,
    /// What was expected, or why the value cannot work.
    pub message: String,
}

impl ConfigError {
    fn new(var: impl Into<String>, value: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            var: var.into(),
            value: value.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values come from the user and may hold newlines; escape them so the
        // error stays one line that the user can read back.
        write!(
            f,
            "stdpkt: {}=\"{}\": {}",
            escape(&self.var, false),
            escape(&self.value, true),
            escape(&self.message, false)
        )
    }
}

impl std::error::Error for ConfigError {}

/// Escapes control characters (and, inside quotes, `"` and `\`) so that the
/// text fits on one line without ambiguity.
fn escape(s: &str, quoted: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' if quoted => {
                out.push('\\');
                out.push(c);
            }
            // U+2028/U+2029 are not "control" but some terminals break on them.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Reads the configuration from the process environment.
///
/// A non-UTF-8 name or value of one of our variables is an error; other
/// variables are never decoded.
pub fn from_env() -> Result<Config, ConfigError> {
    from_os_vars(std::env::vars_os(), env_seed())
}

/// Parses a configuration from `(name, value)` pairs, as the environment
/// would hold them. `seed` feeds the default MAC addresses, so equal inputs
/// give equal results.
pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
    vars: I,
    seed: u64,
) -> Result<Config, ConfigError> {
    // First occurrence wins, as with getenv(3). A BTreeMap also makes the
    // error reported for a bad environment independent of its order.
    let mut ours: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in vars {
        if is_ours(&name) {
            ours.entry(name).or_insert(value);
        }
    }

    let mut raw: [RawIf; MAX_INTERFACES as usize] = Default::default();
    let mut globals: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in &ours {
        match classify(name) {
            VarKind::PerIf(kind, index) => *raw[usize::from(index)].slot(kind) = Some(value),
            VarKind::BadIndex(kind) => {
                let p = kind.prefix();
                return Err(ConfigError::new(
                    name,
                    value,
                    format!("interfaces are numbered 0..7 ({p}0 to {p}7)"),
                ));
            }
            VarKind::Global => {
                globals.insert(name, value);
            }
            VarKind::UnknownStdpkt => return Err(unknown_stdpkt(name, value)),
            VarKind::NotOurs => {}
        }
    }

    let mut interfaces = Vec::new();
    for (index, r) in (0u8..).zip(raw.iter()) {
        if let Some(ifc) = parse_interface(index, r)? {
            interfaces.push(ifc);
        }
    }
    check_streams(&interfaces, &raw)?;
    assign_macs(&mut interfaces, &raw, seed)?;

    let mut config = Config {
        interfaces,
        ..Config::default()
    };
    if let Some(&v) = globals.get("GW") {
        let gws = parse_gateways(v).map_err(|m| ConfigError::new("GW", v, m))?;
        check_gateways(&gws, &config.interfaces).map_err(|m| ConfigError::new("GW", v, m))?;
        config.gateways = gws;
    }
    if let Some(&v) = globals.get("STDPKT_SYSCTL") {
        config.sysctls = parse_sysctls(v).map_err(|m| ConfigError::new("STDPKT_SYSCTL", v, m))?;
    }
    if let Some(&v) = globals.get("STDPKT_BOOT") {
        config.boot_args = parse_boot_args(v).map_err(|m| ConfigError::new("STDPKT_BOOT", v, m))?;
    }
    if let Some(&v) = globals.get("STDPKT_LOG") {
        config.log_filter = Some(v.to_owned());
    }
    if let Some(&v) = globals.get("STDPKT_LINGER") {
        config.linger = parse_bool(v).map_err(|m| ConfigError::new("STDPKT_LINGER", v, m))?;
    }
    config.exit_wait_secs = match globals.get("STDPKT_EXIT_WAIT") {
        Some(&v) => parse_exit_wait(v).map_err(|m| ConfigError::new("STDPKT_EXIT_WAIT", v, m))?,
        None => DEFAULT_EXIT_WAIT_SECS,
    };
    if let Some(&v) = globals.get("STDPKT_NAME") {
        config.name = Some(parse_name(v).map_err(|m| ConfigError::new("STDPKT_NAME", v, m))?);
    }
    Ok(config)
}

/// [`from_vars`] for undecoded pairs, such as `std::env::vars_os()`.
fn from_os_vars<I: IntoIterator<Item = (OsString, OsString)>>(
    vars: I,
    seed: u64,
) -> Result<Config, ConfigError> {
    let mut decoded = Vec::new();
    for (name, value) in vars {
        let lossy = name.to_string_lossy();
        if !is_ours(&lossy) {
            continue;
        }
        let value_lossy = value.to_string_lossy();
        // A mangled name can still look like ours (`STDPKT_\xff`): a typo.
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            let what = if name.to_str().is_none() {
                "name"
            } else {
                "value"
            };
            return Err(ConfigError::new(
                lossy,
                value_lossy,
                format!("the variable's {what} is not valid UTF-8"),
            ));
        };
        decoded.push((name.to_owned(), value.to_owned()));
    }
    from_vars(decoded, seed)
}

/// Seed for default MAC addresses: differs between processes (pid) and
/// between runs of one pid (time), which is all locally administered
/// addresses on a private link need.
fn env_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mix((u64::from(std::process::id()) << 32) ^ nanos)
}

/// splitmix64's finaliser: a cheap bijective hash with good avalanche.
fn mix(x: u64) -> u64 {
    let mut x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Default MAC of interface `index`: locally administered (0x02 set),
/// unicast (0x01 clear), the rest from a hash of `seed` and `index`.
pub(crate) fn default_mac(seed: u64, index: u8) -> [u8; 6] {
    let h = mix(seed ^ mix(u64::from(index))).to_le_bytes();
    [(h[0] & !0x01) | 0x02, h[1], h[2], h[3], h[4], h[5]]
}

/// Per-interface variable families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfVar {
    If,
    IfType,
    Mac,
    Ip,
    Mtu,
}

impl IfVar {
    // IFTYPE precedes IF so that the longer prefix is tried first.
    const ALL: [IfVar; 5] = [IfVar::IfType, IfVar::If, IfVar::Mac, IfVar::Ip, IfVar::Mtu];

    fn prefix(self) -> &'static str {
        match self {
            IfVar::If => "IF",
            IfVar::IfType => "IFTYPE",
            IfVar::Mac => "MAC",
            IfVar::Ip => "IP",
            IfVar::Mtu => "MTU",
        }
    }

    fn name(self, index: u8) -> String {
        format!("{}{index}", self.prefix())
    }
}

enum VarKind {
    PerIf(IfVar, u8),
    /// Looks like a per-interface variable, but the number is not 0..7.
    BadIndex(IfVar),
    /// `GW` or one of [`STDPKT_VARS`].
    Global,
    UnknownStdpkt,
    NotOurs,
}

fn classify(name: &str) -> VarKind {
    if name == "GW" || STDPKT_VARS.contains(&name) {
        return VarKind::Global;
    }
    if name.starts_with("STDPKT_") {
        return VarKind::UnknownStdpkt;
    }
    for kind in IfVar::ALL {
        let Some(digits) = name.strip_prefix(kind.prefix()) else {
            continue;
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Only the canonical single digit: `IF07` is as much a typo as `IF8`.
        return match digits.as_bytes() {
            [d @ b'0'..=b'7'] => VarKind::PerIf(kind, d - b'0'),
            _ => VarKind::BadIndex(kind),
        };
    }
    VarKind::NotOurs
}

fn is_ours(name: &str) -> bool {
    !matches!(classify(name), VarKind::NotOurs)
}

fn unknown_stdpkt(name: &str, value: &str) -> ConfigError {
    let message = if name == "STDPKT_MEM" {
        "there is no STDPKT_MEM; set the kernel's memory with mem= in STDPKT_BOOT".to_owned()
    } else {
        format!(
            "unknown stdpkt variable; known are GW, {}",
            STDPKT_VARS.join(", ")
        )
    };
    ConfigError::new(name, value, message)
}

/// The raw values of one interface's variables.
#[derive(Default)]
struct RawIf<'a> {
    iface: Option<&'a str>,
    iftype: Option<&'a str>,
    mac: Option<&'a str>,
    ip: Option<&'a str>,
    mtu: Option<&'a str>,
}

impl<'a> RawIf<'a> {
    fn slot(&mut self, kind: IfVar) -> &mut Option<&'a str> {
        match kind {
            IfVar::If => &mut self.iface,
            IfVar::IfType => &mut self.iftype,
            IfVar::Mac => &mut self.mac,
            IfVar::Ip => &mut self.ip,
            IfVar::Mtu => &mut self.mtu,
        }
    }
}

/// Builds interface `index`, or `None` if no `IFn` is set. The MAC of an
/// interface without `MACn` is filled in later by [`assign_macs`].
fn parse_interface(index: u8, r: &RawIf<'_>) -> Result<Option<IfConfig>, ConfigError> {
    let err = |kind: IfVar, value: &str, message: String| {
        ConfigError::new(kind.name(index), value, message)
    };
    let Some(iface) = r.iface else {
        let others = [
            (IfVar::IfType, r.iftype),
            (IfVar::Mac, r.mac),
            (IfVar::Ip, r.ip),
            (IfVar::Mtu, r.mtu),
        ];
        for (kind, value) in others {
            if let Some(v) = value {
                let name = kind.name(index);
                return Err(err(kind, v, format!("{name} is set but IF{index} is not")));
            }
        }
        return Ok(None);
    };

    let (rx, tx) = parse_endpoint_pair(iface).map_err(|m| err(IfVar::If, iface, m))?;
    let framing = match r.iftype {
        Some(v) => parse_framing(v).map_err(|m| err(IfVar::IfType, v, m))?,
        None => Framing::default(),
    };
    let mac = match r.mac {
        Some(v) => Some(parse_mac(v).map_err(|m| err(IfVar::Mac, v, m))?),
        None => None,
    };
    let addrs = match r.ip {
        Some(v) => parse_addrs(v).map_err(|m| err(IfVar::Ip, v, m))?,
        None => Vec::new(),
    };
    let mtu = match r.mtu {
        Some(v) => Some(parse_mtu(v).map_err(|m| err(IfVar::Mtu, v, m))?),
        None => None,
    };

    let ifc = IfConfig {
        index,
        rx,
        tx,
        framing,
        mac: mac.unwrap_or([0; 6]),
        mac_is_default: mac.is_none(),
        addrs,
        mtu,
    };
    if let (Some(mtu), Some(v)) = (ifc.mtu, r.mtu) {
        if mtu < MTU_MIN_IPV6 && ifc.has_ipv6() {
            return Err(err(
                IfVar::Mtu,
                v,
                format!(
                    "IP{index} has an IPv6 address, which needs an MTU of at least {MTU_MIN_IPV6}"
                ),
            ));
        }
    }
    Ok(Some(ifc))
}

/// One stream cannot carry two interfaces: their frames would interleave.
fn check_streams(ifs: &[IfConfig], raw: &[RawIf<'_>]) -> Result<(), ConfigError> {
    let mut stdin_user: Option<u8> = None;
    let mut stdout_user: Option<u8> = None;
    for ifc in ifs {
        let value = raw[usize::from(ifc.index)].iface.unwrap_or_default();
        let clash = |side: &str, stream: &str, first: u8| {
            ConfigError::new(
                IfVar::If.name(ifc.index),
                value,
                format!(
                    "{side} is {stream}, which IF{first} already uses; \
                     one stream cannot carry two interfaces"
                ),
            )
        };
        if ifc.rx == Endpoint::Stdin {
            if let Some(first) = stdin_user {
                return Err(clash("RX", "stdin", first));
            }
            stdin_user = Some(ifc.index);
        }
        if ifc.tx == Endpoint::Stdout {
            if let Some(first) = stdout_user {
                return Err(clash("TX", "stdout", first));
            }
            stdout_user = Some(ifc.index);
        }
    }
    Ok(())
}

/// Rejects repeated explicit MACs, then gives every other interface a
/// default MAC that collides with none.
fn assign_macs(ifs: &mut [IfConfig], raw: &[RawIf<'_>], seed: u64) -> Result<(), ConfigError> {
    let mut taken: Vec<([u8; 6], u8)> = Vec::new();
    for ifc in ifs.iter().filter(|i| !i.mac_is_default) {
        if let Some(&(_, first)) = taken.iter().find(|(m, _)| *m == ifc.mac) {
            let value = raw[usize::from(ifc.index)].mac.unwrap_or_default();
            return Err(ConfigError::new(
                IfVar::Mac.name(ifc.index),
                value,
                format!("MAC{first} has the same address; each interface needs its own"),
            ));
        }
        taken.push((ifc.mac, ifc.index));
    }
    for ifc in ifs.iter_mut().filter(|i| i.mac_is_default) {
        // 46 random bits make a collision unlikely, not impossible; rehash
        // until unique so that two NICs never share an address.
        let mut s = seed;
        let mut mac = default_mac(s, ifc.index);
        while taken.iter().any(|(m, _)| *m == mac) {
            s = mix(s);
            mac = default_mac(s, ifc.index);
        }
        ifc.mac = mac;
        taken.push((mac, ifc.index));
    }
    Ok(())
}

/// Each gateway must be reachable through an interface the kernel will have.
fn check_gateways(gws: &Gateways, ifs: &[IfConfig]) -> Result<(), String> {
    let v4 = gws.v4.map(IpAddr::V4);
    let v6 = gws.v6.map(IpAddr::V6);
    for gw in v4.into_iter().chain(v6) {
        check_gateway(gw, ifs)?;
    }
    Ok(())
}

fn check_gateway(gw: IpAddr, ifs: &[IfConfig]) -> Result<(), String> {
    let family = if gw.is_ipv4() { "IPv4" } else { "IPv6" };
    for ifc in ifs {
        if ifc.addrs.iter().any(|a| a.addr == gw) {
            return Err(format!("gateway {gw} is IP{}'s own address", ifc.index));
        }
    }
    if is_link_local_v6(gw) {
        // A link-local address names no interface; only a lone one is
        // unambiguous.
        return match ifs.len() {
            0 => Err(format!(
                "gateway {gw} needs an interface, but no IFn is set"
            )),
            1 => Ok(()),
            n => Err(format!(
                "link-local gateway {gw} is ambiguous with {n} interfaces; \
                 use an address inside an IPn subnet"
            )),
        };
    }
    let mut addrs = ifs.iter().flat_map(|i| i.addrs.iter());
    if addrs.clone().any(|a| a.contains(gw)) {
        Ok(())
    } else if addrs.any(|a| a.addr.is_ipv4() == gw.is_ipv4()) {
        Err(format!(
            "gateway {gw} is not inside any {family} subnet of IP0..IP7"
        ))
    } else {
        Err(format!(
            "no IPn has an {family} address, so gateway {gw} is unreachable"
        ))
    }
}

fn is_link_local_v6(ip: IpAddr) -> bool {
    // Ipv6Addr::is_unicast_link_local needs Rust 1.84; we support 1.80.
    matches!(ip, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
}

/// Why `ip` cannot be an interface address or gateway, if it cannot.
fn not_unicast(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        Some("the broadcast address")
    } else {
        None
    }
}

const IF_FORM: &str = "expected RX|TX, e.g. -|- or /tmp/in.fifo|/tmp/out.fifo";

/// Parses `IFn`: `RX|TX`, both sides required.
pub(crate) fn parse_endpoint_pair(s: &str) -> Result<(Endpoint, Endpoint), String> {
    let (rx, tx) = match s.split_once('|') {
        Some((rx, tx)) if !tx.contains('|') => (rx, tx),
        Some(_) => return Err(format!("more than one '|'; {IF_FORM}")),
        None => return Err(format!("no '|'; {IF_FORM}")),
    };
    let rx = endpoint(
        rx,
        "RX",
        &["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"],
    )?;
    let tx = endpoint(
        tx,
        "TX",
        &["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"],
    )?;
    Ok((rx, tx))
}

/// One side of `IFn`; `std_names` are the spellings of this side's standard
/// stream.
fn endpoint(s: &str, side: &str, std_names: &[&str]) -> Result<Endpoint, String> {
    if s.is_empty() {
        return Err(format!("{side} is empty; {IF_FORM}"));
    }
    // Almost certainly a stray space around '|', which would otherwise fail
    // later as a puzzling "no such file".
    if s.trim() != s {
        return Err(format!(
            "{side} path \"{s}\" begins or ends with whitespace"
        ));
    }
    Ok(if !std_names.contains(&s) {
        Endpoint::Path(PathBuf::from(s))
    } else if side == "RX" {
        Endpoint::Stdin
    } else {
        Endpoint::Stdout
    })
}

/// Parses `IFTYPEn`.
pub(crate) fn parse_framing(s: &str) -> Result<Framing, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "raw" => Ok(Framing::Raw),
        "ascii" => Ok(Framing::Ascii),
        "pcap" => Ok(Framing::Pcap),
        _ => Err("expected raw, ascii or pcap".to_owned()),
    }
}

/// Parses `MACn`: six two-digit hex octets separated by all `:` or all `-`.
pub(crate) fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    const FORM: &str = "expected six hex octets like 00:11:22:33:44:55";
    let s = s.trim();
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = s.split(sep);
    for octet in &mut mac {
        let part = parts.next().ok_or(FORM)?;
        // from_str_radix alone would accept "+f"; insist on two hex digits.
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FORM.to_owned());
        }
        *octet = u8::from_str_radix(part, 16).map_err(|_| FORM)?;
    }
    if parts.next().is_some() {
        return Err(FORM.to_owned());
    }
    if mac[0] & 0x01 != 0 {
        return Err("multicast address (low bit of the first octet is set); \
                    use a unicast one such as 02:00:00:00:00:01"
            .to_owned());
    }
    if mac == [0; 6] {
        return Err("the all-zero address is not a valid MAC".to_owned());
    }
    Ok(mac)
}

const IP_FORM: &str = "expected ADDRESS/PREFIX[,...] like 192.0.2.1/24,2001:db8::1/64";

/// Parses `IPn`: comma-separated `ADDRESS/PREFIX`, at least one.
pub(crate) fn parse_addrs(s: &str) -> Result<Vec<IfAddr>, String> {
    let mut out: Vec<IfAddr> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((a, p)) = item.split_once('/') else {
            return Err(format!("\"{item}\" has no prefix length; {IP_FORM}"));
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IP address; {IP_FORM}"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        // Digits only (u8::from_str accepts "+24"); overflow is out of range.
        let prefix = match p.parse::<u8>() {
            Ok(n) if n <= max && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(format!(
                    "\"{item}\": the prefix length must be a number from 0 to {max}"
                ))
            }
        };
        if let Some(why) = not_unicast(addr) {
            return Err(format!("{addr} is {why}, not an interface address"));
        }
        if out.iter().any(|x| x.addr == addr) {
            return Err(format!("{addr} is listed twice"));
        }
        out.push(IfAddr { addr, prefix });
    }
    if out.is_empty() {
        return Err(format!("no address; {IP_FORM}"));
    }
    Ok(out)
}

/// Parses `MTUn`.
pub(crate) fn parse_mtu(s: &str) -> Result<u32, String> {
    let s = s.trim();
    match s.parse::<u32>() {
        Ok(n) if (MTU_MIN..=MTU_MAX).contains(&n) && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("expected an integer from {MTU_MIN} to {MTU_MAX}")),
    }
}

const GW_FORM: &str = "expected at most one IPv4 and one IPv6 gateway, \
                       like 192.0.2.254,2001:db8::fe";

/// Parses `GW`: comma-separated addresses, at most one per family.
pub(crate) fn parse_gateways(s: &str) -> Result<Gateways, String> {
    let mut gws = Gateways::default();
    let mut any = false;
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if item.contains('/') {
            return Err(format!(
                "\"{item}\": a gateway takes no prefix length; {GW_FORM}"
            ));
        }
        let ip: IpAddr = item
            .parse()
            .map_err(|_| format!("\"{item}\" is not an IP address; {GW_FORM}"))?;
        if let Some(why) = not_unicast(ip) {
            return Err(format!("{ip} is {why}, not a gateway"));
        }
        match ip {
            IpAddr::V4(a) => {
                if let Some(old) = gws.v4.replace(a) {
                    return Err(format!("two IPv4 gateways, {old} and {a}; {GW_FORM}"));
                }
            }
            IpAddr::V6(a) => {
                if let Some(old) = gws.v6.replace(a) {
                    return Err(format!("two IPv6 gateways, {old} and {a}; {GW_FORM}"));
                }
            }
        }
        any = true;
    }
    if !any {
        return Err(format!("no address; {GW_FORM}"));
    }
    Ok(gws)
}

const SYSCTL_FORM: &str = "expected key=value[;...] like net.ipv4.ip_forward=1";

/// Parses `STDPKT_SYSCTL`: `;`-separated `key=value`, empty items ignored.
pub(crate) fn parse_sysctls(s: &str) -> Result<Vec<Sysctl>, String> {
    let mut out = Vec::new();
    for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("\"{item}\" is not key=value; {SYSCTL_FORM}"));
        };
        let (key, value) = (key.trim(), value.trim());
        // The key becomes a path under /proc/sys: dots are the only
        // separators, so no segment can be "..", empty, or hold a '/'.
        let key_ok = key.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if !key_ok {
            return Err(format!(
                "\"{key}\" is not a sysctl name like net.ipv4.ip_forward \
                 (dot-separated segments of letters, digits, _ and -)"
            ));
        }
        if value.is_empty() {
            return Err(format!("{key} has an empty value; {SYSCTL_FORM}"));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("the value of {key} contains control characters"));
        }
        out.push(Sysctl {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(out)
}

/// Parses `STDPKT_BOOT`, which is passed to the kernel as one line.
pub(crate) fn parse_boot_args(s: &str) -> Result<String, String> {
    if s.chars().any(char::is_control) {
        return Err(
            "control characters, newlines included, cannot be on the kernel command line"
                .to_owned(),
        );
    }
    Ok(s.trim().to_owned())
}

/// Parses `STDPKT_EXIT_WAIT`: whole seconds, at most an hour.
fn parse_exit_wait(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n <= 3600 => Ok(n),
        _ => Err("expected whole seconds from 0 to 3600, e.g. 60".to_owned()),
    }
}

/// Parses `STDPKT_NAME`: a name that fits in the instance's socket name
/// and in a shell word as it is.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("expected 1 to 32 letters, digits, '.', '_' or '-', e.g. router1".to_owned())
    }
}

/// Parses a boolean such as `STDPKT_LINGER`.
pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err("expected 1, 0, true, false, yes or no".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: u64 = 0x5eed;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        from_vars(
            vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())),
            SEED,
        )
    }

    fn ok(vars: &[(&str, &str)]) -> Config {
        parse(vars).unwrap_or_else(|e| panic!("{vars:?} rejected: {e}"))
    }

    /// The error line for `vars`, which must be rejected.
    fn err(vars: &[(&str, &str)]) -> String {
        match parse(vars) {
            Ok(c) => panic!("{vars:?} accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_err(vars: &[(&str, &str)], var: &str, needle: &str) {
        let e = parse(vars).expect_err("should be rejected");
        assert_eq!(e.var, var, "{e}");
        assert!(e.message.contains(needle), "{e:?} lacks {needle:?}");
    }

    fn path(p: &str) -> Endpoint {
        Endpoint::Path(PathBuf::from(p))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_environment_gives_defaults() {
        let c = ok(&[]);
        assert_eq!(c, Config::default());
        assert!(c.interfaces.is_empty());
        assert_eq!(c.gateways, Gateways::default());
        assert!(c.sysctls.is_empty());
        assert_eq!(c.boot_args, "");
        assert_eq!(c.log_filter, None);
        assert!(!c.linger);
    }

    #[test]
    fn minimal_interface_defaults() {
        let c = ok(&[("IF0", "-|-")]);
        assert_eq!(c.interfaces.len(), 1);
        let i = &c.interfaces[0];
        assert_eq!(i.index, 0);
        assert_eq!(i.name(), "eth0");
        assert_eq!(i.rx, Endpoint::Stdin);
        assert_eq!(i.tx, Endpoint::Stdout);
        assert_eq!(i.framing, Framing::Raw);
        assert!(i.mac_is_default);
        assert_eq!(i.mac, default_mac(SEED, 0));
        assert!(i.addrs.is_empty());
        assert_eq!(i.mtu, None);
    }

    #[test]
    fn endpoint_forms() {
        let pair = |s| parse_endpoint_pair(s).unwrap();
        assert_eq!(pair("-|-"), (Endpoint::Stdin, Endpoint::Stdout));
        assert_eq!(
            pair("/dev/stdin|/dev/stdout"),
            (Endpoint::Stdin, Endpoint::Stdout)
        );
        assert_eq!(
            pair("/dev/fd/0|/dev/fd/1"),
            (Endpoint::Stdin, Endpoint::Stdout)
        );
        assert_eq!(
            pair("/proc/self/fd/0|/proc/self/fd/1"),
            (Endpoint::Stdin, Endpoint::Stdout)
        );
        assert_eq!(
            pair("/tmp/in.fifo|/tmp/out.fifo"),
            (path("/tmp/in.fifo"), path("/tmp/out.fifo"))
        );
        assert_eq!(
            pair("/dev/null|/dev/null"),
            (path("/dev/null"), path("/dev/null"))
        );
        assert_eq!(pair("in.pcap|-"), (path("in.pcap"), Endpoint::Stdout));
        assert_eq!(pair("-|out dir/x"), (Endpoint::Stdin, path("out dir/x")));
        // The other side's standard stream is only a path on this side.
        assert_eq!(
            pair("/dev/stdout|/dev/stdin"),
            (path("/dev/stdout"), path("/dev/stdin"))
        );
        assert_eq!(
            pair("/dev/fd/1|/dev/fd/0"),
            (path("/dev/fd/1"), path("/dev/fd/0"))
        );
    }

    #[test]
    fn endpoint_errors() {
        for (value, needle) in [
            ("", "no '|'"),
            ("-", "no '|'"),
            ("/tmp/a", "no '|'"),
            ("-|-|-", "more than one '|'"),
            ("||", "more than one '|'"),
            ("|-", "RX is empty"),
            ("-|", "TX is empty"),
            ("|", "RX is empty"),
            ("- | -", "RX path \"- \" begins or ends with whitespace"),
            ("-| -", "TX path \" -\" begins or ends with whitespace"),
        ] {
            assert_err(&[("IF0", value)], "IF0", needle);
        }
        assert_eq!(
            err(&[("IF2", "-")]),
            "stdpkt: IF2=\"-\": no '|'; expected RX|TX, e.g. -|- or /tmp/in.fifo|/tmp/out.fifo"
        );
    }

    #[test]
    fn endpoint_display() {
        assert_eq!(Endpoint::Stdin.to_string(), "stdin");
        assert_eq!(Endpoint::Stdout.to_string(), "stdout");
        assert_eq!(path("/tmp/x").to_string(), "/tmp/x");
    }

    #[test]
    fn framing_forms() {
        for (value, kind) in [
            ("raw", Framing::Raw),
            ("RAW", Framing::Raw),
            ("ascii", Framing::Ascii),
            ("Ascii", Framing::Ascii),
            ("pcap", Framing::Pcap),
            (" PCAP ", Framing::Pcap),
        ] {
            let c = ok(&[("IF0", "-|-"), ("IFTYPE0", value)]);
            assert_eq!(c.interfaces[0].framing, kind, "{value}");
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(Framing::default(), Framing::Raw);
        assert_eq!(Framing::Pcap.to_string(), "pcap");
    }

    #[test]
    fn framing_errors() {
        for value in ["", "pcapng", "text", "r aw"] {
            assert_err(
                &[("IF0", "-|-"), ("IFTYPE0", value)],
                "IFTYPE0",
                "raw, ascii or pcap",
            );
        }
        assert_eq!(
            err(&[("IF1", "-|-"), ("IFTYPE1", "hex")]),
            "stdpkt: IFTYPE1=\"hex\": expected raw, ascii or pcap"
        );
    }

    #[test]
    fn mac_forms() {
        let want = [0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc];
        for value in [
            "00:11:22:aa:bb:cc",
            "00:11:22:AA:BB:CC",
            "00-11-22-aa-bb-cc",
            "00-11-22-Aa-bB-cC",
            " 00:11:22:aa:bb:cc ",
        ] {
            assert_eq!(parse_mac(value), Ok(want), "{value}");
        }
        let c = ok(&[("IF0", "-|-"), ("MAC0", "02:00:00:00:00:01")]);
        assert_eq!(c.interfaces[0].mac, [2, 0, 0, 0, 0, 1]);
        assert!(!c.interfaces[0].mac_is_default);
        // Broadcast-like but unicast first octet is fine.
        assert_eq!(
            parse_mac("fe:ff:ff:ff:ff:ff"),
            Ok([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff])
        );
    }

    #[test]
    fn mac_error_line_verbatim() {
        assert_eq!(
            err(&[("IF0", "-|-"), ("MAC0", "00:11:22")]),
            "stdpkt: MAC0=\"00:11:22\": expected six hex octets like 00:11:22:33:44:55"
        );
    }

    #[test]
    fn mac_errors() {
        for value in [
            "",
            "00:11:22:33:44",
            "00:11:22:33:44:55:66",
            "00:11:22:33:44:5",
            "0:11:22:33:44:55",
            "000:11:22:33:44:55",
            "00:11:22-33:44:55",
            "00.11.22.33.44.55",
            "001122334455",
            "00:11:22:33:44:gg",
            "00:11:22:33:44:+5",
            "00:11:22:33:44:55:",
            "00::11:22:33:44:55",
        ] {
            assert_err(&[("IF0", "-|-"), ("MAC0", value)], "MAC0", "six hex octets");
        }
        assert_eq!(
            err(&[("IF0", "-|-"), ("MAC0", "01:00:5e:00:00:01")]),
            "stdpkt: MAC0=\"01:00:5e:00:00:01\": multicast address (low bit of the first \
             octet is set); use a unicast one such as 02:00:00:00:00:01"
        );
        assert_err(
            &[("IF0", "-|-"), ("MAC0", "ff:ff:ff:ff:ff:ff")],
            "MAC0",
            "multicast",
        );
        assert_err(
            &[("IF0", "-|-"), ("MAC0", "03:00:00:00:00:01")],
            "MAC0",
            "multicast",
        );
        assert_err(
            &[("IF0", "-|-"), ("MAC0", "00:00:00:00:00:00")],
            "MAC0",
            "all-zero",
        );
    }

    #[test]
    fn default_mac_is_local_unicast_and_deterministic() {
        for seed in [0, 1, SEED, u64::MAX] {
            for index in 0..MAX_INTERFACES {
                let m = default_mac(seed, index);
                assert_eq!(m[0] & 0x03, 0x02, "{m:02x?}");
                assert_eq!(m, default_mac(seed, index));
                assert_eq!(parse_mac(&format_mac(m)), Ok(m));
            }
        }
        assert_ne!(default_mac(1, 0), default_mac(2, 0));
        assert_ne!(default_mac(1, 0), default_mac(1, 1));
    }

    fn format_mac(m: [u8; 6]) -> String {
        m.map(|b| format!("{b:02x}")).join(":")
    }

    #[test]
    fn default_macs_differ_per_interface_and_seed() {
        let vars: Vec<(&str, &str)> = vec![
            ("IF0", "-|/dev/null"),
            ("IF1", "/dev/null|-"),
            ("IF2", "/dev/null|/dev/null"),
            ("IF3", "/dev/null|/dev/null"),
        ];
        let macs = |seed| {
            let owned = vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned()));
            let c = from_vars(owned, seed).unwrap();
            c.interfaces.iter().map(|i| i.mac).collect::<Vec<_>>()
        };
        let a = macs(7);
        for (i, m) in a.iter().enumerate() {
            assert!(a[i + 1..].iter().all(|n| n != m), "{a:02x?}");
        }
        assert_eq!(a, macs(7));
        assert_ne!(a, macs(8));
    }

    #[test]
    fn default_mac_avoids_explicit_one() {
        // Claim exactly the address IF1 would get by default.
        let clash = format_mac(default_mac(SEED, 1));
        let c = ok(&[
            ("IF0", "-|-"),
            ("MAC0", &clash),
            ("IF1", "/dev/null|/dev/null"),
        ]);
        assert_eq!(format_mac(c.interfaces[0].mac), clash);
        assert_ne!(c.interfaces[1].mac, c.interfaces[0].mac);
        assert!(c.interfaces[1].mac_is_default);
        assert_eq!(c.interfaces[1].mac[0] & 0x03, 0x02);
    }

    #[test]
    fn duplicate_explicit_mac() {
        assert_eq!(
            err(&[
                ("IF0", "-|/dev/null"),
                ("IF1", "/dev/null|-"),
                ("MAC0", "02:00:00:00:00:01"),
                ("MAC1", "02-00-00-00-00-01"),
            ]),
            "stdpkt: MAC1=\"02-00-00-00-00-01\": MAC0 has the same address; \
             each interface needs its own"
        );
    }

    #[test]
    fn addr_forms() {
        let c = ok(&[("IF0", "-|-"), ("IP0", "192.0.2.1/24,2001:db8::1/64")]);
        let a = &c.interfaces[0].addrs;
        assert_eq!(
            a,
            &[
                IfAddr {
                    addr: ip("192.0.2.1"),
                    prefix: 24
                },
                IfAddr {
                    addr: ip("2001:db8::1"),
                    prefix: 64
                },
            ]
        );
        assert_eq!(a[0].to_string(), "192.0.2.1/24");
        assert_eq!(a[1].to_string(), "2001:db8::1/64");
        assert!(c.interfaces[0].has_ipv6());

        let addrs = |s| parse_addrs(s).unwrap();
        assert_eq!(addrs("198.51.100.7/32").len(), 1);
        assert_eq!(addrs("2001:db8::7/128").len(), 1);
        assert_eq!(addrs("203.0.113.5/0")[0].prefix, 0);
        // Whitespace and empty items around commas are tolerated.
        assert_eq!(addrs(" 192.0.2.1/24 , 2001:db8::1/64 ,").len(), 2);
        // Order is kept; IPv6 first is fine.
        assert!(addrs("2001:db8::1/64,192.0.2.1/24")[0].addr.is_ipv6());
        assert_eq!(addrs("192.0.2.1/24,198.51.100.1/24").len(), 2);
    }

    #[test]
    fn addr_errors() {
        for (value, needle) in [
            ("", "no address"),
            (" , ", "no address"),
            ("192.0.2.1", "has no prefix length"),
            (
                "192.0.2.1/24,2001:db8::1",
                "\"2001:db8::1\" has no prefix length",
            ),
            ("192.0.2.1/33", "from 0 to 32"),
            ("2001:db8::1/129", "from 0 to 128"),
            ("192.0.2.1/", "from 0 to 32"),
            ("192.0.2.1/x", "from 0 to 32"),
            ("192.0.2.1/+24", "from 0 to 32"),
            ("192.0.2.1/-1", "from 0 to 32"),
            ("192.0.2.1/99999999999", "from 0 to 32"),
            ("192.0.2.1/24/24", "from 0 to 32"),
            ("192.0.2.256/24", "not an IP address"),
            ("192.0.2/24", "not an IP address"),
            ("192.000.002.001/24", "not an IP address"),
            ("fe80::1%eth0/64", "not an IP address"),
            ("host.example/24", "not an IP address"),
            ("192.0.2.1/24,192.0.2.1/25", "192.0.2.1 is listed twice"),
            (
                "2001:db8::1/64,2001:DB8:0::1/48",
                "2001:db8::1 is listed twice",
            ),
            ("0.0.0.0/0", "unspecified"),
            ("::/0", "unspecified"),
            ("224.0.0.1/4", "multicast"),
            ("ff02::1/64", "multicast"),
            ("255.255.255.255/32", "broadcast"),
        ] {
            assert_err(&[("IF0", "-|-"), ("IP0", value)], "IP0", needle);
        }
        assert_eq!(
            err(&[("IF0", "-|-"), ("IP0", "192.0.2.1")]),
            "stdpkt: IP0=\"192.0.2.1\": \"192.0.2.1\" has no prefix length; \
             expected ADDRESS/PREFIX[,...] like 192.0.2.1/24,2001:db8::1/64"
        );
    }

    #[test]
    fn ifaddr_contains() {
        let a = |s: &str| {
            let (addr, p) = s.split_once('/').unwrap();
            IfAddr {
                addr: ip(addr),
                prefix: p.parse().unwrap(),
            }
        };
        assert!(a("192.0.2.1/24").contains(ip("192.0.2.254")));
        assert!(!a("192.0.2.1/24").contains(ip("192.0.3.1")));
        assert!(a("192.0.2.1/32").contains(ip("192.0.2.1")));
        assert!(!a("192.0.2.1/32").contains(ip("192.0.2.2")));
        assert!(a("192.0.2.1/0").contains(ip("203.0.113.1")));
        assert!(a("2001:db8::1/64").contains(ip("2001:db8::fe")));
        assert!(!a("2001:db8::1/64").contains(ip("2001:db8:1::fe")));
        assert!(a("2001:db8::1/0").contains(ip("2001:db8:ffff::1")));
        assert!(a("2001:db8::1/128").contains(ip("2001:db8::1")));
        assert!(!a("192.0.2.1/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn mtu_forms() {
        for (value, want) in [
            ("68", 68),
            ("1500", 1500),
            (" 9000 ", 9000),
            ("65521", 65521),
        ] {
            let c = ok(&[("IF0", "-|-"), ("MTU0", value)]);
            assert_eq!(c.interfaces[0].mtu, Some(want));
        }
        // IPv4 alone may go down to 68; IPv6 needs 1280.
        ok(&[("IF0", "-|-"), ("IP0", "192.0.2.1/24"), ("MTU0", "68")]);
        ok(&[("IF0", "-|-"), ("IP0", "2001:db8::1/64"), ("MTU0", "1280")]);
        // Without addresses, the MTU alone is not judged.
        ok(&[("IF0", "-|-"), ("MTU0", "576")]);
    }

    #[test]
    fn mtu_errors() {
        for value in [
            "",
            "67",
            "65522",
            "0",
            "-1",
            "+1500",
            "1500.0",
            "15OO",
            "4294967296",
        ] {
            assert_err(
                &[("IF0", "-|-"), ("MTU0", value)],
                "MTU0",
                "from 68 to 65521",
            );
        }
        assert_eq!(
            err(&[("IF0", "-|-"), ("MTU0", "67")]),
            "stdpkt: MTU0=\"67\": expected an integer from 68 to 65521"
        );
        assert_eq!(
            err(&[
                ("IF0", "-|-"),
                ("IP0", "192.0.2.1/24,2001:db8::1/64"),
                ("MTU0", "1279")
            ]),
            "stdpkt: MTU0=\"1279\": IP0 has an IPv6 address, which needs an MTU of at least 1280"
        );
    }

    #[test]
    fn gateway_forms() {
        let c = ok(&[
            ("IF0", "-|-"),
            ("IP0", "192.0.2.1/24,2001:db8::1/64"),
            ("GW", "192.0.2.254,2001:db8::fe"),
        ]);
        assert_eq!(c.gateways.v4, Some("192.0.2.254".parse().unwrap()));
        assert_eq!(c.gateways.v6, Some("2001:db8::fe".parse().unwrap()));
        assert_eq!(
            c.gateway_interface(ip("192.0.2.254")).map(|i| i.index),
            Some(0)
        );

        let g = parse_gateways("2001:db8::fe").unwrap();
        assert_eq!((g.v4, g.v6.is_some()), (None, true));
        let g = parse_gateways(" 198.51.100.1 , ").unwrap();
        assert_eq!(g.v4, Some(Ipv4Addr::new(198, 51, 100, 1)));
        let g = parse_gateways("2001:db8::fe,203.0.113.1").unwrap();
        assert!(g.v4.is_some() && g.v6.is_some());
    }

    #[test]
    fn gateway_picks_interface_by_subnet() {
        let c = ok(&[
            ("IF0", "-|/dev/null"),
            ("IP0", "192.0.2.1/24"),
            ("IF3", "/dev/null|-"),
            ("IP3", "198.51.100.1/24,2001:db8:1::1/64"),
            ("GW", "198.51.100.254,2001:db8:1::fe"),
        ]);
        assert_eq!(
            c.gateway_interface(ip("198.51.100.254")).unwrap().name(),
            "eth3"
        );
        assert_eq!(c.gateway_interface(ip("2001:db8:1::fe")).unwrap().index, 3);
        assert!(c.gateway_interface(ip("203.0.113.1")).is_none());
    }

    #[test]
    fn gateway_link_local() {
        let c = ok(&[("IF0", "-|-"), ("GW", "fe80::1")]);
        assert_eq!(c.gateways.v6, Some("fe80::1".parse().unwrap()));
        assert_eq!(c.gateway_interface(ip("fe80::1")).unwrap().index, 0);
        assert_err(
            &[
                ("IF0", "-|/dev/null"),
                ("IF1", "/dev/null|-"),
                ("GW", "fe80::1"),
            ],
            "GW",
            "ambiguous with 2 interfaces",
        );
        assert_err(&[("GW", "fe80::1")], "GW", "no IFn is set");
    }

    #[test]
    fn gateway_errors() {
        let net = [("IF0", "-|-"), ("IP0", "192.0.2.1/24,2001:db8::1/64")];
        for (value, needle) in [
            ("", "no address"),
            (",", "no address"),
            (
                "192.0.2.254,192.0.2.253",
                "two IPv4 gateways, 192.0.2.254 and 192.0.2.253",
            ),
            ("2001:db8::fe,2001:db8::fd", "two IPv6 gateways"),
            ("192.0.2.254/24", "takes no prefix length"),
            ("gateway", "not an IP address"),
            ("192.0.2.254;2001:db8::fe", "not an IP address"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("203.0.113.1", "not inside any IPv4 subnet"),
            ("2001:db8:1::1", "not inside any IPv6 subnet"),
            ("192.0.2.1", "IP0's own address"),
        ] {
            let mut vars = net.to_vec();
            vars.push(("GW", value));
            assert_err(&vars, "GW", needle);
        }
        assert_eq!(
            err(&[
                ("IF0", "-|-"),
                ("IP0", "2001:db8::1/64"),
                ("GW", "192.0.2.254")
            ]),
            "stdpkt: GW=\"192.0.2.254\": no IPn has an IPv4 address, \
             so gateway 192.0.2.254 is unreachable"
        );
        assert_err(&[("GW", "192.0.2.254")], "GW", "no IPn has an IPv4 address");
    }

    #[test]
    fn sysctl_forms() {
        let c = ok(&[(
            "STDPKT_SYSCTL",
            "net.ipv4.ip_forward=1;net.ipv6.conf.all.forwarding=1;",
        )]);
        assert_eq!(
            c.sysctls,
            vec![
                Sysctl {
                    key: "net.ipv4.ip_forward".into(),
                    value: "1".into()
                },
                Sysctl {
                    key: "net.ipv6.conf.all.forwarding".into(),
                    value: "1".into()
                },
            ]
        );
        assert_eq!(c.sysctls[0].proc_path(), "net/ipv4/ip_forward");
        assert_eq!(c.sysctls[1].proc_path(), "net/ipv6/conf/all/forwarding");

        let s = parse_sysctls(
            " ; net.ipv4.ping_group_range = 0 2147483647 ;;net.ipv4.conf.eth-0.x_y=a=b; ",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].key, "net.ipv4.ping_group_range");
        assert_eq!(s[0].value, "0 2147483647");
        assert_eq!(s[1].proc_path(), "net/ipv4/conf/eth-0/x_y");
        assert_eq!(s[1].value, "a=b");
        assert_eq!(parse_sysctls(""), Ok(vec![]));
        assert_eq!(parse_sysctls(";;"), Ok(vec![]));
        assert_eq!(ok(&[("STDPKT_SYSCTL", "")]).sysctls, vec![]);
        // Order is kept, repeats included: they apply in sequence.
        let s = parse_sysctls("a.b=1;a.b=2").unwrap();
        assert_eq!((s[0].value.as_str(), s[1].value.as_str()), ("1", "2"));
    }

    #[test]
    fn sysctl_errors() {
        for (value, needle) in [
            ("net.ipv4.ip_forward", "is not key=value"),
            (
                "net.ipv4.ip_forward=1;kernel",
                "\"kernel\" is not key=value",
            ),
            ("=1", "\"\" is not a sysctl name"),
            ("net..ipv4=1", "\"net..ipv4\" is not a sysctl name"),
            (".net.ipv4=1", "is not a sysctl name"),
            ("net.ipv4.=1", "is not a sysctl name"),
            ("net/ipv4/ip_forward=1", "is not a sysctl name"),
            ("net.ipv4.ip forward=1", "is not a sysctl name"),
            ("../../etc/passwd=1", "is not a sysctl name"),
            (
                "net.ipv4.ip_forward=",
                "net.ipv4.ip_forward has an empty value",
            ),
            ("net.ipv4.ip_forward=  ", "has an empty value"),
            ("net.ipv4.ip_forward=1\u{7}", "control characters"),
            ("net.ipv4.ip_forward=1\n2", "control characters"),
        ] {
            assert_err(&[("STDPKT_SYSCTL", value)], "STDPKT_SYSCTL", needle);
        }
    }

    #[test]
    fn boot_log_linger() {
        let c = ok(&[
            ("STDPKT_BOOT", " mem=64M loglevel=8 "),
            ("STDPKT_LOG", "stdpkt=debug,warn"),
            ("STDPKT_LINGER", "1"),
        ]);
        assert_eq!(c.boot_args, "mem=64M loglevel=8");
        assert_eq!(c.log_filter.as_deref(), Some("stdpkt=debug,warn"));
        assert!(c.linger);
        assert_eq!(ok(&[("STDPKT_BOOT", "")]).boot_args, "");
        assert_eq!(ok(&[("STDPKT_LOG", "")]).log_filter.as_deref(), Some(""));

        for (value, want) in [
            ("1", true),
            ("true", true),
            ("TRUE", true),
            ("yes", true),
            (" Yes ", true),
            ("0", false),
            ("false", false),
            ("False", false),
            ("no", false),
            ("NO", false),
        ] {
            assert_eq!(ok(&[("STDPKT_LINGER", value)]).linger, want, "{value}");
        }
    }

    #[test]
    fn exit_wait() {
        assert_eq!(ok(&[]).exit_wait_secs, DEFAULT_EXIT_WAIT_SECS);
        assert_eq!(ok(&[("STDPKT_EXIT_WAIT", " 0 ")]).exit_wait_secs, 0);
        assert_eq!(ok(&[("STDPKT_EXIT_WAIT", "3600")]).exit_wait_secs, 3600);
        assert_eq!(
            ok(&[("STDPKT_NAME", "r-1.a_b")]).name.as_deref(),
            Some("r-1.a_b")
        );
        for bad in ["", "a/b", "a b", &"x".repeat(33)] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "-1", "3601", "1.5", "60s", "many"] {
            assert_err(&[("STDPKT_EXIT_WAIT", bad)], "STDPKT_EXIT_WAIT", "seconds");
        }
    }

    #[test]
    fn boot_and_linger_errors() {
        assert_eq!(
            err(&[("STDPKT_BOOT", "mem=64M\ninit=/bin/sh")]),
            "stdpkt: STDPKT_BOOT=\"mem=64M\\ninit=/bin/sh\": control characters, \
             newlines included, cannot be on the kernel command line"
        );
        assert_err(
            &[("STDPKT_BOOT", "a\tb")],
            "STDPKT_BOOT",
            "control characters",
        );
        for value in ["", "2", "on", "off", "y", "n", "truee"] {
            assert_err(
                &[("STDPKT_LINGER", value)],
                "STDPKT_LINGER",
                "expected 1, 0, true, false, yes or no",
            );
        }
    }

    #[test]
    fn per_interface_var_without_if() {
        assert_eq!(
            err(&[("IP3", "192.0.2.1/24")]),
            "stdpkt: IP3=\"192.0.2.1/24\": IP3 is set but IF3 is not"
        );
        assert_err(
            &[("IFTYPE1", "pcap")],
            "IFTYPE1",
            "IFTYPE1 is set but IF1 is not",
        );
        assert_err(
            &[("MAC7", "02:00:00:00:00:01")],
            "MAC7",
            "MAC7 is set but IF7 is not",
        );
        assert_err(&[("MTU0", "1500")], "MTU0", "MTU0 is set but IF0 is not");
        // Another interface being configured does not help.
        assert_err(
            &[("IF0", "-|-"), ("IP1", "192.0.2.1/24")],
            "IP1",
            "IF1 is not",
        );
    }

    #[test]
    fn interface_numbers_out_of_range() {
        for name in [
            "IF8",
            "IFTYPE9",
            "IP10",
            "MAC99",
            "MTU8",
            "IF07",
            "IP00",
            "IF123456789012345678901234",
        ] {
            let e = parse(&[(name, "x")]).expect_err(name);
            assert_eq!(e.var, name);
            assert!(e.message.starts_with("interfaces are numbered 0..7"), "{e}");
        }
        assert_eq!(
            err(&[("IF8", "-|-")]),
            "stdpkt: IF8=\"-|-\": interfaces are numbered 0..7 (IF0 to IF7)"
        );
        assert_eq!(
            err(&[("IFTYPE9", "raw")]),
            "stdpkt: IFTYPE9=\"raw\": interfaces are numbered 0..7 (IFTYPE0 to IFTYPE7)"
        );
    }

    #[test]
    fn unknown_stdpkt_variables() {
        assert_eq!(
            err(&[("STDPKT_FOO", "1")]),
            "stdpkt: STDPKT_FOO=\"1\": unknown stdpkt variable; known are GW, \
             STDPKT_SYSCTL, STDPKT_BOOT, STDPKT_LOG, STDPKT_LINGER, STDPKT_EXIT_WAIT, STDPKT_NAME, STDPKT_INSTANCE, \
             STDPKT_LIB, STDPKT_DISABLE"
        );
        assert_err(&[("STDPKT_", "")], "STDPKT_", "unknown stdpkt variable");
        assert_err(&[("STDPKT_sysctl", "a=1")], "STDPKT_sysctl", "unknown");
        assert_err(
            &[("STDPKT_MEM", "64M")],
            "STDPKT_MEM",
            "mem= in STDPKT_BOOT",
        );
    }

    #[test]
    fn unrelated_variables_ignored() {
        let c = ok(&[
            ("IFS", " \t\n"),
            ("MACHTYPE", "x86_64-pc-linux-gnu"),
            ("IPATH", "/nowhere"),
            ("IF", "x"),
            ("IP", "x"),
            ("MAC", "x"),
            ("MTU", "x"),
            ("IFTYPE", "x"),
            ("IF_0", "x"),
            ("if0", "x"),
            ("IP0X", "x"),
            ("MTUX", "x"),
            ("IFTYPEX", "x"),
            ("GW0", "x"),
            ("gw", "x"),
            ("XSTDPKT_FOO", "x"),
            ("stdpkt_foo", "x"),
            ("PATH", "/usr/bin"),
        ]);
        assert_eq!(c, Config::default());
    }

    #[test]
    fn interfaces_sorted_by_index() {
        let c = ok(&[
            ("IF5", "/dev/null|/dev/null"),
            ("IP2", "198.51.100.1/24"),
            ("IF0", "-|/dev/null"),
            ("IF2", "/dev/null|-"),
            ("IF7", "a|b"),
        ]);
        let idx: Vec<u8> = c.interfaces.iter().map(|i| i.index).collect();
        assert_eq!(idx, [0, 2, 5, 7]);
        let names: Vec<String> = c.interfaces.iter().map(IfConfig::name).collect();
        assert_eq!(names, ["eth0", "eth2", "eth5", "eth7"]);
        assert_eq!(c.interfaces[1].addrs.len(), 1);
        assert_eq!(c.interfaces[3].rx, path("a"));
        assert_eq!(c.interfaces[3].tx, path("b"));
    }

    #[test]
    fn one_stream_per_interface() {
        assert_eq!(
            err(&[("IF0", "-|-"), ("IF1", "/dev/null|/dev/stdout")]),
            "stdpkt: IF1=\"/dev/null|/dev/stdout\": TX is stdout, which IF0 already uses; \
             one stream cannot carry two interfaces"
        );
        assert_err(
            &[("IF1", "-|a"), ("IF4", "/dev/fd/0|b")],
            "IF4",
            "RX is stdin, which IF1",
        );
        // Stdin for one and stdout for another is fine, as are shared paths.
        ok(&[("IF0", "-|a"), ("IF1", "b|-")]);
        ok(&[
            ("IF0", "/dev/null|/dev/null"),
            ("IF1", "/dev/null|/dev/null"),
        ]);
    }

    #[test]
    fn first_occurrence_wins() {
        let c = ok(&[
            ("IF0", "-|-"),
            ("IF0", "oops"),
            ("MTU0", "1500"),
            ("MTU0", "x"),
        ]);
        assert_eq!(c.interfaces[0].rx, Endpoint::Stdin);
        assert_eq!(c.interfaces[0].mtu, Some(1500));
    }

    #[test]
    fn full_example() {
        let c = ok(&[
            ("IF0", "-|-"),
            ("IFTYPE0", "pcap"),
            ("MAC0", "02:00:00:00:00:01"),
            ("IP0", "192.0.2.1/24,2001:db8::1/64"),
            ("MTU0", "1500"),
            ("IF1", "/tmp/in1|/tmp/out1"),
            ("IP1", "198.51.100.1/24"),
            ("GW", "192.0.2.254,2001:db8::fe"),
            ("STDPKT_SYSCTL", "net.ipv4.ip_forward=1"),
            ("STDPKT_BOOT", "mem=64M"),
            ("STDPKT_LOG", "debug"),
            ("STDPKT_LINGER", "yes"),
            ("IFS", " "),
        ]);
        assert_eq!(c.interfaces.len(), 2);
        assert_eq!(c.interfaces[0].framing, Framing::Pcap);
        assert_eq!(c.interfaces[0].mtu, Some(1500));
        assert_eq!(c.interfaces[1].framing, Framing::Raw);
        assert!(c.interfaces[1].mac_is_default);
        assert_eq!(c.sysctls.len(), 1);
        assert!(c.linger);
    }

    #[test]
    fn error_display_is_one_line() {
        let nasty = "a\nb\r\nc\u{85}d\u{2028}e\u{2029}f\u{0}g\u{1b}[31mh\"i\\j";
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("IF0", nasty)],
            vec![("IF0", "-|-"), ("MAC0", nasty)],
            vec![("IF0", "-|-"), ("IP0", nasty)],
            vec![("IF0", "-|-"), ("IP0", "192.0.2.1/24\n,x")],
            vec![("IF0", "-|-"), ("MTU0", nasty)],
            vec![("IF0", "-|-"), ("IFTYPE0", nasty)],
            vec![("IF0", "a\n|b\n"), ("IF1", "\nc|\n-")],
            vec![("GW", nasty)],
            vec![("STDPKT_SYSCTL", nasty)],
            vec![("STDPKT_SYSCTL", "a\nb=1")],
            vec![("STDPKT_SYSCTL", "x=1\n2")],
            vec![("STDPKT_BOOT", nasty)],
            vec![("STDPKT_LINGER", nasty)],
            vec![("STDPKT_\nX", nasty)],
            vec![("IP9", nasty)],
            vec![("IP3", nasty)],
        ];
        for vars in cases {
            let line = err(&vars);
            assert!(line.starts_with("stdpkt: "), "{line}");
            assert!(
                !line.contains(|c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
                "{line:?}"
            );
        }
        let e = ConfigError::new("MAC0", nasty, "x\ny");
        assert_eq!(
            e.to_string(),
            "stdpkt: MAC0=\"a\\nb\\r\\nc\\u{85}d\\u{2028}e\\u{2029}f\\u{0}g\\u{1b}[31mh\\\"i\\\\j\": x\\ny"
        );
        // The raw value is kept for programmatic use.
        assert_eq!(e.value, nasty);
    }

    #[test]
    fn error_order_is_independent_of_environment_order() {
        let a = [("IF9", "x"), ("MAC0", "x"), ("STDPKT_FOO", "x")];
        let mut b = a;
        b.reverse();
        assert_eq!(err(&a), err(&b));
    }

    #[test]
    fn exit_status_is_two() {
        assert_eq!(EXIT_STATUS, 2);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values() {
        use std::os::unix::ffi::OsStringExt;
        let os = |s: &[u8]| OsString::from_vec(s.to_vec());

        let e = from_os_vars([(os(b"IF0"), os(b"-|\xff"))], SEED).unwrap_err();
        assert_eq!(e.var, "IF0");
        assert!(e.message.contains("value is not valid UTF-8"), "{e}");
        assert_eq!(
            e.to_string(),
            "stdpkt: IF0=\"-|\u{fffd}\": the variable's value is not valid UTF-8"
        );

        let e = from_os_vars([(os(b"STDPKT_\xff"), os(b"1"))], SEED).unwrap_err();
        assert!(e.message.contains("name is not valid UTF-8"), "{e}");

        // Others' variables are never decoded, so their bytes do not matter.
        let c = from_os_vars(
            [
                (os(b"LANG"), os(b"\xff\xfe")),
                (os(b"\xffIF0"), os(b"x")),
                (os(b"IF0"), os(b"-|-")),
            ],
            SEED,
        )
        .unwrap();
        assert_eq!(c.interfaces.len(), 1);
    }

    #[test]
    fn from_env_reads_process_environment() {
        // Tests cannot set variables safely while others run in parallel, so
        // only compare with the same environment passed explicitly.
        let explicit = from_os_vars(std::env::vars_os(), SEED);
        let real = from_env();
        match (explicit, real) {
            (Ok(a), Ok(b)) => assert_eq!(a.interfaces.len(), b.interfaces.len()),
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("{a:?} vs {b:?}"),
        }
    }

    #[test]
    fn parsers_do_not_panic_on_odd_input() {
        // A poor man's fuzz pass over short strings of interesting characters.
        let alphabet = [
            "", "-", "|", ":", "/", ",", ";", "=", ".", "0", "f", "1", " ", "\n", "é", "::",
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s = format!("{a}{b}{c}{a}");
                    let _ = parse_mac(&s);
                    let _ = parse_addrs(&s);
                    let _ = parse_endpoint_pair(&s);
                    let _ = parse_gateways(&s);
                    let _ = parse_sysctls(&s);
                    let _ = parse_mtu(&s);
                    let _ = parse_framing(&s);
                    let _ = parse_bool(&s);
                    let _ = parse_boot_args(&s);
                    let _ = classify(&s);
                }
            }
        }
    }
}
