// SPDX-License-Identifier: GPL-2.0-only
//! `scripts/bench.sh --quick` must keep working: it runs here, and every
//! stdpkt row must carry a number. (Speed itself is never asserted: these
//! machines are shared and noisy.)

use std::process::Command;
use std::time::Duration;

mod common;

use common::process::Captured;
use common::ROOT;

#[test]
fn bench_script_quick_mode_produces_a_full_table() {
    let mut child = Captured::spawn(
        Command::new("bash")
            .arg("scripts/bench.sh")
            .arg("--quick")
            .current_dir(ROOT),
    );
    let Some(status) = child.wait(Duration::from_secs(600)) else {
        child.kill();
        panic!("bench.sh --quick hung");
    };
    let out = child.output(status);
    let table = &out.stdout;
    assert!(
        out.status.success(),
        "bench.sh failed:\n{table}\n{}",
        out.stderr
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
