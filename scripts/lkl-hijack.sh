#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs a program on its own in-process Linux network stack:
#
#   scripts/lkl-hijack.sh CMD [ARGS...]
#
# CMD runs with libstdpkt.so preloaded (configuration: the stdpkt
# environment variables: README, "Environment"). This is `stdpkt run --
# CMD [ARGS...]` (see `stdpkt run --help`: how the library is found,
# the unprivileged copy of setuid or capability programs such as ping,
# the private iptables lock). stdpkt is looked up next to $STDPKT_LIB,
# in this repository's target/release and target/debug, next to this
# script, then in $PATH;
# in a source tree without a build it is built first (cargo build
# --release -p stdpkt-cli -p stdpkt-preload). If the library cannot be
# loaded, CMD does not start (exit status 2).
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

# The launcher is `stdpkt run` (library lookup, load check, private
# iptables lock, unprivileged copies): this script only finds it.
find_stdpkt() {
    local c
    # The stdpkt of the same build as $STDPKT_LIB first.
    for c in "${STDPKT_LIB:+$(dirname -- "$STDPKT_LIB")/stdpkt}" \
             "$repo/target/release/stdpkt" "$repo/target/debug/stdpkt" \
             "$(dirname "${BASH_SOURCE[0]}")/stdpkt" "$(command -v stdpkt || true)"; do
        if [ -n "$c" ] && [ -x "$c" ] && [ -f "$c" ]; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

if ! stdpkt=$(find_stdpkt) || { [ -z "${STDPKT_LIB:-}" ] \
        && [ ! -f "$(dirname "$stdpkt")/libstdpkt.so" ] && [ -f "$repo/Cargo.toml" ]; }; then
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null; then
        echo "lkl-hijack: stdpkt and libstdpkt.so not found, and cargo is not available to build them" >&2
        exit 1
    fi
    echo "lkl-hijack: building stdpkt (cargo build --release -p stdpkt-cli -p stdpkt-preload)" >&2
    (cd "$repo" && cargo build --release -q -p stdpkt-cli -p stdpkt-preload >&2)
    stdpkt=$(find_stdpkt) || { echo "lkl-hijack: the build produced no stdpkt" >&2; exit 1; }
fi

exec "$stdpkt" run -- "$@"
