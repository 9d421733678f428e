// SPDX-License-Identifier: GPL-2.0-only
//! An instance: the kernel booted from the environment contract
//! ([`crate::config`]), with its NICs on byte streams, configured and up.
//! This is what the preload library starts before the program's `main`.

use std::fmt;
use std::sync::OnceLock;

use crate::config::{self, Config, ConfigError};
use crate::kernel::{self, BootError, Errno};

/// Why an instance could not start. Every variant prints as one line.
#[derive(Debug)]
pub enum StartError {
    /// A malformed or unusable environment variable (exit status 2).
    Config(ConfigError),
    /// The kernel did not boot.
    Boot(BootError),
    /// Setting the instance up inside the kernel failed.
    Setup(String, Errno),
}

impl StartError {
    /// The exit status for a program that cannot start because of this.
    pub fn exit_status(&self) -> i32 {
        match self {
            StartError::Config(_) => config::EXIT_STATUS,
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
#[derive(Debug)]
pub struct Instance {
    config: Config,
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
const DEFAULT_BOOT: &str = "mem=32M loglevel=4";

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
    let mut cmdline = String::from(DEFAULT_BOOT);
    if !config.boot_args.is_empty() {
        cmdline.push(' ');
        cmdline.push_str(&config.boot_args);
    }
    kernel::boot(&cmdline).map_err(StartError::Boot)?;
    setup_basics(&config)?;
    Ok(INSTANCE.get_or_init(|| Instance { config }))
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
    for s in &config.sysctls {
        let path = format!("/proc/sys/{}", s.proc_path());
        setup(&format!("sysctl {}", s.key), kernel::write_file(&path, s.value.as_bytes()))?;
    }
    Ok(())
}
