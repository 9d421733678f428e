// SPDX-License-Identifier: GPL-2.0-only
//! libstdpkt.so under real, unmodified Debian programs: each test runs a
//! program with `LD_PRELOAD` set to the library built from this tree.
//!
//! Every process boots an instance of its own, so each check that needs
//! state (an address added, a rule, a connection) happens inside one
//! process. Only loopback and documentation addresses are used: nothing
//! here may reach a real host.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::preload_lib;
use common::process::{clean_command, Captured, Out};
use common::tempdir::TempDir;
use common::{guard, tools, ROOT};

/// Runs `args` with a clean environment plus `env`, with libstdpkt.so
/// preloaded unless `preload` is false; kills it after `secs`.
fn run_env(preload: bool, args: &[&str], env: &[(&str, &str)], secs: u64) -> Out {
    run_full(preload, args, env, &[], secs)
}

/// [`run_env`] with `stdin` written to the program's stdin, one chunk
/// every 300 ms, then closed (none: stdin is /dev/null).
fn run_full(preload: bool, args: &[&str], env: &[(&str, &str)], stdin: &[&str], secs: u64) -> Out {
    // A missing program fails here, naming its package. Preloaded, a
    // privileged one would ignore the library: its unprivileged copy runs.
    let mut cmd = if preload {
        let mut c = clean_command(guard::program(args[0]), &args[1..]);
        c.env("PATH", guard::path()).env("LD_PRELOAD", guard::lib());
        c
    } else {
        clean_command(tools::resolve(args[0]), &args[1..])
    };
    cmd.arg0(args[0]);
    cmd.stdin(if stdin.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Captured::spawn(&mut cmd);
    if let Some(mut input) = child.child.stdin.take() {
        let chunks: Vec<String> = stdin.iter().map(|c| c.to_string()).collect();
        std::thread::spawn(move || {
            for c in chunks {
                std::thread::sleep(Duration::from_millis(300));
                if input.write_all(c.as_bytes()).is_err() {
                    break;
                }
            }
        });
    }
    match child.wait(Duration::from_secs(secs)) {
        Some(status) => child.output(status),
        None => {
            let status = child.kill();
            let out = child.output(status);
            panic!("{args:?} timed out after {secs}s\n{}", out.show());
        }
    }
}

fn run(args: &[&str]) -> Out {
    run_env(true, args, &[], 30)
}

/// The host's interface names other than lo.
fn host_interfaces() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default()
}

const PYTHON: &str = "/usr/bin/python3";

fn python(script: &str, args: &[&str]) -> Out {
    let path = format!("{ROOT}/tests/preload/{script}");
    let mut v = vec![PYTHON, path.as_str()];
    v.extend_from_slice(args);
    all_ok(run_env(true, &v, &[], 60))
}

/// `script` run by a preloaded shell: python is a client of the shell's
/// instance.
fn python_in_a_client(script: &str) -> Out {
    let cmd = format!("{PYTHON} {ROOT}/tests/preload/{script}");
    all_ok(run_env(true, &["sh", "-c", &cmd], &[], 60))
}

/// A script that cannot run here says why ("SKIP: ..."): that fails.
fn all_ok(out: Out) -> Out {
    out.ok();
    assert!(
        out.stdout.contains("ALL OK"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

#[test]
fn exports_only_interposed_symbols() {
    let out = run_env(
        false,
        &[
            "nm",
            "-D",
            "--defined-only",
            preload_lib().to_str().unwrap(),
        ],
        &[],
        30,
    );
    out.ok();
    let allowed: BTreeSet<&str> = [
        "_Exit",
        "__open64_2",
        "__open_2",
        "__openat64_2",
        "__openat_2",
        "__poll_chk",
        "__ppoll_chk",
        "__read_chk",
        "__recv_chk",
        "__recvfrom_chk",
        "_exit",
        "accept",
        "accept4",
        "access",
        "bind",
        "close",
        "close_range",
        "closefrom",
        "connect",
        "dup",
        "dup2",
        "dup3",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "fcntl",
        "fcntl64",
        "fopen",
        "fopen64",
        "freeifaddrs",
        "getaddrinfo",
        "getifaddrs",
        "getnameinfo",
        "getpeername",
        "getsockname",
        "getsockopt",
        "if_freenameindex",
        "if_indextoname",
        "if_nameindex",
        "if_nametoindex",
        "ioctl",
        "listen",
        "lstat",
        "lstat64",
        "open",
        "open64",
        "openat",
        "openat64",
        "poll",
        "ppoll",
        "pselect",
        "read",
        "readv",
        "recv",
        "recvfrom",
        "recvmmsg",
        "recvmsg",
        "select",
        "send",
        "sendfile",
        "sendfile64",
        "sendmmsg",
        "sendmsg",
        "sendto",
        "setsockopt",
        "shutdown",
        "sigaction",
        "signal",
        "socket",
        "socketpair",
        "stat",
        "stat64",
        "write",
        "writev",
    ]
    .into_iter()
    .collect();
    let exported: BTreeSet<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap().to_string())
        .collect();
    let extra: Vec<&String> = exported
        .iter()
        .filter(|s| !allowed.contains(s.as_str()))
        .collect();
    assert!(extra.is_empty(), "unexpected exported symbols: {extra:?}");
    assert!(exported.contains("socket") && exported.contains("poll"));
}

#[test]
fn ip_addr_shows_only_the_instance_loopback() {
    let out = run(&["ip", "addr"]);
    out.ok();
    assert!(out.stdout.contains(": lo:"), "{}", out.stdout);
    assert!(out.stdout.contains("inet 127.0.0.1/8"), "{}", out.stdout);
    assert!(out.stdout.contains("inet6 ::1/128"), "{}", out.stdout);

    let links = run(&["ip", "-o", "link"]);
    links.ok();
    let names: BTreeSet<String> = links
        .stdout
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap().to_string())
        .collect();
    assert!(names.contains("lo"), "{names:?}");
    let host = host_interfaces();
    assert!(
        names.is_disjoint(&host),
        "instance shows host interfaces: {names:?} vs host {host:?}"
    );
}

#[test]
fn ip6_addr_shows_ipv6_loopback() {
    let out = run(&["ip", "-6", "addr"]);
    out.ok();
    assert!(out.stdout.contains("inet6 ::1/128"), "{}", out.stdout);
}

#[test]
fn ip_batch_configures_one_instance() {
    let dir = TempDir::new("ip-batch");
    let batch = dir.write(
        "ip.batch",
        b"addr add 192.0.2.1/24 dev lo\naddr add 2001:db8::1/64 dev lo\naddr show dev lo\n",
    );
    let out = run(&["ip", "-batch", &batch]);
    out.ok();
    assert!(out.stdout.contains("inet 192.0.2.1/24"), "{}", out.stdout);
    assert!(
        out.stdout.contains("inet6 2001:db8::1/64"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("inet 127.0.0.1/8"), "{}", out.stdout);
    // The next process has a fresh instance.
    let again = run(&["ip", "addr", "show", "dev", "lo"]);
    again.ok();
    assert!(!again.stdout.contains("192.0.2.1"), "{}", again.stdout);
}

#[test]
fn ping_loopback_once() {
    let out = run(&["ping", "-n", "-c", "1", "127.0.0.1"]);
    out.ok();
    assert!(out.stdout.contains(" 0% packet loss"), "{}", out.stdout);
}

/// Needs the kernel's timer-wheel timeouts: ping waits in a blocking
/// recvmsg with SO_RCVTIMEO between probes.
#[test]
fn ping_loopback_three() {
    let out = run(&["ping", "-n", "-c", "3", "-i", "0.2", "127.0.0.1"]);
    out.ok();
    assert!(out.stdout.contains(" 0% packet loss"), "{}", out.stdout);
}

/// nc polls stdin (a host pipe) and its socket (in the instance) at once.
/// One process means one instance, so the socket talks to itself: bound
/// to port P and connected to 127.0.0.1:P (TCP simultaneous open).
#[test]
fn nc_relays_stdin_through_a_self_connected_socket() {
    let out = run_full(
        true,
        &["nc", "-N", "-p", "7002", "127.0.0.1", "7002"],
        &[],
        &["hello\n", "world\n"],
        30,
    );
    out.ok();
    assert_eq!(out.stdout, "hello\nworld\n", "{}", out.stderr);
}

#[test]
fn hijack_script_runs_a_capability_binary() {
    let script = format!("{ROOT}/scripts/lkl-hijack.sh");
    let lib = guard::lib().to_str().unwrap().to_string();
    let out = run_env(
        false,
        &[&script, "ping", "-n", "-c", "1", "127.0.0.1"],
        &[("STDPKT_LIB", &lib)],
        30,
    );
    out.ok();
    assert!(out.stdout.contains(" 0% packet loss"), "{}", out.stdout);
    let has_caps = run_env(false, &["getcap", "/usr/bin/ping"], &[], 10);
    if !has_caps.stdout.trim().is_empty() {
        assert!(
            out.stderr.contains("running an unprivileged copy"),
            "{}",
            out.stderr
        );
    }
    // Through the script, ip also sees the instance.
    let ip = run_env(
        false,
        &[&script, "ip", "-o", "link"],
        &[("STDPKT_LIB", &lib)],
        30,
    );
    ip.ok();
    for h in host_interfaces() {
        assert!(!ip.stdout.contains(&format!(": {h}:")), "{}", ip.stdout);
    }
}

/// The host's firewall as text (status and output), for before/after.
fn host_firewall() -> Vec<String> {
    let mut v = Vec::new();
    for args in [
        &["iptables-legacy-save"][..],
        &["nft", "list", "ruleset"][..],
    ] {
        let out = run_env(false, args, &[], 30);
        // Timestamps in the save output's comments change.
        let body: Vec<&str> = out.stdout.lines().filter(|l| !l.starts_with('#')).collect();
        v.push(format!("{:?} {}\n{}", args, out.status, body.join("\n")));
    }
    v
}

#[test]
fn iptables_rules_stay_in_the_instance() {
    let before = host_firewall();
    run(&[
        "iptables-legacy",
        "-A",
        "INPUT",
        "-s",
        "192.0.2.9",
        "-j",
        "DROP",
    ])
    .ok();
    let dir = TempDir::new("ipt");
    let rules = dir.write(
        "rules",
        b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -s 192.0.2.9/32 -j DROP\n-A OUTPUT -d 198.51.100.7/32 -j REJECT\nCOMMIT\n",
    );
    let restored = run(&["iptables-legacy-restore", &rules]);
    restored.ok();
    // A new process, a new instance: no rules.
    let listed = run(&["iptables-legacy", "-S"]);
    listed.ok();
    assert!(!listed.stdout.contains("192.0.2.9"), "{}", listed.stdout);
    assert!(
        listed.stdout.contains("-P INPUT ACCEPT"),
        "{}",
        listed.stdout
    );
    assert_eq!(before, host_firewall(), "the host's firewall changed");
}

#[test]
fn python_mixed_readiness_dup_fcntl_and_interfaces() {
    let host: Vec<String> = host_interfaces().into_iter().collect();
    let host = if host.is_empty() {
        "none".to_string()
    } else {
        host.join(",")
    };
    python("mixed.py", &[&host]);
}

#[test]
fn python_ten_thousand_host_fds() {
    python("manyfds.py", &[]);
}

#[test]
fn python_fork_child_shares_the_instance_sockets() {
    let out = python("fork.py", &[]);
    assert!(out.stdout.contains("ALL OK"), "{}", out.stderr);
}

#[test]
fn python_subprocess_leaves_parent_sockets_alone() {
    python("vfork.py", &[]);
}

#[test]
fn python_waits_report_closed_fds_and_end_on_signals() {
    python("waits.py", &[]);
}

/// The same in a client: the shell hosts the instance, python reaches it
/// over the instance's socket.
#[test]
fn python_waits_in_a_client_of_the_instance() {
    python_in_a_client("waits.py");
}

#[test]
fn python_sigpipe_on_epipe() {
    python("sigpipe.py", &[]);
}

#[test]
fn bad_config_exits_2_with_one_line() {
    let out = run_env(
        true,
        &["true"],
        &[("IF0", "/dev/null|/dev/null"), ("MAC0", "00:11:22")],
        30,
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("MAC0"), "{}", out.stderr);
}

#[test]
fn disabled_runs_on_the_host() {
    let out = run_env(true, &["ip", "-o", "link"], &[("STDPKT_DISABLE", "1")], 30);
    out.ok();
    for h in host_interfaces() {
        assert!(out.stdout.contains(&format!(": {h}")), "{}", out.stdout);
    }
}

/// Inside its instance a program is root even for an unprivileged host
/// user: ping and iptables (legacy and nft) work as `nobody` (run as
/// root), or as the unprivileged user running the tests.
#[test]
fn unprivileged_user_gets_root_inside_the_instance() {
    // SAFETY: geteuid has no failure and no side effect.
    let root = unsafe { libc::geteuid() } == 0;
    // Copies where `nobody` can read them, whatever the checkout's path.
    let dir = TempDir::new("unpriv");
    let lib = dir.path("libstdpkt.so");
    let script = dir.path("lkl-hijack.sh");
    std::fs::copy(preload_lib(), &lib).unwrap();
    std::fs::copy(format!("{ROOT}/scripts/lkl-hijack.sh"), &script).unwrap();
    // The script runs the stdpkt next to it.
    let stdpkt = dir.path("stdpkt");
    std::fs::copy(common::stdpkt(), &stdpkt).unwrap();
    std::fs::set_permissions(&stdpkt, std::fs::Permissions::from_mode(0o755)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (lib, script) = (lib.as_str(), script.as_str());
    let as_nobody = |args: &[&str]| {
        let mut full = vec!["runuser", "-u", "nobody", "--", "env", "TMPDIR=/tmp"];
        if !root {
            // Unprivileged already, and runuser is for root only.
            full.drain(..4);
        }
        full.push(script);
        full.extend_from_slice(args);
        run_env(false, &full, &[("STDPKT_LIB", lib)], 30)
    };
    let ping = as_nobody(&["ping", "-n", "-c", "1", "127.0.0.1"]);
    ping.ok();
    assert!(ping.stdout.contains(" 0% packet loss"), "{}", ping.stdout);
    for ipt in ["iptables-legacy", "iptables"] {
        let out = as_nobody(&[ipt, "-A", "INPUT", "-s", "192.0.2.9", "-j", "DROP"]);
        out.ok();
    }
}

/// getaddrinfo's AI_ADDRCONFIG looks at the instance's addresses, by
/// glibc's rule: an instance with only IPv6 (and loopback) narrows an
/// unspecified family to IPv6. The host's own addresses play no part.
#[test]
fn addrconfig_sees_the_instance_addresses() {
    const GAI: &str = r#"
import socket
for h in ["192.0.2.7", "2001:db8::7"]:
    try:
        fams = {a[0].name for a in socket.getaddrinfo(h, 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)}
        print(h, ",".join(sorted(fams)))
    except socket.gaierror as e:
        print(h, "error", e.errno)
"#;
    let rx = TempDir::new("gai");
    let script = rx.write("gai.py", GAI.as_bytes());
    let out = run_env(
        true,
        &["/usr/bin/python3", &script],
        &[("IF0", "/dev/null|/dev/null"), ("IP0", "2001:db8::1/64")],
        30,
    );
    out.ok();
    assert!(out.stdout.contains("192.0.2.7 error"), "{}", out.show());
    assert!(
        out.stdout.contains("2001:db8::7 AF_INET6"),
        "{}",
        out.show()
    );
}
