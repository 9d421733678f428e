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

mod common;

use common::frames::{arp_request, ascii_line, icmp_echo, raw_stream, MAC_A, MAC_B};
use common::process::{run_with_input, spawn_piped, stderr, stdout};
use common::{pktparser, stdpkt, tools};

/// Finds an external tool, or fails the test saying how to get it.
fn tool(name: &str) -> PathBuf {
    tools::require(name)
}

/// Runs `stdpkt convert --from FROM --to TO`, expecting success.
fn convert(from: &str, to: &str, input: &[u8]) -> Output {
    let out = run_with_input(stdpkt(), &["convert", "--from", from, "--to", to], input);
    assert!(
        out.status.success(),
        "convert {from}->{to} failed: {}",
        stderr(&out)
    );
    out
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
    let out = run_with_input(&tcpdump, &["-n", "-v", "-r", "-"], &pcap);
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
        let out = run_with_input(
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
    let dump = run_with_input(pktparser(), &[], &raw);
    assert!(dump.status.success(), "{}", stderr(&dump));
    assert!(stdout(&dump).starts_with("0000  ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01\n"));
    // Same function as convert --to text2pcap.
    assert_eq!(dump.stdout, convert("raw", "text2pcap", &raw).stdout);

    let pcapng = run_with_input(&text2pcap, &["-q", "-", "-"], &dump.stdout);
    assert!(
        pcapng.status.success(),
        "text2pcap failed: {}",
        stderr(&pcapng)
    );
    let out = run_with_input(&tcpdump, &["-n", "-r", "-"], &pcapng.stdout);
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
        let pcap = run_with_input(&text2pcap, &["-q", "-F", format, "-", "-"], &dump.stdout);
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
    let dump = run_with_input(pktparser(), &[], &raw_stream(&frames()[..1])).stdout;
    // Link type 113 is Linux cooked capture (SLL).
    let sll = run_with_input(
        &text2pcap,
        &["-q", "-F", "pcap", "-l", "113", "-", "-"],
        &dump,
    );
    assert!(sll.status.success(), "{}", stderr(&sll));
    let out = run_with_input(stdpkt(), &["convert", "--from", "pcap"], &sll.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "stdpkt convert: pcap link type 113 is not Ethernet (1)\n"
    );

    let out = run_with_input(
        stdpkt(),
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
    let mut child = Command::new(stdpkt())
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
    let mut child = spawn_piped(stdpkt(), &["convert", "--from", "raw", "--to", "ascii"]);
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
    let out = run_with_input(stdpkt(), &["convert", "--help"], b"");
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
    let out = run_with_input(pktparser(), &["--help"], b"");
    assert!(stdout(&out).contains("stdpkt convert --from raw --to text2pcap"));

    let out = run_with_input(stdpkt(), &["convert", "--from", "text2pcap"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: raw, ascii, pcap]"),
        "{}",
        stderr(&out)
    );
}
