#!/usr/bin/env python3
"""Cuts labelled pictures close around their plates, for `anprd eval`.

    scripts/crop-to-plates.py SRC DST SEED [LOW HIGH]

For each OpenALPR-style label in SRC (`NAME.txt`: file, x, y, w, h, text) the
picture is cut around its first plate with a margin drawn at random for each
side (LOW to HIGH of the plate's width or height, 0 to 0.5 unless given,
clipped to the picture) and
written to DST as a grey PNG with its label moved to match. Close photographs
and collections of plate pictures look like this; the whole-frame look of a
video frame never does. Pictures in ../shared/eval stay evaluation-only: write
their crops outside the repository. Needs Pillow (training/requirements.txt).
"""
import glob
import os
import random
import sys

from PIL import Image


def main():
    if len(sys.argv) not in (4, 6):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    src, dst, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    low, high = (float(v) for v in sys.argv[4:6]) if len(sys.argv) == 6 else (0.0, 0.5)
    rng = random.Random(seed)
    os.makedirs(dst, exist_ok=True)
    for label in sorted(glob.glob(os.path.join(src, "*.txt"))):
        with open(label) as f:
            first = f.read().strip().split("\n")[0]
        fields = first.split("\t")
        if len(fields) < 6:
            sys.exit(f"{label}:1: expected file, x, y, w, h and text, tab separated")
        name, text = fields[0], fields[5]
        x, y, w, h = map(int, fields[1:5])
        picture = Image.open(os.path.join(src, name)).convert("L")
        left, top, right, bottom = (rng.uniform(low, high) for _ in range(4))
        x0, y0 = max(0, int(x - left * w)), max(0, int(y - top * h))
        x1 = min(picture.size[0], int(x + w + right * w))
        y1 = min(picture.size[1], int(y + h + bottom * h))
        stem = os.path.splitext(name)[0]
        picture.crop((x0, y0, x1, y1)).save(os.path.join(dst, stem + ".png"))
        with open(os.path.join(dst, stem + ".txt"), "w") as out:
            out.write(f"{stem}.png\t{x - x0}\t{y - y0}\t{w}\t{h}\t{text}\n")


if __name__ == "__main__":
    main()
