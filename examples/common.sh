# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Sourced by the examples, not run: sets `here` (this source tree), `bin`
# (its target/release) and `HIJACK`, on first use builds stdpkt, pktparser
# and libstdpkt.so there, and defines await/await_file.
#
#   . "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$here/target/release
# shellcheck disable=SC2034  # for the examples that source this
HIJACK=$here/scripts/lkl-hijack.sh
if [ ! -x "$bin/stdpkt" ] || [ ! -x "$bin/pktparser" ] || [ ! -f "$bin/libstdpkt.so" ]; then
    echo "building stdpkt (cargo build --release -p stdpkt-cli -p stdpkt-preload)" >&2
    (cd "$here" && PATH=$PATH:$HOME/.cargo/bin CARGO_TARGET_DIR=$here/target \
        cargo build --release -q -p stdpkt-cli -p stdpkt-preload >&2)
fi

# Waits up to 10 s for a line matching $2 in file $1 (a log a background
# program writes), warning if it never comes.
await() {
    local i
    for ((i = 0; i < 200; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "### warning: no '$2' in $1 after 10 s" >&2
}

# Waits up to 10 s for file $1 to be non-empty.
await_file() {
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
}
