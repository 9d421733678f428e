#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A 4-port switch: one Linux instance whose four NICs are enslaved to a
# bridge, and four hosts, each on its own fifo pair to one port.
#
#   H1 198.51.100.1 ---+                  +--- H3 198.51.100.3
#                      eth0  S (br0)  eth2
#   H2 198.51.100.2 ---eth1          eth3--- H4 198.51.100.4
#
# H1 pings the three others; the switch then shows what its bridge
# learned: each host's MAC behind its own port (bridge fdb).
#
#   examples/switch.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUN=("$bin/stdpkt" run)

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

ports=()
for i in 1 2 3 4; do
    mkfifo "$dir/h$i-s" "$dir/s-h$i"
    ports+=(--if "$((i - 1))=$dir/h$i-s|$dir/s-h$i")
done
# The switch's program builds the bridge, says so, and shows its
# forwarding database once H1 is done.
"${RUN[@]}" "${ports[@]}" -- sh -c "
    ip link add br0 type bridge
    for p in eth0 eth1 eth2 eth3; do ip link set \$p master br0; done
    ip link set br0 up
    touch '$dir/s.up'
    while [ ! -e '$dir/done' ]; do sleep 0.05; done
    bridge fdb show br br0 | grep -v permanent
    touch '$dir/shown'" > "$dir/switch.out" 2>&1 &
switch=$!
for i in 2 3 4; do
    "${RUN[@]}" --if "0=$dir/s-h$i|$dir/h$i-s" --mac "0=02:00:00:00:00:0$i" \
        --ip "0=198.51.100.$i/24" --linger -- true &
done
await_file "$dir/s.up"

echo "### H1 pings H2, H3 and H4 through the switch"
"${RUN[@]}" --if "0=$dir/s-h1|$dir/h1-s" --mac 0=02:00:00:00:00:01 \
    --ip 0=198.51.100.1/24 -- sh -c "
        for t in 2 3 4; do ping -n -c 2 -i 0.2 -W 2 198.51.100.\$t | grep -E 'transmitted|^---'; done
        # H1 stays on the wire while the switch shows its table: a port
        # whose input ends goes down, and the bridge forgets its MACs.
        touch '$dir/done'
        while [ ! -e '$dir/shown' ]; do sleep 0.05; done" || true
wait "$switch" || true
echo "### S: bridge fdb show br br0 (learned entries)"
cat "$dir/switch.out"
echo "### Look at: 02:00:00:00:00:0N on port eth(N-1), for each host N."
