#!/usr/bin/env bash
# Sets up a Debian 12 machine and runs anprd's whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all -- --check
cargo build --all-targets --locked
scripts/deny.sh
# Long tests (fault injection, soaks) are #[ignore]d so `cargo test` stays
# quick while developing; the full suite runs them too.
cargo test --all-targets --locked -- --include-ignored
