#!/usr/bin/env bash
# The flagship demo: the real `ping`, on a Linux instance inside its own
# process, pings another instance through `grep --line-buffered` (see
# examples/ping-through-grep.sh). Installs what is missing first.
set -euo pipefail
. "$(dirname "$0")/args.sh" "$@"
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p stdpkt-preload -p stdpkt-cli >&2
exec examples/ping-through-grep.sh
