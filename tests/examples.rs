// SPDX-License-Identifier: GPL-2.0-only
//! The scripts in examples/, run as a user runs them (`bash examples/X.sh`),
//! each under a timeout, with what they print checked against what they
//! promise; and `stdpkt run`, the flag front end they use.
//!
//! The examples use this tree's release build (target/release: stdpkt,
//! pktparser, libstdpkt.so), which is built first, so they work on a clean
//! checkout. They run one at a time: several of them measure or time
//! things. Only documentation addresses are used.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

mod common;

use common::process::{signal_group, Captured, Out};
use common::{guard, tools, ROOT};

/// Seconds an example may take; each finishes in well under 30.
const EXAMPLE_TIMEOUT: u64 = 90;

fn release_dir() -> PathBuf {
    PathBuf::from(ROOT).join("target").join("release")
}

/// Builds what the examples use, once per test process, and serializes the
/// tests: the returned guard is held while one runs.
fn setup() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    static BUILT: OnceLock<()> = OnceLock::new();
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    BUILT.get_or_init(|| {
        // The examples look in target/release of this tree, whatever
        // CARGO_TARGET_DIR the tests were built with.
        let st = Command::new(env!("CARGO"))
            .current_dir(ROOT)
            .env("CARGO_TARGET_DIR", PathBuf::from(ROOT).join("target"))
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "stdpkt-preload",
                "-p",
                "stdpkt-cli",
            ])
            .status()
            .expect("run cargo");
        assert!(st.success(), "cargo build --release failed");
        for f in ["stdpkt", "pktparser", "libstdpkt.so"] {
            assert!(
                release_dir().join(f).exists(),
                "{f} missing after the build"
            );
        }
        // Programs would run on the host's network without it.
        guard::check_library(&release_dir().join("libstdpkt.so"));
    });
    guard
}

/// Runs `cmd` in a process group of its own; on timeout the whole group
/// gets SIGTERM (the examples' traps take their pipelines down), then
/// SIGKILL, and the test fails with what was printed so far.
fn run_with_timeout(mut cmd: Command, secs: u64) -> Out {
    let mut child = Captured::spawn(cmd.current_dir(ROOT).stdin(Stdio::null()).process_group(0));
    let status = child.wait(Duration::from_secs(secs));
    let timed_out = status.is_none();
    let status = status.unwrap_or_else(|| {
        signal_group(&child.child, libc::SIGTERM);
        std::thread::sleep(Duration::from_secs(2));
        signal_group(&child.child, libc::SIGKILL);
        child.child.wait().unwrap()
    });
    // Nothing of the example may outlive it; a straggler would also keep
    // the output pipes open.
    signal_group(&child.child, libc::SIGKILL);
    let out = child.output(status);
    assert!(!timed_out, "timed out after {secs}s\n{}", out.show());
    out
}

fn example(name: &str) -> Out {
    let out = example_any_status(name);
    assert!(out.status.success(), "{name} failed\n{}", out.show());
    out
}

fn example_any_status(name: &str) -> Out {
    let mut c = Command::new("bash");
    c.arg(format!("examples/{name}"));
    run_with_timeout(c, EXAMPLE_TIMEOUT)
}

/// The throughput of netperf's result line (`131072 16384 16384 2.00 930.80`).
fn netperf_rate(stdout: &str) -> Option<f64> {
    stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 5 && f[..3].iter().all(|x| x.parse::<u64>().is_ok()) {
            f[4].parse().ok()
        } else {
            None
        }
    })
}

fn assert_contains(out: &Out, what: &str) {
    assert!(out.stdout.contains(what), "no {what:?} in\n{}", out.show());
}

/// The mirrored-capture checks common to both port mirror examples.
fn check_port_mirror(out: &Out) {
    let rate = netperf_rate(&out.stdout);
    assert!(
        rate.is_some_and(|r| r > 0.0),
        "rate {rate:?}\n{}",
        out.show()
    );
    let frames: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("### the mirror: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(frames > 100, "{frames} mirrored frames\n{}", out.show());
    // The control connection's handshake and the data connection's.
    assert_contains(out, "IP 192.0.2.1.");
    assert_contains(out, " > 192.0.2.2.12865: Flags [S]");
    let syns = out
        .stdout
        .lines()
        .filter(|l| l.contains("Flags [S],") && l.contains(" > 192.0.2.2."))
        .count();
    assert!(
        syns >= 4,
        "expected two SYNs (listed twice)\n{}",
        out.show()
    );
    assert!(
        out.stdout.contains("length 1448"),
        "no full-size data segments mirrored\n{}",
        out.show()
    );
}

#[test]
fn ping_through_grep() {
    let _g = setup();
    tools::require_all(&["ping", "grep"]);
    // Its status is not checked: its EXIT trap runs under `set -e`, and a
    // `kill` of jobs that have already ended makes it exit 1.
    let out = example_any_status("ping-through-grep.sh");
    assert_contains(&out, "3 packets transmitted, 3 received, 0% packet loss");
    assert_contains(&out, "3 packets transmitted, 0 received, 100% packet loss");
}

#[test]
fn port_mirror_raw_through_pktparser_text2pcap_tcpdump() {
    let _g = setup();
    tools::require_all(&["netperf", "netserver", "tee", "text2pcap", "tcpdump"]);
    check_port_mirror(&example("port-mirror.sh"));
}

#[test]
fn port_mirror_pcap_into_tcpdump() {
    let _g = setup();
    tools::require_all(&["netperf", "netserver", "tee", "tcpdump"]);
    check_port_mirror(&example("port-mirror-pcap.sh"));
}

#[test]
fn nat_then_filter() {
    let _g = setup();
    tools::require_all(&["ping", "iptables", "tee", "text2pcap", "tcpdump"]);
    let out = example("nat-filter.sh");
    // nat.sh and filter.sh are scripts of several commands on one
    // instance each: the later commands list what the first ones added.
    let all = format!("{}{}", out.stdout, out.stderr);
    for rule in [
        "-A POSTROUTING -s 192.0.2.0/24 -o eth1 -j MASQUERADE",
        "-A FORWARD -d 203.0.113.0/24 -j DROP",
        "-A FORWARD -m conntrack --ctstate INVALID -j DROP",
    ] {
        assert!(all.contains(rule), "no {rule:?}:\n{}", out.show());
    }
    let (allowed, blocked) = out
        .stdout
        .split_once("### inside host 192.0.2.1: ping 203.0.113.2")
        .unwrap_or_else(|| panic!("no second run\n{}", out.show()));
    assert!(
        allowed.contains("3 packets transmitted, 3 received, 0% packet loss"),
        "{}",
        out.show()
    );
    assert!(
        blocked.contains("3 packets transmitted, 0 received, 100% packet loss"),
        "{}",
        out.show()
    );
    // The mirror between NAT and filter: the masqueraded source only.
    assert!(
        allowed.contains("IP 198.51.100.2 > 198.51.100.130: ICMP echo request"),
        "{}",
        out.show()
    );
    assert!(
        blocked.contains("IP 198.51.100.2 > 203.0.113.2: ICMP echo request"),
        "{}",
        out.show()
    );
    assert_eq!(
        out.stdout
            .matches("frames from the inside address 192.0.2.1 in the mirror: 0")
            .count(),
        2,
        "{}",
        out.show()
    );
}

#[test]
fn netperf_over_a_pipe_pair() {
    let _g = setup();
    tools::require_all(&["netperf", "netserver"]);
    let out = example("netperf.sh");
    let rate = netperf_rate(&out.stdout);
    assert!(
        rate.is_some_and(|r| r > 0.0),
        "rate {rate:?}\n{}",
        out.show()
    );
    assert_contains(&out, "Throughput: ");
    assert!(!out.stdout.contains("Throughput: none"), "{}", out.show());
}

#[test]
fn chain_of_two_routers() {
    let _g = setup();
    tools::require_all(&["traceroute", "ping"]);
    let out = example("chain.sh");
    let (traceroute, ping) = out
        .stdout
        .split_once("### H1: ping")
        .unwrap_or_else(|| panic!("no ping run\n{}", out.show()));
    // Hop lines: " 1  192.0.2.254  0.286 ms".
    let hops: Vec<(u32, String)> = traceroute
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let n = f.next()?.parse().ok()?;
            Some((n, f.next()?.to_owned()))
        })
        .collect();
    let want: Vec<(u32, String)> = [(1, "192.0.2.254"), (2, "198.51.100.2"), (3, "203.0.113.1")]
        .iter()
        .map(|(n, a)| (*n, a.to_string()))
        .collect();
    assert_eq!(hops, want, "{}", out.show());
    assert!(
        ping.contains("3 packets transmitted, 3 received, 0% packet loss"),
        "{}",
        out.show()
    );
    assert!(ping.contains("ttl=62"), "{}", out.show());
}

#[test]
fn wan_emulation_router_delays_loses_and_limits() {
    let _g = setup();
    tools::require_all(&["tc", "ping", "netperf", "netserver"]);
    let out = example("wan.sh");
    let text = &out.stdout;
    for q in [
        "qdisc netem",
        "delay 20ms",
        "loss 1%",
        "qdisc tbf",
        "rate 8Mbit",
    ] {
        assert!(text.contains(q), "no {q:?}\n{}", out.show());
    }
    // "rtt min/avg/max/mdev = 40.5/45.6/85.3/14.0 ms": 20 ms each way.
    let min: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("rtt min/avg/max/mdev = "))
        .and_then(|v| v.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no ping summary\n{}", out.show()));
    assert!(
        (39.0..80.0).contains(&min),
        "rtt min {min} ms\n{}",
        out.show()
    );
    // netperf's result row: five numbers, the throughput last.
    let rate: f64 = text
        .lines()
        .filter_map(|l| {
            let f: Vec<f64> = l
                .split_whitespace()
                .map(|v| v.parse().ok())
                .collect::<Option<_>>()?;
            (f.len() == 5).then(|| f[4])
        })
        .next_back()
        .unwrap_or_else(|| panic!("no netperf result\n{}", out.show()));
    assert!(
        rate > 0.5 && rate <= 8.8,
        "{rate} Mbit/s through tbf rate 8mbit\n{}",
        out.show()
    );
}

#[test]
fn switch_with_four_ports_learns_every_host() {
    let _g = setup();
    tools::require_all(&["ip", "bridge", "ping"]);
    let out = example("switch.sh");
    assert_eq!(
        out.stdout
            .matches("2 packets transmitted, 2 received, 0% packet loss")
            .count(),
        3,
        "{}",
        out.show()
    );
    for n in 1..=4 {
        let entry = format!("02:00:00:00:00:0{n} dev eth{} master br0", n - 1);
        assert!(out.stdout.contains(&entry), "no {entry:?}\n{}", out.show());
    }
}

fn stdpkt_run(args: &[&str]) -> Out {
    let mut c = Command::new(release_dir().join("stdpkt"));
    c.arg("run").args(args).env_remove("STDPKT_LIB");
    run_with_timeout(c, 30)
}

#[test]
fn run_rejects_bad_flags_with_status_2() {
    let _g = setup();
    let fifo = "0=/dev/null|/dev/null";
    for (args, says) in [
        (
            &["--if", "8=a|b", "--", "true"][..],
            "interfaces are numbered 0 to 7",
        ),
        (&["--if", "0", "--", "true"], "expected N=VALUE"),
        (&["--type", "0=vde", "--", "true"], "raw, ascii or pcap"),
        (&["--mtu", "0=big", "--", "true"], "the MTU is a number"),
        (&["--gw", "192.0.2", "--", "true"], "expected an IP address"),
        (
            &["--sysctl", "net.ipv4.ip_forward", "--", "true"],
            "KEY=VALUE",
        ),
        (
            &["--if", fifo, "--mac", "0=00:11:22", "--", "true"],
            "--mac 0=00:11:22: ",
        ),
        (
            &["--if", fifo, "--mtu", "0=20", "--", "true"],
            "--mtu 0=20: ",
        ),
        (&["--if", fifo, "--if", fifo, "--", "true"], "given twice"),
        (&["--ip", "0=192.0.2.1/24", "--", "true"], "IF0 is not"),
        (
            &[
                "--if",
                fifo,
                "--ip",
                "0=192.0.2.1/24",
                "--gw",
                "198.51.100.1",
                "--",
                "true",
            ],
            "--gw 198.51.100.1: ",
        ),
        (
            &["--lib", "/nonexistent/libstdpkt.so", "--", "true"],
            "no such file",
        ),
        (&["--linger"], "<CMD>"),
    ] {
        let out = stdpkt_run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", out.show());
        assert!(
            out.stderr.contains(says),
            "{args:?}: no {says:?}\n{}",
            out.show()
        );
    }
    let out = stdpkt_run(&["--", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(127), "{}", out.show());
}

#[test]
fn run_help_has_examples() {
    let _g = setup();
    let out = stdpkt_run(&["--help"]);
    assert!(out.status.success(), "{}", out.show());
    assert!(out.stdout.contains("Examples:"), "{}", out.show());
    assert!(out.stdout.contains("--linger"), "{}", out.show());
}

#[test]
fn run_configures_the_instance_from_flags() {
    let _g = setup();
    tools::require_all(&["ip"]);
    let out = stdpkt_run(&[
        "--if",
        "0=/dev/null|/dev/null",
        "--ip",
        "0=192.0.2.1/24",
        "--ip",
        "0=2001:db8::1/64",
        "--mac",
        "0=02:00:00:00:00:0a",
        "--mtu",
        "0=1400",
        "--gw",
        "192.0.2.254",
        "--",
        "ip",
        "-o",
        "addr",
    ]);
    assert!(out.status.success(), "{}", out.show());
    assert!(
        out.stdout.contains("eth0    inet 192.0.2.1/24"),
        "{}",
        out.show()
    );
    assert!(
        out.stdout.contains("eth0    inet6 2001:db8::1/64"),
        "{}",
        out.show()
    );
    let out = stdpkt_run(&[
        "--if",
        "0=/dev/null|/dev/null",
        "--mac",
        "0=02:00:00:00:00:0a",
        "--mtu",
        "0=1400",
        "--",
        "ip",
        "-o",
        "link",
        "show",
        "eth0",
    ]);
    assert!(out.status.success(), "{}", out.show());
    assert!(out.stdout.contains("mtu 1400"), "{}", out.show());
    assert!(out.stdout.contains("02:00:00:00:00:0a"), "{}", out.show());
}

#[test]
fn run_execs_a_capability_binary_in_place() {
    let _g = setup();
    tools::require_all(&["ping"]);
    // 192.0.2.1 exists only inside the instance: replies prove the
    // preload reached ping (which has file capabilities on Debian).
    let out = stdpkt_run(&[
        "--if",
        "0=/dev/null|/dev/null",
        "--ip",
        "0=192.0.2.1/24",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "192.0.2.1",
    ]);
    assert!(out.status.success(), "{}", out.show());
    assert!(
        out.stdout.contains("1 packets transmitted, 1 received"),
        "{}",
        out.show()
    );
    // exec, not a child: the process stdpkt run started is ping itself.
    let mut c = Command::new(release_dir().join("stdpkt"));
    c.args(["run", "--", "ping", "-c", "2", "-i", "0.5", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
    let st = child.wait().unwrap();
    assert!(st.success());
    assert!(
        cmdline.starts_with(b"ping\0-c\x002\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
}
