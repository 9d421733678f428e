#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A filtering router on stdin: the real iptables drops everything forwarded
# to 203.0.113.0/24. Its first NIC reads frames from stdin (raw framing),
# so a box can pipe into it:
#
#   examples/nat.sh ... | examples/filter.sh TO_NAT ALLOWED_RX ALLOWED_TX BLOCKED_RX BLOCKED_TX
#
#   eth0  stdin|TO_NAT           198.51.100.1/25    towards the NAT (198.51.100.2)
#   eth1  ALLOWED_RX|ALLOWED_TX  198.51.100.129/25  an allowed network
#   eth2  BLOCKED_RX|BLOCKED_TX  203.0.113.1/24     the blocked network
#
# It needs no route to the NAT's inside network: behind the NAT every
# packet comes from 198.51.100.2. iptables -A FORWARD -d 203.0.113.0/24
# -j DROP runs as the instance's program and ends at once; --linger keeps
# the instance forwarding until its inputs end (or SIGTERM). See
# examples/nat-filter.sh.
set -euo pipefail
if [ $# -ne 5 ]; then
    echo "usage: $0 TO_NAT ALLOWED_RX ALLOWED_TX BLOCKED_RX BLOCKED_TX   (frames from the NAT on stdin)" >&2
    exit 2
fi
. "$(dirname "$0")/common.sh"

exec "$bin/stdpkt" run \
    --if "0=-|$1" --ip 0=198.51.100.1/25 \
    --if "1=$2|$3" --ip 1=198.51.100.129/25 \
    --if "2=$4|$5" --ip 2=203.0.113.1/24 \
    --sysctl net.ipv4.ip_forward=1 --linger \
    -- sh -c 'iptables -A FORWARD -d 203.0.113.0/24 -j DROP
              iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP
              iptables -S FORWARD >&2'
