// SPDX-License-Identifier: GPL-2.0-only
//! An instance: the kernel booted from the environment contract
//! ([`crate::config`]), with its NICs on byte streams, configured and up.
//! This is what the preload library starts before the program's `main`.

use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{self, Config, ConfigError};
use crate::kernel::{self, BootError, Errno};
use crate::netconf;
use crate::nics::Nic;
use crate::owed::{self, Owed};

/// Why an instance could not start. Every variant prints as one line.
#[derive(Debug)]
pub enum StartError {
    /// A malformed or unusable environment variable (exit status 2).
    Config(ConfigError),
    /// The kernel did not boot.
    Boot(BootError),
    /// Setting the instance up inside the kernel failed.
    Setup(String, Errno),
    /// A NIC's streams could not be set up.
    Nic(String),
}

impl StartError {
    /// The exit status for a program that cannot start because of this.
    pub fn exit_status(&self) -> i32 {
        match self {
            StartError::Config(_) | StartError::Nic(_) => config::EXIT_STATUS,
            _ => 1,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Boot(e) => write!(f, "stdpkt: {e}"),
            StartError::Setup(what, e) => write!(f, "stdpkt: {what}: {e}"),
            StartError::Nic(what) => write!(f, "stdpkt: {what}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

/// A running instance.
pub struct Instance {
    config: Config,
    nics: Mutex<Vec<Nic>>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("config", &self.config)
            .finish()
    }
}

impl Instance {
    pub fn config(&self) -> &Config {
        &self.config
    }
}

static INSTANCE: OnceLock<Instance> = OnceLock::new();

/// The running instance, if one was started in this process.
pub fn get() -> Option<&'static Instance> {
    INSTANCE.get()
}

/// Default kernel command line; `STDPKT_BOOT` is appended (later wins).
/// RAM is mapped lazily, so a larger `mem=` costs little resident memory
/// until it is used; 64 MiB leaves room for many busy TCP connections.
const DEFAULT_BOOT: &str = "mem=64M loglevel=4";

/// Starts the instance described by the environment. Called once per
/// process (later calls return the same instance or fail).
pub fn start_from_env() -> Result<&'static Instance, StartError> {
    let config = config::from_env()?;
    start(config)
}

/// Starts an instance from an explicit configuration.
pub fn start(config: Config) -> Result<&'static Instance, StartError> {
    if let Some(i) = INSTANCE.get() {
        return Ok(i);
    }
    let mut nics = Vec::new();
    for ifc in &config.interfaces {
        nics.push(Nic::prepare(ifc).map_err(StartError::Nic)?);
    }
    let mut cmdline = String::from(DEFAULT_BOOT);
    for nic in &nics {
        cmdline.push(' ');
        cmdline.push_str(&nic.cmdline);
    }
    if !config.boot_args.is_empty() {
        cmdline.push(' ');
        cmdline.push_str(&config.boot_args);
    }
    kernel::boot(&cmdline).map_err(StartError::Boot)?;
    setup_basics(&config)?;
    for nic in &mut nics {
        setup_nic(nic)?;
    }
    setup_routes(&config)?;
    // Frames may be waiting already: receive only once routes are in.
    for nic in &mut nics {
        // A new peer on a fifo input learns our addresses at once.
        let name = nic.config.name();
        nic.start_rx(move || {
            if let Err(e) = netconf::ifindex(&name).and_then(netconf::announce) {
                log::debug!("{name}: announcing: {e}");
            }
        })
        .map_err(StartError::Nic)?;
    }
    Ok(INSTANCE.get_or_init(|| Instance {
        config,
        nics: Mutex::new(nics),
    }))
}

/// Names, MTU, link state and addresses of one NIC.
fn setup_nic(nic: &mut Nic) -> Result<(), StartError> {
    let c = &nic.config;
    let name = c.name();
    let err = |what: &str, e: Errno| StartError::Setup(format!("{name}: {what}"), e);
    let (index, kname) = netconf::link_by_mac(c.mac)
        .map_err(|e| err("finding the device", e))?
        .ok_or_else(|| err("no virtio-net device with its MAC", Errno(libc::ENODEV)))?;
    if kname != name {
        netconf::rename_link(index, &name).map_err(|e| err("renaming", e))?;
    }
    let sysctl =
        |path: String, value: &[u8]| kernel::write_file(&path, value).map_err(|e| err(&path, e));
    // A restarted peer has a new MAC: tell the neighbours at link-up
    // (gratuitous ARP, unsolicited NA), so that they do not keep sending
    // to the old one until their cache entry goes stale.
    sysctl(format!("/proc/sys/net/ipv4/conf/{name}/arp_notify"), b"1")?;
    sysctl(format!("/proc/sys/net/ipv6/conf/{name}/ndisc_notify"), b"1")?;
    // The link-local address is configured here like the others: without
    // duplicate address detection, so that it works at once. Addresses a
    // program adds later get DAD, as on Linux.
    let ipv6 = c.mtu.is_none_or(|m| m >= config::MTU_MIN_IPV6);
    if ipv6 {
        sysctl(
            format!("/proc/sys/net/ipv6/conf/{name}/addr_gen_mode"),
            b"1",
        )?;
        let ll = link_local(c.mac);
        netconf::add_addr(index, ll.into(), 64).map_err(|e| err(&format!("adding {ll}/64"), e))?;
    }
    // Addresses first: link-up announces them.
    for a in &c.addrs {
        netconf::add_addr(index, a.addr, a.prefix).map_err(|e| err(&format!("adding {a}"), e))?;
    }
    netconf::set_link(index, true, c.mtu).map_err(|e| err("bringing it up", e))?;
    // The carrier comes up after the link (the driver learns it from the
    // device): announce now that frames go out.
    netconf::set_mac(index, c.mac).map_err(|e| err("announcing its addresses", e))?;
    Ok(())
}

/// The modified EUI-64 link-local address of `mac` (RFC 4291, appendix
/// A), the one Linux would make.
fn link_local(mac: [u8; 6]) -> std::net::Ipv6Addr {
    let m = mac;
    std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}

fn setup_routes(config: &Config) -> Result<(), StartError> {
    let gws = [
        config.gateways.v4.map(std::net::IpAddr::V4),
        config.gateways.v6.map(std::net::IpAddr::V6),
    ];
    for gw in gws.into_iter().flatten() {
        netconf::add_default_route(gw)
            .map_err(|e| StartError::Setup(format!("default route via {gw}"), e))?;
    }
    Ok(())
}

impl Instance {
    /// Whether every NIC's input has ended (true without NICs).
    pub fn all_rx_finished(&self) -> bool {
        let mut nics = self.nics.lock().unwrap_or_else(|e| e.into_inner());
        nics.iter_mut().all(|n| n.rx_finished())
    }

    /// `STDPKT_LINGER`: keeps the instance forwarding until every NIC's
    /// input has ended, or SIGTERM/SIGINT arrives (consumed here). Returns
    /// at once without NICs.
    pub fn linger(&self) {
        wait_while(None, || !self.all_rx_finished());
    }

    /// At exit: waits while programs started from this process still use
    /// the instance ([`crate::remote`]), or until SIGTERM/SIGINT.
    pub fn wait_for_clients(&self) {
        let n = crate::remote::connections();
        if n > 0 {
            log::debug!("exit: serving {n} client threads until they end");
            wait_while(None, || crate::remote::connections() > 0);
        }
    }

    /// At exit, after the program's sockets are closed: waits, for `limit`
    /// at most, until no TCP connection owes its peer data or a FIN (see
    /// [`crate::owed`]), as the host kernel would go on sending after the
    /// process has gone. Gives up early on SIGTERM/SIGINT (consumed here),
    /// and on connections through NICs whose every input has ended (no
    /// acknowledgement can arrive). Returns what is still owed then, and
    /// why the wait ended.
    pub fn wait_for_owed(&self, limit: Duration) -> (Vec<Owed>, WaitEnd) {
        let deadline = Instant::now() + limit;
        let mut owed = owed_connections();
        if owed.is_empty() || limit.is_zero() {
            return (owed, WaitEnd::Timeout);
        }
        log::debug!("exit: waiting for {} TCP connections to finish", owed.len());
        let mut end = WaitEnd::Timeout;
        let signalled = wait_while(Some(deadline), || {
            owed = owed_connections();
            if !owed.iter().all(Owed::is_local) && self.all_rx_finished() {
                end = WaitEnd::InputsEnded;
                return false;
            }
            !owed.is_empty()
        });
        if signalled {
            end = WaitEnd::Signal;
        }
        (owed_connections(), end)
    }

    /// Lines about lost frames, one per NIC that lost any.
    pub fn drop_report(&self) -> Vec<String> {
        let mut nics = self.nics.lock().unwrap_or_else(|e| e.into_inner());
        nics.iter_mut().filter_map(|n| n.drop_report()).collect()
    }

    /// Per-NIC device counters, for reports.
    pub fn nic_stats(&self) -> Vec<(String, crate::virtio::NetStats)> {
        let nics = self.nics.lock().unwrap_or_else(|e| e.into_inner());
        nics.iter()
            .filter_map(|n| n.net().map(|d| (n.config.name(), d.stats())))
            .collect()
    }
}

/// The kernel's owing TCP connections; none if /proc cannot be read.
fn owed_connections() -> Vec<Owed> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| kernel::read_file(p).ok())
        .flat_map(|t| owed::parse(&String::from_utf8_lossy(&t)))
        .collect()
}

/// Why [`Instance::wait_for_owed`] stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    Timeout,
    /// SIGTERM or SIGINT.
    Signal,
    /// Every NIC's input has ended: no answer can come.
    InputsEnded,
}

/// Runs `busy` every few milliseconds while it returns true, until
/// `deadline` or until SIGTERM or SIGINT arrives for this thread (the
/// signal is consumed: the wait was what it asked to end). True if a
/// signal ended it.
fn wait_while(deadline: Option<Instant>, mut busy: impl FnMut() -> bool) -> bool {
    // Short steps first: most waits end within milliseconds.
    let mut step = Duration::from_millis(2);
    let mut signalled = false;
    // SAFETY: signal mask manipulation on local sets; sigtimedwait only
    // polls for the two signals blocked here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        while busy() && deadline.is_none_or(|d| Instant::now() < d) {
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: step.as_nanos() as libc::c_long,
            };
            if libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) > 0 {
                signalled = true;
                break;
            }
            step = (step * 2).min(Duration::from_millis(100));
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    signalled
}

fn setup_basics(config: &Config) -> Result<(), StartError> {
    let setup = |what: &str, r: Result<(), Errno>| r.map_err(|e| StartError::Setup(what.into(), e));
    setup("mounting /proc", kernel::mount_fs("proc", "/proc"))?;
    setup("mounting /sys", kernel::mount_fs("sysfs", "/sys"))?;
    setup("bringing lo up", kernel::set_link_up("lo"))?;
    // Inside the instance every user may ping (ICMP datagram sockets).
    setup(
        "net.ipv4.ping_group_range",
        kernel::write_file("/proc/sys/net/ipv4/ping_group_range", b"0 2147483647"),
    )?;
    // Linux gives TCP at most 3/32 of RAM, sized for machines with
    // gigabytes; in an instance's small RAM that starves a few dozen busy
    // connections (buffers shrink under pressure, and programs that write
    // much before they read can stall). Let TCP use up to half of it.
    // STDPKT_SYSCTL, applied next, can set it back.
    let pages = ram_pages().map_err(|e| StartError::Setup("reading /proc/meminfo".into(), e))?;
    setup(
        "net.ipv4.tcp_mem",
        kernel::write_file(
            "/proc/sys/net/ipv4/tcp_mem",
            format!("{} {} {}", pages / 8, pages / 4, pages / 2).as_bytes(),
        ),
    )?;
    for s in &config.sysctls {
        let path = format!("/proc/sys/{}", s.proc_path());
        setup(
            &format!("sysctl {}", s.key),
            kernel::write_file(&path, s.value.as_bytes()),
        )?;
    }
    Ok(())
}

/// The kernel's RAM in pages, from its /proc/meminfo.
fn ram_pages() -> Result<u64, Errno> {
    let text = kernel::read_file("/proc/meminfo")?;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 4)
        .ok_or(Errno(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_is_modified_eui64() {
        assert_eq!(
            link_local([0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]),
            "fe80::ff:fe00:a".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(
            link_local([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]),
            "fe80::211:22ff:fe33:4455"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
        );
    }
}
