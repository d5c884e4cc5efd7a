#!/bin/sh
# Regenerates models/detector.onnx and models/reader.onnx from nothing:
# installs the open fonts and background pictures, the pinned Python
# packages, draws the data set from a fixed seed, trains both networks on
# the CPU (a GPU is used if present) and exports them.
#
#   training/regenerate.sh [WORK_DIR]      (about an hour on 2 cores)
#
# Environment: SEED (default 1), READER_MINUTES (30), DETECTOR_MINUTES (33).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/var/tmp/anprd-training}
seed=${SEED:-1}
mkdir -p "$work"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y --no-install-recommends fonts-opendin fonts-dejavu-core \
        fonts-liberation2 fonts-noto-mono opencv-doc >/dev/null
fi
python3 -m pip install -q -r "$here/requirements.txt"
cd "$here"
python3 gen.py "$work/data" --seed "$seed" --detector 12000 --reader 90000
# Plates from anprd's own renderer (src/plate/), so the networks also know
# the procedural UK glyphs of the tests and traffic clips.
cargo build --release --manifest-path "$here/../Cargo.toml" --bin anprd-synth
synth=$(cargo metadata --manifest-path "$here/../Cargo.toml" --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/anprd-synth
"$synth" plates --out "$work/rs" --count 1800 --seed $((seed + 1000))
python3 rust_data.py "$work/rs" "$work/data"
# Both networks train at once, one thread each.
python3 train.py reader "$work/data" "$work/reader.pt" --seed "$seed" --threads 1 \
    --minutes "${READER_MINUTES:-30}" &
python3 train.py detector "$work/data" "$work/detector.pt" --seed "$seed" --threads 1 \
    --minutes "${DETECTOR_MINUTES:-33}"
wait
python3 export.py "$work/detector.pt" "$work/reader.pt" "$here/../models"
