#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# TCP throughput between two Linux instances over a pipe pair: the real
# netperf and netserver, each in its own instance, as one shell pipeline
#
#   (netperf in 192.0.2.1) | (netserver in 192.0.2.2)
#
# A's NIC writes its frames to stdout, the pipe, and B's reads them from
# stdin; B's frames come back through a fifo. Raw framing. The rate shows
# what one TCP stream gets through the whole path: two kernels in two
# processes, virtio-net, and a pipe each way.
#
#   examples/netperf.sh [SECONDS]   (default 2)
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUN=("$bin/stdpkt" run)
secs=${1:-2}

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

mkfifo "$dir/back"

echo "### netperf -H 192.0.2.2 -t TCP_STREAM -l $secs | netserver -D -f"
{
    # This group's stdout is the pipe: frames only, nothing printed.
    await "$dir/netserver.log" "Starting netserver"
    # With its NIC on stdout, netperf prints to stderr.
    "${RUN[@]}" --if "0=$dir/back|-" --ip 0=192.0.2.1/24 \
        -- netperf -H 192.0.2.2 -t TCP_STREAM -l "$secs" 2> "$dir/netperf.out" \
        || echo "### netperf failed: $?" >> "$dir/netperf.out"
    # netserver never ends by itself.
    kill "$(cat "$dir/netserver.pid")" 2>/dev/null || true
} | {
    echo "$BASHPID" > "$dir/netserver.pid"
    exec "${RUN[@]}" --if "0=-|$dir/back" --ip 0=192.0.2.2/24 \
        -- netserver -D -f -4 > "$dir/netserver.log" 2>&1
} &
wait
cat "$dir/netperf.out"
rate=$(awk 'NF == 5 && $1 ~ /^[0-9]+$/ { r = $5 } END { print r }' "$dir/netperf.out")
echo "### Look at: the last column, Throughput: ${rate:-none} 10^6bits/sec"
