#!/usr/bin/env bash
# Installs what stdpkt needs on Debian 12, skipping what is already there:
# the kernel source and its build tools, the tools the tests drive, and
# checks the Rust toolchain. Safe to run again.
set -euo pipefail
. "$(dirname "$0")/args.sh" "$@"

# The one list. tests/setup_drift.rs checks that every program the build,
# tests, examples and scripts start comes from a package named here, from
# a direct dependency of one, or from one every Debian system has.
PKGS=(
    # The kernel build: make runs gcc, flex, bison, bc, and rsync for
    # headers_install; binutils for objcopy, ar, nm; libclang for bindgen.
    linux-source-6.12 build-essential binutils flex bison bc libelf-dev
    libclang-dev rsync
    # scripts/test.sh and scripts/bench.sh.
    shellcheck git procps python3
    # What the tests and examples drive (wireshark-common: text2pcap).
    iproute2 iptables nftables iputils-ping tcpdump wireshark-common netperf
    socat netcat-openbsd traceroute libcap2-bin net-tools iperf3
    # tests/features.rs: the Linux network feature set inside instances.
    wireguard-tools conntrack ipset ethtool
    # scripts/fresh-check.sh (a Debian 12 chroot for the fresh-machine check).
    debootstrap
)

# FILE with the non-free component added wherever Debian's components
# are listed without it ("non-free-firmware" is another component).
with_non_free() {
    awk '
        function has(first,   i) {
            for (i = first; i <= NF; i++) if ($i == "non-free") return 1
            return 0
        }
        /^Components:/ { if (!has(2)) $0 = $0 " non-free" }
        /^deb[ \t]/ && $0 !~ /^deb[ \t]+cdrom:/ {
            # deb [options] URI SUITE COMPONENT...
            c = 2
            if ($2 ~ /^\[/) { while (c < NF && $c !~ /\]$/) c++; c++ }
            c += 2
            if (NF >= c && !has(c)) $0 = $0 " non-free"
        }
        { print }
    ' "$1"
}

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        SUDO=sudo
    fi
    # netperf is in Debian's non-free component: enable it on the existing
    # sources, deb822 (debian.sources) or one-line (sources.list).
    if printf '%s\n' "${missing[@]}" | grep -qx netperf; then
        for src in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
            [ -f "$src" ] || continue
            with_non_free "$src" > "/tmp/stdpkt-setup.$$"
            if ! cmp -s "$src" "/tmp/stdpkt-setup.$$"; then
                echo "setup: enabling Debian's non-free component in $src (for netperf)" >&2
                $SUDO cp "/tmp/stdpkt-setup.$$" "$src"
            fi
            rm -f "/tmp/stdpkt-setup.$$"
        done
    fi
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -q >&2
    # wireshark-common asks whether non-root users may capture: answer no, quietly.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v cargo >/dev/null; then
    for d in "$HOME/.cargo/bin" /root/.cargo/bin; do
        [ -x "$d/cargo" ] && export PATH="$d:$PATH" && break
    done
fi
command -v cargo >/dev/null || {
    echo "setup: no Rust toolchain: install Rust 1.89 or newer (rustup), then run this again" >&2
    exit 1
}
ver=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n1.89.0\n' "$ver" | sort -V | head -1)" != "1.89.0" ]; then
    echo "setup: rustc $ver is too old: stdpkt needs 1.89 or newer" >&2
    exit 1
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt >&2 || true
