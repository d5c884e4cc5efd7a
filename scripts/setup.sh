#!/usr/bin/env bash
# Installs what anprd needs to build, test and demo on Debian 12. Idempotent:
# installs only what is missing, and runs apt-get update only then.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config libclang1-14 libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  # run: GStreamer plugins for RTSP, files and common codecs
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  # tests and demo: a private MQTT broker, its clients, JSON on the command line,
  # and systemd-analyze for checking the unit
  mosquitto mosquitto-clients jq systemd
  # packaging: lintian checks the .deb; unshare (util-linux) runs its scripts
  lintian util-linux dpkg-dev
)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  # Where Debian starts the system-wide mosquitto service it listens on 1883;
  # tests and the demo run their own private broker on another loopback port.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# anprd needs Rust 1.91 or later (Cargo.toml's rust-version); a distribution
# cargo (Debian 12's is 1.63) is too old, so rustup's is used instead.
rust_new_enough() {
  have=$(rustc --version 2>/dev/null | awk '{print $2}')
  [ -n "$have" ] && [ "$(printf '1.91\n%s\n' "$have" | sort -V | head -n 1)" = "1.91" ]
}
if ! command -v cargo >/dev/null 2>&1 || ! rust_new_enough; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1 || ! rust_new_enough; then
    echo "setup: no Rust 1.91 or later; installing a toolchain with rustup"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq curl ca-certificates >/dev/null
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
    rustup update stable >/dev/null
  fi
fi
# rustfmt and clippy gate the suite (scripts/test.sh); a minimal rustup
# toolchain lacks them.
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
# cargo-deny checks dependencies against deny.toml (scripts/deny.sh).
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "setup: installing cargo-deny"
  cargo install --locked cargo-deny
fi

# cargo-deb builds the .deb; pinned, as tests/packaging.rs packages the test build.
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION\$"; then
  echo "setup: installing cargo-deb $CARGO_DEB_VERSION"
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi
echo "setup: ready ($(cargo --version))"
