#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# host | router | router | host: four Linux instances in a row, each joined
# to the next by a pair of fifos, every one started with `stdpkt run`.
#
#   H1 192.0.2.1 --- 192.0.2.254 R1 198.51.100.1 --- 198.51.100.2 R2 203.0.113.254 --- 203.0.113.1 H2
#
# Routes come from the environment alone (--gw, i.e. GW), which holds one
# default route per family and nothing else. That is enough here: each
# router knows the networks on its own links, and its default route points
# at the other router. So R2 reaches H1's 192.0.2.0/24 through R1, and R1
# reaches H2's 203.0.113.0/24 through R2; the hosts' defaults point at their
# router. Both routers forward (net.ipv4.ip_forward=1) and linger: their
# program only marks them up (touch FILE) and ends at once.
#
# The real traceroute runs in H1 (UDP probes, one per hop), then, on a fresh
# chain, the real ping.
#
#   examples/chain.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUN=("$bin/stdpkt" run)

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# Builds the chain, runs "$@" in H1, then takes the chain down.
chain() {
    rm -f "$dir"/*
    mkfifo "$dir"/{h1r1,r1h1,r1r2,r2r1,r2h2,h2r2}
    local fw=net.ipv4.ip_forward=1 pids=()
    "${RUN[@]}" --if "0=$dir/h1r1|$dir/r1h1" --ip 0=192.0.2.254/24 \
        --if "1=$dir/r2r1|$dir/r1r2" --ip 1=198.51.100.1/24 \
        --gw 198.51.100.2 --sysctl $fw --linger -- touch "$dir/r1.up" &
    pids+=($!)
    "${RUN[@]}" --if "0=$dir/r1r2|$dir/r2r1" --ip 0=198.51.100.2/24 \
        --if "1=$dir/h2r2|$dir/r2h2" --ip 1=203.0.113.254/24 \
        --gw 198.51.100.1 --sysctl $fw --linger -- touch "$dir/r2.up" &
    pids+=($!)
    "${RUN[@]}" --if "0=$dir/r2h2|$dir/h2r2" --ip 0=203.0.113.1/24 \
        --gw 203.0.113.254 --linger -- touch "$dir/h2.up" &
    pids+=($!)
    # An instance's program starts once its addresses and routes are set:
    # H1 sends nothing before every router can forward it.
    local i
    for ((i = 0; i < 200; i++)); do
        [ -e "$dir/r1.up" ] && [ -e "$dir/r2.up" ] && [ -e "$dir/h2.up" ] && break
        sleep 0.05
    done
    echo "### H1: $*"
    "${RUN[@]}" --if "0=$dir/r1h1|$dir/h1r1" --ip 0=192.0.2.1/24 \
        --gw 192.0.2.254 -- "$@" || true
    # The routers and H2 feed one another: they linger until told to stop.
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait
}

chain traceroute -n -q 1 -w 1 -m 8 203.0.113.1
chain ping -c 3 -i 0.3 -W 1 203.0.113.1
echo "### Look at: the hops 192.0.2.254 (R1), 198.51.100.2 (R2), 203.0.113.1 (H2);"
echo "### the replies' ttl=62: H2 answered with 64, two routers took one each."
