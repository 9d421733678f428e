#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAT, then a firewall, as a shell pipeline: examples/nat.sh | examples/filter.sh
# (two Linux instances running the real iptables), with
#     tee MIRROR
# in between, whose copy of the NAT's outside frames is decoded by
#     pktparser < MIRROR | text2pcap -q - - | tcpdump -n -r -
#
#   inside 192.0.2.1 --- 192.0.2.254 NAT 198.51.100.2 =stdout=> tee => stdin= 198.51.100.1 FILTER
#                                        ^                                        |      |
#                                        +-------------- fifo --------------------+      |
#     FILTER 198.51.100.129 --- 198.51.100.130 allowed host                              |
#     FILTER 203.0.113.1    --- 203.0.113.2    blocked host (FORWARD -d 203.0.113.0/24 -j DROP)
#
# The inside host runs the real ping: once at the allowed host (answered),
# once at the blocked one (dropped by the filter: 100% loss). In both runs
# the mirror shows the echo requests leaving the NAT from 198.51.100.2, the
# masqueraded source; 192.0.2.1 never appears outside.
#
#   examples/nat-filter.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUN=("$bin/stdpkt" run)

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# Waits until the instance in process PID lingers: its program's main has
# returned, so the instance is configured and the program's work (the
# iptables rules) is done. A lingering instance waits for SIGTERM in
# sigtimedwait(2), which /proc/PID/wchan names. Without that name (a kernel
# without symbols) this is a 3 s pause.
lingering() {
    local i
    for ((i = 0; i < 60; i++)); do
        case $(cat "/proc/$1/wchan" 2>/dev/null || true) in
            *sigtimedwait*) return 0 ;;
        esac
        sleep 0.05
    done
}

run() {
    local target=$1 what=$2 d=$dir pid
    rm -f "$d"/*
    mkfifo "$d"/{h2n,n2h,f2n,mirror,f2o1,o12f,f2o2,o22f}
    # The outside hosts: their program (true) ends at once; they linger.
    "${RUN[@]}" --if "0=$d/f2o1|$d/o12f" --ip 0=198.51.100.130/25 \
        --gw 198.51.100.129 --linger -- true &
    local allowed=$!
    "${RUN[@]}" --if "0=$d/f2o2|$d/o22f" --ip 0=203.0.113.2/24 \
        --gw 203.0.113.1 --linger -- true &
    local blocked=$!
    # nat.sh and filter.sh exec the instance: their process ids are its.
    { echo "$BASHPID" > "$d/nat.pid"; exec "$here/examples/nat.sh" "$d/h2n" "$d/n2h" "$d/f2n"; } \
        | tee "$d/mirror" \
        | "$here/examples/filter.sh" "$d/f2n" "$d/o12f" "$d/f2o1" "$d/o22f" "$d/f2o2" &
    local filter=$!
    "$bin/pktparser" < "$d/mirror" | text2pcap -q - - 2> "$d/text2pcap.log" \
        | tcpdump -n -r - > "$d/capture.txt" 2> "$d/tcpdump.log" &

    # Ping only once the rules are in: a first packet through the NAT
    # before its MASQUERADE rule would pin the flow untranslated.
    await_file "$d/nat.pid"
    for pid in "$(cat "$d/nat.pid")" "$filter" "$allowed" "$blocked"; do
        lingering "$pid"
    done

    echo "### inside host 192.0.2.1: ping $target ($what)"
    "${RUN[@]}" --if "0=$d/n2h|$d/h2n" --ip 0=192.0.2.1/24 --gw 192.0.2.254 \
        -- ping -c 3 -i 0.3 -W 1 "$target" || true
    # Stopping the filter ends the rest: the outside hosts' and then the
    # NAT's inputs end, and with the NAT's stdout the tee and the capture.
    kill -TERM "$filter" 2>/dev/null || true
    wait
    echo "### the mirror between NAT and filter (IPv4 only), tcpdump -n -r -:"
    grep -v ' IP6 ' "$d/capture.txt" || true
    echo "### frames from the inside address 192.0.2.1 in the mirror: $(grep -c 'IP 192\.0\.2\.1 ' "$d/capture.txt" || true)"
}

run 198.51.100.130 "allowed: answered"
run 203.0.113.2 "blocked by the filter: 100% loss"
echo "### Look at: 'IP 198.51.100.2 > ...: ICMP echo request' in both mirrors: the NAT"
echo "### rewrote 192.0.2.1 to its outside address. The second ping got no reply."
