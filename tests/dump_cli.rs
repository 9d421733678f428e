// SPDX-License-Identifier: GPL-2.0-only
//! End-to-end tests of `stdpkt dump`: the built binary on raw, ascii and pcap
//! input, the drop report on stderr, one flushed line per frame while the
//! input is still open, and a quiet exit when stdout is closed.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdout, Output};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

mod common;

use common::frames::{
    arp_request, ascii_line, ether, icmp_echo, ipv4, raw_stream, IP_C, MAC_A, MAC_B,
};
use common::process::{run_with_input, spawn_piped, stderr, wait_or_kill};
use common::stdpkt;

// A documentation address (RFC 5737).
const IP_D: [u8; 4] = [203, 0, 113, 9];

const ARP_LINE: &str = "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), \
                        length 42: Request who-has 192.0.2.2 tell 192.0.2.1";

/// What `describe` says about `icmp_echo(seq)`.
fn echo_line(seq: u16) -> String {
    format!(
        "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74: \
         192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq {seq}, length 40"
    )
}

/// UDP 198.51.100.1:5353 -> 203.0.113.9:53 with 3 bytes of payload.
fn udp() -> Vec<u8> {
    let mut u = 5353u16.to_be_bytes().to_vec();
    u.extend(53u16.to_be_bytes());
    u.extend(11u16.to_be_bytes());
    u.extend([0, 0, b'a', b'b', b'c']);
    ether(MAC_A, MAC_B, 0x0800, &ipv4(17, IP_C, IP_D, &u))
}

const UDP_LINE: &str = "02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), \
                        length 45: 198.51.100.1.5353 > 203.0.113.9.53: UDP, length 3";

/// One pcap record: seconds, fraction (micro- or nanoseconds), captured
/// bytes and original length.
struct Record<'a> {
    secs: u32,
    frac: u32,
    data: &'a [u8],
    orig_len: usize,
}

/// A pcap stream in either byte order, with micro- or nanosecond times.
fn pcap_stream(big_endian: bool, nanos: bool, records: &[Record<'_>]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend(u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend(u16b(2));
    out.extend(u16b(4));
    out.extend(u32b(0)); // thiszone
    out.extend(u32b(0)); // sigfigs
    out.extend(u32b(65535)); // snaplen
    out.extend(u32b(1)); // Ethernet
    for r in records {
        out.extend(u32b(r.secs));
        out.extend(u32b(r.frac));
        out.extend(u32b(r.data.len() as u32));
        out.extend(u32b(r.orig_len as u32));
        out.extend(r.data);
    }
    out
}

/// Runs `stdpkt ARGS` with `input` on stdin, collecting stdout and stderr.
fn run(args: &[&str], input: &[u8]) -> Output {
    run_with_input(stdpkt(), args, input)
}

/// stdout, which must be UTF-8.
fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("dump output is UTF-8")
}

/// Splits a dump line into its `HH:MM:SS.micro` time and the rest, checking
/// the time's shape.
fn split_time(line: &str) -> (&str, &str) {
    let (time, rest) = line
        .split_once(' ')
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    let shape_ok = time.len() == 15
        && time.char_indices().all(|(i, c)| match i {
            2 | 5 => c == ':',
            8 => c == '.',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "time {time:?} is not HH:MM:SS.micro in {line:?}");
    (time, rest)
}

/// Descriptions of all lines, times checked and dropped.
fn descriptions(text: &str) -> Vec<&str> {
    text.lines().map(|l| split_time(l).1).collect()
}

/// Reads lines from the child's stdout in a thread (at most `max`, then the
/// pipe is closed), so a test can wait for one with a timeout.
fn line_reader(out: ChildStdout, max: usize) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(out);
        for _ in 0..max {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

const LINE_WAIT: Duration = Duration::from_secs(20);

#[test]
fn raw_input_is_the_default() {
    let unknown = ether(MAC_B, MAC_A, 0x88b5, &[]);
    let frames = vec![arp_request(), icmp_echo(1), udp(), unknown];
    let out = run(&["dump"], &raw_stream(&frames));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    assert_eq!(
        descriptions(&text),
        [
            ARP_LINE,
            &echo_line(1),
            UDP_LINE,
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 0x88b5, length 14",
        ]
    );
    // Same output with the framing spelled out.
    let again = run(&["dump", "--from", "raw"], &raw_stream(&frames));
    assert_eq!(descriptions(&stdout(&again)), descriptions(&text));
}

#[test]
fn malformed_frames_still_get_a_line() {
    let echo = icmp_echo(1);
    let frames = vec![echo[..24].to_vec(), echo[..50].to_vec()];
    let out = run(&["dump"], &raw_stream(&frames));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        descriptions(&stdout(&out)),
        [
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 24: \
             [malformed: IPv4 header truncated, 10 of 20 bytes]",
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 50: \
             192.0.2.1 > 198.51.100.1: ICMP echo request, id 4660, seq 1, length 16 \
             [malformed: IPv4 packet truncated, 36 of 60 bytes]",
        ]
    );
}

#[test]
fn raw_bad_frames_are_dropped_and_reported() {
    let mut input = raw_stream(&[icmp_echo(1)]);
    input.extend([0x00, 0x03, 1, 2, 3]); // a 3-byte "frame"
    input.extend(raw_stream(&[icmp_echo(2)]));
    input.extend([0x00, 0x40, 1, 2]); // ends inside a frame
    let out = run(&["dump"], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(descriptions(&stdout(&out)), [echo_line(1), echo_line(2)]);
    assert_eq!(
        stderr(&out),
        "stdpkt dump: dropped 2 bad frames (first: raw: frame length 3 < 14 at byte \
         offset 76)\n"
    );
}

#[test]
fn ascii_input_with_garbage_lines() {
    let input = [
        "# captured by hand\n".to_owned(),
        ascii_line(&arp_request()),
        "zz\n".to_owned(),
        ascii_line(&icmp_echo(7)),
        "0011 22\n".to_owned(),
        ascii_line(&udp()).to_uppercase(),
    ]
    .concat();
    let out = run(&["dump", "--from", "ascii"], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        descriptions(&stdout(&out)),
        [ARP_LINE, &echo_line(7), UDP_LINE]
    );
    assert_eq!(
        stderr(&out),
        "stdpkt dump: dropped 2 bad frames (first: ascii line 3: non-hex character 'z' \
         at column 1)\n"
    );
}

#[test]
fn pcap_input_keeps_record_times() {
    let arp = arp_request();
    let echo = icmp_echo(3);
    // 1_700_000_000 s after the epoch is 22:13:20 UTC.
    for (big_endian, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
        let scale = if nanos { 1000 } else { 1 };
        let records = [
            Record {
                secs: 1_700_000_000,
                frac: 123_456 * scale,
                data: &arp,
                orig_len: arp.len(),
            },
            Record {
                secs: 1_700_000_001,
                frac: scale, // 1 µs
                data: &echo,
                orig_len: echo.len(),
            },
            Record {
                secs: 1_700_086_399,
                frac: 999_999 * scale,
                data: &echo,
                orig_len: echo.len(),
            },
        ];
        let input = pcap_stream(big_endian, nanos, &records);
        let out = run(&["dump", "--from", "pcap"], &input);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stderr(&out), "");
        let text = stdout(&out);
        let want = format!(
            "22:13:20.123456 {ARP_LINE}\n22:13:21.000001 {}\n22:13:19.999999 {}\n",
            echo_line(3),
            echo_line(3)
        );
        assert_eq!(text, want, "big endian {big_endian}, nanoseconds {nanos}");
    }
}

#[test]
fn pcap_truncated_capture_is_dropped_and_reported() {
    let echo = icmp_echo(4);
    let records = [
        Record {
            secs: 0,
            frac: 5,
            data: &echo[..40],
            orig_len: echo.len(),
        },
        Record {
            secs: 60,
            frac: 0,
            data: &echo,
            orig_len: echo.len(),
        },
    ];
    let out = run(
        &["dump", "--from", "pcap"],
        &pcap_stream(false, false, &records),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("00:01:00.000000 {}\n", echo_line(4)));
    assert_eq!(
        stderr(&out),
        "stdpkt dump: dropped 1 bad frame (first: pcap record 1 at byte offset 24: \
         truncated capture (incl_len 40 < orig_len 74))\n"
    );
}

#[test]
fn input_that_is_not_pcap_fails() {
    let out = run(&["dump", "--from", "pcap"], b"not a capture at all");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.starts_with("stdpkt dump: pcap: bad magic 0x") && err.ends_with("not a pcap stream\n"),
        "{err}"
    );
}

#[test]
fn each_line_is_flushed_while_input_stays_open() {
    let mut child = spawn_piped(stdpkt(), &["dump"]);
    let mut stdin = child.stdin.take().unwrap();
    let lines = line_reader(child.stdout.take().unwrap(), usize::MAX);
    for seq in 1..=3 {
        stdin.write_all(&raw_stream(&[icmp_echo(seq)])).unwrap();
        stdin.flush().unwrap();
        let line = lines.recv_timeout(LINE_WAIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no line for frame {seq} while stdin is open: output is not flushed per frame")
        });
        assert_eq!(split_time(line.trim_end()).1, echo_line(seq));
    }
    drop(stdin);
    let status = wait_or_kill(&mut child, LINE_WAIT, "stdpkt dump");
    assert!(status.success());
    assert!(lines.recv_timeout(LINE_WAIT).is_err(), "no more lines");
}

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = spawn_piped(stdpkt(), &["dump"]);
    let mut stdin = child.stdin.take().unwrap();
    // Far more output than a pipe buffer holds.
    let input = raw_stream(&vec![icmp_echo(1); 5000]);
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    // Read one line, then close our end of the child's stdout.
    let lines = line_reader(child.stdout.take().unwrap(), 1);
    let first = lines.recv_timeout(LINE_WAIT).expect("a first line");
    assert_eq!(split_time(first.trim_end()).1, echo_line(1));
    let status = wait_or_kill(&mut child, LINE_WAIT, "stdpkt dump");
    writer.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    assert_eq!(err, "");
}

#[test]
fn help_documents_dump() {
    let out = run(&["dump", "--help"], b"");
    assert!(out.status.success());
    let help = stdout(&out);
    for needle in ["tcpdump -e -n", "UTC", "--from <FRAMING>", "[default: raw]"] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
    let out = run(&["--help"], b"");
    assert!(stdout(&out).contains("dump"));
}
