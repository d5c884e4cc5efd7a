#!/usr/bin/env bash
# Checks anprd's dependencies against deny.toml with cargo-deny.
# Licences, bans and sources need nothing from the network and always run.
# Advisories need the RustSec database: fetched when it can be, else the
# last fetched copy is used; with neither, the check says so and is skipped
# (a closed network must not pass as "no advisories").
set -euo pipefail
cd "$(dirname "$0")/.."

cargo deny --locked check licenses bans sources

db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 30 git ls-remote -q https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny --locked check advisories
elif compgen -G "$db_dir/*" >/dev/null; then
  echo "deny: RustSec database unreachable; checking against the copy fetched $(stat -c %y "$db_dir"/* | head -1)" >&2
  cargo deny --locked check --disable-fetch advisories
else
  echo "deny: WARNING: advisories NOT checked: the RustSec database cannot be fetched and no copy exists" >&2
fi
