#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A port mirror made of tee. netperf runs in instance A, netserver in
# instance B; every frame A sends passes through
#     tee MIRROR
# on its way to B, and the copy is decoded by
#     pktparser < MIRROR | text2pcap -q - - | tcpdump -n -r -
#
#   A 192.0.2.1 (netperf) --a_out--> tee --a2b--> B 192.0.2.2 (netserver)
#                     ^                 |                    |
#                     |                 +--> MIRROR: pktparser | text2pcap | tcpdump
#                     +------------------------b2a-----------+
#
# Frames use the raw framing (2-byte length, then the frame). tee needs no
# framing of its own: it copies bytes, and both readers get the same stream.
# The mirror is part of the path, so A's TCP sending rate adapts to what
# pktparser, text2pcap and tcpdump can decode.
#
#   examples/port-mirror.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

mkfifo "$dir/a_out" "$dir/a2b" "$dir/b2a" "$dir/mirror"

# B: netserver in the foreground (-D), one test after another (-f).
IF0="$dir/a2b|$dir/b2a" IP0=192.0.2.2/24 "$HIJACK" netserver -D -f -4 \
    > "$dir/netserver.log" 2>&1 &
server=$!
await "$dir/netserver.log" "Starting netserver"
tee "$dir/mirror" < "$dir/a_out" > "$dir/a2b" &
"$bin/pktparser" < "$dir/mirror" | text2pcap -q - - 2> "$dir/text2pcap.log" | tcpdump -n -r - \
    > "$dir/capture.txt" 2> "$dir/tcpdump.log" &
capture=$!

echo "### A: netperf -H 192.0.2.2 -t TCP_STREAM -l 2 (A's frames through tee)"
IF0="$dir/b2a|$dir/a_out" IP0=192.0.2.1/24 "$HIJACK" \
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
echo "### Look at: 192.0.2.1.PORT > 192.0.2.2.PORT lines with growing seq numbers;"
echo "### only A's frames are mirrored (B's ACKs take the fifo back to A)."
