#!/usr/bin/env bash
# The flagship demo: the real `ping`, on a Linux instance inside its own
# process, pings another instance through `grep --line-buffered` (see
# examples/ping-through-grep.sh). Installs what is missing first.
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "$0: no arguments expected (--help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p stdpkt-preload -p stdpkt >&2
exec examples/ping-through-grep.sh
