#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# examples/port-mirror.sh with the pcap framing: the NICs of A and B read
# and write pcap streams (IFTYPE0=pcap), so the copy that
#     tee MIRROR
# takes of A's frames is a capture already: `tcpdump -n -r - < MIRROR`
# decodes it directly, with the real time each frame was sent.
#
#   A 192.0.2.1 (netperf) --a_out--> tee --a2b--> B 192.0.2.2 (netserver)
#                     ^                 |                    |
#                     |                 +--> MIRROR: tcpdump -n -r -
#                     +------------------------b2a-----------+
#
#   examples/port-mirror-pcap.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

mkfifo "$dir/a_out" "$dir/a2b" "$dir/b2a" "$dir/mirror"

# B: netserver in the foreground (-D), one test after another (-f).
IF0="$dir/a2b|$dir/b2a" IFTYPE0=pcap IP0=192.0.2.2/24 "$HIJACK" netserver -D -f -4 \
    > "$dir/netserver.log" 2>&1 &
server=$!
await "$dir/netserver.log" "Starting netserver"
tee "$dir/mirror" < "$dir/a_out" > "$dir/a2b" &
tcpdump -n -r - < "$dir/mirror" > "$dir/capture.txt" 2> "$dir/tcpdump.log" &
capture=$!

echo "### A: netperf -H 192.0.2.2 -t TCP_STREAM -l 2 (A's pcap stream through tee)"
IF0="$dir/b2a|$dir/a_out" IFTYPE0=pcap IP0=192.0.2.1/24 "$HIJACK" \
    netperf -H 192.0.2.2 -t TCP_STREAM -l 2 || echo "### netperf failed: $?"
# A has exited: tee sees the end of a_out, and the capture ends with it.
kill "$server" 2>/dev/null || true
wait "$capture" || true

frames=$(wc -l < "$dir/capture.txt")
echo "### the mirror: $frames frames from A; tcpdump -n -r - shows, first 12:"
head -n 12 "$dir/capture.txt"
echo "..."
tail -n 3 "$dir/capture.txt"
echo "### TCP connections A opened (SYNs): control port 12865, then the test's data port:"
grep 'Flags \[S\]' "$dir/capture.txt" || true
echo "### Look at: 192.0.2.1.PORT > 192.0.2.2.PORT lines with growing seq numbers"
echo "### and real timestamps; only A's frames are mirrored."
