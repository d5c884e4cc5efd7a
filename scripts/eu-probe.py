#!/usr/bin/env python3
"""European plates with what sits between their groups: an evaluation probe.

    python3 scripts/eu-probe.py OUT_DIR SEED SEPARATOR [COUNT]

Writes COUNT (default 200) pictures of one-line European plates (EU band,
Open DIN, black on white) with OpenALPR-format labels, for `anprd eval`.
Every SEPARATOR draws the same plates (same SEED), so the sets differ only in
what stands between the character groups:

  space    nothing (the baseline)
  hyphen   a dash, as on French, Dutch or Croatian plates
  seals    two round stickers stacked, as on German plates
  shield   a chequered shield, as the Croatian coat of arms sits on its plates
  star     a star-shaped emblem, a shape the training data never draws

None of these is a character, so a read carries only the groups' letters and
digits. The training data (training/synth.py, `gen.py --eu-separators`) draws
hyphens, dots, seals and random shields between groups; the star is kept out
of it, so the star set shows whether the reader learnt to skip emblems in
general or only the shapes it saw. Needs Pillow and Debian's fonts-opendin.
"""

import math
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = "/usr/share/fonts/truetype/opendin/OSP-DIN.ttf"
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
SEPARATORS = ("space", "hyphen", "seals", "shield", "star")
# Width of each separator in millimetres of a 520 mm plate.
SEPARATOR_MM = {"space": 24, "hyphen": 44, "seals": 50, "shield": 56, "star": 56}


def groups(rng):
    """Character groups in the shape of a few countries' marks."""
    letters = lambda n: "".join(rng.choice(LETTERS) for _ in range(n))
    digits = lambda n: "".join(rng.choice(DIGITS) for _ in range(n))
    k = rng.random()
    if k < 0.25:
        return [letters(2), digits(3), letters(2)]  # France: AB-123-CD
    if k < 0.5:
        return [letters(rng.randint(1, 3)), letters(rng.randint(1, 2)), str(rng.randint(1, 9999))]  # Germany
    if k < 0.75:
        return [letters(2), str(rng.randint(100, 9999)), letters(2)]  # Croatia: ZG 1234-AB
    return [letters(2), digits(2), letters(2)]  # Netherlands: AB-12-CD


def separator(d, sep, x, w, s):
    """Draws `sep` in the gap from x to x + w (pixels at s per mm)."""
    cx, cy = x + w / 2, 55 * s
    if sep == "hyphen":
        d.rectangle([x + 10 * s, cy - 5 * s, x + w - 10 * s, cy + 5 * s], fill=(10, 10, 10))
    elif sep == "seals":
        for sy, r, colour in ((33 * s, 17 * s, (30, 90, 170)), (78 * s, 19 * s, (200, 200, 200))):
            d.ellipse([cx - r, sy - r, cx + r, sy + r], fill=colour, outline=(60, 60, 60), width=2 * s)
    elif sep == "shield":
        d.polygon([(cx - 22 * s, 25 * s), (cx + 22 * s, 25 * s), (cx + 22 * s, 70 * s), (cx, 90 * s),
                   (cx - 22 * s, 70 * s)], fill=(200, 30, 30), outline=(20, 20, 20))
        for i in range(4):
            for j in range(4):
                if (i + j) % 2 == 0:
                    d.rectangle([cx - 22 * s + i * 11 * s, 25 * s + j * 11 * s,
                                 cx - 11 * s + i * 11 * s, 36 * s + j * 11 * s], fill=(250, 250, 250))
    elif sep == "star":
        points = []
        for k in range(14):
            r = (24 if k % 2 == 0 else 11) * s
            a = k * math.pi / 7
            points.append((cx + r * math.sin(a), cy - r * math.cos(a)))
        d.polygon(points, fill=(120, 20, 40), outline=(230, 190, 30))


def plate(rng, gs, sep):
    """The plate at 4 px per mm."""
    s, width, height = 4, 520, 110
    im = Image.new("RGB", (width * s, height * s), (245, 245, 240))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, width * s - 1, height * s - 1], outline=(20, 20, 20), width=3 * s)
    d.rectangle([3 * s, 3 * s, 45 * s, (height - 3) * s], fill=(0, 51, 153))
    d.text((12 * s, 68 * s), rng.choice(["D", "F", "HR", "NL"]), font=ImageFont.truetype(FONT, 26 * s),
           fill=(250, 250, 250))
    font = ImageFont.truetype(FONT, 92 * s)
    gap = SEPARATOR_MM[sep] * s
    text_w = lambda f: sum(d.textlength(g, font=f) for g in gs) + gap * (len(gs) - 1)
    room = (width - 68) * s
    if text_w(font) > room:
        font = ImageFont.truetype(FONT, int(92 * s * room / text_w(font)))
    x = 58 * s + (room - text_w(font)) / 2
    for i, g in enumerate(gs):
        d.text((x, 8 * s), g, font=font, fill=(10, 10, 10))
        x += d.textlength(g, font=font)
        if i < len(gs) - 1:
            separator(d, sep, x, gap, s)
            x += gap
    return im


def main(out, seed, sep, count):
    if sep not in SEPARATORS:
        sys.exit(f"eu-probe: separator {sep!r} is not one of {', '.join(SEPARATORS)}")
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        gs = groups(rng)
        p = plate(rng, gs, sep)
        pw = rng.randint(140, 360)
        p = p.resize((pw, int(pw * 110 / 520)), Image.LANCZOS)
        width, height = 800, 450
        bg = Image.new("RGB", (width, height), tuple(rng.randint(30, 120) for _ in range(3)))
        d = ImageDraw.Draw(bg)
        for _ in range(6):
            x0, y0 = rng.randint(0, width), rng.randint(0, height)
            d.rectangle([x0, y0, x0 + rng.randint(20, 300), y0 + rng.randint(20, 200)],
                        fill=tuple(rng.randint(0, 200) for _ in range(3)))
        p = p.convert("RGBA").rotate(rng.uniform(-6, 6), expand=True, resample=Image.BICUBIC)
        x, y = rng.randint(20, width - p.width - 20), rng.randint(20, height - p.height - 20)
        bg.paste(p, (x, y), p)
        bg = bg.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
        name = f"{i:04d}.jpg"
        bg.save(os.path.join(out, name), quality=rng.randint(60, 90))
        with open(os.path.join(out, f"{i:04d}.txt"), "w") as f:
            f.write(f"{name}\t{x}\t{y}\t{p.width}\t{p.height}\t{''.join(gs)}\n")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) == 5 else 200)
