#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# WAN emulation: two hosts and a router between them whose links are
# impaired with tc, all three Linux instances joined by fifo pairs.
#
#   H1 198.51.100.1 --- 198.51.100.254 R 203.0.113.254 --- 203.0.113.1 H2
#
# R delays every frame by 20 ms each way (netem on both NICs), loses 1%
# of what it sends to H2 (netem), and limits that direction to 8 Mbit/s
# (tbf under netem). Then ping measures the round trip and netperf one
# TCP stream, both from H1 to H2. Nothing here needs root: the qdiscs are
# the instance's.
#
#   examples/wan.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUN=("$bin/stdpkt" run)

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
mkfifo "$dir"/{h1r,rh1,h2r,rh2}

# The router's program sets the impairments up and ends; the instance
# lingers, forwarding, until the hosts' streams end.
"${RUN[@]}" --if "0=$dir/h1r|$dir/rh1" --ip 0=198.51.100.254/24 \
    --if "1=$dir/h2r|$dir/rh2" --ip 1=203.0.113.254/24 \
    --sysctl net.ipv4.ip_forward=1 --linger -- sh -c "
        tc qdisc add dev eth0 root netem delay 20ms
        tc qdisc add dev eth1 root handle 1: netem delay 20ms loss 1%
        tc qdisc add dev eth1 parent 1: handle 10: tbf rate 8mbit burst 32kb latency 400ms
        tc qdisc show; touch '$dir/r.up'" > "$dir/router.log" 2>&1 &
"${RUN[@]}" --if "0=$dir/rh2|$dir/h2r" --ip 0=203.0.113.1/24 --gw 203.0.113.254 \
    -- netserver -D -f -4 > "$dir/netserver.log" 2>&1 &
await_file "$dir/r.up"
await "$dir/netserver.log" "Starting netserver"
echo "### R's qdiscs"
cat "$dir/router.log"

echo "### H1: ping, then netperf TCP_STREAM to H2"
"${RUN[@]}" --if "0=$dir/rh1|$dir/h1r" --ip 0=198.51.100.1/24 --gw 198.51.100.254 \
    -- sh -c "ping -n -c 10 -i 0.2 -W 2 203.0.113.1
              netperf -H 203.0.113.1 -t TCP_STREAM -l 3 -f m" || true
echo "### Look at: the rtt avg, about 40 ms (20 ms each way), and the"
echo "### throughput (last column, 10^6bits/sec), below tbf's 8 Mbit/s."
