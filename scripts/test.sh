#!/usr/bin/env bash
# The whole test suite: set-up if needed, format and lint checks, then
# every test against the real kernel and the real tools.
set -euo pipefail
. "$(dirname "$0")/args.sh" "$@"
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
