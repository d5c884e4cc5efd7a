#!/bin/sh
# A reader round for a borrowed GPU machine: several readers trained side by
# side on one GPU, from one set of fresh crops drawn on the machine's cores.
# Prepared on 2026-12-06 and run end to end here on the CPU with tiny budgets
# (BLOCK=300, 1 s, 0.1 min); the machine was not lent that day, so no reader
# from it has been measured or committed yet.
#
#   training/gpu-round.sh ASSETS OUT GEN_SECONDS TRAIN_MINUTES
#
# ASSETS holds what the machine cannot install (it reaches no package
# registry): fonts/truetype and fonts/opentype (copies of the Debian font
# packages regenerate.sh installs), backgrounds/ (opencv-doc's pictures) and
# reader_rs.{npy,txt} (crops of anprd's own renderer, from rust_data.py).
# Crops are drawn in blocks of 32,000 (BLOCK), seeds 61, 62, … (as
# `gen.py --eu-separators --eu-emblems`), until GEN_SECONDS have passed; every
# variant then trains for TRAIN_MINUTES on the same crops. Checkpoints and logs
# go to OUT. On a machine without a GPU it runs too, only slowly.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
assets=$(cd "$1" && pwd)
out=$2
gen_seconds=$3
minutes=$4
mkdir -p "$out"
out=$(cd "$out" && pwd)
export ANPRD_FONT_DIR="$assets/fonts/truetype" ANPRD_BACKGROUNDS="$assets/backgrounds"
export PYTHONUNBUFFERED=1
work=${WORK:-/tmp/anprd-round12}
block=${BLOCK:-32000}
rm -rf "$work"
mkdir -p "$work/data"
cd "$here"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

start=$(date +%s)
seed=61
while [ $(($(date +%s) - start)) -lt "$gen_seconds" ]; do
    python3 gen.py "$work/g$seed" --seed "$seed" --detector 0 --reader "$block" --eu-separators --eu-emblems
    seed=$((seed + 1))
done
python3 - "$work" "$block" <<'EOF'
import glob, os, sys
import numpy as np
work = sys.argv[1]
dirs = sorted(glob.glob(os.path.join(work, "g*")), key=lambda d: int(d.rsplit("g", 1)[1]))
x = np.concatenate([np.load(os.path.join(d, "reader.npy")) for d in dirs])
y = [l for d in dirs for l in open(os.path.join(d, "reader.txt")).read().split("\n")[:int(sys.argv[2])]]
assert len(x) == len(y), (len(x), len(y))
np.save(os.path.join(work, "data", "reader.npy"), x)
open(os.path.join(work, "data", "reader.txt"), "w").write("\n".join(y) + "\n")
print("fresh crops", len(x), "from", [os.path.basename(d) for d in dirs], flush=True)
EOF
cp "$assets/reader_rs.npy" "$assets/reader_rs.txt" "$work/data/"

# The variants: the committed reader fine-tuned as rounds 10 and 11 were
# (frozen batch norms, corner error) at two batch sizes, and the same network
# trained from scratch on everything the rounds added one by one.
tune="--init ../models/reader.onnx --freeze-bn"
set -- \
    "a $tune --lr 3e-4 --batch 96 --rust-weight 8" \
    "b $tune --lr 6e-4 --batch 384 --rust-weight 8" \
    "c --lr 2e-3 --batch 256 --rust-weight 8" \
    "d --lr 3e-3 --batch 512 --rust-weight 8"
for v in "$@"; do
    name=${v%% *}
    # shellcheck disable=SC2086 # the options are words
    python3 train.py reader "$work/data" "$out/reader12$name.pt" ${v#* } --seed 18 --threads 2 \
        --minutes "$minutes" --corner-error > "$out/train-$name.log" 2>&1 &
done
wait
tail -n 1 "$out"/train-*.log
