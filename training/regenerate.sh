#!/bin/sh
# Regenerates models/detector.onnx, models/reader.onnx and models/refiner.onnx from nothing:
# installs the open fonts and background pictures, the pinned Python
# packages, draws the data set from a fixed seed, trains the networks on
# the CPU (a GPU is used if present) and exports them.
#
#   training/regenerate.sh [WORK_DIR]      (about 12 hours on 2 cores)
#
# Environment: SEED (default 1), READER_MINUTES (30), DETECTOR_MINUTES (33).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/var/tmp/anprd-training}
seed=${SEED:-1}
mkdir -p "$work"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    apt-get install -y --no-install-recommends fonts-opendin fonts-dejavu-core \
        fonts-liberation2 fonts-noto-mono fonts-roboto-unhinted fonts-open-sans \
        fonts-freefont-ttf fonts-b612 fonts-inter fonts-lato fonts-cantarell \
        fonts-firacode opencv-doc python3 python3-venv >/dev/null
fi
# The pinned packages go into a virtual environment of their own: Debian's
# Python refuses system-wide pip installs (PEP 668).
if [ ! -x "$work/venv/bin/python3" ]; then
    python3 -m venv "$work/venv"
fi
. "$work/venv/bin/activate"
python3 -m pip install -q -r "$here/requirements.txt"
cd "$here"
# share_from SRC DIR FILE...: links these files of data set SRC into DIR (a
# later round reuses them rather than drawing them again); share DIR FILE...
# links them from the first data set.
share_from() {
    src=$1 dir=$2; shift 2
    for f in "$@"; do
        ln -sf "$src/$f" "$dir/$f"
    done
}
share() {
    dir=$1; shift
    share_from "$work/data" "$dir" "$@"
}
python3 gen.py "$work/data" --seed "$seed" --detector 12000 --reader 90000
# Plates from anprd's own renderer (src/plate/), so the networks also know
# the procedural UK glyphs of the tests and traffic clips.
cargo build --release --manifest-path "$here/../Cargo.toml" --bin anprd-synth
synth=$(cargo metadata --manifest-path "$here/../Cargo.toml" --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/anprd-synth
# --blur-in-pixels: smeared as the committed models' pictures were (training/README.md).
"$synth" plates --out "$work/rs" --count 1800 --seed $((seed + 1000)) --blur-in-pixels
python3 rust_data.py "$work/rs" "$work/data"
# Round 1: both networks from scratch, at once, one thread each.
python3 train.py reader "$work/data" "$work/reader1.pt" --seed "$seed" --threads 1 \
    --minutes "${READER_MINUTES:-30}" &
python3 train.py detector "$work/data" "$work/detector1.pt" --seed "$seed" --threads 1 \
    --minutes "${DETECTOR_MINUTES:-33}"
wait
# Round 2: fresh detector pictures from the next seed (the reader keeps its
# crops), both fine-tuned from round 1 at a lower learning rate.
python3 gen.py "$work/data2" --seed $((seed + 1)) --detector 12000 --reader 0
share "$work/data2" detector_rs.npy detector_rs.json reader.npy reader.txt reader_rs.npy reader_rs.txt
python3 train.py reader "$work/data" "$work/reader2.pt" --init "$work/reader1.pt" \
    --seed $((seed + 1)) --threads 1 --lr 8e-4 --minutes 28 &
python3 train.py detector "$work/data2" "$work/detector2.pt" --init "$work/detector1.pt" \
    --seed $((seed + 1)) --threads 1 --lr 1.2e-3 --minutes 28
wait
# Round 3: the reader once more, on crops shifted and scaled as the
# detector's corners err (train.py --corner-error).
python3 train.py reader "$work/data" "$work/reader3.pt" --init "$work/reader2.pt" \
    --seed $((seed + 2)) --threads 2 --lr 6e-4 --minutes 22 --corner-error
# Round 4: the same, five times as long (one thread: 18,700 steps).
python3 train.py reader "$work/data" "$work/reader4.pt" --init "$work/reader3.pt" \
    --seed $((seed + 3)) --threads 1 --lr 6e-4 --minutes 110 --corner-error
# Round 5: the reader on fresh crops from the next seeds (more fonts since
# this round was added; the Rust renderer's crops as before), two threads.
python3 gen.py "$work/data5" --seed $((seed + 5)) --detector 0 --reader 90000
share "$work/data5" reader_rs.npy reader_rs.txt
python3 train.py reader "$work/data5" "$work/reader5.pt" --init "$work/reader4.pt" \
    --seed $((seed + 5)) --threads 2 --lr 4e-4 --minutes 60 --corner-error
# Round 6: fresh crops from the next seed in five more faces (B612, Inter,
# Lato, Cantarell, Fira Code), batch norms frozen (the same procedure that
# fine-tuned the committed reader from its own export, models/README.md).
python3 gen.py "$work/data6" --seed $((seed + 6)) --detector 0 --reader 90000
share "$work/data6" reader_rs.npy reader_rs.txt
python3 train.py reader "$work/data6" "$work/reader6.pt" --init "$work/reader5.pt" --freeze-bn \
    --seed $((seed + 6)) --threads 2 --lr 3e-4 --minutes 60 --corner-error
# Round 7: the reader on 10,000 more pictures of anprd's own renderer (three
# crops each, drawn as often as the 40,000 fresh crops of gen.py), then its
# weights taken half way back to round 6's (interpolate.py): the whole round
# gained on generated plates and lost Brazilian photographs, half of it kept
# most of the gain (models/README.md).
python3 gen.py "$work/data7" --seed $((seed + 10)) --detector 0 --reader 40000
"$synth" plates --out "$work/rs7a" --count 6000 --seed $((seed + 7000)) --blur-in-pixels
"$synth" plates --out "$work/rs7b" --count 4000 --seed $((seed + 7001)) --blur-in-pixels
python3 rust_data.py "$work/rs7a" "$work/rs7b" "$work/data7"
python3 train.py reader "$work/data7" "$work/reader7.pt" --init "$work/reader6.pt" --freeze-bn \
    --seed $((seed + 11)) --threads 2 --lr 3e-4 --minutes 55 --corner-error --rust-weight 1
python3 interpolate.py "$work/reader6.pt" "$work/reader7.pt" 0.5 "$work/reader7h.pt"
# Round 10: European plates with hyphens, dots, Germany's seals and shields
# between their groups (gen.py --eu-separators), beside round 7's pictures of
# anprd's own renderer, then half way back again (models/README.md).
python3 gen.py "$work/data10" --seed $((seed + 40)) --detector 0 --reader 40000 --eu-separators
share_from "$work/data7" "$work/data10" reader_rs.npy reader_rs.txt
python3 train.py reader "$work/data10" "$work/reader10.pt" --init "$work/reader7h.pt" --freeze-bn \
    --seed $((seed + 15)) --threads 2 --lr 3e-4 --minutes 55 --corner-error --rust-weight 1
python3 interpolate.py "$work/reader7h.pt" "$work/reader10.pt" 0.5 "$work/reader10h.pt"
# Round 11: more of the emblems, and emblems as tall as the characters
# (gen.py --eu-emblems), beside the same pictures of anprd's renderer; kept
# whole: half way back read the shields worse and real photographs no
# better (models/README.md).
python3 gen.py "$work/data11" --seed $((seed + 50)) --detector 0 --reader 40000 --eu-separators --eu-emblems
share_from "$work/data7" "$work/data11" reader_rs.npy reader_rs.txt
python3 train.py reader "$work/data11" "$work/reader.pt" --init "$work/reader10h.pt" --freeze-bn \
    --seed $((seed + 16)) --threads 2 --lr 3e-4 --minutes 55 --corner-error --rust-weight 1
# The detector once more, on fresh scenes in which half the plates sit in a
# holder frame or a recess (synth.surround), two threads, batch norms frozen
# (as the committed detector was fine-tuned from round 2's export).
python3 gen.py "$work/data8" --seed $((seed + 8)) --detector 16000 --reader 0
share "$work/data8" detector_rs.npy detector_rs.json
python3 train.py detector "$work/data8" "$work/detector4.pt" --init "$work/detector2.pt" --freeze-bn \
    --seed $((seed + 8)) --threads 2 --lr 8e-4 --minutes 55
# And once more on fresh scenes of the same kind, 30 minutes.
python3 gen.py "$work/data9" --seed $((seed + 9)) --detector 16000 --reader 0
share "$work/data9" detector_rs.npy detector_rs.json
python3 train.py detector "$work/data9" "$work/detector5.pt" --init "$work/detector4.pt" --freeze-bn \
    --seed $((seed + 9)) --threads 2 --lr 5e-4 --minutes 30
# Round 6: fresh scenes in which a quarter of the plates are US plates drawn
# as real ones look (gen.py --us-scenic), 45 minutes, then half way back
# (interpolate.py --detector): round 5 boxed the band of characters of a
# real US plate as if it were a UK plate (models/README.md).
python3 gen.py "$work/data12" --seed $((seed + 69)) --detector 16000 --reader 0 --us-scenic
share "$work/data12" detector_rs.npy detector_rs.json
python3 train.py detector "$work/data12" "$work/detector6.pt" --init "$work/detector5.pt" --freeze-bn \
    --seed $((seed + 19)) --threads 2 --lr 5e-4 --minutes 45
python3 interpolate.py --detector "$work/detector5.pt" "$work/detector6.pt" 0.5 "$work/detector.pt"
python3 export.py "$work/detector.pt" "$work/reader.pt" "$here/../models"
# The corner refiner (refiner.py), on the corners this detector gives 6,000
# pictures of anprd's renderer (smeared by their travel, as the test set is)
# and 8,400 of gen.py's scenes (US, Brazilian and European plates too),
# 34 minutes on two threads (models/README.md, "Corner refiner on every
# country's plates").
cargo build --release --manifest-path "$here/../Cargo.toml" --bin anprd
anprd="$(dirname "$synth")/anprd"
"$synth" plates --out "$work/rf1" --count 3000 --seed 20001
"$synth" plates --out "$work/rf2" --count 3000 --seed 20002
python3 refiner.py scenes "$work/sc1" --seed 30001 --count 4200
python3 refiner.py scenes "$work/sc2" --seed 30002 --count 4200
# The corners are the detector's alone: an earlier refiner must not move them.
rm -f "$here/../models/refiner.onnx"
ANPRD_MODELS="$here/../models" python3 refiner.py collect "$work/rf1" "$work/rf2" "$work/sc1" "$work/sc2" --out "$work" --anprd "$anprd"
python3 refiner.py train --data "$work/rf1.npz" "$work/rf2.npz" "$work/sc1.npz" "$work/sc2.npz" --out "$work/refiner.pt" \
    --minutes 34 --batch 96 --threads 2 --seed 1
python3 refiner.py export --ckpt "$work/refiner.pt" "$here/../models/refiner.onnx"
