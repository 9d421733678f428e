#!/usr/bin/env bash
# Two Linux instances, each inside its own ordinary program, joined by two
# fifos; A's frames travel as ASCII hex lines through
#     grep --line-buffered -v PATTERN
# on their way to B. With a pattern nobody's frames contain, the real
# `ping` in A gets its replies. With A's own MAC as the pattern, grep drops
# every frame A sends, and the replies stop.
#
#   examples/ping-through-grep.sh [PATTERN]   (default: both runs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
HIJACK=$here/scripts/lkl-hijack.sh
MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

run() {
    local pattern=$1
    rm -f "$dir"/*
    mkfifo "$dir/a_out" "$dir/a2b" "$dir/b2a"
    # B: an instance whose program (true) ends at once; STDPKT_LINGER keeps
    # it answering until its input ends.
    IF0="$dir/a2b|$dir/b2a" IFTYPE0=ascii MAC0=$MAC_B IP0=192.0.2.2/24 STDPKT_LINGER=1 \
        "$HIJACK" true &
    grep --line-buffered -v "$pattern" < "$dir/a_out" > "$dir/a2b" &
    echo "### ping 192.0.2.2, A's frames through: grep --line-buffered -v $pattern"
    IF0="$dir/b2a|$dir/a_out" IFTYPE0=ascii MAC0=$MAC_A IP0=192.0.2.1/24 \
        "$HIJACK" ping -c 3 -i 0.3 -W 1 192.0.2.2 || true
    wait
}

if [ $# -gt 0 ]; then
    run "$1"
else
    run 020000000099        # nobody's MAC: the replies come back
    run "${MAC_A//:/}"      # A's MAC: grep drops A's frames, 100% loss
fi
