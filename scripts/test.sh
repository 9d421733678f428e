#!/usr/bin/env bash
# The whole test suite: set-up if needed, format and lint checks, then
# every test against the real kernel and the real tools.
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "$0: no arguments expected (--help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
