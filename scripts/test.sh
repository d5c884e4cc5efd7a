#!/usr/bin/env bash
# Sets up a Debian 12 machine and runs anprd's whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --all-targets --locked
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
scripts/deny.sh
# Long tests (fault injection, soaks) are #[ignore]d so `cargo test` stays
# quick while developing; the full suite runs them too. nextest: see
# .config/nextest.toml (a process per test; a hung test is stopped).
cargo test --doc --locked
cargo nextest run --all-targets --locked --run-ignored all
