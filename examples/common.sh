# SPDX-License-Identifier: GPL-2.0-only
# Sourced by the examples, not run: sets `here` (this source tree) and `bin`
# (its target/release), and on first use builds stdpkt, pktparser and
# libstdpkt.so there.
#
#   . "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$here/target/release
if [ ! -x "$bin/stdpkt" ] || [ ! -x "$bin/pktparser" ] || [ ! -f "$bin/libstdpkt.so" ]; then
    echo "building stdpkt (cargo build --release -p stdpkt -p stdpkt-preload)" >&2
    (cd "$here" && PATH=$PATH:$HOME/.cargo/bin CARGO_TARGET_DIR=$here/target \
        cargo build --release -q -p stdpkt -p stdpkt-preload >&2)
fi
