// SPDX-License-Identifier: GPL-2.0-only
//! The Linux network feature set inside instances (issue 13): traffic
//! control, bridge, VLAN, tunnels, WireGuard, VRF, ECMP, conntrack, ipset,
//! congestion control, SCTP. Each test drives the real Debian tools (tc,
//! ip, bridge, wg, conntrack, ipset, ss, ping, netperf, nc, python3) in
//! instances joined by fifo pairs, and asserts what they do to traffic.
//!
//! Every instance is one `sh -c SCRIPT` under scripts/lkl-hijack.sh: its
//! shell boots the kernel, and all the script's commands share it. Each
//! script starts with a guard that stops it unless eth0 carries the MAC
//! the test gave it: a program that ld.so ran without the library would
//! otherwise configure the host's eth0. Addresses: 198.51.100.0/24,
//! 203.0.113.0/24 and 2001:db8::/32 only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;

use common::process::{clean_command, signal_group, wait_deadline, Out};
use common::tempdir::TempDir;
use common::{guard, stdpkt, tools, ROOT};

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";

/// One NIC of an instance: its streams, MAC and addresses.
struct Nic {
    rx: String,
    tx: String,
    mac: String,
    ip: Option<String>,
}

fn nic(rx: &str, tx: &str, mac: &str, ip: Option<&str>) -> Nic {
    Nic {
        rx: rx.into(),
        tx: tx.into(),
        mac: mac.into(),
        ip: ip.map(Into::into),
    }
}

/// `script` after the guard: it runs only if eth0 has `mac`, with `set -e`.
fn guarded(mac: &str, script: &str) -> String {
    format!(
        "set -e\nip -o link show dev eth0 | grep -q 'link/ether {mac} ' || \
         {{ echo 'features: eth0 is not the instance NIC' >&2; exit 99; }}\n{script}"
    )
}

/// A shell loop that waits for the file `name` (in the test directory,
/// the scripts' working directory): how a test tells a script to go on.
fn wait_file(name: &str) -> String {
    format!("while [ ! -e {name} ]; do sleep 0.05; done")
}

/// An instance running one script; its process group is killed when
/// dropped.
struct Node {
    name: String,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]),
            }
        }
    })
}

impl Node {
    /// `sh -c SCRIPT` (guarded with the first NIC's MAC) in an instance
    /// with `nics` and the extra environment `env`.
    fn start(name: &str, dir: &TempDir, nics: &[Nic], env: &[(&str, &str)], script: &str) -> Node {
        let code = guarded(&nics[0].mac, script);
        let mut cmd = preloaded(dir, &["sh", "-c", &code]);
        for (i, n) in nics.iter().enumerate() {
            cmd.env(format!("IF{i}"), format!("{}|{}", n.rx, n.tx));
            cmd.env(format!("MAC{i}"), &n.mac);
            if let Some(ip) = &n.ip {
                cmd.env(format!("IP{i}"), ip);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Node::spawn(name, cmd)
    }

    /// A responder: an instance whose program only sleeps.
    fn sleeper(name: &str, dir: &TempDir, n: Nic) -> Node {
        let mut cmd = preloaded(dir, &["sleep", "60"]);
        cmd.env("IF0", format!("{}|{}", n.rx, n.tx))
            .env("MAC0", &n.mac);
        if let Some(ip) = &n.ip {
            cmd.env("IP0", ip);
        }
        Node::spawn(name, cmd)
    }

    fn spawn(name: &str, mut cmd: Command) -> Node {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), out.clone()),
            collect(child.stderr.take().unwrap(), err.clone()),
        ];
        Node {
            name: name.into(),
            child,
            out,
            err,
            readers,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    fn report(&self) -> String {
        let err = self.err.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "{}:\n--- stdout\n{}\n--- stderr\n{}",
            self.name,
            self.stdout(),
            String::from_utf8_lossy(&err)
        )
    }

    /// Waits until stdout has `needle`; fails if the script ends first or
    /// `secs` pass.
    fn wait_for(&mut self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stdout().contains(needle) {
            let exited = !matches!(self.child.try_wait(), Ok(None));
            if exited {
                std::thread::sleep(Duration::from_millis(200));
                if self.stdout().contains(needle) {
                    return;
                }
                panic!("exited before printing {needle:?}: {}", self.report());
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {secs}s: {}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit (failing after `secs`) and returns the output;
    /// fails unless the script succeeded.
    fn finish(&mut self, secs: u64) -> Out {
        let Some(status) = wait_deadline(&mut self.child, Duration::from_secs(secs)) else {
            signal_group(&self.child, libc::SIGKILL);
            panic!("timed out after {secs}s: {}", self.report());
        };
        // A straggler may hold the pipes: a few seconds at most.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = Out {
            status,
            stdout: self.stdout(),
            stderr: String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned(),
        };
        assert!(status.success(), "{} failed: {}", self.name, out.show());
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(&self.child, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// `args` under scripts/lkl-hijack.sh with this tree's (checked) library,
/// a clean environment, in `dir`, in a process group of its own.
fn preloaded(dir: &TempDir, args: &[&str]) -> Command {
    guard::program(args[0]);
    let mut c = clean_command(format!("{ROOT}/scripts/lkl-hijack.sh"), args);
    c.current_dir(dir.root())
        .env("PATH", guard::path())
        .env("STDPKT_LIB", guard::lib())
        .env("STDPKT_EXIT_WAIT", "5")
        .stdin(Stdio::null())
        .process_group(0);
    c
}

/// `args` on the host, without the library (key generation, dumps).
fn on_host(args: &[&str], input: Option<&str>) -> String {
    let mut c = clean_command(tools::resolve(args[0]), &args[1..]);
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two instances on one fifo pair: A (198.51.100.1 unless `a_ip` says
/// otherwise) and B.
struct Pair {
    dir: TempDir,
    a2b: String,
    b2a: String,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let dir = TempDir::new(tag);
        let a2b = dir.fifo("a2b");
        let b2a = dir.fifo("b2a");
        Pair { dir, a2b, b2a }
    }

    fn a(&self, ip: &str) -> Nic {
        nic(&self.b2a, &self.a2b, MAC_A, Some(ip))
    }

    fn b(&self, ip: &str) -> Nic {
        nic(&self.a2b, &self.b2a, MAC_B, Some(ip))
    }

    /// B runs `setup` and then lingers (its kernel answers); once it has
    /// printed `ready`, A runs `script` to its end. A's output.
    fn run(&self, b_ip: &str, setup: &str, a_ip: &str, script: &str, secs: u64) -> (Out, Node) {
        let mut b = Node::start(
            "B",
            &self.dir,
            &[self.b(b_ip)],
            &[("STDPKT_LINGER", "1")],
            &format!("{setup}\necho ready"),
        );
        b.wait_for("ready", 30);
        let mut a = Node::start("A", &self.dir, &[self.a(a_ip)], &[], script);
        (a.finish(secs), b)
    }
}

/// The text between `== name` and the next `== ` line.
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let mark = format!("== {name}\n");
    let start = text
        .find(&mark)
        .unwrap_or_else(|| panic!("no section {name:?} in:\n{text}"))
        + mark.len();
    let rest = &text[start..];
    &rest[..rest.find("== ").unwrap_or(rest.len())]
}

/// Replies counted by ping's summary ("3 packets transmitted, 3 received").
fn received(text: &str) -> u32 {
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in:\n{text}"));
    line.split(", ")
        .find_map(|f| f.strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no received count in {line:?}"))
}

/// ping's average RTT in ms ("rtt min/avg/max/mdev = a/b/c/d ms").
fn avg_rtt(text: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("rtt "))
        .unwrap_or_else(|| panic!("no rtt line in:\n{text}"));
    line.split(" = ")
        .nth(1)
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no average in {line:?}"))
}

const PING: &str = "ping -n -c 3 -i 0.2 -W 2";

// ------------------------------------------------------------ tc: netem

#[test]
fn netem_delay_adds_fifty_milliseconds_to_the_rtt() {
    tools::require_all(&["tc", "ping"]);
    let p = Pair::new("netem-delay");
    let script = "echo '== before'; ping -n -c 5 -i 0.2 -W 2 198.51.100.2\n\
                  tc qdisc add dev eth0 root netem delay 50ms\n\
                  echo '== after'; ping -n -c 5 -i 0.2 -W 2 198.51.100.2\n\
                  echo '== qdisc'; tc qdisc show dev eth0";
    let (out, _b) = p.run("198.51.100.2/24", "true", "198.51.100.1/24", script, 60);
    let text = &out.stdout;
    assert!(
        section(text, "qdisc").contains("netem") && section(text, "qdisc").contains("delay 50ms"),
        "{}",
        out.show()
    );
    let before = avg_rtt(section(text, "before"));
    let after = avg_rtt(section(text, "after"));
    let added = after - before;
    assert!(
        (35.0..=65.0).contains(&added),
        "netem delay 50ms added {added:.1} ms ({before} -> {after}): {}",
        out.show()
    );
}

#[test]
fn netem_loss_drops_about_half_of_200_pings() {
    tools::require_all(&["tc", "ping"]);
    let p = Pair::new("netem-loss");
    // ARP first, so that the loss is the echo requests'.
    let script = "ping -n -c 1 -W 2 198.51.100.2 >/dev/null\n\
                  tc qdisc add dev eth0 root netem loss 50%\n\
                  echo '== loss'; ping -n -q -c 200 -i 0.01 -W 1 198.51.100.2 || true";
    let (out, _b) = p.run("198.51.100.2/24", "true", "198.51.100.1/24", script, 60);
    let got = received(section(&out.stdout, "loss"));
    assert!(
        (60..=140).contains(&got),
        "netem loss 50%: {got} of 200 answered: {}",
        out.show()
    );
}

// --------------------------------------------------------- tc: tbf, qdiscs

#[test]
fn tbf_holds_tcp_stream_near_ten_mbit() {
    tools::require_all(&["tc", "netperf", "netserver"]);
    let p = Pair::new("tbf");
    let mut b = Node::start(
        "B netserver",
        &p.dir,
        &[p.b("198.51.100.2/24")],
        &[],
        "netserver -D -f -4 -p 12865 >/dev/null 2>&1 &\nsleep 0.5; echo ready; wait",
    );
    b.wait_for("ready", 30);
    let script = "tc qdisc add dev eth0 root tbf rate 10mbit burst 16kb latency 100ms\n\
                  echo '== netperf'\n\
                  netperf -H 198.51.100.2 -p 12865 -t TCP_STREAM -l 3 -f m -P 0\n\
                  echo '== qdisc'; tc -s qdisc show dev eth0";
    let mut a = Node::start("A", &p.dir, &[p.a("198.51.100.1/24")], &[], script);
    let out = a.finish(60);
    // -P 0: one line of numbers, throughput last.
    let mbit: f64 = section(&out.stdout, "netperf")
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no netperf result: {}", out.show()));
    assert!(
        (7.0..=12.0).contains(&mbit),
        "tbf rate 10mbit: {mbit} Mbit/s: {}",
        out.show()
    );
    assert!(
        section(&out.stdout, "qdisc").contains("qdisc tbf"),
        "{}",
        out.show()
    );
}

/// `Sent N bytes M pkt` of the first qdisc in `tc -s qdisc` output.
fn sent_packets(text: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("Sent ")?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.get(2)?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no Sent line in:\n{text}"))
}

#[test]
fn qdiscs_count_the_packets_they_send() {
    tools::require_all(&["tc", "ping"]);
    let p = Pair::new("qdiscs");
    let mut script = String::new();
    for (name, setup) in [
        ("fq_codel", "tc qdisc replace dev eth0 root fq_codel"),
        ("fq", "tc qdisc replace dev eth0 root fq"),
        ("sfq", "tc qdisc replace dev eth0 root sfq perturb 10"),
        ("prio", "tc qdisc replace dev eth0 root prio"),
        (
            "htb",
            "tc qdisc replace dev eth0 root handle 1: htb default 10\n\
             tc class add dev eth0 parent 1: classid 1:10 htb rate 50mbit",
        ),
    ] {
        script.push_str(&format!(
            "{setup}\n{PING} 198.51.100.2 >/dev/null\necho '== {name}'\ntc -s qdisc show dev eth0\n\
             tc qdisc del dev eth0 root\n"
        ));
    }
    let (out, _b) = p.run("198.51.100.2/24", "true", "198.51.100.1/24", &script, 60);
    for name in ["fq_codel", "fq", "sfq", "prio", "htb"] {
        let s = section(&out.stdout, name);
        assert!(
            s.starts_with(&format!("qdisc {name} ")),
            "{name}: {}",
            out.show()
        );
        assert!(sent_packets(s) >= 3, "{name} sent nothing: {}", out.show());
    }
}

#[test]
fn ingress_filters_drop_one_flow_only() {
    tools::require_all(&["tc", "ping"]);
    let p = Pair::new("ingress");
    // B answers on three addresses; A's ingress drops what comes from two.
    let script = "tc qdisc add dev eth0 clsact\n\
                  tc filter add dev eth0 ingress protocol ip flower src_ip 198.51.100.4 action drop\n\
                  tc filter add dev eth0 ingress protocol ip u32 match ip src 198.51.100.5/32 action drop\n\
                  for t in 2 4 5; do echo \"== to $t\"; ping -n -c 3 -i 0.2 -W 1 198.51.100.$t || true; done\n\
                  echo '== filters'; tc -s filter show dev eth0 ingress";
    let (out, _b) = p.run(
        "198.51.100.2/24,198.51.100.4/24,198.51.100.5/24",
        "true",
        "198.51.100.1/24",
        script,
        60,
    );
    let text = &out.stdout;
    assert_eq!(received(section(text, "to 2")), 3, "{}", out.show());
    assert_eq!(received(section(text, "to 4")), 0, "flower: {}", out.show());
    assert_eq!(received(section(text, "to 5")), 0, "u32: {}", out.show());
    let filters = section(text, "filters");
    assert!(
        filters.contains("flower")
            && filters.contains("u32")
            && filters.contains("gact action drop"),
        "{}",
        out.show()
    );
}

// ------------------------------------------------------- bridge and VLAN

#[test]
fn a_bridge_joins_three_hosts_and_learns_their_macs() {
    tools::require_all(&["ip", "bridge", "ping"]);
    let dir = TempDir::new("bridge");
    let hosts = [
        "02:00:00:00:00:01",
        "02:00:00:00:00:02",
        "02:00:00:00:00:03",
    ];
    let mut sw_nics = Vec::new();
    let mut host_nics = Vec::new();
    for (i, mac) in hosts.iter().enumerate() {
        let to_sw = dir.fifo(&format!("h{i}-sw"));
        let to_h = dir.fifo(&format!("sw-h{i}"));
        sw_nics.push(nic(&to_sw, &to_h, &format!("02:00:00:00:01:0{i}"), None));
        host_nics.push(nic(
            &to_h,
            &to_sw,
            mac,
            Some(&format!("198.51.100.{}/24", i + 1)),
        ));
    }
    let mut sw = Node::start(
        "switch",
        &dir,
        &sw_nics,
        &[],
        &format!(
            "ip link add br0 type bridge\n\
             for i in 0 1 2; do ip link set eth$i master br0; done\n\
             ip link set br0 up\necho ready\n{}\nbridge fdb show br br0; touch shown",
            wait_file("done")
        ),
    );
    sw.wait_for("ready", 30);
    let mut it = host_nics.into_iter();
    let _h1 = Node::sleeper("host 1", &dir, it.next().unwrap());
    let _h2 = Node::sleeper("host 2", &dir, it.next().unwrap());
    let mut h3 = Node::start(
        "host 3",
        &dir,
        &[it.next().unwrap()],
        &[],
        // Host 3 stays on the wire until the fdb is shown: a port whose
        // input ends goes down, and the bridge forgets what it learned there.
        &format!(
            "for t in 1 2; do echo \"== to $t\"; {PING} 198.51.100.$t; done\ntouch done\n{}",
            wait_file("shown")
        ),
    );
    let fdb = sw.finish(60).stdout;
    let out = h3.finish(30);
    for t in ["to 1", "to 2"] {
        assert_eq!(received(section(&out.stdout, t)), 3, "{}", out.show());
    }
    for (i, mac) in hosts.iter().enumerate() {
        assert!(
            fdb.lines()
                .any(|l| l.starts_with(&format!("{mac} dev eth{i} master br0"))
                    && !l.contains("permanent")),
            "{mac} not learned on eth{i}:\n{fdb}"
        );
    }
}

/// Copies what comes out of `from` into `to` and into the file `copy`,
/// until `from` ends: a tap on one direction of a link.
fn tap(from: String, to: String, copy: String) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rx = File::open(&from).unwrap_or_else(|e| panic!("{from}: {e}"));
        let mut tx = OpenOptions::new()
            .write(true)
            .open(&to)
            .unwrap_or_else(|e| panic!("{to}: {e}"));
        let mut file = File::create(&copy).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = rx.read(&mut buf) {
            if n == 0 || tx.write_all(&buf[..n]).is_err() {
                break;
            }
            file.write_all(&buf[..n]).unwrap();
        }
    })
}

#[test]
fn a_vlan_tags_its_frames_and_only_the_same_vid_answers() {
    tools::require_all(&["ip", "ping"]);
    let p = Pair::new("vlan");
    // A writes to its own fifo; the tap passes it on to B and keeps a copy.
    let a_out = p.dir.fifo("a-out");
    let copy = p.dir.path("a-frames");
    let t = tap(a_out.clone(), p.a2b.clone(), copy.clone());
    let mut b = Node::start(
        "B",
        &p.dir,
        &[p.b("198.51.100.2/24")],
        &[("STDPKT_LINGER", "1")],
        "ip link add link eth0 name eth0.10 type vlan id 10\n\
         ip addr add 203.0.113.2/24 dev eth0.10\nip link set eth0.10 up\necho ready",
    );
    b.wait_for("ready", 30);
    let mut a = Node::start(
        "A",
        &p.dir,
        &[nic(&p.b2a, &a_out, MAC_A, Some("198.51.100.1/24"))],
        &[],
        &format!(
            "ip link add link eth0 name eth0.10 type vlan id 10\n\
             ip addr add 203.0.113.1/24 dev eth0.10\nip link set eth0.10 up\n\
             echo '== vid 10'; {PING} 203.0.113.2\nip link del eth0.10\n\
             ip link add link eth0 name eth0.20 type vlan id 20\n\
             ip addr add 203.0.113.1/24 dev eth0.20\nip link set eth0.20 up\n\
             echo '== vid 20'; ping -n -c 3 -i 0.2 -W 1 203.0.113.2 || true"
        ),
    );
    let out = a.finish(60);
    assert_eq!(
        received(section(&out.stdout, "vid 10")),
        3,
        "{}",
        out.show()
    );
    assert_eq!(
        received(section(&out.stdout, "vid 20")),
        0,
        "{}",
        out.show()
    );
    drop(a);
    drop(b);
    t.join().unwrap();
    let mut dump = clean_command(stdpkt(), &["dump", "--from", "raw"]);
    dump.stdin(File::open(&copy).unwrap());
    let lines = String::from_utf8_lossy(&dump.output().expect("stdpkt dump").stdout).into_owned();
    assert!(
        lines
            .lines()
            .any(|l| l.contains("vlan 10, ") && l.contains("ICMP echo request")),
        "no 802.1Q-tagged echo request on the stream:\n{lines}"
    );
    assert!(lines.lines().any(|l| l.contains("vlan 20, ")), "{lines}");
}

// ------------------------------------------------------------- tunnels

/// Both ends of each tunnel type over one link: eth0 is 198.51.100.N and
/// 2001:db8::N; inner addresses are .(4k+N) of 203.0.113.0/30s.
fn tunnels(me: u8, peer: u8) -> String {
    let (l, r) = (format!("198.51.100.{me}"), format!("198.51.100.{peer}"));
    let (l6, r6) = (format!("2001:db8::{me}"), format!("2001:db8::{peer}"));
    let mut s = String::new();
    for (k, (name, add)) in [
        (
            "vx0",
            format!("vxlan id 42 local {l} remote {r} dstport 4789"),
        ),
        ("gre1", format!("gre local {l} remote {r}")),
        ("gtap1", format!("gretap local {l} remote {r}")),
        ("ipip1", format!("ipip local {l} remote {r}")),
        ("gnv0", format!("geneve id 7 remote {r}")),
    ]
    .iter()
    .enumerate()
    {
        s.push_str(&format!(
            "ip link add {name} type {add}\nip addr add 203.0.113.{}/30 dev {name}\n\
             ip link set {name} up\n",
            4 * k as u8 + me
        ));
    }
    s.push_str(&format!(
        "ip link add sit1 type sit local {l} remote {r}\n\
         ip addr add 2001:db8:1::{me}/64 dev sit1 nodad\nip link set sit1 up\n\
         ip link add ip6t1 type ip6tnl local {l6} remote {r6} mode ip6ip6\n\
         ip addr add 2001:db8:2::{me}/64 dev ip6t1 nodad\nip link set ip6t1 up\n"
    ));
    s
}

#[test]
fn vxlan_gre_gretap_ipip_geneve_sit_and_ip6tnl_carry_pings() {
    tools::require_all(&["ip", "ping"]);
    let p = Pair::new("tunnels");
    let mut script = tunnels(1, 2);
    let targets = [
        ("vxlan", "203.0.113.2"),
        ("gre", "203.0.113.6"),
        ("gretap", "203.0.113.10"),
        ("ipip", "203.0.113.14"),
        ("geneve", "203.0.113.18"),
        ("sit", "2001:db8:1::2"),
        ("ip6tnl", "2001:db8:2::2"),
    ];
    for (name, to) in targets {
        script.push_str(&format!("echo '== {name}'; {PING} {to} || true\n"));
    }
    script.push_str("echo '== links'; ip -d link show");
    let (out, _b) = p.run(
        "198.51.100.2/24,2001:db8::2/64",
        &tunnels(2, 1),
        "198.51.100.1/24,2001:db8::1/64",
        &script,
        90,
    );
    for (name, to) in targets {
        assert_eq!(
            received(section(&out.stdout, name)),
            3,
            "{name} to {to}: {}",
            out.show()
        );
    }
    let links = section(&out.stdout, "links");
    for kind in [
        "vxlan id 42 remote 198.51.100.2",
        "gre remote 198.51.100.2",
        "gretap remote 198.51.100.2",
        "ipip any remote 198.51.100.2",
        "geneve id 7 remote 198.51.100.2",
        "sit any remote 198.51.100.2",
        "ip6tnl ip6ip6 remote 2001:db8::2",
    ] {
        assert!(links.contains(kind), "no {kind:?}: {}", out.show());
    }
}

// ----------------------------------------------------------- WireGuard

#[test]
fn wireguard_carries_a_mebibyte_exactly_and_shakes_hands() {
    tools::require_all(&["ip", "wg", "nc", "sha256sum"]);
    let p = Pair::new("wireguard");
    let key_a = on_host(&["wg", "genkey"], None);
    let key_b = on_host(&["wg", "genkey"], None);
    let pub_a = on_host(&["wg", "pubkey"], Some(&key_a));
    let pub_b = on_host(&["wg", "pubkey"], Some(&key_b));
    p.dir.write("a.key", key_a.as_bytes());
    p.dir.write("b.key", key_b.as_bytes());
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = p.dir.write("data", &data);
    let want = on_host(&["sha256sum", &file], None);
    let want = want.split_whitespace().next().unwrap();
    let wg = |me: u8, key: &str, peer_pub: &str, peer: u8| {
        format!(
            "ip link add wg0 type wireguard\n\
             wg set wg0 listen-port 51820 private-key {key} peer {} allowed-ips 203.0.113.{peer}/32 \
             endpoint 198.51.100.{peer}:51820\n\
             ip addr add 203.0.113.{me}/24 dev wg0\nip link set wg0 up\n",
            peer_pub.trim()
        )
    };
    let mut b = Node::start(
        "B",
        &p.dir,
        &[p.b("198.51.100.2/24")],
        &[],
        &format!(
            "{}nc -l 203.0.113.2 7000 > received &\nsleep 0.3; echo ready; wait\n\
             echo '== sha'; sha256sum < received",
            wg(2, "b.key", &pub_a, 1)
        ),
    );
    b.wait_for("ready", 30);
    let mut a = Node::start(
        "A",
        &p.dir,
        &[p.a("198.51.100.1/24")],
        &[],
        &format!(
            "{}nc -N 203.0.113.2 7000 < data\necho '== wg'; wg show wg0",
            wg(1, "a.key", &pub_b, 2)
        ),
    );
    let out = a.finish(60);
    let got = b.finish(60);
    assert!(
        section(&got.stdout, "sha").starts_with(want),
        "sha256 {want} sent: {}\n{}",
        got.show(),
        out.show()
    );
    let show = section(&out.stdout, "wg");
    assert!(
        show.contains("latest handshake:") && show.contains(pub_b.trim()),
        "{}",
        out.show()
    );
}

// ------------------------------------------------------ VRF and ECMP

#[test]
fn two_vrfs_with_the_same_addresses_stay_apart() {
    tools::require_all(&["ip", "ping"]);
    let dir = TempDir::new("vrf");
    let (p0, r0, p1, r1) = (
        dir.fifo("p0-r"),
        dir.fifo("r-p0"),
        dir.fifo("p1-r"),
        dir.fifo("r-p1"),
    );
    // Both peers and both of R's NICs have the same addresses.
    let _peer_red = Node::sleeper(
        "peer red",
        &dir,
        nic(&r0, &p0, MAC_A, Some("198.51.100.2/24")),
    );
    let _peer_blue = Node::sleeper(
        "peer blue",
        &dir,
        nic(&r1, &p1, MAC_B, Some("198.51.100.2/24")),
    );
    let mut r = Node::start(
        "R",
        &dir,
        &[
            nic(&p0, &r0, "02:00:00:00:00:e0", Some("198.51.100.1/24")),
            nic(&p1, &r1, "02:00:00:00:00:e1", Some("198.51.100.1/24")),
        ],
        &[],
        &format!(
            "ip link add red type vrf table 10\nip link add blue type vrf table 20\n\
             ip link set red up\nip link set blue up\n\
             ip link set eth0 master red\nip link set eth1 master blue\n\
             ip route add 203.0.113.0/24 dev eth0 vrf red\n\
             for v in red blue; do echo \"== $v\"; {PING} -I $v 198.51.100.2; ip neigh show vrf $v; done\n\
             echo '== unrouted'; ping -n -c 1 -W 1 -I blue 203.0.113.9 || true"
        ),
    );
    let out = r.finish(60);
    let red = section(&out.stdout, "red");
    let blue = section(&out.stdout, "blue");
    assert_eq!(received(red), 3, "{}", out.show());
    assert_eq!(received(blue), 3, "{}", out.show());
    assert!(
        red.contains(&format!("dev eth0 lladdr {MAC_A}")) && !red.contains(MAC_B),
        "{}",
        out.show()
    );
    assert!(
        blue.contains(&format!("dev eth1 lladdr {MAC_B}")) && !blue.contains(MAC_A),
        "{}",
        out.show()
    );
    // red's route is not blue's.
    let unrouted = section(&out.stdout, "unrouted");
    assert!(
        unrouted.contains("Network is unreachable")
            || out.stderr.contains("Network is unreachable"),
        "{}",
        out.show()
    );
}

/// TX packets of `dev` in /proc/net/dev text.
fn tx_packets(text: &str, dev: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{dev}:")))
        .unwrap_or_else(|| panic!("no {dev} in:\n{text}"));
    let f: Vec<&str> = line.split(':').nth(1).unwrap().split_whitespace().collect();
    f[9].parse().unwrap()
}

#[test]
fn an_ecmp_route_spreads_flows_over_both_next_hops() {
    tools::require_all(&["ip", "ping", "cat"]);
    let dir = TempDir::new("ecmp");
    let (n1r, rn1, n2r, rn2) = (
        dir.fifo("n1-r"),
        dir.fifo("r-n1"),
        dir.fifo("n2-r"),
        dir.fifo("r-n2"),
    );
    // Each next hop owns all of 203.0.113.0/24 (a prefix on lo is local).
    let mut hops = Vec::new();
    for (name, rx, tx, mac, ip) in [
        ("hop 1", &rn1, &n1r, MAC_A, "198.51.100.2/30"),
        ("hop 2", &rn2, &n2r, MAC_B, "198.51.100.6/30"),
    ] {
        let mut h = Node::start(
            name,
            &dir,
            &[nic(rx, tx, mac, Some(ip))],
            &[("STDPKT_LINGER", "1")],
            "ip addr add 203.0.113.254/24 dev lo\necho ready",
        );
        h.wait_for("ready", 30);
        hops.push(h);
    }
    let mut r = Node::start(
        "R",
        &dir,
        &[
            nic(&n1r, &rn1, "02:00:00:00:00:e0", Some("198.51.100.1/30")),
            nic(&n2r, &rn2, "02:00:00:00:00:e1", Some("198.51.100.5/30")),
        ],
        &[],
        "ip route add 203.0.113.0/24 nexthop via 198.51.100.2 dev eth0 nexthop via 198.51.100.6 dev eth1\n\
         ping -n -c 1 -W 2 198.51.100.2 >/dev/null; ping -n -c 1 -W 2 198.51.100.6 >/dev/null\n\
         echo '== before'; cat /proc/net/dev\nok=0\n\
         for i in $(seq 1 24); do ping -n -c 1 -W 2 203.0.113.$i >/dev/null && ok=$((ok+1)); done\n\
         echo \"== answered $ok\"; echo '== after'; cat /proc/net/dev; echo '== route'; ip route",
    );
    let out = r.finish(90);
    let text = &out.stdout;
    assert!(text.contains("== answered 24\n"), "{}", out.show());
    for dev in ["eth0", "eth1"] {
        let sent =
            tx_packets(section(text, "after"), dev) - tx_packets(section(text, "before"), dev);
        assert!(
            sent >= 3,
            "{dev} carried {sent} of 24 flows' packets: {}",
            out.show()
        );
    }
}

// ----------------------------------------------------------- netfilter

#[test]
fn conntrack_lists_a_live_flow_and_sees_new_ones() {
    tools::require_all(&["conntrack", "iptables", "nc", "ping"]);
    let p = Pair::new("conntrack");
    // A rule that needs conntrack makes the kernel track.
    let script = "iptables -A INPUT -m conntrack --ctstate INVALID -j DROP\n\
                  conntrack -E -e NEW > events 2>&1 &\nev=$!\nsleep 0.3\n\
                  sleep 2 2>/dev/null | nc -N 198.51.100.2 7000 >/dev/null 2>&1 &\nnc=$!\n\
                  ping -n -c 2 -i 0.2 -W 2 198.51.100.2 >/dev/null\nsleep 0.3\n\
                  echo '== list'; conntrack -L 2>&1\nkill $ev; wait $ev || true\n\
                  echo '== events'; cat events; kill $nc 2>/dev/null || true";
    let (out, _b) = p.run(
        "198.51.100.2/24",
        "nc -l -k 198.51.100.2 7000 >/dev/null &\nsleep 0.3",
        "198.51.100.1/24",
        script,
        60,
    );
    let list = section(&out.stdout, "list");
    assert!(
        list.lines().any(|l| l.starts_with("tcp ")
            && l.contains("ESTABLISHED")
            && l.contains("src=198.51.100.1 dst=198.51.100.2")
            && l.contains("dport=7000")),
        "{}",
        out.show()
    );
    let events = section(&out.stdout, "events");
    assert!(
        events.contains("[NEW] tcp") && events.contains("[NEW] icmp"),
        "{}",
        out.show()
    );
}

#[test]
fn an_ipset_drops_exactly_its_members() {
    tools::require_all(&["ipset", "iptables", "ping"]);
    let p = Pair::new("ipset");
    let script = "ipset create blocked hash:ip\nipset add blocked 198.51.100.4\n\
                  ipset add blocked 203.0.113.7\n\
                  iptables -A INPUT -m set --match-set blocked src -j DROP\n\
                  for t in 2 4 5; do echo \"== to $t\"; ping -n -c 3 -i 0.2 -W 1 198.51.100.$t || true; done\n\
                  echo '== list'; ipset list blocked";
    let (out, _b) = p.run(
        "198.51.100.2/24,198.51.100.4/24,198.51.100.5/24",
        "true",
        "198.51.100.1/24",
        script,
        60,
    );
    let text = &out.stdout;
    assert_eq!(received(section(text, "to 2")), 3, "{}", out.show());
    assert_eq!(received(section(text, "to 4")), 0, "{}", out.show());
    assert_eq!(received(section(text, "to 5")), 3, "{}", out.show());
    assert!(
        section(text, "list").contains("Number of entries: 2"),
        "{}",
        out.show()
    );
}

// ----------------------------------------------------------- transports

#[test]
fn bbr_by_sysctl_shows_in_ss_and_others_by_setsockopt() {
    tools::require_all(&["sysctl", "ss", "nc", "python3"]);
    let p = Pair::new("bbr");
    let script = "sysctl -w net.ipv4.tcp_congestion_control=bbr\n\
                  sleep 2 2>/dev/null | nc -N 198.51.100.2 7000 >/dev/null 2>&1 &\nnc=$!; sleep 0.5\n\
                  echo '== ss'; ss -tin dst 198.51.100.2; kill $nc 2>/dev/null || true\n\
                  echo '== setsockopt'\n\
                  python3 -c 'import socket\n\
for n in (b\"reno\", b\"dctcp\", b\"vegas\", b\"cubic\"): s = socket.socket(); \
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, n); \
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b\"\\0\").decode())'";
    let (out, _b) = p.run(
        "198.51.100.2/24",
        "nc -l 198.51.100.2 7000 >/dev/null &\nsleep 0.3",
        "198.51.100.1/24",
        script,
        60,
    );
    let ss = section(&out.stdout, "ss");
    assert!(
        ss.contains("198.51.100.2:7000") && ss.contains(" bbr "),
        "{}",
        out.show()
    );
    let names: Vec<&str> = section(&out.stdout, "setsockopt").lines().collect();
    assert_eq!(names, ["reno", "dctcp", "vegas", "cubic"], "{}", out.show());
}

#[test]
fn an_sctp_association_carries_a_message_both_ways() {
    tools::require_all(&["python3"]);
    let p = Pair::new("sctp");
    let mut b = Node::start(
        "B",
        &p.dir,
        &[p.b("198.51.100.2/24")],
        &[],
        "python3 -c 'import socket\n\
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)\n\
s.bind((\"198.51.100.2\", 9000)); s.listen()\n\
print(\"ready\", flush=True)\n\
c, peer = s.accept(); c.send(c.recv(100).upper()); print(\"peer\", peer[0])'",
    );
    b.wait_for("ready", 30);
    let mut a = Node::start(
        "A",
        &p.dir,
        &[p.a("198.51.100.1/24")],
        &[],
        "python3 -c 'import socket\n\
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)\n\
s.connect((\"198.51.100.2\", 9000)); s.send(b\"over sctp\"); print(s.recv(100).decode())'",
    );
    let out = a.finish(60);
    assert!(out.stdout.contains("OVER SCTP"), "{}", out.show());
    let got = b.finish(30);
    assert!(got.stdout.contains("peer 198.51.100.1"), "{}", got.show());
}

// ----------------------------------------------------------- links, ethtool

#[test]
fn ethtool_answers_and_veth_dummy_macvlan_bond_come_up() {
    tools::require_all(&["ethtool", "ip"]);
    let p = Pair::new("links");
    let script = "echo '== driver'; ethtool -i eth0\necho '== features'; ethtool -k eth0\n\
                  ip link add v0 type veth peer name v1\n\
                  ip addr add 203.0.113.1/24 dev v0\nip link set v0 up\nip link set v1 up\n\
                  ip link add d0 type dummy\nip link set d0 up\n\
                  ip link add mv0 link eth0 type macvlan mode bridge\nip link set mv0 up\n\
                  ip link add bond0 type bond mode active-backup miimon 50\n\
                  echo '== links'; ip -br link";
    let (out, _b) = p.run("198.51.100.2/24", "true", "198.51.100.1/24", script, 60);
    let text = &out.stdout;
    assert!(
        section(text, "driver").contains("driver: virtio_net"),
        "{}",
        out.show()
    );
    assert!(
        section(text, "features").contains("Features for eth0:"),
        "{}",
        out.show()
    );
    let links = section(text, "links");
    for l in ["v0@v1 ", "v1@v0 ", "d0 ", "mv0@eth0 ", "bond0 "] {
        assert!(
            links.lines().any(|x| x.starts_with(l)),
            "no {l:?}: {}",
            out.show()
        );
    }
}

#[test]
fn an_mptcp_connection_opens_a_second_subflow_over_the_second_nic() {
    tools::require_all(&["ip", "ss", "python3"]);
    let p = Pair::new("mptcp");
    let (a2b1, b2a1) = (p.dir.fifo("a2b1"), p.dir.fifo("b2a1"));
    let limits = "ip mptcp limits set subflow 2 add_addr_accepted 2\n";
    // B announces its second address (ADD_ADDR); A opens a subflow to it.
    let mut b = Node::start(
        "B",
        &p.dir,
        &[
            p.b("198.51.100.2/24"),
            nic(&a2b1, &b2a1, "02:00:00:00:01:0b", Some("203.0.113.2/24")),
        ],
        &[],
        &format!(
            "{limits}ip mptcp endpoint add 203.0.113.2 dev eth1 signal\n\
             python3 -c 'import socket\n\
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)\n\
s.bind((\"0.0.0.0\", 7000)); s.listen(); print(\"ready\", flush=True)\n\
c, _ = s.accept(); n = 0\n\
while d := c.recv(65536): n += len(d)\n\
print(\"got\", n)'"
        ),
    );
    b.wait_for("ready", 30);
    let mut a = Node::start(
        "A",
        &p.dir,
        &[
            p.a("198.51.100.1/24"),
            nic(&b2a1, &a2b1, "02:00:00:00:01:0a", Some("203.0.113.1/24")),
        ],
        &[],
        &format!(
            "{limits}python3 -c 'import socket, subprocess, time\n\
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)\n\
s.connect((\"198.51.100.2\", 7000)); s.sendall(bytes(1 << 20)); time.sleep(0.5)\n\
print(\"== subflows\", flush=True)\n\
subprocess.run([\"ss\", \"-tn\", \"state\", \"established\"])\n\
print(\"== end\", flush=True); s.sendall(bytes(1 << 20)); s.close()'"
        ),
    );
    let out = a.finish(60);
    let subflows = section(&out.stdout, "subflows");
    for flow in ["198.51.100.1:", "203.0.113.1:"] {
        assert!(
            subflows
                .lines()
                .any(|l| l.contains(flow) && l.contains(":7000")),
            "no subflow from {flow}: {}",
            out.show()
        );
    }
    let got = b.finish(30);
    assert!(got.stdout.contains("got 2097152"), "{}", got.show());
}

/// Passes what comes out of `from` on to `to` until told to stop; then
/// closes `to`, so that its reader sees its input end, as when a cable
/// is pulled.
fn cuttable(from: String, to: String) -> (Arc<AtomicBool>, JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let t = std::thread::spawn(move || {
        let mut rx = File::open(&from).unwrap_or_else(|e| panic!("{from}: {e}"));
        let mut tx = OpenOptions::new()
            .write(true)
            .open(&to)
            .unwrap_or_else(|e| panic!("{to}: {e}"));
        let mut buf = vec![0u8; 64 * 1024];
        while !flag.load(Ordering::SeqCst) {
            let mut pfd = libc::pollfd {
                fd: rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a short timeout so the flag is seen.
            if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
                continue;
            }
            match rx.read(&mut buf) {
                Ok(n) if n > 0 && tx.write_all(&buf[..n]).is_ok() => {}
                _ => break,
            }
        }
    });
    (stop, t)
}

#[test]
fn an_active_backup_bond_survives_its_active_nics_input_ending() {
    tools::require_all(&["ip", "ping", "cat"]);
    let p = Pair::new("bond");
    let (a2b1, b2a1) = (p.dir.fifo("a2b1"), p.dir.fifo("b2a1"));
    // B's eth0 frames reach A's eth0 through a relay the test can cut.
    let b0_out = p.dir.fifo("b0-out");
    let (cut, relay) = cuttable(b0_out.clone(), p.b2a.clone());
    // B: both NICs in a bridge, so A's MAC may move from one to the other.
    let mut b = Node::start(
        "B",
        &p.dir,
        &[
            nic(&p.a2b, &b0_out, MAC_B, None),
            nic(&a2b1, &b2a1, "02:00:00:00:01:0b", None),
        ],
        &[("STDPKT_LINGER", "1")],
        "ip link add br0 type bridge\nip link set eth0 master br0\nip link set eth1 master br0\n\
         ip addr add 198.51.100.2/24 dev br0\nip link set br0 up\necho ready",
    );
    b.wait_for("ready", 30);
    let mut a = Node::start(
        "A",
        &p.dir,
        &[
            nic(&p.b2a, &p.a2b, MAC_A, None),
            nic(&b2a1, &a2b1, "02:00:00:00:01:0a", None),
        ],
        &[],
        &format!(
            "ip link add bond0 type bond mode active-backup miimon 50\n\
             for n in eth0 eth1; do ip link set $n down; ip link set $n master bond0; done\n\
             ip link set bond0 type bond primary eth0\n\
             ip addr add 198.51.100.1/24 dev bond0\nip link set bond0 up\n\
             echo '== before'; {PING} 198.51.100.2; grep 'Currently Active Slave' /proc/net/bonding/bond0\n\
             touch cut\n{}\nsleep 0.5\n\
             echo '== after'; {PING} 198.51.100.2; grep -e 'Currently Active Slave' -e 'MII Status' /proc/net/bonding/bond0",
            wait_file("cut-done")
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !p.dir.root().join("cut").exists() {
        assert!(
            Instant::now() < deadline,
            "A never got to the cut: {}",
            a.report()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cut.store(true, Ordering::SeqCst);
    relay.join().unwrap();
    File::create(p.dir.path("cut-done")).unwrap();
    let out = a.finish(60);
    let before = section(&out.stdout, "before");
    let after = section(&out.stdout, "after");
    assert_eq!(received(before), 3, "{}", out.show());
    assert!(
        before.contains("Currently Active Slave: eth0"),
        "{}",
        out.show()
    );
    assert_eq!(received(after), 3, "{}", out.show());
    assert!(
        after.contains("Currently Active Slave: eth1"),
        "{}",
        out.show()
    );
}

// ---------------------------------------------------------------- xfrm

#[test]
fn xfrm_ah_with_static_keys_authenticates_pings() {
    tools::require_all(&["ip", "ping"]);
    let p = Pair::new("xfrm");
    let (k1, k2) = (
        format!("0x{}", "11".repeat(32)),
        format!("0x{}", "22".repeat(32)),
    );
    // The same two security associations on both sides, one per direction;
    // each side's policies ask for AH on what it sends and receives.
    let states = format!(
        "ip xfrm state add src 198.51.100.1 dst 198.51.100.2 proto ah spi 0x1001 mode transport \
         auth 'hmac(sha256)' {k1}\n\
         ip xfrm state add src 198.51.100.2 dst 198.51.100.1 proto ah spi 0x1002 mode transport \
         auth 'hmac(sha256)' {k2}\n"
    );
    let policies = |me: &str, peer: &str| {
        format!(
            "ip xfrm policy add src {me} dst {peer} dir out tmpl proto ah mode transport\n\
             ip xfrm policy add src {peer} dst {me} dir in tmpl proto ah mode transport\n"
        )
    };
    let b_setup = format!("{states}{}", policies("198.51.100.2", "198.51.100.1"));
    let script = format!(
        "{states}{}echo '== ping'; {PING} 198.51.100.2\necho '== states'; ip -s xfrm state",
        policies("198.51.100.1", "198.51.100.2")
    );
    let (out, _b) = p.run("198.51.100.2/24", &b_setup, "198.51.100.1/24", &script, 60);
    assert_eq!(received(section(&out.stdout, "ping")), 3, "{}", out.show());
    // Each SA counts its three packets: out with 0x1001, in with 0x1002.
    let states = section(&out.stdout, "states");
    assert!(
        states.contains("oseq 0x3") && states.contains("seq 0x3,"),
        "{}",
        out.show()
    );
    assert_eq!(
        states.matches("(bytes), 3(packets)").count(),
        2,
        "{}",
        out.show()
    );
}

#[test]
fn matchall_mirred_mirrors_to_another_nic_and_police_drops_over_rate() {
    tools::require_all(&["tc", "ping"]);
    let p = Pair::new("mirred");
    // eth1 goes nowhere but to a file: its input is held open (never
    // written, so its link stays up), its output is recorded.
    let (e1_in, e1_out) = (p.dir.fifo("e1-in"), p.dir.fifo("e1-out"));
    let _hold = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&e1_in)
        .unwrap();
    let copy = p.dir.path("mirrored");
    let (path, dst) = (e1_out.clone(), copy.clone());
    let recorder = std::thread::spawn(move || {
        let mut rx = File::open(&path).unwrap();
        std::io::copy(&mut rx, &mut File::create(&dst).unwrap()).unwrap();
    });
    let mut b = Node::start(
        "B",
        &p.dir,
        &[p.b("198.51.100.2/24")],
        &[("STDPKT_LINGER", "1")],
        "echo ready",
    );
    b.wait_for("ready", 30);
    let mut a = Node::start(
        "A",
        &p.dir,
        &[
            p.a("198.51.100.1/24"),
            nic(&e1_in, &e1_out, "02:00:00:00:01:0a", None),
        ],
        &[],
        &format!(
            "tc qdisc add dev eth0 clsact\n\
             tc filter add dev eth0 egress matchall action mirred egress mirror dev eth1\n\
             echo '== mirrored'; {PING} 198.51.100.2\n\
             tc filter add dev eth0 ingress matchall action police rate 1kbit burst 200 drop\n\
             echo '== policed'; ping -n -q -c 20 -i 0.01 -W 1 198.51.100.2 || true\n\
             echo '== filters'; tc -s filter show dev eth0 ingress"
        ),
    );
    let out = a.finish(60);
    assert_eq!(
        received(section(&out.stdout, "mirrored")),
        3,
        "{}",
        out.show()
    );
    let policed = received(section(&out.stdout, "policed"));
    assert!(
        (1..=10).contains(&policed),
        "police at 1kbit let {policed} of 20 replies in: {}",
        out.show()
    );
    assert!(
        section(&out.stdout, "filters").contains("police"),
        "{}",
        out.show()
    );
    drop(a);
    recorder.join().unwrap();
    let mut dump = clean_command(stdpkt(), &["dump", "--from", "raw"]);
    dump.stdin(File::open(&copy).unwrap());
    let lines = String::from_utf8_lossy(&dump.output().expect("stdpkt dump").stdout).into_owned();
    let requests = lines
        .lines()
        .filter(|l| l.contains("198.51.100.1 > 198.51.100.2: ICMP echo request"))
        .count();
    assert!(
        requests >= 3,
        "{requests} echo requests mirrored onto eth1:\n{lines}"
    );
}

#[test]
fn bridge_vlan_filtering_keeps_ports_of_other_vlans_apart() {
    tools::require_all(&["ip", "bridge", "ping"]);
    let dir = TempDir::new("vlan-filtering");
    let mut sw_nics = Vec::new();
    let mut host_nics = Vec::new();
    for i in 0..3 {
        let to_sw = dir.fifo(&format!("h{i}-sw"));
        let to_h = dir.fifo(&format!("sw-h{i}"));
        sw_nics.push(nic(&to_sw, &to_h, &format!("02:00:00:00:01:0{i}"), None));
        host_nics.push(nic(
            &to_h,
            &to_sw,
            &format!("02:00:00:00:00:0{}", i + 1),
            Some(&format!("198.51.100.{}/24", i + 1)),
        ));
    }
    // Ports eth0 and eth1 in VLAN 10, eth2 in VLAN 20, all untagged.
    let mut sw = Node::start(
        "switch",
        &dir,
        &sw_nics,
        &[("STDPKT_LINGER", "1")],
        "ip link add br0 type bridge vlan_filtering 1\n\
         for i in 0 1 2; do ip link set eth$i master br0; done\n\
         for i in 0 1; do bridge vlan del dev eth$i vid 1; bridge vlan add dev eth$i vid 10 pvid untagged; done\n\
         bridge vlan del dev eth2 vid 1; bridge vlan add dev eth2 vid 20 pvid untagged\n\
         ip link set br0 up\nbridge vlan show\necho ready",
    );
    sw.wait_for("ready", 30);
    let mut it = host_nics.into_iter();
    let h1_nic = it.next().unwrap();
    // Hosts 2 and 3 first: host 3 is up and would answer, but for the VLANs.
    let _h2 = Node::sleeper("host 2", &dir, it.next().unwrap());
    let _h3 = Node::sleeper("host 3", &dir, it.next().unwrap());
    let mut h1 = Node::start(
        "host 1",
        &dir,
        &[h1_nic],
        &[],
        &format!(
            "echo '== vlan 10'; {PING} 198.51.100.2\n\
             echo '== vlan 20'; ping -n -c 3 -i 0.2 -W 1 198.51.100.3 || true"
        ),
    );
    let out = h1.finish(60);
    assert_eq!(
        received(section(&out.stdout, "vlan 10")),
        3,
        "{}",
        out.show()
    );
    assert_eq!(
        received(section(&out.stdout, "vlan 20")),
        0,
        "{}\n{}",
        out.show(),
        sw.report()
    );
}
