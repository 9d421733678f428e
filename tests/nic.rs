// SPDX-License-Identifier: GPL-2.0-only
//! NICs on byte streams, end to end: separate processes (`stdpkt instance`),
//! each with its own kernel, joined by fifos; real grep and tcpdump in
//! between. Addresses only from the documentation ranges.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

use common::process::{stderr, stdout, wait_or_kill, Captured, Out};
use common::stdpkt;
use common::tempdir::TempDir;
use common::tools;

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";

/// Kills a background process when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn instance(envs: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(stdpkt());
    c.arg("instance").args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs to completion, failing the test on a hang.
fn run_with_timeout(mut c: Command, secs: u64) -> Out {
    let mut child = Captured::spawn(&mut c);
    match child.wait(Duration::from_secs(secs)) {
        Some(status) => child.output(status),
        None => {
            let status = child.kill();
            let out = child.output(status);
            panic!("timed out after {secs}s; stderr:\n{}", out.stderr);
        }
    }
}

/// `sh -c SCRIPT` in the background until the test ends.
fn background(script: &str) -> Guard {
    Guard(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .spawn()
            .unwrap_or_else(|e| panic!("sh -c {script:?}: {e}")),
    )
}

fn responder(dir: &TempDir, rx: &str, tx: &str, framing: &str) -> Guard {
    let _ = dir;
    let c = instance(
        &[
            ("IF0", format!("{rx}|{tx}")),
            ("IFTYPE0", framing.into()),
            ("MAC0", MAC_B.into()),
            ("IP0", "192.0.2.2/24,2001:db8::2/64".into()),
        ],
        &["--linger"],
    );
    let mut c = c;
    Guard(
        c.stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

fn pinger(rx: &str, tx: &str, framing: &str, targets: &[&str]) -> Out {
    let mut args = vec!["--count", "3", "--interval", "200", "--timeout", "3000"];
    for t in targets {
        args.push("--ping");
        args.push(t);
    }
    let c = instance(
        &[
            ("IF0", format!("{rx}|{tx}")),
            ("IFTYPE0", framing.into()),
            ("MAC0", MAC_A.into()),
            ("IP0", "192.0.2.1/24,2001:db8::1/64".into()),
        ],
        &args,
    );
    run_with_timeout(c, 60)
}

fn ping_pair(framing: &str) {
    let dir = TempDir::new(framing);
    let a2b = dir.fifo("a2b");
    let b2a = dir.fifo("b2a");
    let _b = responder(&dir, &a2b, &b2a, framing);
    let out = pinger(&b2a, &a2b, framing, &["192.0.2.2", "2001:db8::2"]);
    let err = &out.stderr;
    assert!(out.status.success(), "ping failed ({framing}):\n{err}");
    assert!(
        err.contains("192.0.2.2: 3 sent, 3 received, 0% loss"),
        "{err}"
    );
    assert!(
        err.contains("2001:db8::2: 3 sent, 3 received, 0% loss"),
        "{err}"
    );
}

#[test]
fn two_instances_ping_over_fifos_raw() {
    ping_pair("raw");
}

#[test]
fn two_instances_ping_over_fifos_ascii() {
    ping_pair("ascii");
}

#[test]
fn two_instances_ping_over_fifos_pcap() {
    ping_pair("pcap");
}

/// A's frames pass through `grep --line-buffered -v PATTERN` to B.
fn ping_through_grep(pattern: &str) -> Out {
    let dir = TempDir::new(&format!("grep-{pattern}"));
    let a_out = dir.fifo("a_out");
    let a2b = dir.fifo("a2b");
    let b2a = dir.fifo("b2a");
    let _b = responder(&dir, &a2b, &b2a, "ascii");
    let _grep = background(&format!(
        "exec grep --line-buffered -v {pattern} < {a_out} > {a2b}"
    ));
    pinger(&b2a, &a_out, "ascii", &["192.0.2.2"])
}

#[test]
fn ascii_frames_pass_through_grep() {
    // Filtering an address nobody uses: everything passes.
    let out = ping_through_grep("020000000099");
    let err = &out.stderr;
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 received, 0% loss"), "{err}");
}

#[test]
fn grep_dropping_the_senders_mac_stops_the_traffic() {
    let out = ping_through_grep(&MAC_A.replace(':', ""));
    let err = &out.stderr;
    assert!(
        !out.status.success(),
        "pings passed a filter that drops them:\n{err}"
    );
    assert!(err.contains("3 sent, 0 received, 100% loss"), "{err}");
}

fn tcpdump(path: &str) -> String {
    let out = Command::new(tools::require("tcpdump"))
        .args(["-n", "-r", path])
        .output()
        .expect("run tcpdump");
    assert!(out.status.success(), "tcpdump: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn pcap_output_is_read_by_tcpdump() {
    let dir = TempDir::new("tcpdump");
    let a_out = dir.fifo("a_out");
    let a2b = dir.fifo("a2b");
    let b_out = dir.fifo("b_out");
    let b2a = dir.fifo("b2a");
    let cap_a = dir.path("a.pcap");
    let cap_b = dir.path("b.pcap");
    let _b = responder(&dir, &a2b, &b_out, "pcap");
    let _tee_a = background(&format!("exec tee {cap_a} < {a_out} > {a2b}"));
    let _tee_b = background(&format!("exec tee {cap_b} < {b_out} > {b2a}"));
    let out = pinger(&b2a, &a_out, "pcap", &["192.0.2.2"]);
    assert!(out.status.success(), "{}", out.stderr);
    let a = tcpdump(&cap_a);
    let b = tcpdump(&cap_b);
    assert!(
        a.contains("192.0.2.1 > 192.0.2.2: ICMP echo request"),
        "{a}"
    );
    assert!(b.contains("192.0.2.2 > 192.0.2.1: ICMP echo reply"), "{b}");
}

#[test]
fn malformed_env_stops_before_starting() {
    let out = instance(
        &[
            ("IF0", "/dev/null|/dev/null".into()),
            ("MAC0", "00:11:22".into()),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("stdpkt: MAC0=\"00:11:22\": "), "{err}");
}

#[test]
fn missing_rx_path_is_a_clear_error() {
    let out = instance(&[("IF0", "/nonexistent/stdpkt-rx|/dev/null".into())], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/stdpkt-rx") && err.contains("No such file"),
        "{err}"
    );
}

/// (The CLI is a Rust program, which ignores SIGPIPE; the preload tests
/// cover SIGPIPE in C programs.)
#[test]
fn tx_reader_leaving_drops_frames_without_killing_the_program() {
    let dir = TempDir::new("epipe");
    let rx = dir.fifo("rx");
    let out = dir.fifo("out");
    // Reads one byte, then leaves: every later write gets EPIPE.
    let _reader = background(&format!("exec head -c 1 < {out} > /dev/null"));
    // Nobody writes `rx`: its background open never completes, the link
    // stays up, and ARP requests for the unanswered pings keep going out.
    let c = instance(
        &[
            ("IF0", format!("{rx}|{out}")),
            ("IP0", "192.0.2.1/24".into()),
        ],
        &[
            "--ping",
            "192.0.2.9",
            "--count",
            "3",
            "--interval",
            "200",
            "--timeout",
            "500",
        ],
    );
    let res = run_with_timeout(c, 60);
    let err = &res.stderr;
    assert_eq!(
        res.status.code(),
        Some(1),
        "died instead of exiting: {:?}\n{err}",
        res.status
    );
    assert!(err.contains("3 sent, 0 received, 100% loss"), "{err}");
}

#[test]
fn malformed_frames_are_dropped_counted_and_the_rest_arrive() {
    let dir = TempDir::new("garbage");
    let a_out = dir.fifo("a_out");
    let a2b = dir.fifo("a2b");
    let b2a = dir.fifo("b2a");
    let b = instance(
        &[
            ("IF0", format!("{a2b}|{b2a}")),
            ("IFTYPE0", "ascii".into()),
            ("MAC0", MAC_B.into()),
            ("IP0", "192.0.2.2/24".into()),
        ],
        &["--linger"],
    );
    let mut b = b;
    let b = b
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A garbage line before every frame A sends.
    let _awk = background(&format!("exec sed -u 'i zz not a frame' < {a_out} > {a2b}"));
    let out = pinger(&b2a, &a_out, "ascii", &["192.0.2.2"]);
    let err = &out.stderr;
    assert!(err.contains("3 received, 0% loss"), "{err}");
    // A has gone: B's input ends, B reports what it dropped and exits.
    let mut b = Guard(b);
    wait_or_kill(&mut b.0, Duration::from_secs(30), "B, its input ended,");
    let mut berr = String::new();
    use std::io::Read;
    b.0.stderr
        .take()
        .unwrap()
        .read_to_string(&mut berr)
        .unwrap();
    assert!(
        berr.contains("eth0: input: dropped") && berr.contains("(first: ascii line 1"),
        "B's report: {berr}"
    );
}

/// A server instance whose input fifo is held open for writing (as a shell
/// would, `exec 3<>fifo`) serves clients one after another: when a client
/// leaves, the server's output fifo is opened again for the next reader,
/// even if the server wrote to it meanwhile (EPIPE).
#[test]
fn server_serves_clients_one_after_another() {
    use std::io::Write;
    let dir = TempDir::new("clients");
    let a2b = dir.fifo("a2b");
    let b2a = dir.fifo("b2a");
    // Read+write: opens at once, and the server's input never ends.
    let mut hold = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&a2b)
        .expect("open a2b");
    let _b = responder(&dir, &a2b, &b2a, "raw");
    for client in 1..=2 {
        let out = pinger(&b2a, &a2b, "raw", &["192.0.2.2"]);
        let err = &out.stderr;
        assert!(
            err.contains("192.0.2.2: 3 sent, 3 received, 0% loss"),
            "client {client}:\n{err}"
        );
        // With no client, make the server answer something: its write
        // to the fifo nobody reads fails with EPIPE.
        hold.write_all(&common::frames::raw_stream(
            &[common::frames::arp_request()],
        ))
        .expect("write a2b");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Clients restarted one after another, each with a MAC of its own (as
/// processes get by default), reach a server whose input is held: every
/// client's first ping is answered without the ARP retry (1 s) that a
/// lost reply or a stale neighbour entry would cost. Link-up announces the
/// new MAC (gratuitous ARP), and frames the server sends while its output
/// fifo waits for the next reader are queued, not dropped.
#[test]
fn restarted_clients_are_answered_at_once() {
    let dir = TempDir::new("restarted");
    let a2b = dir.fifo("a2b");
    let b2a = dir.fifo("b2a");
    let _hold = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&a2b)
        .expect("open a2b");
    let _b = responder(&dir, &a2b, &b2a, "raw");
    for client in 1..=5u8 {
        let c = instance(
            &[
                ("IF0", format!("{b2a}|{a2b}")),
                ("MAC0", format!("02:00:00:00:01:{client:02x}")),
                ("IP0", "192.0.2.1/24".into()),
            ],
            &[
                "--ping",
                "192.0.2.2",
                "--count",
                "20",
                "--interval",
                "10",
                "--timeout",
                "3000",
            ],
        );
        let out = run_with_timeout(c, 60);
        let err = &out.stderr;
        assert!(
            err.contains("192.0.2.2: 20 sent, 20 received, 0% loss"),
            "client {client}:\n{err}"
        );
        let max_ms: f64 = err
            .split("rtt min/avg/p99/max = ")
            .nth(1)
            .and_then(|t| t.split(" ms").next())
            .and_then(|t| t.rsplit('/').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("client {client}: no rtt line:\n{err}"));
        // An ARP retry waits a whole second; a first answer costs milliseconds.
        assert!(
            max_ms < 500.0,
            "client {client}: max rtt {max_ms} ms:\n{err}"
        );
    }
}

/// Link-up announces the NIC's addresses, so that neighbours that knew a
/// previous process (another MAC) at the same address update at once: a
/// gratuitous ARP for the IPv4 address and unsolicited neighbour
/// advertisements (override flag) for the IPv6 ones, before anything else.
#[test]
fn link_up_announces_the_addresses() {
    let dir = TempDir::new("announce");
    let out = dir.path("out.raw");
    let c = instance(
        &[
            ("IF0", format!("/dev/null|{out}")),
            ("MAC0", "02:00:00:00:00:0a".into()),
            ("IP0", "192.0.2.1/24,2001:db8::1/64".into()),
        ],
        &["--ping", "192.0.2.2", "--count", "1", "--timeout", "300"],
    );
    // The ping gets no answer (nobody is there): only the frames count.
    let _ = run_with_timeout(c, 30);
    let mut dump = Command::new(stdpkt());
    dump.arg("dump")
        .stdin(std::fs::File::open(&out).expect("the output"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = stdout(&dump.output().expect("stdpkt dump"));
    for want in [
        "Request who-has 192.0.2.1 tell 192.0.2.1",
        "2001:db8::1 > ff02::1: ICMPv6 neighbor advertisement, tgt is 2001:db8::1, flags [override]",
        "fe80::ff:fe00:a > ff02::1: ICMPv6 neighbor advertisement, tgt is fe80::ff:fe00:a, flags [override]",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.contains("who-has 192.0.2.1 tell 192.0.2.1")
            || first.contains("neighbor advertisement"),
        "announced after other frames:\n{text}"
    );
}
