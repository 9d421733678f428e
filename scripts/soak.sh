#!/usr/bin/env bash
# The reliability tests at full length (the suite runs them bounded):
# 500 netperf TCP_CRR clients in turn against one netserver instance
# (about 5 s each: netperf itself waits 4 s at the end of TCP_CRR -l 1),
# set STDPKT_SOAK_CLIENTS for another count. Installs what is missing
# first; the last full run is recorded in BENCHMARKS.md.
set -euo pipefail
. "$(dirname "$0")/args.sh" "$@"
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)
STDPKT_SOAK_CLIENTS=${STDPKT_SOAK_CLIENTS:-500} \
    cargo test --release --test e2e a_netserver_serves_every_client_in_turn
echo "soak: ${STDPKT_SOAK_CLIENTS:-500} clients served in $(( $(date +%s) - start )) s" >&2
