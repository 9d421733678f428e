// SPDX-License-Identifier: GPL-2.0-only
//! `stdpkt`: command-line front end.
//!
//! Each subcommand is an enum variant plus a function; the work itself lives
//! in the library so the binary stays thin.

use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use stdpkt::wire::{Framing, OutputFormat};
use stdpkt_cli::launch;

const EXAMPLES: &str = "\
Examples:
  # Watch a raw (VDE) frame stream as text, one frame per line
  stdpkt convert --from raw --to ascii < frames.raw

  # Show frames live with tcpdump
  ... | stdpkt convert --from raw --to pcap | tcpdump -n -r -

See 'stdpkt help <command>' for more.";

const CONVERT_ABOUT: &str = "\
Convert a stream of Ethernet frames from one framing to another, stdin to stdout.

Frames are written as soon as they are decoded, so convert can sit in the \
middle of a live pipeline. Malformed input is dropped and counted; if any was, \
one line on stderr says how many and what the first one was. Exit status: 0 at \
end of input or when stdout is closed, 1 when the input cannot be decoded \
(e.g. not a pcap stream, or not Ethernet) or on an I/O error.

Framings:
  raw        2-byte big-endian length, then the frame (VDE stream format,
             as read and written by vde_plug)
  ascii      one frame per line, lowercase hex: DST SRC TYPE b1 b2 ...
             e.g. 'ffffffffffff 001122334455 0806 00 01 08 00 ...'
             On input: any case and spacing; blank and '#' lines are skipped.
  pcap       libpcap capture stream (tcpdump -w - / tcpdump -r -);
             input in either byte order, micro- or nanosecond timestamps
  text2pcap  (output only) the hexdump read by Wireshark's text2pcap";

const CONVERT_EXAMPLES: &str = "\
Examples:
  # Read a raw stream as text
  stdpkt convert --from raw --to ascii < frames.raw

  # Keep only frames from one MAC address, with awk on the text form
  stdpkt convert --to ascii < in.raw | awk '$2 == \"001122334455\"' \\
      | stdpkt convert --from ascii --to raw > out.raw

  # Show frames live with tcpdump
  ... | stdpkt convert --from raw --to pcap | tcpdump -n -r -

  # Replay a capture (tcpdump -w, or a saved .pcap) as a raw stream
  stdpkt convert --from pcap --to raw < capture.pcap

  # Write a pcapng file through Wireshark's text2pcap
  stdpkt convert --to text2pcap < in.raw | text2pcap -q - out.pcapng";

#[derive(Debug, Parser)]
#[command(
    name = "stdpkt",
    version,
    about = "A real Linux network stack inside any program, with NICs on stdin/stdout",
    after_help = EXAMPLES,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert frames between framings (raw, ascii, pcap, text2pcap), stdin to stdout
    #[command(long_about = CONVERT_ABOUT, after_help = CONVERT_EXAMPLES)]
    Convert(ConvertArgs),
    /// Run an instance from the environment (IFn, IPn, GW, ...) with no
    /// program: an end host or router in a pipeline; optionally ping from it
    #[command(after_help = INSTANCE_EXAMPLES)]
    Instance(InstanceArgs),
    /// Print one line per frame, like `tcpdump -e -n`: MACs, ethertype, IP
    /// addresses, protocol, ports, TCP flags, ICMP types, ARP; stdin to stdout
    #[command(long_about = DUMP_ABOUT, after_help = DUMP_EXAMPLES)]
    Dump(DumpArgs),
    /// Run a program on its own instance (LD_PRELOAD=libstdpkt.so),
    /// configured by flags instead of environment variables
    #[command(
        long_about = RUN_ABOUT,
        after_help = RUN_EXAMPLES,
        override_usage = "stdpkt run [OPTIONS] [--] <CMD> [ARGS]..."
    )]
    Run(RunArgs),
    /// List the instances running on this machine that programs can attach to
    #[command(after_help = PS_EXAMPLES)]
    Ps,
    /// Run a program (default: $SHELL) on a running instance, found by its
    /// pid or its name (STDPKT_NAME, --name)
    #[command(
        after_help = ATTACH_EXAMPLES,
        override_usage = "stdpkt attach [OPTIONS] <INSTANCE> [-- <CMD> [ARGS]...]"
    )]
    Attach(AttachArgs),
}

const PS_EXAMPLES: &str = "\
Output: one line per instance, PID NAME COMMAND ('-' for no name).

Examples:
  stdpkt ps
  stdpkt ps | awk '$2 == \"router1\" {print $1}'";

const ATTACH_EXAMPLES: &str = "\
The program is a client of the instance, as a program started by the
instance's own process would be: its sockets, routes, firewall and
/proc/sys/net are the instance's. The instance's process waits, when it
exits, until attached programs have ended.

Examples:
  stdpkt run --name router1 --if '0=a2r|r2a' --linger -- true &
  stdpkt attach router1 -- ip -br addr
  stdpkt attach router1 -- iptables -A FORWARD -p icmp -j DROP
  stdpkt attach 4242            # a shell on the instance of pid 4242";

#[derive(Debug, Args)]
struct AttachArgs {
    /// libstdpkt.so to preload
    #[arg(long, value_name = "PATH")]
    lib: Option<std::path::PathBuf>,
    /// The instance: its pid, or its name
    #[arg(value_name = "INSTANCE")]
    target: String,
    /// The program and its arguments (after --); default $SHELL or /bin/sh
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_parser = clap::value_parser!(std::ffi::OsString)
    )]
    command: Vec<std::ffi::OsString>,
}

const DUMP_ABOUT: &str = "\
Print one human-readable line per Ethernet frame read from stdin, like \
'tcpdump -e -n'.

Each line is printed as soon as its frame is decoded, so dump can watch a live \
pipeline. A line reads

  TIME SRC > DST, [vlan ID, ]ethertype NAME (0xTYPE), length N: DETAILS

TIME is HH:MM:SS.micro in UTC: the record time for pcap input, otherwise the \
time the frame was read. VLAN tags are shown by id, with the ethertype inside \
them. DETAILS: ARP who-has/is-at; for IPv4 and IPv6 the addresses (ADDR.PORT \
for TCP and UDP), the protocol, TCP flags [S.] (as tcpdump: F S R P . U E W; \
'.' is ACK), seq/ack/win, ICMP and ICMPv6 types (echo, unreachable, time \
exceeded, neighbor and router solicitation/advertisement, ...) and a length \
(TCP/UDP payload, whole ICMP message). A frame that cannot be parsed to the \
end keeps what was read and ends in '[malformed: REASON]'.

Input that cannot be decoded as a frame is dropped and counted; if any was, \
one line on stderr says how many and what the first one was. Exit status: 0 \
at end of input or when stdout is closed, 1 when the input cannot be decoded \
(e.g. not a pcap stream) or on an I/O error.";

const DUMP_EXAMPLES: &str = "\
Examples:
  # See what an instance sends when nobody answers (ARP who-has ...)
  IF0='/dev/null|-' IP0=192.0.2.1/24 stdpkt instance --ping 192.0.2.2 | stdpkt dump

  # Look at a capture, keeping its timestamps
  stdpkt dump --from pcap < capture.pcap

  # Only the ARP traffic of an ascii stream
  stdpkt dump --from ascii < frames.txt | grep 'ethertype ARP'

  # Tap a raw pipeline without disturbing it
  ... | tee >(stdpkt dump >&2) | ...";

#[derive(Debug, Args)]
struct DumpArgs {
    /// Framing of the input on stdin
    #[arg(long, value_name = "FRAMING", default_value = "raw", value_parser = framing_parser())]
    from: Framing,
}

const INSTANCE_EXAMPLES: &str = "\
Examples:
  # A router between two pipes, until both inputs end
  IF0='a.in|a.out' IP0=192.0.2.1/24 IF1='b.in|b.out' IP1=198.51.100.1/24 \\
    STDPKT_SYSCTL='net.ipv4.ip_forward=1' stdpkt instance --linger

  # Ping 192.0.2.2 three times over a pair of fifos
  IF0='to_me|from_me' IP0=192.0.2.1/24 stdpkt instance --ping 192.0.2.2";

#[derive(Debug, Args)]
struct InstanceArgs {
    /// Send ICMP echo requests to ADDR (repeatable); exit 0 only if every
    /// one is answered
    #[arg(long, value_name = "ADDR")]
    ping: Vec<std::net::IpAddr>,
    /// Echo requests to send
    #[arg(long, default_value_t = 3, value_name = "N")]
    count: u32,
    /// Milliseconds between echo requests
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    interval: u64,
    /// Milliseconds to wait for replies after the last request
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    timeout: u64,
    /// Keep running until every NIC's input ends, or SIGTERM/SIGINT
    #[arg(long)]
    linger: bool,
    /// Add a route: DST/PREFIX=GATEWAY (repeatable), e.g.
    /// 192.0.2.0/24=198.51.100.1
    #[arg(long, value_name = "DST/PREFIX=GW", value_parser = parse_route)]
    route: Vec<(std::net::IpAddr, u8, std::net::IpAddr)>,
}

fn parse_route(s: &str) -> Result<(std::net::IpAddr, u8, std::net::IpAddr), String> {
    let err = || format!("{s:?}: expected DST/PREFIX=GATEWAY like 192.0.2.0/24=198.51.100.1");
    let (dst, gw) = s.split_once('=').ok_or_else(err)?;
    let (addr, prefix) = dst.split_once('/').ok_or_else(err)?;
    Ok((
        addr.parse().map_err(|_| err())?,
        prefix.parse().map_err(|_| err())?,
        gw.parse().map_err(|_| err())?,
    ))
}

#[derive(Debug, Args)]
struct ConvertArgs {
    /// Framing of the input on stdin
    #[arg(long, value_name = "FRAMING", default_value = "raw", value_parser = framing_parser())]
    from: Framing,

    /// Format of the output on stdout
    #[arg(long, value_name = "FORMAT", default_value = "ascii", value_parser = format_parser())]
    to: OutputFormat,
}

fn describe(name: &'static str) -> PossibleValue {
    let help = match name {
        "raw" => "2-byte big-endian length + frame (VDE)",
        "ascii" => "one frame per line in hex: DST SRC TYPE b1 b2 ...",
        "pcap" => "libpcap capture stream",
        _ => "hexdump for Wireshark's text2pcap (output only)",
    };
    PossibleValue::new(name).help(help)
}

fn framing_parser() -> impl TypedValueParser<Value = Framing> {
    PossibleValuesParser::new(Framing::ALL.map(|f| describe(f.name()))).try_map(|s| s.parse())
}

fn format_parser() -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(OutputFormat::ALL.map(|f| describe(f.name()))).try_map(|s| s.parse())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Convert(args) => convert(args),
        Command::Instance(args) => instance(args),
        Command::Dump(args) => dump(args),
        Command::Run(args) => run(args),
        Command::Ps => ps(),
        Command::Attach(args) => attach(args),
    }
}

fn ps() -> ExitCode {
    match stdpkt::remote::list() {
        Ok(list) => {
            for l in list {
                let cmd = std::fs::read(format!("/proc/{}/cmdline", l.pid))
                    .map(|c| {
                        let words: Vec<String> = c
                            .split(|&b| b == 0)
                            .filter(|w| !w.is_empty())
                            .map(|w| String::from_utf8_lossy(w).into_owned())
                            .collect();
                        words.join(" ")
                    })
                    .unwrap_or_default();
                let name = l.name.as_deref().unwrap_or("-");
                println!("{} {name} {cmd}", l.pid);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            stdpkt_cli::sayln!("stdpkt ps: /proc/net/unix: {e}");
            ExitCode::FAILURE
        }
    }
}

fn attach(args: AttachArgs) -> ExitCode {
    let list = match stdpkt::remote::list() {
        Ok(l) => l,
        Err(e) => {
            stdpkt_cli::sayln!("stdpkt attach: /proc/net/unix: {e}");
            return ExitCode::from(2);
        }
    };
    let found: Vec<_> = list
        .iter()
        .filter(|l| {
            l.name.as_deref() == Some(args.target.as_str())
                || args.target.parse::<u32>() == Ok(l.pid)
        })
        .collect();
    let target = match found.as_slice() {
        [one] => *one,
        [] => {
            stdpkt_cli::sayln!(
                "stdpkt attach: no instance {:?} (stdpkt ps lists them)",
                args.target
            );
            return ExitCode::from(2);
        }
        _ => {
            let pids: Vec<String> = found.iter().map(|l| l.pid.to_string()).collect();
            stdpkt_cli::sayln!(
                "stdpkt attach: {:?} names {} instances (pids {}): give a pid",
                args.target,
                found.len(),
                pids.join(", ")
            );
            return ExitCode::from(2);
        }
    };
    let command = if args.command.is_empty() {
        vec![std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into())]
    } else {
        args.command
    };
    let env = vec![(stdpkt::remote::ENV.to_owned(), target.address.clone())];
    let (status, msg) = launch::exec(args.lib.as_deref(), &command, &env);
    stdpkt_cli::sayln!("stdpkt attach: {msg}");
    ExitCode::from(status)
}

fn instance(args: InstanceArgs) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("STDPKT_LOG", "warn")).init();
    let inst = match stdpkt::instance::start_from_env() {
        Ok(i) => i,
        Err(e) => {
            stdpkt_cli::sayln!("{e}");
            return ExitCode::from(e.exit_status() as u8);
        }
    };
    // So that stdpkt attach can run programs on it.
    if let Err(e) = stdpkt::remote::serve(inst.config().name.as_deref()) {
        log::warn!("cannot serve attached programs: {e}");
    }
    let mut status = ExitCode::SUCCESS;
    for (dst, prefix, gw) in &args.route {
        if let Err(e) = stdpkt::netconf::add_route(*dst, *prefix, Some(*gw), None) {
            stdpkt_cli::sayln!("stdpkt instance: route {dst}/{prefix} via {gw}: {e}");
            return ExitCode::from(2);
        }
    }
    for dst in args.ping {
        let interval = std::time::Duration::from_millis(args.interval);
        let timeout = std::time::Duration::from_millis(args.timeout);
        match stdpkt_cli::ping::ping(dst, args.count, interval, timeout) {
            Ok(r) => {
                let mut ms: Vec<f64> = r.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
                ms.sort_by(|a, b| a.total_cmp(b));
                // No replies: 0, not the -0.0 an empty float sum gives.
                let avg = if ms.is_empty() {
                    0.0
                } else {
                    ms.iter().sum::<f64>() / ms.len() as f64
                };
                let pick = |q: f64| {
                    ms.get(((ms.len() as f64 * q) as usize).min(ms.len().saturating_sub(1)))
                        .copied()
                        .unwrap_or(0.0)
                };
                stdpkt_cli::sayln!(
                    "{dst}: {} sent, {} received, {}% loss, avg rtt {avg:.3} ms, rtt min/avg/p99/max = {:.3}/{avg:.3}/{:.3}/{:.3} ms",
                    r.sent,
                    r.received,
                    r.loss_text(),
                    pick(0.0),
                    pick(0.99),
                    pick(1.0)
                );
                if r.received != r.sent {
                    status = ExitCode::FAILURE;
                }
            }
            Err(e) => {
                stdpkt_cli::sayln!("stdpkt instance: ping {dst}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    if args.linger {
        inst.linger();
    }
    // Attached programs (stdpkt attach) still use the instance.
    inst.wait_for_clients();
    for line in inst.drop_report() {
        stdpkt_cli::sayln!("stdpkt: {line}");
    }
    status
}

fn convert(args: ConvertArgs) -> ExitCode {
    stdpkt_cli::stdio::convert_stdio("stdpkt convert", args.from, args.to)
}

fn dump(args: DumpArgs) -> ExitCode {
    stdpkt_cli::dump::dump_stdio("stdpkt dump", args.from)
}

const RUN_ABOUT: &str = "\
Run CMD with libstdpkt.so preloaded: CMD boots a Linux network stack of its \
own and sees only the interfaces given here. This is scripts/lkl-hijack.sh \
with flags in place of environment variables: each flag sets the variable \
named in its help for CMD (see README.md, 'Environment'). stdpkt variables \
already in the environment are passed on unless a flag sets the same one; \
STDPKT_LIB is not passed on.

The whole configuration, flags and environment together, is checked before \
CMD starts: a bad value is one line on stderr and exit status 2. Then stdpkt \
execs CMD: same process id, same file descriptors, CMD's exit status. A CMD \
that is not found exits 127, one that cannot be executed 126.

libstdpkt.so is looked up as --lib, then $STDPKT_LIB, then next to this \
binary, then in the other profile's directory when this binary is a build's \
(target/release <-> target/debug), or in ../lib when it is in a bin \
directory, then in /usr/local/lib.

The dynamic loader ignores LD_PRELOAD for programs with the setuid or setgid \
bit or file capabilities, such as ping. For those, stdpkt executes an \
unprivileged copy instead: an anonymous in-memory file (memfd), or if that \
cannot be executed a file in $TMPDIR that is deleted before the copy starts. \
The copy runs with the caller's own privileges and nothing is left behind; \
its arguments are CMD's, but its process name (ps -o comm, pgrep without -f) \
is the number of the descriptor it was executed from. A statically linked \
CMD cannot be preloaded: it runs with a warning, on the host's network.

Every process boots its own instance, so run each program on its own: a \
shell run this way gives each command it starts an instance of its own.";

const RUN_EXAMPLES: &str = "\
Examples:
  # Two instances joined by two fifos; the real ping in the second
  mkfifo a2b b2a
  stdpkt run --if '0=a2b|b2a' --ip 0=192.0.2.2/24 --linger -- true &
  stdpkt run --if '0=b2a|a2b' --ip 0=192.0.2.1/24 -- ping -c 3 192.0.2.2

  # A router between two pairs of fifos, until both its inputs end
  stdpkt run --if '0=r0.in|r0.out' --ip 0=192.0.2.254/24 \\
      --if '1=r1.in|r1.out' --ip 1=198.51.100.1/24 --gw 198.51.100.2 \\
      --sysctl net.ipv4.ip_forward=1 --linger -- true

  # NAT by the real iptables; the outside NIC writes pcap on stdout
  stdpkt run --if '0=in.rx|in.tx' --ip 0=192.0.2.254/24 \\
      --if '1=out.rx|-' --type 1=pcap --ip 1=198.51.100.2/24 \\
      --sysctl net.ipv4.ip_forward=1 --linger \\
      -- iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE \\
      | tee >(tcpdump -n -r -) > out.tx

  # The same as IF0=... IP0=... MTU0=1400 scripts/lkl-hijack.sh ip addr
  stdpkt run --if '0=/dev/null|/dev/null' --ip 0=192.0.2.1/24,2001:db8::1/64 \\
      --mtu 0=1400 --boot mem=64M -- ip addr

See examples/ for whole pipelines.";

#[derive(Debug, Args)]
struct RunArgs {
    /// Interface N (ethN) reads frames from RX and writes them to TX, each a
    /// file, fifo, /dev/stdin, /dev/stdout or - [IFn]
    #[arg(long = "if", value_name = "N=RX|TX", value_parser = parse_if_value)]
    ifs: Vec<(u8, String)>,
    /// Framing of interface N [IFTYPEn]
    #[arg(long = "type", value_name = "N=raw|ascii|pcap", value_parser = parse_if_type)]
    types: Vec<(u8, String)>,
    /// Addresses of interface N, IPv4 and/or IPv6; repeatable [IPn]
    #[arg(long, value_name = "N=ADDR/PFX[,ADDR/PFX]", value_parser = parse_if_value)]
    ip: Vec<(u8, String)>,
    /// MAC address of interface N [MACn]
    #[arg(long, value_name = "N=MAC", value_parser = parse_if_value)]
    mac: Vec<(u8, String)>,
    /// MTU of interface N [MTUn]
    #[arg(long, value_name = "N=MTU", value_parser = parse_if_mtu)]
    mtu: Vec<(u8, String)>,
    /// Default gateway, at most one per address family; repeatable [GW]
    #[arg(long, value_name = "ADDR", value_parser = parse_gw)]
    gw: Vec<String>,
    /// A sysctl set at boot, e.g. net.ipv4.ip_forward=1; repeatable, applied
    /// in order [STDPKT_SYSCTL]
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_sysctl_flag)]
    sysctl: Vec<String>,
    /// Extra kernel command line, e.g. mem=64M; repeatable [STDPKT_BOOT]
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    boot: Vec<String>,
    /// Keep the instance forwarding after CMD's main returns, until every
    /// NIC's input ends or SIGTERM/SIGINT [STDPKT_LINGER=1]
    #[arg(long)]
    linger: bool,
    /// A name for the instance, for stdpkt ps and stdpkt attach [STDPKT_NAME]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// libstdpkt.so to preload
    #[arg(long, value_name = "PATH")]
    lib: Option<std::path::PathBuf>,
    /// The program and its arguments (after --)
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_parser = clap::value_parser!(std::ffi::OsString)
    )]
    command: Vec<std::ffi::OsString>,
}

/// `N=VALUE`: an interface number from 0 to 7 and a value that is not empty.
fn parse_if_value(s: &str) -> Result<(u8, String), String> {
    let (n, value) = s
        .split_once('=')
        .ok_or_else(|| "expected N=VALUE, N an interface number from 0 to 7".to_owned())?;
    let n = n
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|n| *n < stdpkt::config::MAX_INTERFACES)
        .ok_or_else(|| "interfaces are numbered 0 to 7".to_owned())?;
    if value.trim().is_empty() {
        return Err(format!("empty value after {n}="));
    }
    Ok((n, value.to_owned()))
}

fn parse_if_type(s: &str) -> Result<(u8, String), String> {
    let (n, value) = parse_if_value(s)?;
    let value = value.trim().to_ascii_lowercase();
    match value.as_str() {
        "raw" | "ascii" | "pcap" => Ok((n, value)),
        _ => Err("the framing is raw, ascii or pcap".to_owned()),
    }
}

fn parse_if_mtu(s: &str) -> Result<(u8, String), String> {
    let (n, value) = parse_if_value(s)?;
    match value.trim().parse::<u32>() {
        Ok(mtu) => Ok((n, mtu.to_string())),
        Err(_) => Err(format!("the MTU is a number, e.g. {n}=1500")),
    }
}

/// One gateway, or several comma-separated.
fn parse_gw(s: &str) -> Result<String, String> {
    for item in s.split(',') {
        if item.trim().parse::<std::net::IpAddr>().is_err() {
            return Err("expected an IP address like 192.0.2.254 or 2001:db8::fe".to_owned());
        }
    }
    Ok(s.trim().to_owned())
}

fn parse_sysctl_flag(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => {
            if s.contains(';') {
                Err("one KEY=VALUE per --sysctl (no ';')".to_owned())
            } else {
                Ok(s.trim().to_owned())
            }
        }
        _ => Err("expected KEY=VALUE like net.ipv4.ip_forward=1".to_owned()),
    }
}

/// One environment variable set by flags, and the flags, for messages.
struct RunVar {
    name: String,
    value: String,
    flags: String,
}

/// The variables the flags set, in a fixed order; an interface setting that
/// cannot be combined (all but --ip) may be given once per interface.
fn run_vars(args: &RunArgs) -> Result<Vec<RunVar>, String> {
    let mut vars: Vec<RunVar> = Vec::new();
    let per_if = [
        ("--if", "IF", &args.ifs, None),
        ("--type", "IFTYPE", &args.types, None),
        ("--ip", "IP", &args.ip, Some(",")),
        ("--mac", "MAC", &args.mac, None),
        ("--mtu", "MTU", &args.mtu, None),
    ];
    for (flag, prefix, given, joiner) in per_if {
        for (n, value) in given {
            let name = format!("{prefix}{n}");
            let shown = format!("{flag} {n}={}", value.escape_debug());
            match (vars.iter_mut().find(|v| v.name == name), joiner) {
                (None, _) => vars.push(RunVar {
                    name,
                    value: value.trim().to_owned(),
                    flags: shown,
                }),
                (Some(v), Some(joiner)) => {
                    v.value = format!("{}{joiner}{}", v.value, value.trim());
                    v.flags = format!("{} {shown}", v.flags);
                }
                (Some(v), None) => {
                    return Err(format!(
                        "{flag} {n} is given twice ({} and {shown})",
                        v.flags
                    ))
                }
            }
        }
    }
    let globals = [
        ("--gw", "GW", &args.gw, ","),
        ("--sysctl", "STDPKT_SYSCTL", &args.sysctl, ";"),
        ("--boot", "STDPKT_BOOT", &args.boot, " "),
    ];
    for (flag, name, given, joiner) in globals {
        if !given.is_empty() {
            vars.push(RunVar {
                name: name.to_owned(),
                value: given.join(joiner),
                flags: given
                    .iter()
                    .map(|v| format!("{flag} {}", v.escape_debug()))
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
    }
    if args.linger {
        vars.push(RunVar {
            name: "STDPKT_LINGER".to_owned(),
            value: "1".to_owned(),
            flags: "--linger".to_owned(),
        });
    }
    if let Some(n) = &args.name {
        vars.push(RunVar {
            name: "STDPKT_NAME".to_owned(),
            value: n.clone(),
            flags: format!("--name {}", n.escape_debug()),
        });
    }
    Ok(vars)
}

fn run(args: RunArgs) -> ExitCode {
    let vars = match run_vars(&args) {
        Ok(v) => v,
        Err(m) => return fail(2, &m),
    };
    // Check the configuration CMD will see: the flags first (getenv's first
    // occurrence wins), then the rest of the environment.
    let seen = vars
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .chain(
            std::env::vars_os()
                .filter(|(k, _)| k != "STDPKT_LIB")
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                }),
        );
    if let Err(e) = stdpkt::config::from_vars(seen, 0) {
        return match vars.iter().find(|v| v.name == e.var) {
            Some(v) => fail(2, &format!("{}: {}", v.flags, e.message)),
            None => fail(
                2,
                &format!("{}={:?} in the environment: {}", e.var, e.value, e.message),
            ),
        };
    }
    let env: Vec<(String, String)> = vars.into_iter().map(|v| (v.name, v.value)).collect();
    let (status, msg) = launch::exec(args.lib.as_deref(), &args.command, &env);
    fail(status, &msg)
}

fn fail(status: u8, msg: &str) -> ExitCode {
    stdpkt_cli::sayln!("stdpkt run: {msg}");
    ExitCode::from(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn convert_defaults_and_choices() {
        let cli = Cli::try_parse_from(["stdpkt", "convert"]).unwrap();
        let Command::Convert(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        assert_eq!((args.from, args.to), (Framing::Raw, OutputFormat::Ascii));
        let cli = Cli::try_parse_from(["stdpkt", "convert", "--from", "pcap", "--to", "text2pcap"])
            .unwrap();
        let Command::Convert(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        assert_eq!(
            (args.from, args.to),
            (Framing::Pcap, OutputFormat::Text2pcap)
        );
        assert!(Cli::try_parse_from(["stdpkt", "convert", "--from", "text2pcap"]).is_err());
    }
}
