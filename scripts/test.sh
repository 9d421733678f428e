#!/usr/bin/env bash
# The whole test suite: set-up if needed, format, lint and shell checks,
# the fuzz targets' build, then every test against the real kernel and
# the real tools.
set -euo pipefail
. "$(dirname "$0")/args.sh" "$@"
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
shellcheck scripts/*.sh examples/*.sh
cargo clippy --workspace --all-targets -- -D warnings
# The fuzz crate compiles src/wire alone: this keeps the framings pure.
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo test --workspace
