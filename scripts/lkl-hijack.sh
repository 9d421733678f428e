#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs a program on its own in-process Linux network stack:
#
#   scripts/lkl-hijack.sh CMD [ARGS...]
#
# CMD runs with libstdpkt.so preloaded (configuration: the stdpkt
# environment variables: README, "Environment"). The library is looked up as
# $STDPKT_LIB, then in this repository's target/release and target/debug,
# then /usr/local/lib; if none exists and cargo is available it is built
# (cargo build --release -p stdpkt-preload).
#
# The dynamic loader ignores LD_PRELOAD for programs with file capabilities
# or the setuid/setgid bit (when it would raise privileges): such a CMD is
# copied to a private temporary directory and the copy is run instead. A
# statically linked CMD cannot be preloaded at all: it runs with a warning.
#
# Example (two instances joined by two fifos):
#   mkfifo a2b b2a
#   IF0='a2b|b2a' IP0=192.0.2.2/24 STDPKT_LINGER=1 scripts/lkl-hijack.sh true &
#   IF0='b2a|a2b' IP0=192.0.2.1/24 scripts/lkl-hijack.sh ping -c 3 192.0.2.2
set -euo pipefail

case "${1:-}" in
    -h|--help)
        sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0 ;;
    "")
        echo "usage: $0 CMD [ARGS...]   (--help for more)" >&2
        exit 2 ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

find_lib() {
    local c
    for c in "${STDPKT_LIB:-}" "$repo/target/release/libstdpkt.so" \
             "$repo/target/debug/libstdpkt.so" /usr/local/lib/libstdpkt.so; do
        if [ -n "$c" ] && [ -f "$c" ]; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

if ! lib=$(find_lib); then
    if [ -n "${STDPKT_LIB:-}" ]; then
        echo "lkl-hijack: STDPKT_LIB=$STDPKT_LIB does not exist" >&2
        exit 1
    fi
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null; then
        echo "lkl-hijack: libstdpkt.so not found and cargo is not available to build it" >&2
        exit 1
    fi
    echo "lkl-hijack: building libstdpkt.so (cargo build --release -p stdpkt-preload)" >&2
    (cd "$repo" && cargo build --release -q -p stdpkt-preload >&2)
    lib=$(find_lib) || { echo "lkl-hijack: the build produced no libstdpkt.so" >&2; exit 1; }
fi
case "$lib" in
    /*) ;;
    *) lib="$PWD/$lib" ;;
esac

# STDPKT_LIB is this script's, not the instance's: stdpkt rejects
# unknown STDPKT_* variables.
unset STDPKT_LIB

cmd=$1
shift
if ! path=$(command -v -- "$cmd"); then
    echo "lkl-hijack: $cmd: command not found" >&2
    exit 127
fi

if [ -f "$path" ]; then
    # Statically linked programs have no program interpreter.
    if command -v readelf >/dev/null && readelf -h "$path" >/dev/null 2>&1 \
        && ! readelf -lW "$path" 2>/dev/null | grep -q 'INTERP'; then
        echo "lkl-hijack: warning: $path is statically linked: it will not see the instance" >&2
    fi

    # iptables takes a lock file on the host (/run/xtables.lock): that
    # would tie instances to the host's firewall tool and fail for users
    # who cannot write /run. Each user gets a private one.
    : "${XTABLES_LOCKFILE:=${TMPDIR:-/tmp}/stdpkt-xtables-$(id -u).lock}"
    export XTABLES_LOCKFILE

    privileged=
    if [ -u "$path" ] || [ -g "$path" ]; then
        privileged=setuid
    elif command -v getcap >/dev/null && [ -n "$(getcap "$path" 2>/dev/null)" ]; then
        privileged=capabilities
    fi
    if [ -n "$privileged" ]; then
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/lkl-hijack.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        cp -- "$path" "$tmp/"
        copy="$tmp/$(basename -- "$path")"
        chmod u-s,g-s "$copy"
        echo "lkl-hijack: $path has $privileged, which make the loader ignore LD_PRELOAD: running an unprivileged copy" >&2
        path=$copy
        # Not exec: the trap removes the copy afterwards.
        status=0
        LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}" "$path" "$@" || status=$?
        exit "$status"
    fi
fi

LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}" exec "$path" "$@"
