// SPDX-License-Identifier: GPL-2.0-only
//! End-to-end tests of the `stdpkt convert` and `pktparser` binaries, checked
//! against the real tcpdump and Wireshark's text2pcap.
//!
//! The tools are required: a missing one fails the test with a message
//! saying what to install, rather than letting the test pass unchecked.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const STDPKT: &str = env!("CARGO_BIN_EXE_stdpkt");
const PKTPARSER: &str = env!("CARGO_BIN_EXE_pktparser");

const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
// Documentation address ranges (RFC 5737).
const IP_A: [u8; 4] = [192, 0, 2, 1];
const IP_B: [u8; 4] = [192, 0, 2, 2];
const IP_C: [u8; 4] = [198, 51, 100, 1];

/// Finds an external tool, or fails the test saying how to get it.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found in PATH: these tests check stdpkt's output with the real \
                 tool; install it (Debian: apt-get install -y tcpdump tshark)"
            )
        })
}

/// Runs a program with `input` on stdin, collecting stdout and stderr.
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str], input: &[u8]) -> Output {
    let program = program.as_ref();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread so a child that writes a lot cannot deadlock us.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Runs `stdpkt convert --from FROM --to TO`, expecting success.
fn convert(from: &str, to: &str, input: &[u8]) -> Output {
    let out = run(STDPKT, &["convert", "--from", from, "--to", to], input);
    assert!(
        out.status.success(),
        "convert {from}->{to} failed: {}",
        stderr(&out)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// ARP request: who has 192.0.2.2? tell 192.0.2.1.
fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend(MAC_A);
    f.extend([0x08, 0x06]);
    f.extend([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend(MAC_A);
    f.extend(IP_A);
    f.extend([0; 6]);
    f.extend(IP_B);
    f
}

/// ICMP echo request 192.0.2.1 -> 198.51.100.1, id 0x1234, with valid
/// IPv4 and ICMP checksums.
fn icmp_echo(seq: u16) -> Vec<u8> {
    let payload: Vec<u8> = (0..32u8).collect();
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend(seq.to_be_bytes());
    icmp.extend(&payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0x00];
    ip.extend(total.to_be_bytes());
    ip.extend([0x12, 0x34, 0x40, 0x00, 64, 1, 0, 0]);
    ip.extend(IP_A);
    ip.extend(IP_C);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let mut f = MAC_B.to_vec();
    f.extend(MAC_A);
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f.extend(icmp);
    f
}

/// A mix of frames: the two real ones and assorted sizes up to the limit.
fn frames() -> Vec<Vec<u8>> {
    let mut v = vec![arp_request(), icmp_echo(1)];
    for (i, len) in [14usize, 15, 60, 1514, 9000, 65535].into_iter().enumerate() {
        let mut f = MAC_B.to_vec();
        f.extend(MAC_A);
        f.extend([0x88, 0xb5]); // local experimental ethertype
        f.extend((14..len).map(|j| (j * 31 + i) as u8));
        v.push(f);
    }
    v
}

fn raw_stream(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend((f.len() as u16).to_be_bytes());
        out.extend(f);
    }
    out
}

fn ascii_line(frame: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut s = format!(
        "{} {} {}",
        hex(&frame[..6]),
        hex(&frame[6..12]),
        hex(&frame[12..14])
    );
    for b in &frame[14..] {
        s.push_str(&format!(" {b:02x}"));
    }
    s.push('\n');
    s
}

#[test]
fn raw_to_ascii_to_raw_is_byte_exact() {
    let raw = raw_stream(&frames());
    let ascii = convert("raw", "ascii", &raw);
    let text = stdout(&ascii);
    let want: String = frames().iter().map(|f| ascii_line(f)).collect();
    assert_eq!(text, want);
    assert!(text.starts_with(
        "ffffffffffff 020000000001 0806 00 01 08 00 06 04 00 01 02 00 00 00 00 01 c0 00 02 01"
    ));
    let back = convert("ascii", "raw", &ascii.stdout);
    assert_eq!(back.stdout, raw);
    assert!(back.stderr.is_empty(), "{}", stderr(&back));
}

#[test]
fn every_framing_pair_round_trips() {
    let raw = raw_stream(&frames());
    for from in ["raw", "ascii", "pcap"] {
        let input = convert("raw", from, &raw).stdout;
        for to in ["raw", "ascii", "pcap"] {
            let middle = convert(from, to, &input).stdout;
            let back = convert(to, "raw", &middle).stdout;
            assert_eq!(back, raw, "{from} -> {to} -> raw");
        }
    }
}

#[test]
fn ascii_garbage_lines_are_dropped_and_counted() {
    let good: Vec<String> = frames().iter().map(|f| ascii_line(f)).collect();
    let input = [
        "# captured by hand\n",
        &good[0],
        "this is not hex\n", // line 3
        "\n",
        &good[1].to_uppercase(),
        "ffffffffffff 020000000001 0806 00 0\n", // odd digit count
        &good[2].replace(' ', "\t"),
        "0011 2233\n", // too short
        &good[3].replace(' ', ""),
    ]
    .concat();
    let out = convert("ascii", "raw", input.as_bytes());
    assert_eq!(out.stdout, raw_stream(&frames()[..4]));
    assert_eq!(
        stderr(&out),
        "stdpkt convert: dropped 3 bad frames \
         (first: ascii line 3: non-hex character 't' at column 1)\n"
    );
}

#[test]
fn truncated_raw_input_is_reported() {
    let mut raw = raw_stream(&frames()[..2]);
    raw.extend([0x00, 0x40, 0xff, 0xff]);
    let out = convert("raw", "ascii", &raw);
    assert_eq!(stdout(&out).lines().count(), 2);
    assert_eq!(
        stderr(&out),
        "stdpkt convert: dropped 1 bad frame \
         (first: raw: input ended inside a frame (4 bytes from byte offset 120))\n"
    );
}

#[test]
fn pcap_output_is_read_by_tcpdump() {
    let tcpdump = tool("tcpdump");
    let pcap = convert("raw", "pcap", &raw_stream(&frames())).stdout;
    let out = run(&tcpdump, &["-n", "-v", "-r", "-"], &pcap);
    let text = stdout(&out);
    assert!(out.status.success(), "tcpdump failed: {}", stderr(&out));
    assert!(
        text.contains(
            "ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 192.0.2.2 tell 192.0.2.1"
        ),
        "{text}"
    );
    assert!(
        text.contains("192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq 1"),
        "{text}"
    );
    // -v makes tcpdump verify both checksums of the hand-built packet.
    assert!(
        !text.contains("bad cksum") && !text.contains("wrong"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("link-type EN10MB"),
        "{}",
        stderr(&out)
    );
    // One line per frame: nothing was lost or misframed.
    // (Continuation and hex lines are indented.)
    let summaries = text.lines().filter(|l| !l.starts_with(char::is_whitespace));
    assert_eq!(summaries.count(), frames().len());
}

#[test]
fn pcap_written_by_tcpdump_is_read_back() {
    let tcpdump = tool("tcpdump");
    let raw = raw_stream(&frames());
    let ours = convert("raw", "pcap", &raw).stdout;
    for precision in ["micro", "nano"] {
        // libpcap rewrites the capture in its own way (nano: the ns magic).
        let out = run(
            &tcpdump,
            &["-r", "-", "-w", "-", "--time-stamp-precision", precision],
            &ours,
        );
        assert!(out.status.success(), "tcpdump -w failed: {}", stderr(&out));
        let back = convert("pcap", "raw", &out.stdout);
        assert_eq!(back.stdout, raw, "{precision}");
    }
}

#[test]
fn pktparser_output_is_read_by_text2pcap() {
    let text2pcap = tool("text2pcap");
    let tcpdump = tool("tcpdump");
    let raw = raw_stream(&frames());
    let dump = run(PKTPARSER, &[], &raw);
    assert!(dump.status.success(), "{}", stderr(&dump));
    assert!(stdout(&dump).starts_with("0000  ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01\n"));
    // Same function as convert --to text2pcap.
    assert_eq!(dump.stdout, convert("raw", "text2pcap", &raw).stdout);

    let pcapng = run(&text2pcap, &["-q", "-", "-"], &dump.stdout);
    assert!(
        pcapng.status.success(),
        "text2pcap failed: {}",
        stderr(&pcapng)
    );
    let out = run(&tcpdump, &["-n", "-r", "-"], &pcapng.stdout);
    let text = stdout(&out);
    assert!(
        text.contains("ARP, Request who-has 192.0.2.2 tell 192.0.2.1, length 28"),
        "{text}"
    );
    assert!(
        text.contains("IP 192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq 1"),
        "{text}"
    );

    // text2pcap's pcap (both precisions) decodes back to the same frames.
    for format in ["pcap", "nsecpcap"] {
        let pcap = run(&text2pcap, &["-q", "-F", format, "-", "-"], &dump.stdout);
        assert!(
            pcap.status.success(),
            "text2pcap -F {format}: {}",
            stderr(&pcap)
        );
        assert_eq!(convert("pcap", "raw", &pcap.stdout).stdout, raw, "{format}");
    }
}

#[test]
fn non_ethernet_pcap_is_a_fatal_error() {
    let text2pcap = tool("text2pcap");
    let dump = run(PKTPARSER, &[], &raw_stream(&frames()[..1])).stdout;
    // Link type 113 is Linux cooked capture (SLL).
    let sll = run(
        &text2pcap,
        &["-q", "-F", "pcap", "-l", "113", "-", "-"],
        &dump,
    );
    assert!(sll.status.success(), "{}", stderr(&sll));
    let out = run(STDPKT, &["convert", "--from", "pcap"], &sll.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "stdpkt convert: pcap link type 113 is not Ethernet (1)\n"
    );

    let out = run(
        STDPKT,
        &["convert", "--from", "pcap"],
        b"GET / HTTP/1.0\r\n\r\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a pcap stream"),
        "{}",
        stderr(&out)
    );
}

/// Spawns `stdpkt convert`, writes `first`, and expects `want` on stdout
/// before stdin is closed: frames must not wait for more input or EOF.
fn assert_streams(from: &str, to: &str, first: &[u8], want: &[u8]) {
    let mut child = Command::new(STDPKT)
        .args(["convert", "--from", from, "--to", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(first).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    let n = want.len();
    thread::spawn(move || {
        let mut buf = vec![0; n];
        let r = stdout.read_exact(&mut buf).map(|_| buf);
        let _ = tx.send(r);
    });
    let got = rx.recv_timeout(Duration::from_secs(20));
    drop(stdin);
    let _ = child.wait();
    let got = got
        .unwrap_or_else(|_| panic!("{from}->{to}: no output while input stayed open"))
        .unwrap();
    assert_eq!(got, want, "{from}->{to}");
}

#[test]
fn frames_are_written_as_they_arrive() {
    let f = arp_request();
    let raw = raw_stream(std::slice::from_ref(&f));
    let line = ascii_line(&f);
    assert_streams("raw", "ascii", &raw, line.as_bytes());
    assert_streams("ascii", "raw", line.as_bytes(), &raw);
    // The pcap header goes out before any frame, so tcpdump can start.
    let header = convert("raw", "pcap", &[]).stdout;
    assert_eq!(header.len(), 24);
    assert_streams("raw", "pcap", &[], &header);
}

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = Command::new(STDPKT)
        .args(["convert", "--from", "raw", "--to", "ascii"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let raw = raw_stream(&[icmp_echo(7)]);
    let feeder = thread::spawn(move || {
        // Until the child is gone and the pipe breaks (bounded anyway).
        for _ in 0..100_000 {
            if stdin.write_all(&raw).is_err() {
                break;
            }
        }
    });
    // Read one line, then hang up like `head -1` does.
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert!(
        first.starts_with("020000000002 020000000001 0800 45"),
        "{first}"
    );
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "status {:?}", out.status);
    assert_eq!(stderr(&out), "");
}

#[test]
fn help_and_bad_arguments() {
    let out = run(STDPKT, &["convert", "--help"], b"");
    let help = stdout(&out);
    for word in [
        "--from",
        "--to",
        "text2pcap",
        "tcpdump -n -r -",
        "Examples:",
    ] {
        assert!(
            help.contains(word),
            "convert --help lacks {word:?}:\n{help}"
        );
    }
    let out = run(PKTPARSER, &["--help"], b"");
    assert!(stdout(&out).contains("stdpkt convert --from raw --to text2pcap"));

    let out = run(STDPKT, &["convert", "--from", "text2pcap"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: raw, ascii, pcap]"),
        "{}",
        stderr(&out)
    );
}
