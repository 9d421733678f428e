// SPDX-License-Identifier: GPL-2.0-only
//! `stdpkt`: command-line front end.
//!
//! Each subcommand is an enum variant plus a function; the work itself lives
//! in the library so the binary stays thin.

use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use stdpkt::wire::{self, Framing, OutputFormat};

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
    }
}

fn instance(args: InstanceArgs) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("STDPKT_LOG", "warn")).init();
    let inst = match stdpkt::instance::start_from_env() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(e.exit_status() as u8);
        }
    };
    let mut status = ExitCode::SUCCESS;
    for (dst, prefix, gw) in &args.route {
        if let Err(e) = stdpkt::netconf::add_route(*dst, *prefix, Some(*gw), None) {
            eprintln!("stdpkt instance: route {dst}/{prefix} via {gw}: {e}");
            return ExitCode::from(2);
        }
    }
    for dst in args.ping {
        let interval = std::time::Duration::from_millis(args.interval);
        let timeout = std::time::Duration::from_millis(args.timeout);
        match stdpkt::ping::ping(dst, args.count, interval, timeout) {
            Ok(r) => {
                let mut ms: Vec<f64> = r.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
                ms.sort_by(|a, b| a.total_cmp(b));
                let avg = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
                let pick = |q: f64| {
                    ms.get(((ms.len() as f64 * q) as usize).min(ms.len().saturating_sub(1)))
                        .copied()
                        .unwrap_or(0.0)
                };
                eprintln!(
                    "{dst}: {} sent, {} received, {:.0}% loss, avg rtt {avg:.3} ms, rtt min/avg/p99/max = {:.3}/{avg:.3}/{:.3}/{:.3} ms",
                    r.sent,
                    r.received,
                    r.loss_percent(),
                    pick(0.0),
                    pick(0.99),
                    pick(1.0)
                );
                if r.received != r.sent {
                    status = ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("stdpkt instance: ping {dst}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    if args.linger {
        inst.linger();
    }
    for line in inst.drop_report() {
        eprintln!("stdpkt: {line}");
    }
    status
}

fn convert(args: ConvertArgs) -> ExitCode {
    wire::convert_stdio("stdpkt convert", args.from, args.to)
}

fn dump(args: DumpArgs) -> ExitCode {
    stdpkt::dump::dump_stdio("stdpkt dump", args.from)
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
