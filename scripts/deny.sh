#!/usr/bin/env bash
# Checks anprd's dependencies against deny.toml with cargo-deny.
# Licences, bans and sources need nothing from the network and always run.
# Advisories need the RustSec database. This script never fetches it (CI has
# no network beyond the package registries): it checks against a copy when
# one exists (`cargo deny fetch` where the network allows), and says plainly
# when there is none, so a closed network never passes as "no advisories".
set -euo pipefail
cd "$(dirname "$0")/.."

cargo deny --locked check licenses bans sources

db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if compgen -G "$db_dir/*" >/dev/null; then
  echo "deny: checking advisories against the RustSec copy fetched $(stat -c %y "$db_dir"/* | head -1)" >&2
  cargo deny --locked check --disable-fetch advisories
else
  echo "deny: WARNING: advisories NOT checked: no local RustSec database (run \`cargo deny fetch\` where the network allows)" >&2
fi
