"""Writes a data set of detector and reader samples from a seed.

    python3 gen.py OUT_DIR --seed 1 --detector 10000 --reader 80000

OUT_DIR/detector.npy (N x 384 x 640 uint8), detector.json (corners and
two-line flags per image), reader.npy (N x 32 x 128 uint8), reader.txt (one
label per line). Samples are drawn in blocks of 100, each from its own seed,
so the result does not depend on the number of worker processes.
"""

import argparse
import json
import multiprocessing as mp
import os
import random

import numpy as np

import synth


def det_block(args):
    seed, n = args
    rng = random.Random(seed)
    out = [synth.detector_sample(rng) for _ in range(n)]
    return np.stack([o[0] for o in out]), [[(list(map(list, c)), t) for c, t in o[1]] for o in out]


def read_block(args):
    seed, n = args
    rng = random.Random(seed)
    out = [synth.reader_sample(rng) for _ in range(n)]
    return np.stack([o[0] for o in out]), [o[1] for o in out]


def blocks(seed, kind, total):
    return [(seed * 1_000_003 + kind * 100_003 + i, min(100, total - i * 100))
            for i in range((total + 99) // 100)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--detector", type=int, default=10000)
    ap.add_argument("--reader", type=int, default=80000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--eu-separators", action="store_true",
                    help="European plates with hyphens, dots, seals and emblems between groups (round 10 on)")
    ap.add_argument("--eu-emblems", action="store_true",
                    help="with --eu-separators: more emblems, as tall as the characters (round 11 on)")
    ap.add_argument("--glyph-warp", action="store_true",
                    help="each glyph bolder or thinner, slanted and bent a little (round 12, not adopted)")
    ap.add_argument("--us-scenic", action="store_true",
                    help="US plates with pictures, state names and stickers, a quarter of all plates (detector round 6)")
    ap.add_argument("--travel-smear", action="store_true",
                    help="reader: a quarter of the crops smeared by the plate's travel, 2-6 %% of its width (round 14)")
    a = ap.parse_args()
    # Set before the worker pool forks, so every worker draws the same way.
    synth.EU_SEPARATORS = a.eu_separators
    synth.EU_EMBLEMS = a.eu_emblems
    synth.GLYPH_WARP = a.glyph_warp
    synth.US_SCENIC = a.us_scenic
    synth.TRAVEL_SMEAR = a.travel_smear
    os.makedirs(a.out, exist_ok=True)
    with mp.Pool(a.jobs) as pool:
        if a.reader:
            imgs, labels = [], []
            for im, lb in pool.imap(read_block, blocks(a.seed, 2, a.reader)):
                imgs.append(im); labels += lb
            np.save(os.path.join(a.out, "reader.npy"), np.concatenate(imgs))
            with open(os.path.join(a.out, "reader.txt"), "w") as f:
                f.write("\n".join(labels) + "\n")
            print("reader samples", len(labels), flush=True)
        if a.detector:
            mm = np.lib.format.open_memmap(os.path.join(a.out, "detector.npy"), "w+", np.uint8,
                                           (a.detector, 384, 640))
            meta, i = [], 0
            for im, m in pool.imap(det_block, blocks(a.seed, 1, a.detector)):
                mm[i:i + len(im)] = im; i += len(im); meta += m
            mm.flush()
            with open(os.path.join(a.out, "detector.json"), "w") as f:
                json.dump(meta, f)
            print("detector samples", len(meta), flush=True)


if __name__ == "__main__":
    main()
