// SPDX-License-Identifier: GPL-2.0-only
//! End-to-end tests of `stdpkt dump`: the built binary on raw, ascii and pcap
//! input, the drop report on stderr, one flushed line per frame while the
//! input is still open, and a quiet exit when stdout is closed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const STDPKT: &str = env!("CARGO_BIN_EXE_stdpkt");

const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
// Documentation address ranges (RFC 5737, RFC 3849).
const IP_A: [u8; 4] = [192, 0, 2, 1];
const IP_B: [u8; 4] = [192, 0, 2, 2];
const IP_C: [u8; 4] = [198, 51, 100, 1];
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

fn ether(dst: [u8; 6], src: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend(src);
    f.extend(ether_type.to_be_bytes());
    f.extend(payload);
    f
}

/// IPv4 packet with a valid header checksum.
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0x00];
    ip.extend(total.to_be_bytes());
    ip.extend([0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    ip.extend(src);
    ip.extend(dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend(payload);
    ip
}

/// ARP request: who has 192.0.2.2? tell 192.0.2.1.
fn arp_request() -> Vec<u8> {
    let mut arp = vec![0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01];
    arp.extend(MAC_A);
    arp.extend(IP_A);
    arp.extend([0; 6]);
    arp.extend(IP_B);
    ether([0xff; 6], MAC_A, 0x0806, &arp)
}

/// ICMP echo request 192.0.2.1 -> 198.51.100.1, id 0x1234, valid checksums.
fn icmp_echo(seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend(seq.to_be_bytes());
    icmp.extend(0..32u8);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ether(MAC_B, MAC_A, 0x0800, &ipv4(1, IP_A, IP_C, &icmp))
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
    let mut child = Command::new(STDPKT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run stdpkt");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // From a thread, so a child that writes a lot cannot deadlock us.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("dump output is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

/// Waits for the child to exit, killing it after `limit`.
fn wait_with_limit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("stdpkt dump did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
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
    let mut child = Command::new(STDPKT)
        .args(["dump"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run stdpkt");
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
    let status = wait_with_limit(&mut child, LINE_WAIT);
    assert!(status.success());
    assert!(lines.recv_timeout(LINE_WAIT).is_err(), "no more lines");
}

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = Command::new(STDPKT)
        .args(["dump"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run stdpkt");
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
    let status = wait_with_limit(&mut child, LINE_WAIT);
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
