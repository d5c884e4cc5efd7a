"""Adds plates drawn by anprd's own Rust renderer (`anprd-synth plates`,
src/plate/) to a data set, so the networks also know the procedural UK
glyphs the tests and traffic clips use.

    anprd-synth plates --out RS_DIR --count 3000 --seed 1001 --blur-in-pixels
    python3 rust_data.py RS_DIR... DATA_DIR [--reader-plates N]

Writes DATA_DIR/reader_rs.{npy,txt} (three jittered crops per plate, a
two-line plate as its two lines side by side) and DATA_DIR/detector_rs.{npy,json}
(each picture letterboxed to 640x384, with each plate's corners and layout).
With --reader-plates N only the first N plates give reader crops (0: no
reader files at all; the detector gets every picture): train.py draws these
crops four times as often as its own, and the reader should still see mostly
other faces.
"""

import argparse
import json
import os
import random

import numpy as np
from PIL import Image

import nets
import synth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src", nargs="+", help="directories written by anprd-synth plates")
    ap.add_argument("out")
    ap.add_argument("--reader-plates", type=int, default=None)
    args = ap.parse_args()
    out = args.out
    rng = random.Random(7)
    crops, texts, dets, meta = [], [], [], []
    labels = [(src, json.loads(line)) for src in args.src
              for line in open(os.path.join(src, "labels.jsonl"))]
    for src, lab in labels:
        img = Image.open(os.path.join(src, lab["file"])).convert("L")
        corners = lab["corners"]
        two = bool(lab.get("two_line", False))
        pw = abs(corners[1][0] - corners[0][0])
        ph = abs(corners[3][1] - corners[0][1])
        if args.reader_plates is None or len(meta) < args.reader_plates:
            for _ in range(3):
                jit = [(x + rng.gauss(0, 0.04) * pw, y + rng.gauss(0, 0.06) * ph) for x, y in corners]
                crops.append(np.asarray(synth.rectify(img, jit, two), np.uint8))
                texts.append(lab["text"])
        s = min(nets.DET_W / img.size[0], nets.DET_H / img.size[1])
        small = img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.BOX)
        canvas = np.zeros((nets.DET_H, nets.DET_W), np.uint8)
        canvas[: small.size[1], : small.size[0]] = np.asarray(small)
        dets.append(canvas)
        meta.append([[[[x * s, y * s] for x, y in corners], two]])
    # --reader-plates 0 gives the detector pictures alone: no reader files,
    # not even an earlier run's, which train.py would otherwise still read.
    reader_files = [os.path.join(out, "reader_rs" + ext) for ext in (".npy", ".txt")]
    if crops:
        np.save(reader_files[0], np.stack(crops))
        open(reader_files[1], "w").write("\n".join(texts) + "\n")
    else:
        for f in reader_files:
            if os.path.exists(f):
                os.remove(f)
    np.save(os.path.join(out, "detector_rs.npy"), np.stack(dets))
    json.dump(meta, open(os.path.join(out, "detector_rs.json"), "w"))
    print("rust plates", len(meta))


if __name__ == "__main__":
    main()
