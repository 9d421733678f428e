// SPDX-License-Identifier: GPL-2.0-only
//! End to end with real, unmodified Debian programs (iputils ping,
//! iproute2, iptables legacy and nft, nft, netperf, netcat-openbsd, socat,
//! python3). Every program runs through `scripts/lkl-hijack.sh` with
//! libstdpkt.so preloaded, so each process boots an instance of its own;
//! instances are joined by fifo pairs in a temporary directory per test.
//!
//! Rules of the house:
//! - every process runs in a process group of its own and is killed with
//!   it when the test ends, however it ends ([`Proc`]);
//! - every wait has a deadline: a hang fails the test;
//! - only documentation addresses (192.0.2.0/24, 198.51.100.0/24,
//!   2001:db8::/32) are used; nothing here runs on the host network, and
//!   the host's firewall is compared before and after the iptables tests;
//! - an instance's RX ends when the writer of its fifo goes, which takes
//!   its link down: each scenario uses fresh fifos.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;

use common::process::{clean_command, signal_group, wait_deadline};
use common::tempdir::TempDir;
use common::{guard, stdpkt, tools, ROOT};

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const MAC_R0: &str = "02:00:00:00:00:e0";
const MAC_R1: &str = "02:00:00:00:00:e1";

/// x86_64 rt_sigtimedwait: where a lingering instance's main thread waits.
const SYS_RT_SIGTIMEDWAIT: &str = "128";

/// Environment of one instance.
type Env = Vec<(&'static str, String)>;

/// `IFn=RX|TX`.
fn nic(n: u8, rx: &str, tx: &str) -> Vec<(&'static str, String)> {
    let name: &'static str = ["IF0", "IF1", "IF2", "IF3"][n as usize];
    vec![(name, format!("{rx}|{tx}"))]
}

/// A host: eth0 on `rx`/`tx` with `mac` and `ip`, and `gw` as its default
/// gateway if any.
fn host_env(rx: &str, tx: &str, mac: &str, ip: &str, gw: Option<&str>) -> Env {
    let mut e = nic(0, rx, tx);
    e.push(("MAC0", mac.into()));
    e.push(("IP0", ip.into()));
    if let Some(gw) = gw {
        e.push(("GW", gw.into()));
    }
    e
}

/// `args` under scripts/lkl-hijack.sh with this tree's library, a clean
/// environment plus `env`, stdin from /dev/null, in `dir`, in a process
/// group of its own (the script runs capability binaries such as ping as
/// its child: the group holds both). Its PATH finds unprivileged copies
/// of privileged programs first ([`guard::path`]), for a shell's
/// programs too; a missing program fails here, naming its package.
fn preloaded(dir: &TempDir, env: &[(&str, String)], args: &[&str]) -> Command {
    guard::program(args[0]);
    let mut c = clean_command(format!("{ROOT}/scripts/lkl-hijack.sh"), args);
    c.current_dir(dir.root())
        .env("PATH", guard::path())
        .env("STDPKT_LIB", guard::lib())
        .stdin(Stdio::null())
        .process_group(0);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `args` on the host, without the library (checks, hashes, conversions).
fn on_host(args: &[&str]) -> Command {
    let mut c = clean_command(tools::resolve(args[0]), &args[1..]);
    c.arg0(args[0]).stdin(Stdio::null()).process_group(0);
    c
}

/// What a finished process left.
struct Out {
    name: String,
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn report(&self) -> String {
        format!(
            "{} ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.name,
            self.status,
            self.text(),
            self.stderr
        )
    }

    fn ok(&self) -> &Self {
        assert!(self.status.success(), "failed: {}", self.report());
        self
    }
}

/// A background process and its output so far; killed (with its process
/// group) when dropped.
struct Proc {
    name: String,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => into
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}

impl Proc {
    /// Starts `cmd` with stdout and stderr captured.
    fn start(name: &str, cmd: Command) -> Proc {
        Proc::spawn(name, cmd, None)
    }

    /// Starts `cmd` with stdout into `stdout`, stderr captured.
    fn start_to(name: &str, cmd: Command, stdout: File) -> Proc {
        Proc::spawn(name, cmd, Some(stdout))
    }

    fn spawn(name: &str, mut cmd: Command, stdout: Option<File>) -> Proc {
        match stdout {
            Some(f) => cmd.stdout(f),
            None => cmd.stdout(Stdio::piped()),
        };
        cmd.stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(o) = child.stdout.take() {
            readers.push(collect(o, out.clone()));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(collect(e, err.clone()));
        }
        Proc {
            name: name.to_string(),
            child,
            out,
            err,
            readers,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    fn report(&self) -> String {
        format!(
            "{}:\n--- stdout\n{}\n--- stderr\n{}",
            self.name,
            self.stdout_text(),
            self.stderr_text()
        )
    }

    /// Still running (not yet reaped).
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the whole group while the leader is unreaped (so its group id
    /// cannot have been reused), then reaps it.
    fn kill(&mut self) {
        if self.running() {
            signal_group(&self.child, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// Polls `done` until it holds. Fails with `exited` (after a last look:
    /// the readers may still hold the last bytes) if the process ends
    /// first, or with `late` (the group killed) after `secs`.
    fn poll_until(
        &mut self,
        secs: u64,
        done: impl Fn(&Proc) -> bool,
        exited: impl FnOnce(&Proc) -> String,
        late: impl FnOnce(&Proc) -> String,
    ) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if done(self) {
                return;
            }
            if !self.running() {
                std::thread::sleep(Duration::from_millis(200));
                if done(self) {
                    return;
                }
                panic!("{}", exited(self));
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("{}", late(self));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stdout (or stderr) contains `needle`; fails if the
    /// process exits first or `secs` pass.
    fn wait_for(&mut self, on_stderr: bool, needle: &str, secs: u64) {
        self.poll_until(
            secs,
            |p| {
                if on_stderr {
                    p.stderr_text().contains(needle)
                } else {
                    p.stdout_text().contains(needle)
                }
            },
            |p| format!("exited before printing {needle:?}: {}", p.report()),
            |p| format!("no {needle:?} within {secs}s from {}", p.report()),
        );
    }

    /// Waits until the main thread of the preloaded program sits in the
    /// linger loop (rt_sigtimedwait after `main` returned).
    fn wait_lingering(&mut self, secs: u64) {
        self.poll_until(
            secs,
            Proc::lingering,
            |p| format!("exited instead of lingering: {}", p.report()),
            |p| format!("not lingering after {secs}s: {}", p.report()),
        );
    }

    /// Waits until the process has `path` open (its instance opens fifos
    /// in the background).
    fn wait_open(&mut self, path: &str, secs: u64) {
        self.poll_until(
            secs,
            |p| {
                std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .filter_map(|e| std::fs::read_link(e.path()).ok())
                            .any(|l| l == Path::new(path))
                    })
                    .unwrap_or(false)
            },
            |p| format!("exited before opening {path}: {}", p.report()),
            |p| format!("{path} not open after {secs}s: {}", p.report()),
        );
    }

    fn lingering(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/syscall", self.pid()))
            .map(|s| s.split_whitespace().next() == Some(SYS_RT_SIGTIMEDWAIT))
            .unwrap_or(false)
    }

    /// Waits for the exit (killing the group and failing after `secs`).
    fn finish(&mut self, secs: u64) -> Out {
        let Some(status) = wait_deadline(&mut self.child, Duration::from_secs(secs)) else {
            self.kill();
            self.join_readers();
            panic!("timed out after {secs}s: {}", self.report());
        };
        self.join_readers();
        Out {
            name: self.name.clone(),
            status,
            stdout: std::mem::take(&mut *self.out.lock().unwrap_or_else(|e| e.into_inner())),
            stderr: self.stderr_text(),
        }
    }

    /// Joins the output readers, giving up after a few seconds (a stray
    /// descendant may hold the pipes).
    fn join_readers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in self.readers.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to completion within `secs`.
fn run(name: &str, cmd: Command, secs: u64) -> Out {
    Proc::start(name, cmd).finish(secs)
}

/// Debian's ping (a capability binary: a copy runs, see [`preloaded`]) from an
/// instance with `env`: three probes 200 ms apart, one second for the
/// last answer.
fn ping(dir: &TempDir, env: &[(&str, String)], target: &str) -> Out {
    let mut args = vec!["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1"];
    if target.contains(':') {
        args.push("-6");
    }
    args.push(target);
    run(&format!("ping {target}"), preloaded(dir, env, &args), 30)
}

fn assert_loss(out: &Out, loss: &str) {
    let text = out.text();
    assert!(
        text.contains(&format!(" {loss} packet loss")),
        "expected {loss} packet loss: {}",
        out.report()
    );
}

/// A pair of fifos between instance A and instance B.
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

    fn a(&self, ip: &str) -> Env {
        host_env(&self.b2a, &self.a2b, MAC_A, ip, None)
    }

    fn b(&self, ip: &str) -> Env {
        host_env(&self.a2b, &self.b2a, MAC_B, ip, None)
    }
}

/// A (192.0.2.1) -- R (192.0.2.254 | 198.51.100.254) -- B (198.51.100.1).
struct Routed {
    dir: TempDir,
    a2r: String,
    r2a: String,
    b2r: String,
    r2b: String,
}

impl Routed {
    fn new(tag: &str) -> Routed {
        let dir = TempDir::new(tag);
        let a2r = dir.fifo("a2r");
        let r2a = dir.fifo("r2a");
        let b2r = dir.fifo("b2r");
        let r2b = dir.fifo("r2b");
        Routed {
            dir,
            a2r,
            r2a,
            b2r,
            r2b,
        }
    }

    /// R, forwarding unless `forward` is false; STDPKT_LINGER if `linger`.
    fn r(&self, forward: bool, linger: bool) -> Env {
        let mut e = nic(0, &self.a2r, &self.r2a);
        e.extend(nic(1, &self.b2r, &self.r2b));
        e.push(("MAC0", MAC_R0.into()));
        e.push(("IP0", "192.0.2.254/24".into()));
        e.push(("MAC1", MAC_R1.into()));
        e.push(("IP1", "198.51.100.254/24".into()));
        if forward {
            e.push(("STDPKT_SYSCTL", "net.ipv4.ip_forward=1".into()));
        }
        if linger {
            e.push(("STDPKT_LINGER", "1".into()));
        }
        e
    }

    /// A, with R as its default gateway if `gw`.
    fn a(&self, gw: bool) -> Env {
        let gw = gw.then_some("192.0.2.254");
        host_env(&self.r2a, &self.a2r, MAC_A, "192.0.2.1/24", gw)
    }

    /// B, with R as its default gateway if `gw`.
    fn b(&self, gw: bool) -> Env {
        let gw = gw.then_some("198.51.100.254");
        host_env(&self.r2b, &self.b2r, MAC_B, "198.51.100.1/24", gw)
    }
}

/// Opens a fifo for reading and writing: never blocks, and while it is
/// held the fifo has a reader (writes never fail with EPIPE) and a writer
/// (reads never see EOF), whoever else comes and goes.
fn hold_open(fifo: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)
        .unwrap_or_else(|e| panic!("open {fifo}: {e}"))
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// `sha256sum FILE`'s digest.
fn sha256(path: &str) -> String {
    let out = run("sha256sum", on_host(&["sha256sum", path]), 60);
    out.ok();
    out.text()
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

// ---------------------------------------------------------------- 1. ping

/// The responder: an instance whose program only sleeps; its kernel
/// answers.
fn sleeper(dir: &TempDir, env: &[(&str, String)]) -> Proc {
    Proc::start("sleep 30", preloaded(dir, env, &["sleep", "30"]))
}

/// B only sleeps (its kernel answers); A pings `target`: all answered.
fn ping_between_two_instances(tag: &str, target: &str) {
    let p = Pair::new(tag);
    let _b = sleeper(&p.dir, &p.b("192.0.2.2/24,2001:db8::2/64"));
    let out = ping(&p.dir, &p.a("192.0.2.1/24,2001:db8::1/64"), target);
    out.ok();
    assert_loss(&out, "0%");
    assert!(out.text().contains("3 received"), "{}", out.report());
}

#[test]
fn ping_ipv4_between_two_instances() {
    ping_between_two_instances("ping4", "192.0.2.2");
}

#[test]
fn ping_ipv6_between_two_instances() {
    ping_between_two_instances("ping6", "2001:db8::2");
}

/// A shell run with the library boots nothing itself, so the programs it
/// runs get the NICs, one after another: no instance of its own reads the
/// input they need (it would take a share of B's replies).
#[test]
fn programs_run_by_a_shell_get_the_nics() {
    let p = Pair::new("shell");
    // Held open for writing, as `exec 3<>a2b` would: B's input must not end
    // when the first ping's instance closes its end.
    let _hold = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p.a2b)
        .expect("open a2b");
    let _b = sleeper(&p.dir, &p.b("192.0.2.2/24"));
    let out = run(
        "sh -c 'ping; ping'",
        preloaded(
            &p.dir,
            &p.a("192.0.2.1/24"),
            &[
                "sh",
                "-c",
                "ping -n -c 3 -i 0.2 -W 1 192.0.2.2 && ping -n -c 3 -i 0.2 -W 1 192.0.2.2",
            ],
        ),
        30,
    );
    out.ok();
    assert_eq!(
        out.text().matches(" 0% packet loss").count(),
        2,
        "{}",
        out.report()
    );
}

/// B's link-local address (from MAC_B), its scope given as an interface
/// name: glibc maps such names with the host's interfaces unless the
/// preload library steps in, and the link-local address must be usable at
/// once (no duplicate address detection delay).
#[test]
fn ping_ipv6_link_local_by_interface_name() {
    let p = Pair::new("ping6ll");
    let _b = sleeper(&p.dir, &p.b("192.0.2.2/24,2001:db8::2/64"));
    let out = ping(
        &p.dir,
        &p.a("192.0.2.1/24,2001:db8::1/64"),
        "fe80::ff:fe00:b%eth0",
    );
    out.ok();
    assert_loss(&out, "0%");
    assert!(
        out.text().contains("from fe80::ff:fe00:b%eth0: icmp_seq=1"),
        "{}",
        out.report()
    );
}

/// Addresses that stdpkt configures work at once (no duplicate address
/// detection), but one a program adds later gets DAD as on Linux: adding
/// B's address in A fails it ("dadfailed"), while A's own stays usable.
#[test]
fn an_address_added_later_gets_duplicate_address_detection() {
    use std::io::Write;
    let p = Pair::new("dad");
    let _b = sleeper(&p.dir, &p.b("2001:db8::2/64"));
    // `ip -batch -` runs each line as it arrives: the address is added,
    // and shown once DAD (one probe, one second) is over.
    let input = p.dir.fifo("ip.in");
    let mut feed = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&input)
        .expect("open ip.in");
    let mut cmd = preloaded(&p.dir, &p.a("2001:db8::1/64"), &["ip", "-batch", "-"]);
    cmd.stdin(File::open(&input).expect("ip.in for reading"));
    let mut a = Proc::start("ip -batch (A)", cmd);
    feed.write_all(b"addr add 2001:db8::2/64 dev eth0\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    feed.write_all(b"addr show dev eth0\n").unwrap();
    drop(feed);
    let out = a.finish(30);
    out.ok();
    let text = out.text();
    let line = |addr: &str| {
        text.lines()
            .find(|l| l.contains(addr))
            .unwrap_or_else(|| panic!("no {addr}: {}", out.report()))
            .to_string()
    };
    assert!(
        line("inet6 2001:db8::2/64").contains("dadfailed"),
        "{}",
        out.report()
    );
    let own = line("inet6 2001:db8::1/64");
    assert!(
        !own.contains("dadfailed") && !own.contains("tentative"),
        "{}",
        out.report()
    );
}

// ------------------------------------------- 1b. one instance, many programs

/// A script's commands all act on the one instance its shell booted: the
/// rule of the first iptables is there for the second, and the address
/// that ip adds answers a ping that follows.
/// LKL's test_pipe_ping: clients in turn against one server over the
/// same fifos, the server's input not held. Each client's exit ends the
/// server's input (EOF: carrier down); the next client opening the fifo
/// brings it up again, and is announced to at once: every client's pings
/// are all answered, the first without an ARP retry.
#[test]
fn clients_in_turn_reach_a_server_whose_input_fifo_they_reopen() {
    let p = Pair::new("pipe-ping");
    let mut b = Proc::start(
        "sleep 60 (B)",
        preloaded(
            &p.dir,
            &[p.b("198.51.100.2/24"), vec![("STDPKT_LOG", "info".into())]].concat(),
            &["sleep", "60"],
        ),
    );
    for n in 1..=3u8 {
        let mut env = p.a("198.51.100.1/24");
        // Each client its own MAC, as separate processes get by default.
        env.retain(|(k, _)| *k != "MAC0");
        env.push(("MAC0", format!("02:00:00:00:01:{n:02x}")));
        let out = ping(&p.dir, &env, "198.51.100.2");
        out.ok();
        assert_loss(&out, "0%");
        let max: f64 = out
            .text()
            .split("rtt min/avg/max/mdev = ")
            .nth(1)
            .and_then(|t| t.split('/').nth(2))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("client {n}: no rtt line: {}", out.report()));
        assert!(
            max < 500.0,
            "client {n}: max rtt {max} ms: {}",
            out.report()
        );
    }
    assert!(b.running(), "{}", b.report());
    b.wait_for(true, "rx: a new writer; link up", 10);
}

/// `stdpkt attach NAME -- CMD` runs CMD on a running instance that was
/// given a name: what one attached command changes, the next one sees,
/// and `stdpkt ps` lists the instance.
#[test]
fn attach_runs_commands_on_a_named_running_instance() {
    let p = Pair::new("attach");
    let name = format!("e2e-attach-{}", std::process::id());
    let mut env = p.a("198.51.100.1/24");
    env.push(("STDPKT_NAME", name.clone()));
    let a = sleeper(&p.dir, &env);
    let attach = |args: &[&str]| {
        let mut c = clean_command(stdpkt(), &[&["attach", name.as_str(), "--"], args].concat());
        c.env("PATH", guard::path())
            .env("STDPKT_LIB", guard::lib())
            .stdin(Stdio::null())
            .process_group(0);
        run(&format!("stdpkt attach {args:?}"), c, 30)
    };
    // The instance serves once it is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ps = loop {
        let out = run("stdpkt ps", clean_command(stdpkt(), &["ps"]), 30);
        out.ok();
        if out.text().contains(&name) || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        ps.text().contains(&format!("{} {name} ", a.pid())),
        "{}",
        ps.report()
    );
    let out = attach(&["ip", "addr", "add", "203.0.113.7/24", "dev", "eth0"]);
    out.ok();
    let out = attach(&["ip", "-br", "addr", "show", "dev", "eth0"]);
    out.ok();
    let text = out.text();
    assert!(
        text.contains("198.51.100.1/24") && text.contains("203.0.113.7/24"),
        "{}",
        out.report()
    );
    let mut c = clean_command(stdpkt(), &["attach", "no-such-instance", "--", "true"]);
    c.stdin(Stdio::null());
    let out = run("stdpkt attach no-such-instance", c, 30);
    assert_eq!(out.status.code(), Some(2), "{}", out.report());
    assert!(out.stderr.contains("no instance"), "{}", out.report());
}

#[test]
fn a_scripts_commands_share_one_instance() {
    let p = Pair::new("script");
    let _b = sleeper(&p.dir, &p.b("198.51.100.2/24"));
    let script = "iptables -A INPUT -s 203.0.113.9 -j DROP; iptables -S INPUT; \
                  ip addr add 203.0.113.5/24 dev eth0; ip -br addr show dev eth0; \
                  ping -n -c 1 -W 2 203.0.113.5; ping -n -c 1 -W 2 198.51.100.2";
    let out = run(
        "sh -c script",
        preloaded(&p.dir, &p.a("198.51.100.1/24"), &["sh", "-c", script]),
        60,
    );
    out.ok();
    let text = out.text();
    assert!(
        text.contains("-A INPUT -s 203.0.113.9/32 -j DROP"),
        "{}",
        out.report()
    );
    assert!(text.contains("203.0.113.5/24"), "{}", out.report());
    assert_eq!(
        text.matches(" 0% packet loss").count(),
        2,
        "{}",
        out.report()
    );
}

/// A forking server: each client's connection is served by a forked child
/// of socat (which forks again for `echo`), on the instance of the
/// listening parent.
#[test]
fn socat_fork_serves_clients_in_turn() {
    let p = Pair::new("socat-fork");
    let _hold = hold_open(&p.a2b);
    let mut b = Proc::start(
        "socat fork server (B)",
        preloaded(
            &p.dir,
            &p.b("198.51.100.1/24"),
            &[
                "socat",
                "-d",
                "-d",
                "TCP-LISTEN:7000,bind=198.51.100.1,fork,reuseaddr",
                "EXEC:echo hello",
            ],
        ),
    );
    b.wait_for(true, "listening on", 20);
    for n in 1..=3 {
        let mut env = nic(0, &p.b2a, &p.a2b);
        env.push(("IP0", "198.51.100.2/24".into()));
        let out = run(
            &format!("client {n}"),
            preloaded(
                &p.dir,
                &env,
                &["socat", "-u", "TCP:198.51.100.1:7000", "STDOUT"],
            ),
            30,
        );
        out.ok();
        assert_eq!(out.text().trim(), "hello", "client {n}: {}", out.report());
    }
    assert!(b.running(), "{}", b.report());
}

/// Python's ForkingTCPServer in B serves 5 clients at once, each
/// connection in a forked child on B's instance.
#[test]
fn forking_tcp_server_serves_concurrent_clients() {
    let p = Pair::new("forking-server");
    let script = |name: &str| format!("{ROOT}/tests/preload/{name}");
    let mut b = Proc::start(
        "ForkingTCPServer (B)",
        preloaded(
            &p.dir,
            &p.b("198.51.100.1/24"),
            &["python3", &script("forking_server.py"), "198.51.100.1"],
        ),
    );
    b.wait_for(false, "serving", 20);
    let out = run(
        "5 clients (A)",
        preloaded(
            &p.dir,
            &p.a("198.51.100.2/24"),
            &[
                "python3",
                &script("concurrent_clients.py"),
                "198.51.100.1",
                "5",
            ],
        ),
        60,
    );
    out.ok();
    assert!(
        out.text().contains("answered 5 of 5"),
        "{}\n{}",
        out.report(),
        b.report()
    );
}

/// /proc/sys/net and /proc/net are the instance's: `sysctl -w` changes the
/// instance (a later command of the script sees it) and never the host,
/// and /proc/net readers (cat, netstat) list the instance's interfaces
/// and sockets.
/// A daemon's start-up closes every inherited fd (a loop of close,
/// close_range, closefrom): the NIC's own streams stay, and the program
/// sees their numbers as free (EBADF).
#[test]
fn a_program_cannot_close_its_nics() {
    let p = Pair::new("closeall");
    let _b = sleeper(&p.dir, &p.b("198.51.100.2/24"));
    let script = format!("{ROOT}/tests/preload/closeall.py");
    let out = run(
        "closeall.py (A)",
        preloaded(&p.dir, &p.a("198.51.100.1/24"), &["python3", &script]),
        60,
    );
    out.ok();
    assert!(out.text().contains("ALL OK"), "{}", out.report());
    assert!(
        !out.stderr.contains("Bad file descriptor"),
        "{}",
        out.report()
    );
}

#[test]
fn proc_sys_net_and_proc_net_are_the_instances() {
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let p = Pair::new("procfs");
    let _b = sleeper(&p.dir, &p.b("198.51.100.2/24"));
    let script = "sysctl -w net.ipv4.ip_forward=1; sysctl net.ipv4.ip_forward; \
                  sysctl net.ipv4.conf.eth0.arp_notify; cat /proc/net/dev; \
                  nc -l 198.51.100.1 7123 & sleep 0.5; netstat -tln; kill $!";
    let out = run(
        "sh -c sysctl script",
        preloaded(&p.dir, &p.a("198.51.100.1/24"), &["sh", "-c", script]),
        60,
    );
    out.ok();
    let text = out.text();
    assert_eq!(
        text.matches("net.ipv4.ip_forward = 1").count(),
        2,
        "{}",
        out.report()
    );
    // eth0's settings exist only in the instance.
    assert!(
        text.contains("net.ipv4.conf.eth0.arp_notify = 1"),
        "{}",
        out.report()
    );
    assert!(
        text.contains("  eth0:") && text.contains("  sit0:"),
        "{}",
        out.report()
    );
    assert!(text.contains("198.51.100.1:7123"), "{}", out.report());
    let host_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(host_before, host_after, "the host's ip_forward changed");
}

// ------------------------------------------------------------------ 2. ip

#[test]
fn ip_shows_the_nic_its_addresses_and_gateways() {
    let dir = TempDir::new("ip");
    // Nobody opens the other ends: the instance comes up all the same.
    let rx = dir.fifo("rx");
    let tx = dir.fifo("tx");
    let mut env = nic(0, &rx, &tx);
    env.push(("MAC0", MAC_A.into()));
    env.push(("IP0", "192.0.2.1/24,2001:db8::1/64".into()));
    env.push(("MTU0", "1400".into()));
    env.push(("GW", "192.0.2.254,2001:db8::fe".into()));

    let addr = run("ip addr", preloaded(&dir, &env, &["ip", "addr"]), 30);
    addr.ok();
    let a = addr.text();
    for want in [
        ": eth0: <",
        "state UP",
        "mtu 1400",
        "link/ether 02:00:00:00:00:0a",
        "inet 192.0.2.1/24",
        "inet6 2001:db8::1/64",
        "inet 127.0.0.1/8",
    ] {
        assert!(a.contains(want), "no {want:?} in:\n{a}");
    }

    let route = run("ip route", preloaded(&dir, &env, &["ip", "route"]), 30);
    route.ok();
    let r = route.text();
    assert!(r.contains("default via 192.0.2.254 dev eth0"), "{r}");
    assert!(r.contains("192.0.2.0/24 dev eth0"), "{r}");

    let route6 = run(
        "ip -6 route",
        preloaded(&dir, &env, &["ip", "-6", "route"]),
        30,
    );
    route6.ok();
    let r6 = route6.text();
    assert!(r6.contains("default via 2001:db8::fe dev eth0"), "{r6}");
    assert!(r6.contains("2001:db8::/64 dev eth0"), "{r6}");

    let link = run("ip link", preloaded(&dir, &env, &["ip", "link"]), 30);
    link.ok();
    let l = link.text();
    assert!(l.contains(": eth0: <"), "{l}");
    assert!(l.contains("link/ether 02:00:00:00:00:0a"), "{l}");
    assert!(l.contains("mtu 1400"), "{l}");
    assert!(l.contains(": lo: <"), "{l}");
}

// ------------------------------------------------------------ 3. iptables

/// The host's firewall as text, for before/after comparisons (read-only
/// commands, run without the library).
fn host_firewall() -> Vec<String> {
    let mut v = Vec::new();
    for args in [
        &["iptables-legacy-save"][..],
        &["iptables-nft-save"][..],
        &["nft", "list", "ruleset"][..],
    ] {
        let out = run(args[0], on_host(args), 30);
        // The save commands' comments hold timestamps.
        let text = out.text();
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        v.push(format!("{args:?} {}\n{}", out.status, body.join("\n")));
    }
    v
}

/// Each iptables command is its own process, so its own instance: rules
/// one adds are gone for the next, and the host never sees them.
#[test]
fn iptables_commands_stay_in_their_instance() {
    let before = host_firewall();
    let dir = TempDir::new("ipt-cli");
    for ipt in ["iptables-legacy", "iptables"] {
        let go = |args: &[&str]| {
            let mut v = vec![ipt];
            v.extend_from_slice(args);
            run(&v.join(" "), preloaded(&dir, &[], &v), 30)
        };
        if ipt == "iptables" {
            let version = go(&["--version"]);
            version.ok();
            assert!(version.text().contains("nf_tables"), "{}", version.report());
        }
        go(&["-A", "INPUT", "-s", "192.0.2.9", "-j", "DROP"]).ok();
        let list = go(&["-L", "-n"]);
        list.ok();
        let l = list.text();
        assert!(l.contains("Chain INPUT (policy ACCEPT)"), "{ipt}: {l}");
        assert!(l.contains("Chain FORWARD (policy ACCEPT)"), "{ipt}: {l}");
        assert!(
            !l.contains("192.0.2.9"),
            "{ipt}: a fresh instance has rules: {l}"
        );

        go(&[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "192.0.2.0/24",
            "-j",
            "MASQUERADE",
        ])
        .ok();
        let nat = go(&["-t", "nat", "-L", "-n"]);
        nat.ok();
        let n = nat.text();
        assert!(
            n.contains("Chain POSTROUTING (policy ACCEPT)"),
            "{ipt}: {n}"
        );
        assert!(!n.contains("MASQUERADE"), "{ipt}: {n}");

        // The rule added above lives in another (finished) instance.
        let del = go(&["-D", "INPUT", "-s", "192.0.2.9", "-j", "DROP"]);
        assert_eq!(del.status.code(), Some(1), "{}", del.report());
        assert!(del.stderr.contains("Bad rule"), "{}", del.report());
    }
    assert_eq!(before, host_firewall(), "the host's firewall changed");
}

/// nft -i runs each line as its own transaction in one process (in a
/// `-f` file, `list` would run before the batch is committed, on the host
/// kernel too): add, list, delete and list again in one instance.
#[test]
fn nft_adds_lists_and_deletes_rules_in_one_instance() {
    let before = host_firewall();
    let dir = TempDir::new("nft");
    let script = dir.write(
        "rules.nft",
        b"add table ip filter\n\
          add chain ip filter INPUT { type filter hook input priority 0; policy accept; }\n\
          add rule ip filter INPUT ip saddr 192.0.2.9 counter drop\n\
          add table ip nat\n\
          add chain ip nat POSTROUTING { type nat hook postrouting priority 100; policy accept; }\n\
          add rule ip nat POSTROUTING ip saddr 192.0.2.0/24 counter masquerade\n\
          list ruleset\n\
          flush chain ip filter INPUT\n\
          delete table ip nat\n\
          list ruleset\n",
    );
    let mut cmd = preloaded(&dir, &[], &["nft", "-i"]);
    cmd.stdin(File::open(&script).expect("the script"));
    let out = run("nft -i", cmd, 30);
    out.ok();
    let text = out.text();
    // First listing: both tables with their rules.
    assert_eq!(text.matches("ip saddr 192.0.2.9").count(), 1, "{text}");
    assert_eq!(text.matches("masquerade").count(), 1, "{text}");
    assert_eq!(text.matches("table ip nat").count(), 1, "{text}");
    // Second listing: the filter table, empty.
    assert_eq!(text.matches("table ip filter").count(), 2, "{text}");
    let last = &text[text.rfind("table ip filter").unwrap()..];
    assert!(!last.contains("drop"), "{text}");
    assert!(!last.contains("table ip nat"), "{text}");
    assert_eq!(before, host_firewall(), "the host's firewall changed");
}

/// iptables rules loaded by *-restore act in the program's instance: R
/// lingers after the restore, and A's pings to R show the rules. The
/// second file adds two rules and deletes the first again.
#[test]
fn iptables_restore_rules_act_in_the_instance() {
    let before = host_firewall();
    let drop_icmp = "*filter\n-A INPUT -p icmp -j DROP\nCOMMIT\n";
    let add_and_delete = "*filter\n-A INPUT -p icmp -j DROP\n\
                          -A INPUT -p tcp --dport 7 -j DROP\n\
                          -D INPUT -p icmp -j DROP\nCOMMIT\n";
    for restore in ["iptables-legacy-restore", "iptables-restore"] {
        for (rules, loss) in [(drop_icmp, "100%"), (add_and_delete, "0%")] {
            let p = Pair::new("ipt-restore");
            let file = p.dir.write("rules", rules.as_bytes());
            let mut r_env = p.b("192.0.2.254/24");
            r_env.push(("STDPKT_LINGER", "1".into()));
            let mut r = Proc::start(restore, preloaded(&p.dir, &r_env, &[restore, &file]));
            r.wait_lingering(20);
            let out = ping(&p.dir, &p.a("192.0.2.1/24"), "192.0.2.254");
            assert!(
                out.status.success() == (loss == "0%"),
                "{restore} {rules:?}: {}",
                out.report()
            );
            assert_loss(&out, loss);
            // A left: R's only input ended, so it stops lingering.
            let rout = r.finish(20);
            rout.ok();
        }
    }
    assert_eq!(before, host_firewall(), "the host's firewall changed");
}

/// MASQUERADE in R's nat table: B has no route back to A's subnet, so a
/// TCP connection from A only works, and B only sees R's address, through
/// the NAT. Without the rule (R runs `true`), it fails.
#[test]
fn iptables_masquerade_in_the_router_instance() {
    let before = host_firewall();
    for ipt in ["iptables-legacy", "iptables", "none"] {
        let n = Routed::new("masq");
        let msg = n.dir.write("msg", b"through the NAT\n");
        let b_out = n.dir.path("b.out");
        let mut b = Proc::start_to(
            "nc -l (B)",
            preloaded(
                &n.dir,
                &n.b(false),
                &["nc", "-v", "-l", "198.51.100.1", "7000"],
            ),
            File::create(&b_out).expect("B's output"),
        );
        b.wait_for(true, "Listening on", 20);
        let rule = [
            ipt,
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "192.0.2.0/24",
            "-j",
            "MASQUERADE",
        ];
        let prog: &[&str] = if ipt == "none" { &["true"] } else { &rule };
        let mut r = Proc::start(ipt, preloaded(&n.dir, &n.r(true, true), prog));
        r.wait_lingering(20);
        let mut a_cmd = preloaded(
            &n.dir,
            &n.a(true),
            &["nc", "-w", "3", "-N", "198.51.100.1", "7000"],
        );
        a_cmd.stdin(File::open(&msg).expect("the message"));
        let a = run("nc (A)", a_cmd, 30);
        if ipt == "none" {
            assert!(!a.status.success(), "connected without NAT: {}", a.report());
            assert!(
                !b.stderr_text().contains("Connection received"),
                "{}",
                b.report()
            );
            continue;
        }
        a.ok();
        let bo = b.finish(20);
        bo.ok();
        assert!(
            bo.stderr.contains("Connection received on 198.51.100.254 "),
            "{ipt}: B did not see R's address: {}",
            bo.report()
        );
        assert_eq!(
            std::fs::read(&b_out).expect("B's output"),
            b"through the NAT\n",
            "{ipt}"
        );
        drop(r);
    }
    assert_eq!(before, host_firewall(), "the host's firewall changed");
}

// ----------------------------------------------------------- 4. middlebox

#[test]
fn router_instance_forwards_between_two_subnets() {
    let n = Routed::new("router");
    let _r = sleeper(&n.dir, &n.r(true, false));
    let _b = sleeper(&n.dir, &n.b(true));
    let out = ping(&n.dir, &n.a(true), "198.51.100.1");
    out.ok();
    assert_loss(&out, "0%");
    // One hop: R decremented the TTL.
    assert!(out.text().contains("ttl=63"), "{}", out.report());
}

/// R's program adds a FORWARD DROP rule and returns; with STDPKT_LINGER
/// its instance keeps running: A's pings to B die in R's forwarding path
/// while R itself still answers. Then R ends once all its inputs ended.
fn forward_drop(ipt: &str) {
    let before = host_firewall();
    let n = Routed::new(&format!("fwd-drop-{ipt}"));
    // Two A processes use R's first NIC one after the other: these keep
    // R's input from ending and its output from failing in between.
    let keep_a2r = hold_open(&n.a2r);
    let keep_r2a = hold_open(&n.r2a);
    let mut r = Proc::start(
        ipt,
        preloaded(
            &n.dir,
            &n.r(true, true),
            &[ipt, "-A", "FORWARD", "-j", "DROP"],
        ),
    );
    let mut b = sleeper(&n.dir, &n.b(true));
    // B's instance writes to R: once it has, B's going away ends R's
    // second input (a fifo nobody ever opened for writing never ends).
    b.wait_open(&n.b2r, 20);
    // main returned (so the rule is in): R is in the linger loop.
    r.wait_lingering(20);

    let to_b = ping(&n.dir, &n.a(true), "198.51.100.1");
    assert!(!to_b.status.success(), "{}", to_b.report());
    assert_loss(&to_b, "100%");

    let to_r = ping(&n.dir, &n.a(true), "192.0.2.254");
    to_r.ok();
    assert_loss(&to_r, "0%");
    // Still in the linger loop (polled: between two waits it runs).
    r.wait_lingering(10);

    // Every input ends: R's linger ends and the program exits with main's
    // status.
    drop(keep_a2r);
    drop(keep_r2a);
    b.kill();
    let rout = r.finish(20);
    rout.ok();
    assert_eq!(before, host_firewall(), "the host's firewall changed");
}

#[test]
fn router_forward_drop_iptables_legacy_with_linger() {
    forward_drop("iptables-legacy");
}

#[test]
fn router_forward_drop_iptables_nft_with_linger() {
    forward_drop("iptables");
}

// ------------------------------------------------------------- 5. netperf

/// Rows of numbers in netperf's result table.
fn numeric_rows(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter_map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .map(|f| f.parse::<f64>())
                .collect::<Result<_, _>>()
                .ok()?;
            (!v.is_empty()).then_some(v)
        })
        .collect()
}

/// netserver (no fork, foreground) in B, one netperf test from A, each
/// pair of instances fresh. Returns netperf's table rows.
fn netperf(test: &str, extra: &[&str]) -> Vec<Vec<f64>> {
    let p = Pair::new(&format!("netperf-{}", test.to_lowercase()));
    let mut server = Proc::start(
        "netserver",
        preloaded(
            &p.dir,
            &p.b("198.51.100.1/24"),
            &["netserver", "-D", "-f", "-4", "-p", "12865"],
        ),
    );
    // Printed just before its listen(): give it a moment more.
    server.wait_for(false, "Starting netserver", 20);
    std::thread::sleep(Duration::from_millis(300));
    let mut args = vec![
        "netperf",
        "-H",
        "198.51.100.1",
        "-p",
        "12865",
        "-t",
        test,
        "-l",
        "2",
    ];
    if !extra.is_empty() {
        args.push("--");
        args.extend_from_slice(extra);
    }
    let out = run(
        &args.join(" "),
        preloaded(&p.dir, &p.a("198.51.100.2/24"), &args),
        60,
    );
    out.ok();
    eprintln!("{}", out.text());
    let rows = numeric_rows(&out.text());
    assert!(!rows.is_empty(), "no result table: {}", out.report());
    rows
}

#[test]
fn netperf_tcp_stream() {
    let rows = netperf("TCP_STREAM", &[]);
    // recv socket, send socket, message size, seconds, 10^6 bits/s
    let row = rows.iter().find(|r| r.len() == 5).expect("a result row");
    eprintln!("TCP_STREAM: {} 10^6bits/s", row[4]);
    assert!(row[3] > 1.0, "elapsed {row:?}");
    assert!(row[4] > 0.0, "throughput {row:?}");
}

#[test]
fn netperf_tcp_rr() {
    let rows = netperf("TCP_RR", &[]);
    // send, recv socket, request, response size, seconds, transactions/s
    let row = rows.iter().find(|r| r.len() == 6).expect("a result row");
    eprintln!("TCP_RR: {} transactions/s", row[5]);
    assert!(row[4] > 1.0, "elapsed {row:?}");
    assert!(row[5] > 0.0, "transaction rate {row:?}");
}

#[test]
fn netperf_udp_stream() {
    let rows = netperf("UDP_STREAM", &["-m", "1400"]);
    // Sender: socket, message size, seconds, messages, errors, 10^6 bits/s
    let sent = rows.iter().find(|r| r.len() == 6).expect("a send row");
    // Receiver: socket, seconds, messages, 10^6 bits/s
    let recv = rows.iter().find(|r| r.len() == 4).expect("a receive row");
    eprintln!(
        "UDP_STREAM: sent {} 10^6bits/s, received {} 10^6bits/s ({} of {} messages)",
        sent[5], recv[3], recv[2], sent[3]
    );
    assert_eq!(sent[1], 1400.0, "message size {sent:?}");
    assert!(sent[3] > 0.0 && sent[5] > 0.0, "send {sent:?}");
    assert!(recv[2] > 0.0 && recv[3] > 0.0, "receive {recv:?}");
}

/// Clients for [`a_netserver_serves_every_client_in_turn`]: a few in
/// the suite, `STDPKT_SOAK_CLIENTS` (scripts/soak.sh: 500) in a soak run.
fn soak_clients(default: usize) -> usize {
    std::env::var("STDPKT_SOAK_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `cmd` under coreutils' `timeout SECS` on the host: the signal goes to
/// the preloaded program itself (the launcher execs it).
fn under_timeout(secs: u32, cmd: &Command) -> Command {
    let prog = cmd.get_program().to_string_lossy().into_owned();
    let secs = secs.to_string();
    let mut args = vec![secs.as_str(), prog.as_str()];
    let rest: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.extend(rest.iter().map(String::as_str));
    let mut c = clean_command(tools::require("timeout"), &args);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c.stdin(Stdio::null()).process_group(0);
    c
}

/// The receiver's bitrate of each direction in iperf3's summary.
fn iperf3_receiver_rates(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.trim_end().ends_with("receiver"))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|t| t.ends_with("bits/sec"))?;
            let v: f64 = w[i - 1].parse().ok()?;
            Some(match w[i].chars().next() {
                Some('G') => v * 1e3,
                Some('M') => v,
                Some('K') => v / 1e3,
                _ => v / 1e6,
            })
        })
        .collect()
}

/// Traffic both ways at once: transmit never holds the instance's CPU in
/// a blocked write, so neither side stops receiving. Then SIGTERM from
/// `timeout` ends a client in the middle of a long --bidir run, and a
/// server waiting in select, within a second of the signal (iperf3's
/// handler is installed with SA_RESTART).
#[test]
fn iperf3_bidir_completes_and_a_signal_ends_it() {
    let p = Pair::new("iperf3-bidir");
    let mut b = Proc::start(
        "iperf3 -s (B)",
        preloaded(
            &p.dir,
            &p.b("198.51.100.2/24"),
            &["iperf3", "-s", "--forceflush", "-B", "198.51.100.2"],
        ),
    );
    b.wait_for(false, "Server listening", 20);
    let client = |secs: &str, streams: &str| {
        preloaded(
            &p.dir,
            &p.a("198.51.100.1/24"),
            &[
                "iperf3",
                "-c",
                "198.51.100.2",
                "--bidir",
                "-t",
                secs,
                "-P",
                streams,
            ],
        )
    };
    for streams in ["1", "4"] {
        let out = run(
            &format!("iperf3 --bidir -t 2 -P {streams} (A)"),
            client("2", streams),
            60,
        );
        out.ok();
        // Per stream and direction, then the two sums with -P 4.
        let rates = iperf3_receiver_rates(&out.text());
        let want = if streams == "1" { 2 } else { 10 };
        assert!(
            rates.len() == want && rates.iter().all(|&r| r > 1.0),
            "every stream both ways carries traffic ({rates:?} Mbit/s): {}",
            out.report()
        );
    }

    let start = Instant::now();
    let out = run(
        "timeout 3 iperf3 --bidir -t 60 (A)",
        under_timeout(3, &client("60", "1")),
        60,
    );
    let took = start.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(124), "{}", out.report());
    assert!(
        took < 4.5,
        "the client took {took:.1} s to end: {}",
        out.report()
    );
    assert!(b.running(), "{}", b.report());

    let start = Instant::now();
    let out = run(
        "timeout 3 iperf3 -s",
        under_timeout(
            3,
            &preloaded(&p.dir, &[], &["iperf3", "-s", "-B", "127.0.0.1"]),
        ),
        60,
    );
    let took = start.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(124), "{}", out.report());
    assert!(
        took < 4.5,
        "the server took {took:.1} s to end: {}",
        out.report()
    );
}

/// A server never goes deaf: one netserver, its input fifo held open (as
/// `exec 3<>fifo` would), serves short `netperf -t TCP_CRR -l 1` clients
/// one after another, each a new process with a MAC of its own, so that
/// every client's arrival reopens the server's output fifo. Earlier, a
/// client could find the server's writer gone (EOF) and go deaf, and the
/// server could drop the first answers to a new client.
#[test]
fn a_netserver_serves_every_client_in_turn() {
    let p = Pair::new("netserver-clients");
    let _hold = hold_open(&p.a2b);
    let mut server = Proc::start(
        "netserver",
        preloaded(
            &p.dir,
            &p.b("198.51.100.1/24"),
            &["netserver", "-D", "-f", "-4", "-L", "198.51.100.1"],
        ),
    );
    server.wait_for(false, "Starting netserver", 20);
    std::thread::sleep(Duration::from_millis(300));
    let clients = soak_clients(8);
    for n in 1..=clients {
        let mut env = nic(0, &p.b2a, &p.a2b);
        env.push(("IP0", "198.51.100.2/24".into()));
        let args = [
            "netperf",
            "-H",
            "198.51.100.1",
            "-t",
            "TCP_CRR",
            "-l",
            "1",
            "-P",
            "0",
        ];
        let out = run(
            &format!("netperf client {n} of {clients}"),
            preloaded(&p.dir, &env, &args),
            60,
        );
        out.ok();
        let rows = numeric_rows(&out.text());
        let rate = rows.first().and_then(|r| r.last()).copied().unwrap_or(0.0);
        assert!(rate > 0.0, "client {n}: no transactions: {}", out.report());
    }
    assert!(server.running(), "netserver exited: {}", server.report());
}

// ------------------------------------------------------------------ 6. nc

#[test]
fn nc_carries_ten_mebibytes_intact() {
    let p = Pair::new("nc");
    let input = p.dir.write("in.bin", &noise(10 << 20, 0x5eed));
    let output = p.dir.path("out.bin");
    let mut b = Proc::start_to(
        "nc -l (B)",
        preloaded(
            &p.dir,
            &p.b("198.51.100.1/24"),
            &["nc", "-v", "-l", "198.51.100.1", "7000"],
        ),
        File::create(&output).expect("B's output"),
    );
    // Printed after listen().
    b.wait_for(true, "Listening on", 20);
    let mut a_cmd = preloaded(
        &p.dir,
        &p.a("198.51.100.2/24"),
        &["nc", "-N", "198.51.100.1", "7000"],
    );
    a_cmd.stdin(File::open(&input).expect("the input"));
    let start = Instant::now();
    run("nc (A)", a_cmd, 60).ok();
    let bo = b.finish(30);
    bo.ok();
    eprintln!("nc: 10 MiB in {:?}", start.elapsed());
    assert!(
        bo.stderr.contains("Connection received on 198.51.100.2 "),
        "{}",
        bo.report()
    );
    assert_eq!(
        std::fs::metadata(&output).expect("B's output").len(),
        10 << 20
    );
    assert_eq!(sha256(&input), sha256(&output));
}

/// A client that writes and exits at once loses nothing: `socat -u`
/// sends 3 MB and exits right after its close(), 50 times in a row. The
/// instance stays until the data is delivered and the FIN acknowledged
/// (without that, about one run in six lost its tail and the receiver
/// waited for an EOF that never came).
#[test]
fn a_client_that_exits_after_writing_loses_nothing() {
    let dir = TempDir::new("socat-exit");
    let input = dir.write("in.bin", &noise(3_000_000, 0xe417));
    let want = sha256(&input);
    for run_no in 0..50 {
        let p = Pair::new("socat-exit-run");
        let output = p.dir.path("out.bin");
        let mut b = Proc::start(
            "socat receiver (B)",
            preloaded(
                &p.dir,
                &p.b("198.51.100.1/24"),
                &[
                    "socat",
                    "-d",
                    "-d",
                    "-u",
                    // A small window keeps data queued in A when it exits.
                    "TCP-LISTEN:7000,bind=198.51.100.1,reuseaddr,rcvbuf=16384",
                    &format!("CREATE:{output}"),
                ],
            ),
        );
        b.wait_for(true, "listening on", 20);
        let a = preloaded(
            &p.dir,
            &p.a("198.51.100.2/24"),
            // -t 0: exit at once after the close, without socat's own
            // half-second wait for the other direction.
            &[
                "socat",
                "-t",
                "0",
                "-u",
                &format!("FILE:{input}"),
                "TCP:198.51.100.1:7000",
            ],
        );
        let ao = run("socat sender (A)", a, 60);
        ao.ok();
        assert!(
            !ao.text().contains("gave up"),
            "run {run_no}: {}",
            ao.report()
        );
        // The receiver exits only once it has seen the EOF.
        let bo = b.finish(30);
        bo.ok();
        assert_eq!(sha256(&output), want, "run {run_no}: {}", bo.report());
    }
}

/// An asyncio echo server in B; in A, 50 concurrent connections each
/// write 200 kB before reading anything back. That needs about 20 MB of
/// TCP buffers in each instance at once: with Linux's default TCP memory
/// limit for a small RAM (3/32 of it) the writes stalled for good.
const ECHO_SERVER_PY: &str = r#"
import asyncio
async def handle(r, w):
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()
async def main():
    s = await asyncio.start_server(handle, "192.0.2.2", 9000)
    print("serving", flush=True)
    async with s:
        await s.serve_forever()
asyncio.run(main())
"#;

const ECHO_CLIENTS_PY: &str = r#"
import asyncio, os
async def one():
    r, w = await asyncio.open_connection("192.0.2.2", 9000)
    data = os.urandom(200_000)
    w.write(data)
    await w.drain()
    got = b""
    while len(got) < len(data):
        got += await r.read(65536)
    w.close()
    return got == data
async def main():
    res = await asyncio.gather(*[one() for _ in range(50)])
    print("intact", sum(res), "of", len(res), flush=True)
asyncio.run(main())
"#;

#[test]
fn fifty_asyncio_connections_that_write_before_reading() {
    let p = Pair::new("asyncio");
    let server = p.dir.write("server.py", ECHO_SERVER_PY.as_bytes());
    let clients = p.dir.write("clients.py", ECHO_CLIENTS_PY.as_bytes());
    let mut b = Proc::start(
        "asyncio server (B)",
        preloaded(&p.dir, &p.b("192.0.2.2/24"), &["/usr/bin/python3", &server]),
    );
    b.wait_for(false, "serving", 20);
    let out = run(
        "asyncio clients (A)",
        preloaded(
            &p.dir,
            &p.a("192.0.2.1/24"),
            &["/usr/bin/python3", &clients],
        ),
        60,
    );
    out.ok();
    assert!(out.text().contains("intact 50 of 50"), "{}", out.report());
    drop(b);
}

// --------------------------------------------------------------- 7. socat

/// R does not forward (no ip_forward): data from A reaches B only through
/// the socat relay in R, which accepts on R's first NIC and connects out
/// of its second. Data goes both ways.
#[test]
fn socat_relays_between_two_nics() {
    let n = Routed::new("socat");
    let input = n.dir.write("in.bin", &noise(1 << 20, 0xface));
    let reply = n.dir.write("reply", b"reply from B\n");
    let b_out = n.dir.path("b.out");
    let mut b_cmd = preloaded(
        &n.dir,
        &n.b(false),
        &["nc", "-v", "-l", "198.51.100.1", "7002"],
    );
    b_cmd.stdin(File::open(&reply).expect("the reply"));
    let mut b = Proc::start_to(
        "nc -l (B)",
        b_cmd,
        File::create(&b_out).expect("B's output"),
    );
    b.wait_for(true, "Listening on", 20);
    let mut r = Proc::start(
        "socat (R)",
        preloaded(
            &n.dir,
            &n.r(false, false),
            &[
                "socat",
                "-d",
                "-d",
                "TCP-LISTEN:7001,bind=192.0.2.254",
                "TCP:198.51.100.1:7002",
            ],
        ),
    );
    r.wait_for(true, "listening on", 20);
    let mut a_cmd = preloaded(&n.dir, &n.a(false), &["nc", "-N", "192.0.2.254", "7001"]);
    a_cmd.stdin(File::open(&input).expect("the input"));
    let a = run("nc (A)", a_cmd, 60);
    a.ok();
    let ro = r.finish(30);
    ro.ok();
    let bo = b.finish(30);
    bo.ok();
    assert!(
        ro.stderr
            .contains("accepting connection from AF=2 192.0.2.1:"),
        "{}",
        ro.report()
    );
    assert!(
        bo.stderr.contains("Connection received on 198.51.100.254 "),
        "{}",
        bo.report()
    );
    assert_eq!(a.text(), "reply from B\n", "{}", a.report());
    assert_eq!(sha256(&input), sha256(&b_out));
}

// ---------------------------------------------------------- 8. stdio hygiene

/// Splits a raw stream (2-byte big-endian length, frame) into frames.
fn raw_frames(mut b: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut frames = Vec::new();
    while !b.is_empty() {
        if b.len() < 2 {
            return Err(format!("1 stray byte after {} frames", frames.len()));
        }
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        if !(14..=1514).contains(&n) {
            return Err(format!("frame {} has length {n}", frames.len()));
        }
        if b.len() < 2 + n {
            return Err(format!(
                "frame {} cut short: {} of {n} bytes",
                frames.len(),
                b.len() - 2
            ));
        }
        frames.push(&b[2..2 + n]);
        b = &b[2 + n..];
    }
    Ok(frames)
}

#[test]
fn stdout_nic_carries_only_frames_and_ping_talks_on_stderr() {
    let dir = TempDir::new("stdio");
    let env = host_env("-", "-", MAC_A, "192.0.2.1/24", None);
    // Nobody answers 192.0.2.9: ping sends, the kernel asks ARP.
    let mut cmd = preloaded(
        &dir,
        &env,
        &["ping", "-n", "-c", "1", "-W", "2", "192.0.2.9"],
    );
    // Held open until the end: an input at EOF takes the link down.
    cmd.stdin(Stdio::piped());
    let out = Proc::start("ping -c 1 192.0.2.9", cmd).finish(30);
    assert_eq!(out.status.code(), Some(1), "{}", out.report());
    assert!(out.stderr.contains("PING 192.0.2.9"), "{}", out.report());
    assert!(
        out.stderr.contains("1 packets transmitted, 0 received"),
        "{}",
        out.report()
    );

    let frames =
        raw_frames(&out.stdout).unwrap_or_else(|e| panic!("stdout is not raw frames: {e}"));
    assert!(!frames.is_empty(), "no frames: {}", out.report());
    let mac_a = [2u8, 0, 0, 0, 0, 0x0a];
    assert!(
        frames.iter().all(|f| f[6..12] == mac_a),
        "a frame not from eth0"
    );
    let arp_for_target = frames
        .iter()
        .any(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[38..42] == [192, 0, 2, 9]);
    assert!(arp_for_target, "no ARP request for 192.0.2.9");

    // stdpkt's own decoder agrees: one ascii line per frame.
    let raw = dir.write("frames.raw", &out.stdout);
    let mut conv = on_host(&[stdpkt(), "convert", "--from", "raw", "--to", "ascii"]);
    conv.stdin(File::open(&raw).expect("the frames"));
    let ascii = run("stdpkt convert", conv, 30);
    ascii.ok();
    assert_eq!(
        ascii.text().lines().count(),
        frames.len(),
        "{}",
        ascii.report()
    );
    assert!(
        ascii
            .text()
            .lines()
            .any(|l| l.starts_with("ffffffffffff 02000000000a 0806 ")),
        "{}",
        ascii.report()
    );
}

// --------------------------------------------------------------- 9. signals

const ALARM_PY: &str = r#"
import signal, socket, sys, time

class Alarm(Exception):
    pass

def on_alarm(signum, frame):
    raise Alarm()

signal.signal(signal.SIGALRM, on_alarm)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# Only the instance has this address.
s.bind(("192.0.2.1", 7005))
print("bound", flush=True)
signal.alarm(1)
start = time.monotonic()
try:
    data = s.recv(100)
    print("UNEXPECTED data %r" % data, flush=True)
    sys.exit(1)
except Alarm:
    print("INTERRUPTED after %.1fs" % (time.monotonic() - start), flush=True)
"#;

/// A host signal must interrupt a blocking recv on an instance socket, as
/// on the host (EINTR, then Python runs the handler, which raises).
#[test]
fn host_signal_interrupts_a_blocking_recv() {
    let dir = TempDir::new("alarm");
    let rx = dir.fifo("rx");
    let tx = dir.fifo("tx");
    let mut env = nic(0, &rx, &tx);
    env.push(("IP0", "192.0.2.1/24".into()));
    let script = dir.write("alarm.py", ALARM_PY.as_bytes());
    let mut p = Proc::start(
        "python3 alarm.py",
        preloaded(&dir, &env, &["/usr/bin/python3", &script]),
    );
    p.wait_for(false, "bound", 20);
    let out = p.finish(10);
    out.ok();
    assert!(out.text().contains("INTERRUPTED"), "{}", out.report());
}

/// libc's recv through ctypes (so Python's own EINTR retry stays out of
/// the way), one case per line: how a host signal and SO_RCVTIMEO end a
/// blocking receive, compared with what Linux does.
const RECV_SIGNALS_PY: &str = r#"
import ctypes, errno, signal, socket, struct, threading, time

libc = ctypes.CDLL(None, use_errno=True)
signal.signal(signal.SIGALRM, lambda signum, frame: None)

def timeval(sec):
    return struct.pack("ll", int(sec), int(round((sec % 1) * 1e6)))

def case(name, restart, timeout, alarm, data_after, want):
    # siginterrupt(False) sets SA_RESTART on the handler.
    signal.siginterrupt(signal.SIGALRM, not restart)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("192.0.2.1", 0))
    if timeout:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(timeout))
    port = s.getsockname()[1]
    if data_after is not None:
        def send():
            time.sleep(data_after)
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            out.sendto(b"hello", ("192.0.2.1", port))
        threading.Thread(target=send, daemon=True).start()
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, alarm)
    buf = ctypes.create_string_buffer(100)
    start = time.monotonic()
    n = libc.recv(s.fileno(), buf, 100, 0)
    err = ctypes.get_errno()
    took = time.monotonic() - start
    signal.setitimer(signal.ITIMER_REAL, 0)
    s.close()
    got = "data" if n > 0 else errno.errorcode.get(err, str(err))
    verdict = "ok" if got == want else "WRONG, want " + want
    print("%s: %s after %.2fs: %s" % (name, got, took, verdict), flush=True)

case("SA_RESTART handler, no timeout: restarted", True, None, 0.3, 0.8, "data")
case("plain handler, no timeout: EINTR", False, None, 0.3, None, "EINTR")
case("SA_RESTART handler, SO_RCVTIMEO: EINTR", True, 3.0, 0.3, None, "EINTR")
case("SO_RCVTIMEO, no signal: EAGAIN", True, 0.3, None, None, "EAGAIN")
case("data before the call: no wait", True, None, None, 0.0, "data")
print("DONE", flush=True)
"#;

/// Runs a Python script of cases in one instance (eth0 192.0.2.1/24 on
/// fifos nobody else opens) and checks that it finished with `cases`
/// lines ending in ": ok".
fn python_cases(tag: &str, source: &str, cases: usize) {
    let dir = TempDir::new(tag);
    let rx = dir.fifo("rx");
    let tx = dir.fifo("tx");
    let mut env = nic(0, &rx, &tx);
    env.push(("IP0", "192.0.2.1/24".into()));
    let name = format!("{tag}.py");
    let script = dir.write(&name, source.as_bytes());
    let out = run(
        &format!("python3 {name}"),
        preloaded(&dir, &env, &["/usr/bin/python3", &script]),
        30,
    );
    out.ok();
    let text = out.text();
    assert!(text.contains("DONE"), "{}", out.report());
    assert_eq!(
        text.lines().filter(|l| l.ends_with(": ok")).count(),
        cases,
        "{}",
        out.report()
    );
}

#[test]
fn blocking_recv_treats_signals_and_timeouts_like_linux() {
    python_cases("recv-signals", RECV_SIGNALS_PY, 5);
}

/// libc calls through ctypes, one case per line: a host signal whose
/// handler has no SA_RESTART ends every kind of blocking call on instance
/// sockets with EINTR, as on Linux (the kernel port marks the task
/// signal-pending); with SA_RESTART, accept goes on and completes.
const BLOCKING_SIGNALS_PY: &str = r#"
import ctypes, errno, select, signal, socket, struct, threading, time

libc = ctypes.CDLL(None, use_errno=True)
signal.signal(signal.SIGALRM, lambda signum, frame: None)

def report(name, got, took, want):
    verdict = "ok" if got == want else "WRONG, want " + want
    print("%s: %s after %.2fs: %s" % (name, got, took, verdict), flush=True)

def outcome(n, err):
    return "ok" if n >= 0 else errno.errorcode.get(err, str(err))

def timed(name, restart, alarm, want, call, later=None):
    signal.siginterrupt(signal.SIGALRM, not restart)
    if later:
        delay, fn = later
        def go():
            time.sleep(delay)
            fn()
        threading.Thread(target=go, daemon=True).start()
    signal.setitimer(signal.ITIMER_REAL, alarm)
    start = time.monotonic()
    ctypes.set_errno(0)
    n = call()
    err = ctypes.get_errno()
    took = time.monotonic() - start
    signal.setitimer(signal.ITIMER_REAL, 0)
    report(name, outcome(n, err), took, want)

def listener():
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.bind(("192.0.2.1", 0))
    l.listen(1)
    return l

# accept
l = listener()
timed("accept, plain handler: EINTR", False, 0.3, "EINTR",
      lambda: libc.accept(l.fileno(), None, None))
addr = l.getsockname()
timed("accept, SA_RESTART handler: restarted", True, 0.3, "ok",
      lambda: libc.accept(l.fileno(), None, None),
      (0.8, lambda: socket.create_connection(addr)))
l.close()

# connect to an address nobody answers on the link (ARP never resolves)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# sockaddr_in: family (host order), port (network order), address.
sa = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", 7, socket.inet_aton("192.0.2.77"))
timed("connect, plain handler: EINTR", False, 0.3, "EINTR",
      lambda: libc.connect(c.fileno(), sa, len(sa)))
c.close()

# send on a full socket: a peer that never reads
l = listener()
s = socket.create_connection(l.getsockname())
peer, _ = l.accept()
s.setblocking(False)
try:
    while True:
        s.send(b"x" * 65536)
except BlockingIOError:
    pass
s.setblocking(True)
buf = ctypes.create_string_buffer(1 << 20)
timed("send on a full socket, plain handler: EINTR", False, 0.3, "EINTR",
      lambda: libc.send(s.fileno(), buf, 1 << 20, 0))
s.close(); peer.close(); l.close()

# recvmmsg
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("192.0.2.1", 0))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint),
                ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
rbuf = ctypes.create_string_buffer(100)
iov = iovec(ctypes.cast(rbuf, ctypes.c_void_p), 100)
mm = (mmsghdr * 1)()
mm[0].hdr.iov = ctypes.pointer(iov)
mm[0].hdr.iovlen = 1
timed("recvmmsg, plain handler: EINTR", False, 0.3, "EINTR",
      lambda: libc.recvmmsg(u.fileno(), mm, 1, 0, None))

# poll and epoll over instance fds only
class pollfd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]
pfd = pollfd(u.fileno(), select.POLLIN, 0)
timed("poll on an instance fd, plain handler: EINTR", False, 0.3, "EINTR",
      lambda: libc.poll(ctypes.byref(pfd), 1, 5000))
ep = libc.epoll_create1(0)
ev = struct.pack("=IQ", select.EPOLLIN, 1)
evbuf = ctypes.create_string_buffer(ev, 12)
libc.epoll_ctl(ep, 1, u.fileno(), evbuf)
out = ctypes.create_string_buffer(12 * 4)
timed("epoll_wait on an instance fd, plain handler: EINTR", False, 0.3, "EINTR",
      lambda: libc.epoll_wait(ep, out, 4, 5000))
u.close()
print("DONE", flush=True)
"#;

#[test]
fn host_signals_end_every_blocking_instance_call() {
    python_cases("blocking-signals", BLOCKING_SIGNALS_PY, 7);
}
