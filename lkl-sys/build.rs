// SPDX-License-Identifier: GPL-2.0-only
//! Builds Linux 6.12 as one relocatable object from Debian's
//! `linux-source-6.12` tarball (or `LKL_KERNEL_SRC`), with the project's own
//! `arch/lkl` port overlaid, and generates bindings from the kernel's UAPI
//! headers.
//!
//! Layout of the cache (outside `target/`, so clean clones reuse it):
//!   `<cache>/src-<source key>/`   extracted source, port overlaid
//!   `<cache>/build-<source key>/` kbuild output dir (incremental)
//!   `<cache>/out-<full key>/`     liblkl.a, usr/include, bindings.rs
//! The full key hashes the kernel source identity, every port file, the
//! defconfig and this script; when `out-<full key>` exists nothing runs.

use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Only these symbols stay global in the kernel object.
const ENTRY_POINTS: &[&str] = &[
    "lkl_start_kernel",
    "lkl_halt",
    "lkl_syscall",
    "lkl_syscall_remote",
    "lkl_trigger_irq",
    "lkl_get_free_irq",
    "lkl_put_irq",
    "lkl_is_running",
];

const APT_HINT: &str = "install it with `apt-get install linux-source-6.12`, or point \
                        LKL_KERNEL_SRC at a Linux 6.12 source tree or tarball";

fn main() {
    if let Err(e) = run() {
        // One clear message instead of a panic backtrace.
        eprintln!("lkl-sys: {e}");
        println!("cargo:warning=lkl-sys: {e}");
        std::process::exit(1);
    }
}

fn warn(msg: &str) {
    println!("cargo:warning={msg}");
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // Separate fields so ("ab","c") and ("a","bc") differ.
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3) ^ 0xff;
    }
    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let rd = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in rd {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

enum Source {
    Tarball(PathBuf),
    Tree(PathBuf),
}

fn find_source() -> Result<Source, String> {
    println!("cargo:rerun-if-env-changed=LKL_KERNEL_SRC");
    if let Some(p) = env::var_os("LKL_KERNEL_SRC") {
        let p = PathBuf::from(p);
        if p.is_dir() {
            return Ok(Source::Tree(p));
        }
        if p.is_file() {
            return Ok(Source::Tarball(p));
        }
        return Err(format!(
            "LKL_KERNEL_SRC={} is neither a directory nor a file: {APT_HINT}",
            p.display()
        ));
    }
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/src")
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    n.starts_with("linux-source-6.12") && n.ends_with(".tar.xz")
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.pop() {
        Some(p) => Ok(Source::Tarball(p)),
        None => Err(format!(
            "no Linux 6.12 source found in /usr/src: {APT_HINT}"
        )),
    }
}

fn run_cmd(cmd: &mut Command, what: &str, log: Option<&Path>) -> Result<(), String> {
    if let Some(log) = log {
        let f = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let f2 = f.try_clone().map_err(|e| e.to_string())?;
        cmd.stdout(Stdio::from(f)).stderr(Stdio::from(f2));
    }
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        return Ok(());
    }
    let mut msg = format!("{what} failed ({status})");
    if let Some(log) = log {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        msg.push_str(&format!(
            "; last lines of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Err(msg)
}

/// Reads VERSION/PATCHLEVEL/SUBLEVEL from a kernel Makefile.
fn kernel_version(makefile: &str) -> Option<(u32, u32, u32)> {
    let field = |name: &str| -> Option<u32> {
        makefile.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_prefix('=')?
                .trim()
                .parse()
                .ok()
        })
    };
    Some((
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL").unwrap_or(0),
    ))
}

fn check_version(makefile: &Path, origin: &str) -> Result<String, String> {
    let text = fs::read_to_string(makefile)
        .map_err(|e| format!("{origin}: no kernel Makefile ({e}): {APT_HINT}"))?;
    match kernel_version(&text) {
        Some((6, 12, s)) => Ok(format!("6.12.{s}")),
        Some((v, p, s)) => Err(format!(
            "{origin} is Linux {v}.{p}.{s}; Linux 6.12.x is needed: {APT_HINT}"
        )),
        None => Err(format!(
            "{origin}: cannot read the kernel version from its Makefile"
        )),
    }
}

/// Writes `data` to `path` only if it differs, so make sees real changes only.
fn sync_file(path: &Path, data: &[u8]) -> Result<(), String> {
    if fs::read(path).ok().as_deref() == Some(data) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let port = manifest.join("arch/lkl");
    let defconfig = manifest.join("defconfig");
    println!("cargo:rerun-if-changed={}", port.display());
    println!("cargo:rerun-if-changed={}", defconfig.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LKL_CACHE_DIR");

    let source = find_source()?;

    // Source identity: the tarball's name, size and mtime, or the tree path.
    let mut src_key = Fnv::new();
    match &source {
        Source::Tarball(p) => {
            let md = fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
            src_key.update(p.to_string_lossy().as_bytes());
            src_key.update(&md.len().to_le_bytes());
            let mtime = md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            src_key.update(&mtime.to_le_bytes());
        }
        Source::Tree(p) => src_key.update(p.to_string_lossy().as_bytes()),
    }

    let mut port_files = Vec::new();
    files_under(&port, &mut port_files)?;
    port_files.sort();
    let mut full_key = Fnv(src_key.0);
    for f in &port_files {
        full_key.update(f.strip_prefix(&port).unwrap().to_string_lossy().as_bytes());
        full_key.update(&fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    full_key.update(&fs::read(&defconfig).map_err(|e| format!("{}: {e}", defconfig.display()))?);
    full_key.update(include_bytes!("build.rs"));
    full_key.update(ENTRY_POINTS.join(",").as_bytes());

    let cache = match env::var_os("LKL_CACHE_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/tmp".into());
            home.join(".cache/stdpkt-lkl")
        }
    };
    fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let out = cache.join(format!("out-{}", full_key.hex()));

    // Two cargo invocations may build at once: one builds, the other waits.
    let lock = fs::File::create(cache.join("lock")).map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("locking the kernel cache: {e}"))?;

    if !out.join("done").exists() {
        build(
            &source,
            &src_key.hex(),
            &cache,
            &out,
            &port,
            &port_files,
            &defconfig,
        )?;
    }
    drop(lock);

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=lkl");
    println!("cargo:include={}", out.join("usr/include").display());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::copy(out.join("bindings.rs"), out_dir.join("bindings.rs")).map_err(|e| e.to_string())?;
    Ok(())
}

fn build(
    source: &Source,
    src_key: &str,
    cache: &Path,
    out: &Path,
    port: &Path,
    port_files: &[PathBuf],
    defconfig: &Path,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let src = match source {
        Source::Tree(p) => {
            check_version(&p.join("Makefile"), &p.display().to_string())?;
            p.clone()
        }
        Source::Tarball(tar) => {
            let src = cache.join(format!("src-{src_key}"));
            if !src.join(".extracted").exists() {
                warn(&format!(
                    "lkl-sys: extracting {} (once per source; the kernel build takes a few minutes)",
                    tar.display()
                ));
                let _ = fs::remove_dir_all(&src);
                fs::create_dir_all(&src).map_err(|e| e.to_string())?;
                // The documentation is not needed (Documentation/Kconfig is:
                // kconfig sources it; Kconfig also sources other arches').
                run_cmd(
                    Command::new("tar")
                        .arg("-xf")
                        .arg(tar)
                        .arg("-C")
                        .arg(&src)
                        .arg("--strip-components=1")
                        .arg("--wildcards")
                        .arg("--exclude=*/Documentation/*/*")
                        .arg("--exclude=*/tools/testing"),
                    "extracting the kernel source",
                    Some(&cache.join("extract.log")),
                )?;
                fs::write(src.join(".extracted"), b"").map_err(|e| e.to_string())?;
            }
            check_version(&src.join("Makefile"), &tar.display().to_string())?;
            src
        }
    };

    // Overlay the port: changed files only, stale ones removed.
    let dst_arch = src.join("arch/lkl");
    // A developer tree may link the port in place: then nothing to copy.
    if !dst_arch.is_symlink() {
        let mut existing = Vec::new();
        if dst_arch.exists() {
            files_under(&dst_arch, &mut existing)?;
        }
        for f in &existing {
            let rel = f.strip_prefix(&dst_arch).unwrap();
            if !port.join(rel).exists() {
                let _ = fs::remove_file(f);
            }
        }
        for f in port_files {
            let rel = f.strip_prefix(port).unwrap();
            let data = fs::read(f).map_err(|e| e.to_string())?;
            sync_file(&dst_arch.join(rel), &data)?;
        }
    }

    let build = cache.join(format!("build-{src_key}"));
    fs::create_dir_all(&build).map_err(|e| e.to_string())?;
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let make = |args: &[&str], what: &str, log: &str| -> Result<(), String> {
        let mut cmd = Command::new("make");
        cmd.arg("-C")
            .arg(&src)
            .arg(format!("O={}", build.display()))
            .arg("ARCH=lkl")
            .arg(format!("-j{jobs}"))
            .args(args)
            // Cargo's environment must not leak into kbuild.
            .env_remove("TARGET")
            .env_remove("HOST")
            .env_remove("CFLAGS")
            .env_remove("LDFLAGS")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("CARGO_MAKEFLAGS");
        run_cmd(&mut cmd, what, Some(&cache.join(log)))
    };

    let config = fs::read(defconfig).map_err(|e| e.to_string())?;
    let old_config_src = fs::read(build.join(".config.stdpkt")).ok();
    if old_config_src.as_deref() != Some(&config[..]) {
        fs::write(build.join(".config"), &config).map_err(|e| e.to_string())?;
        make(&["olddefconfig"], "configuring the kernel", "config.log")?;
        fs::write(build.join(".config.stdpkt"), &config).map_err(|e| e.to_string())?;
    }

    warn(&format!(
        "lkl-sys: building the kernel with -j{jobs} (log: {})",
        cache.join("build.log").display()
    ));
    make(&["vmlinux"], "building the kernel", "build.log")?;

    let tmp_out = cache.join(format!(
        "{}.tmp{}",
        out.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp_out);
    fs::create_dir_all(&tmp_out).map_err(|e| e.to_string())?;
    make(
        &[
            "headers_install",
            &format!("INSTALL_HDR_PATH={}", tmp_out.join("usr").display()),
        ],
        "installing the kernel UAPI headers",
        "headers.log",
    )?;
    // host_ops.h is the port's own header; ship it with the UAPI ones.
    let host_ops = port.join("include/uapi/asm/host_ops.h");
    fs::copy(&host_ops, tmp_out.join("usr/include/asm/host_ops.h")).map_err(|e| e.to_string())?;

    // One object: every kernel symbol local except the entry points.
    let obj = tmp_out.join("lkl.o");
    let mut objcopy = Command::new("objcopy");
    objcopy
        .arg("-R")
        .arg(".eh_frame")
        .arg("-R")
        .arg(".note.GNU-stack");
    for sym in ENTRY_POINTS {
        objcopy.arg("-G").arg(sym);
    }
    objcopy.arg(build.join("vmlinux")).arg(&obj);
    run_cmd(&mut objcopy, "objcopy of vmlinux", None)?;
    check_symbols(&obj)?;
    run_cmd(
        Command::new("ar")
            .arg("rcs")
            .arg(tmp_out.join("liblkl.a"))
            .arg(&obj),
        "ar",
        None,
    )?;

    generate_bindings(&tmp_out)?;

    fs::write(tmp_out.join("done"), b"").map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(out);
    fs::rename(&tmp_out, out).map_err(|e| e.to_string())?;
    warn(&format!(
        "lkl-sys: kernel ready in {:.0}s: {}",
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    Ok(())
}

/// The object may only need the GOT from the linker, and export only the
/// entry points: a kernel symbol must never clash with libc or Rust.
fn check_symbols(obj: &Path) -> Result<(), String> {
    let output = Command::new("nm")
        .arg("-g")
        .arg(obj)
        .output()
        .map_err(|e| format!("nm: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut bad = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace().rev();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        let ok = match kind {
            "U" => name == "_GLOBAL_OFFSET_TABLE_",
            _ => ENTRY_POINTS.contains(&name),
        };
        if !ok {
            bad.push(format!("{kind} {name}"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unexpected global symbols in the kernel object: {}",
            bad.join(", ")
        ))
    }
}

fn generate_bindings(out: &Path) -> Result<(), String> {
    let inc = out.join("usr/include");
    let header = out.join("lkl-bindings.h");
    let mut h = fs::File::create(&header).map_err(|e| e.to_string())?;
    writeln!(
        h,
        "{}",
        [
            "#include <asm/host_ops.h>",
            "#include <asm/unistd.h>",
            "#include <linux/types.h>",
            "#include <linux/errno.h>",
            "#include <linux/fcntl.h>",
            "#include <linux/socket.h>",
            "#include <linux/in.h>",
            "#include <linux/in6.h>",
            "#include <linux/if.h>",
            "#include <linux/if_ether.h>",
            "#include <linux/if_packet.h>",
            "#include <linux/sockios.h>",
            "#include <linux/netlink.h>",
            "#include <linux/rtnetlink.h>",
            "#include <linux/if_addr.h>",
            "#include <linux/if_link.h>",
            "#include <linux/route.h>",
            "#include <linux/poll.h>",
            "#include <linux/eventpoll.h>",
            "#include <linux/time_types.h>",
            "#include <linux/mount.h>",
            "#include <linux/stat.h>",
            "#include <linux/net.h>",
            "#include <linux/utsname.h>",
            "#include <linux/netfilter_ipv4/ip_tables.h>",
        ]
        .join("\n")
    )
    .map_err(|e| e.to_string())?;
    drop(h);

    let bindings = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_arg(format!("-I{}", inc.display()))
        .use_core()
        .ctypes_prefix("core::ffi")
        .layout_tests(false)
        .derive_default(true)
        .allowlist_file(format!("{}/.*", inc.display()))
        .allowlist_file(format!("{}", header.display()))
        .generate()
        .map_err(|e| format!("bindgen: {e}"))?;
    bindings
        .write_to_file(out.join("bindings.rs"))
        .map_err(|e| format!("writing bindings: {e}"))
}
