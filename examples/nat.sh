#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A NAT router on stdout: the real iptables masquerades the inside network
# 192.0.2.0/24 behind the router's outside address. The outside NIC writes
# its frames to stdout (raw framing), so it pipes into the next box:
#
#   examples/nat.sh INSIDE_RX INSIDE_TX FROM_OUTSIDE | examples/filter.sh ...
#
#   eth0  INSIDE_RX|INSIDE_TX  192.0.2.254/24    the inside hosts' gateway
#   eth1  FROM_OUTSIDE|stdout  198.51.100.2/25   default route via 198.51.100.1
#
# The router is configured by a script of several commands, all on its one
# instance: the real iptables masquerades the inside network and lists the
# rule, and ip shows the routes (both on stderr: stdout carries frames).
# The script ends at once; --linger keeps the instance forwarding until
# both inputs end (or SIGTERM). See examples/nat-filter.sh.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 INSIDE_RX INSIDE_TX FROM_OUTSIDE   (outside frames go to stdout)" >&2
    exit 2
fi
. "$(dirname "$0")/common.sh"

exec "$bin/stdpkt" run \
    --if "0=$1|$2" --ip 0=192.0.2.254/24 \
    --if "1=$3|-" --ip 1=198.51.100.2/25 --gw 198.51.100.1 \
    --sysctl net.ipv4.ip_forward=1 --linger \
    -- sh -c 'iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -o eth1 -j MASQUERADE
              iptables -t nat -S POSTROUTING >&2
              ip -4 route >&2'
