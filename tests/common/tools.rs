// SPDX-License-Identifier: GPL-2.0-only
//! The external programs the tests start, and the Debian package each one
//! comes from. A missing program fails the test that needs it, naming the
//! package: a test never passes by skipping what it could not run.
//! tests/setup_drift.rs checks this table against `dpkg -S` and against the
//! programs the tests really start.

use std::path::{Path, PathBuf};

use super::process::{find_in, CLEAN_PATH};

/// Program name -> the Debian package that installs it.
pub const PACKAGES: &[(&str, &str)] = &[
    ("bash", "bash"),
    ("bridge", "iproute2"),
    ("cat", "coreutils"),
    ("conntrack", "conntrack"),
    ("env", "coreutils"),
    ("ethtool", "ethtool"),
    ("getcap", "libcap2-bin"),
    ("grep", "grep"),
    ("ip", "iproute2"),
    ("iperf3", "iperf3"),
    ("ipset", "ipset"),
    ("iptables", "iptables"),
    ("iptables-legacy", "iptables"),
    ("iptables-legacy-restore", "iptables"),
    ("iptables-legacy-save", "iptables"),
    ("iptables-nft-save", "iptables"),
    ("iptables-restore", "iptables"),
    ("nc", "netcat-openbsd"),
    ("netperf", "netperf"),
    ("netserver", "netperf"),
    ("netstat", "net-tools"),
    ("nft", "nftables"),
    ("nm", "binutils"),
    ("ping", "iputils-ping"),
    ("python3", "python3"),
    ("runuser", "util-linux"),
    ("sh", "dash"),
    ("sha256sum", "coreutils"),
    ("sleep", "coreutils"),
    ("socat", "socat"),
    ("ss", "iproute2"),
    ("sysctl", "procps"),
    ("tc", "iproute2"),
    ("tcpdump", "tcpdump"),
    ("tee", "coreutils"),
    ("text2pcap", "wireshark-common"),
    ("traceroute", "traceroute"),
    ("timeout", "coreutils"),
    ("true", "coreutils"),
    ("wg", "wireguard-tools"),
];

/// The package that installs `program` (a name or a path), if the table
/// knows it.
pub fn package_of(program: &str) -> Option<&'static str> {
    let name = Path::new(program).file_name()?.to_str()?;
    PACKAGES.iter().find(|(p, _)| *p == name).map(|(_, k)| *k)
}

/// Why `program` is missing, for a failure message.
pub fn missing(program: &str) -> String {
    match package_of(program) {
        Some(pkg) => format!(
            "`{program}` is not installed: it comes from Debian package {pkg}; \
             run scripts/setup.sh"
        ),
        None => format!(
            "`{program}` is not installed, and tests/common/tools.rs does not say \
             which Debian package it comes from (add it there and to scripts/setup.sh)"
        ),
    }
}

/// `program` in the clean PATH the tests run programs with, or a failure
/// that names its package.
pub fn require(program: &str) -> PathBuf {
    find_in(program, CLEAN_PATH).unwrap_or_else(|| panic!("{}", missing(program)))
}

/// [`require`] for each of `programs`.
pub fn require_all(programs: &[&str]) {
    for p in programs {
        require(p);
    }
}

/// `program` as a command would find it: a path is taken as it is (and
/// must exist), a name is looked up with [`require`].
pub fn resolve(program: &str) -> PathBuf {
    if program.contains('/') {
        let p = PathBuf::from(program);
        assert!(p.exists(), "{}", missing(program));
        p
    } else {
        require(program)
    }
}
