#!/usr/bin/env bash
# The flagship demo: two Linux instances, each inside its own process, ping
# each other; A's frames pass through `grep --line-buffered` on the way.
# First with a filter that lets everything through, then with one that drops
# A's frames (by MAC address): the pings stop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin stdpkt >&2
STDPKT=$PWD/target/release/stdpkt

dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

run() {
    local filter=$1
    rm -f "$dir"/*
    mkfifo "$dir/a_out" "$dir/a2b" "$dir/b2a"
    # B answers; it runs until its input ends.
    IF0="$dir/a2b|$dir/b2a" IFTYPE0=ascii MAC0=02:00:00:00:00:0b IP0=192.0.2.2/24 \
        "$STDPKT" instance --linger & pids+=($!)
    grep --line-buffered -v "$filter" < "$dir/a_out" > "$dir/a2b" & pids+=($!)
    echo "--- A pings B; A's frames pass through: grep --line-buffered -v $filter"
    IF0="$dir/b2a|$dir/a_out" IFTYPE0=ascii MAC0=02:00:00:00:00:0a IP0=192.0.2.1/24 \
        "$STDPKT" instance --ping 192.0.2.2 --count 3 --interval 300 --timeout 1500 || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}

run 020000000099   # nobody's MAC: everything passes, 0% loss
run 02000000000a   # A's MAC: its frames are dropped, 100% loss
