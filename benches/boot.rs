// SPDX-License-Identifier: GPL-2.0-only
//! Boot benchmark: time from `boot()` to a usable loopback socket, and
//! resident memory after boot with `mem=32M`. One kernel per process, so
//! each sample is a fresh child process (this binary, re-executed).
//! Targets (goals, not assertions): boot <= 10 ms, RSS <= 24 MiB.

use std::process::Command;
use std::time::Instant;

use lkl_sys as k;
use stdpkt::kernel;

const CHILD_ENV: &str = "STDPKT_BENCH_BOOT_CHILD";

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn child() {
    let cmdline =
        std::env::var("STDPKT_BENCH_CMDLINE").unwrap_or_else(|_| "mem=32M loglevel=4".into());
    if std::env::var_os("STDPKT_BENCH_KLOG").is_some() {
        stdpkt::host::set_kernel_log_to_stderr(true);
    }
    let t0 = Instant::now();
    kernel::boot(&cmdline).expect("boot");
    let t_boot = t0.elapsed();
    kernel::set_link_up("lo").expect("lo");
    if std::env::var_os("STDPKT_BENCH_KLOG").is_some() {
        eprintln!("boot() {:?}, lo up {:?}", t_boot, t0.elapsed());
    }
    let fd = k::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).expect("socket");
    k::close(fd).expect("close");
    let boot = t0.elapsed();
    // Let boot-time deferred work settle before measuring memory.
    k::nanosleep(std::time::Duration::from_millis(100)).unwrap();
    println!("{} {}", boot.as_micros(), rss_kib());
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let runs: usize = std::env::var("STDPKT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let exe = std::env::current_exe().unwrap();
    let (mut boots, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = Command::new(&exe)
            .env(CHILD_ENV, "1")
            .output()
            .expect("child");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace();
        boots.push(it.next().unwrap().parse::<f64>().unwrap() / 1000.0);
        rss.push(it.next().unwrap().parse::<f64>().unwrap() / 1024.0);
    }
    let min = boots.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = boots.iter().cloned().fold(0.0, f64::max);
    println!("| metric | median | min | max | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| boot to usable loopback (ms) | {:.2} | {:.2} | {:.2} | <= 10 |",
        median(&mut boots),
        min,
        max
    );
    println!(
        "| RSS after boot, mem=32M (MiB) | {:.1} | | | <= 24 |",
        median(&mut rss)
    );
}
