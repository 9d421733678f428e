// SPDX-License-Identifier: GPL-2.0-only
//! `scripts/bench.sh --quick` must keep working: it runs here, and every
//! stdpkt row must carry a number. (Speed itself is never asserted: these
//! machines are shared and noisy.)

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn bench_script_quick_mode_produces_a_full_table() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new("bash")
        .arg("scripts/bench.sh")
        .arg("--quick")
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            panic!("bench.sh --quick hung");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench.sh failed:\n{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for metric in [
        "ping RTT avg",
        "start-up",
        "resident memory",
        "boot to usable loopback",
        "ping RTT through 2 forwarding",
        "netperf TCP_STREAM",
        "netperf TCP_RR",
        "netperf UDP_STREAM",
        "ASCII path",
    ] {
        let line = table
            .lines()
            .find(|l| l.contains(metric))
            .unwrap_or_else(|| panic!("no {metric:?} row in:\n{table}"));
        let stdpkt = line.split('|').nth(2).unwrap_or("").trim();
        let value: f64 = stdpkt
            .parse()
            .unwrap_or_else(|_| panic!("{metric:?}: not a number ({stdpkt:?}) in:\n{table}"));
        assert!(value > 0.0, "{metric:?}: {value} in:\n{table}");
    }
}
