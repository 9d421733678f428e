#!/usr/bin/env bash
# Checks that a fresh Debian 12 machine runs the README's commands with no
# package installed by hand: makes a Debian 12 chroot with debootstrap
# (minbase, from the mirror this machine's apt uses), and runs in it, as
# root, scripts/setup.sh, scripts/demo.sh and scripts/test.sh of this
# repository's committed tree (a git clone: uncommitted files do not count).
#
#   scripts/fresh-check.sh [DIR]
#
# DIR (default: a new directory under $TMPDIR or /var/tmp) must be new or
# empty; the chroot is DIR/root, the logs DIR/logs/{debootstrap,setup,demo,
# test}.log, the summary DIR/logs/summary. The chroot has only what
# debootstrap gives, this machine's apt sources written as Debian's
# installer writes them (one-line, "main non-free-firmware", so that
# setup.sh must enable non-free itself), its TLS certificates, and
# this machine's Rust toolchain: the rustup and cargo homes of root, bind-mounted (rustup's
# read-only). Its kernel build cache is its own. /proc, /sys, /dev,
# /dev/pts, /dev/shm and /run are mounted for the tests, and unmounted on
# exit, even on failure; DIR is kept (remove it with rm -r once nothing is
# mounted under it). Runs as root; installs debootstrap if it is missing.
# Takes about 7 minutes on 2 cores. Prints each step's status and
# duration; exits non-zero if any step failed.
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$0: unknown option $1 (--help)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "$0: at most one argument, DIR (--help)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: needs root (chroot, mount)" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# = 1 ]; then
    dir=$1
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || { echo "$0: $dir is not empty" >&2; exit 2; }
else
    dir=$(mktemp -d "${TMPDIR:-/var/tmp}/stdpkt-fresh.XXXXXX")
fi
dir=$(cd "$dir" && pwd -P)
root=$dir/root
logs=$dir/logs
mkdir -p "$root" "$logs"

say() { echo "fresh-check: $*" | tee -a "$logs/summary" >&2; }

# The mirror this machine's apt uses: the first URIs: of the deb822
# sources, else the first deb line of sources.list.
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources")
else
    sources=/etc/apt/sources.list
    mirror=$(sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$sources" | head -n 1)
fi
[ -n "$mirror" ] || { echo "$0: no Debian mirror found in $sources" >&2; exit 1; }

if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on this machine"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
fi

# Everything mounted under the chroot, in order; unmounted in reverse.
mounted=()
cleanup() {
    local pid i
    # Stray processes of the steps (daemons a test left) keep mounts busy.
    for pid in /proc/[0-9]*; do
        if [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ]; then
            kill -KILL "${pid#/proc/}" 2>/dev/null || true
        fi
    done
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" \
            || echo "fresh-check: could not unmount ${mounted[i]}" >&2
    done
    mounted=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mnt() { # mnt TARGET MOUNT-ARGS...: mount, and remember it for cleanup
    local target=$root$1
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    mounted+=("$target")
}

now() { date +%s; }
names=()
results=()
record() { names+=("$1"); results+=("$2"); }

t0=$(now)
say "debootstrap bookworm into $root (log: $logs/debootstrap.log)"
keyring=()
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
    && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
if debootstrap --variant=minbase "${keyring[@]}" bookworm "$root" "$mirror" \
    >"$logs/debootstrap.log" 2>&1; then
    record debootstrap "ok $(($(now) - t0))"
else
    record debootstrap "failed $(($(now) - t0))"
    say "debootstrap failed: see $logs/debootstrap.log"
    tail -n 20 "$logs/debootstrap.log" >&2
    exit 1
fi

# apt: this machine's sources with only the main component, and the
# Acquire settings of its apt.conf.d (not hooks, not index targets).
rm -f "$root/etc/apt/sources.list"
# The sources as Debian's installer writes them: one-line sources.list with
# "main non-free-firmware", so that setup.sh must enable non-free itself.
if [ "$sources" = /etc/apt/sources.list ]; then
    sed -E 's/^(deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+[^[:space:]]+)[[:space:]].*/\1 main non-free-firmware/' \
        "$sources" >"$root/etc/apt/sources.list"
else
    # deb822 stanzas: one line per URI and suite of each "Types: deb".
    awk '
        function flush(  i, j) {
            if (deb) for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                print "deb " u[i] " " su[j] " main non-free-firmware"
            deb = 0; nu = 0; ns = 0
        }
        /^[[:space:]]*$/ { flush(); next }
        /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
        /^URIs:/ { for (i = 2; i <= NF; i++) u[++nu] = $i }
        /^Suites:/ { for (i = 2; i <= NF; i++) su[++ns] = $i }
        END { flush() }
    ' "$sources" >"$root/etc/apt/sources.list"
fi
for f in /etc/apt/apt.conf.d/*; do
    if [ -f "$f" ] && grep -q '^Acquire::' "$f" && ! grep -qE 'IndexTargets|Invoke' "$f"; then
        cp "$f" "$root/etc/apt/apt.conf.d/"
    fi
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The TLS trust a machine with Rust installed has (rustup itself needed
# it): cargo fetches from crates.io what the lock files do not pin.
mkdir -p "$root/etc/ssl"
cp -a /etc/ssl/certs "$root/etc/ssl/"
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# What the tests use: fifos in /tmp, /proc/self/fd, memfd, ptys, network
# namespaces (ip netns: /run/netns), shared memory.
# The chroot's / must be a mount point, as a machine's is: ip netns exec
# makes / a slave mount.
mount --bind "$root" "$root"
mounted+=("$root")
mnt /proc -t proc proc
mnt /sys -t sysfs sysfs
mnt /dev --bind /dev
mnt /dev/pts --bind /dev/pts
mnt /dev/shm -t tmpfs -o mode=1777,nosuid,nodev shm
mnt /run -t tmpfs -o mode=0755,nosuid,nodev run

# The Rust toolchain, where rustup put it; nothing of it comes from apt.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
[ -x "$cargo_home/bin/cargo" ] || { echo "$0: no cargo in $cargo_home/bin" >&2; exit 1; }
[ -d "$rustup_home/toolchains" ] || { echo "$0: no rustup toolchains in $rustup_home" >&2; exit 1; }
mnt /root/.cargo --bind "$cargo_home"
mnt /root/.rustup --bind "$rustup_home"
mount -o remount,bind,ro "$root/root/.rustup"

git clone -q "$repo" "$root/src"
say "tree: $(git -C "$root/src" log -1 --format='%h %s')"

# A root login's environment on a fresh machine (cargo is not on PATH:
# the scripts find it in ~/.cargo/bin).
in_chroot=(chroot "$root" /usr/bin/env -i -C /src HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
    TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)

failed=0
for step in setup demo test; do
    t0=$(now)
    say "$step: scripts/$step.sh (log: $logs/$step.log)"
    if timeout --kill-after=60 3600 "${in_chroot[@]}" "scripts/$step.sh" \
        </dev/null >"$logs/$step.log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    secs=$(($(now) - t0))
    if [ $rc = 0 ]; then
        record "$step" "ok $secs"
    else
        record "$step" "failed $secs (exit status $rc)"
        failed=1
        tail -n 20 "$logs/$step.log" >&2
    fi
    say "$step: exit status $rc after ${secs}s"
done

cleanup
say "summary ($(date -u '+%Y-%m-%d %H:%M UTC'), chroot $root, $(du -sh "$root" | cut -f1)):"
for i in "${!names[@]}"; do
    read -r status secs rest <<<"${results[i]}"
    say "$(printf '  %-12s %-7s %5ss %s' "${names[i]}" "$status" "$secs" "$rest")"
done
exit $failed
