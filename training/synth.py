"""Synthetic training data: number plates drawn from open fonts, put in
perspective into scenes and degraded like roadside photographs.

Everything here is generated from a seed. Inputs are only open material
installed from Debian: fonts (Open DIN / OSP-DIN: OFL; DejaVu: Bitstream Vera
licence; Liberation: OFL; Noto Mono: OFL; Roboto and Open Sans: Apache 2.0;
GNU FreeFont: GPL 3 with the font exception; B612: OFL / EPL 2.0; Inter,
Lato, Cantarell and Fira Code: OFL) and, as backgrounds, the sample
pictures of `opencv-doc` (OpenCV's licence, see its Debian copyright file).
No photograph of a real plate is used.

There is no free copy of the UK "Charles Wright" typeface, so UK plates are
drawn with condensed open sans fonts laid out to the UK rules (79 mm
characters, 50 mm pitch, 33 mm group gap, 520x111 mm one-line and 285x203 mm
two-line plates). Other plates (EU band, US-like 2:1, Brazilian-like) widen
what the detector and reader have seen, so they generalise to real roads.
"""

import glob
import io
import math
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

import nets

# Where the Debian font and picture packages put their files; the two
# variables point elsewhere where they cannot be installed (a GPU machine
# with no package registry gets copies of the same files).
FONT_DIRS = os.environ.get("ANPRD_FONT_DIR", "/usr/share/fonts/truetype")
FONTS = [
    ("opendin/OSP-DIN.ttf", 1.00),
    ("dejavu/DejaVuSansCondensed-Bold.ttf", 1.0),
    ("dejavu/DejaVuSans-Bold.ttf", 0.5),
    ("liberation2/LiberationSans-Bold.ttf", 1.0),
    ("liberation2/LiberationMono-Bold.ttf", 0.4),
    ("noto/NotoSansMono-Bold.ttf", 0.5),
    ("dejavu/DejaVuSansMono-Bold.ttf", 0.4),
    # Added for the fifth reader round: more shapes of 1, 8, B, I, 0 and D,
    # so the reader leans less on one family's details.
    ("roboto/unhinted/RobotoCondensed-Bold.ttf", 0.8),
    ("roboto/unhinted/RobotoTTF/Roboto-Bold.ttf", 0.4),
    ("open-sans/OpenSans-CondBold.ttf", 0.8),
    ("freefont/FreeSansBold.ttf", 0.6),
    ("freefont/FreeMonoBold.ttf", 0.2),
    # Added for the sixth reader round (Debian fonts-b612, fonts-inter,
    # fonts-lato, fonts-cantarell, fonts-firacode; all OFL): the reader
    # read real plates' flagged 1s as I and 8s as B in faces it had not seen.
    ("../opentype/b612/B612-Bold.otf", 0.5),
    ("../opentype/inter/Inter-Bold.otf", 0.5),
    ("lato/Lato-Bold.ttf", 0.5),
    ("../opentype/cantarell/Cantarell-Bold.otf", 0.4),
    ("firacode/FiraCode-Bold.ttf", 0.3),
]
BACKGROUNDS = os.environ.get("ANPRD_BACKGROUNDS", "/usr/share/doc/opencv-doc/examples/data")

# European plates with hyphens, dots, seals and emblems between their groups
# (reader round 10 on; `gen.py --eu-separators`). Off, earlier rounds' data
# are drawn exactly as they were.
EU_SEPARATORS = False
# With EU_SEPARATORS: more of the separators are emblems, and emblems reach
# up to the characters' height and the gap's width (reader round 11 on;
# `gen.py --eu-emblems`). Off, round 10's data are drawn exactly as they were.
EU_EMBLEMS = False
# Each glyph drawn a little differently from its font: bolder or thinner
# strokes, a slant and a smooth local warp (`gen.py --glyph-warp`). Real
# plate faces (an open-topped 4, a W whose middle reaches the top) differ
# from every open font in such details. Tried in reader round 12 and not
# adopted: bent, D and O, B and 8 look alike (models/README.md). Off,
# earlier rounds' data are drawn exactly as they were.
GLYPH_WARP = False
# US plates drawn as real ones look (`gen.py --us-scenic`, detector round 6):
# a pale picture behind the characters, the state's name and a slogan in
# colour, registration stickers and bolt slots, and a quarter of all plates
# instead of 15 %. The round-5 detector boxed the band of characters of real
# US plates as if it were a UK plate, a quad about 4.7 times as wide as tall
# over a plate twice as wide as tall (models/README.md). Off, earlier rounds'
# data are drawn exactly as they were.
US_SCENIC = False
# A quarter of reader crops smeared sideways by the plate's travel while the
# shutter is open: 10, 17, 23 or 30 mm at the plate's own scale, 2-6 % of its
# width at any distance, as anprd's renderer draws moving plates since stop 37
# (src/plate/sample.rs, `MotionBlur::Travel`; `gen.py --travel-smear`). The
# blur in `degrade` is 2-6 px at any size: 1.5 % of a 400 px plate. Reader
# round 13 learnt this smear from anprd's UK plates alone and read Brazil's
# digits as the letters UK marks have there; drawn here, every format is
# smeared alike. Off, earlier rounds' data are drawn exactly as they were.
TRAVEL_SMEAR = False

LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # UK: no I or Q in most places
ALL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

_font_cache = {}
_bg_cache = None


def font(path, size):
    key = (path, size)
    if key not in _font_cache:
        _font_cache[key] = ImageFont.truetype(os.path.join(FONT_DIRS, path), size)
    return _font_cache[key]


def pick_font(rng):
    names, weights = zip(*FONTS)
    return rng.choices(names, weights)[0]


def backgrounds():
    global _bg_cache
    if _bg_cache is None:
        _bg_cache = []
        for f in sorted(glob.glob(BACKGROUNDS + "/*.jpg") + glob.glob(BACKGROUNDS + "/*.png")):
            try:
                im = Image.open(f).convert("L")
            except Exception:
                continue
            if min(im.size) >= 64:
                _bg_cache.append(im)
    return _bg_cache


# ---------------------------------------------------------------- plate text

def uk_mark(rng):
    """(lines, text): a UK registration in one of the formats, as printed."""
    L = lambda n: "".join(rng.choice(LETTERS) for _ in range(n))
    D = lambda a, b: "".join(rng.choice(DIGITS) for _ in range(rng.randint(a, b)))
    k = rng.random()
    if k < 0.45:
        a, b = L(2) + rng.choice(DIGITS) + rng.choice(DIGITS), L(3)          # AB12 CDE
    elif k < 0.6:
        a, b = L(1) + str(rng.randint(1, 999)), L(3)                         # A123 BCD
    elif k < 0.72:
        a, b = L(3), str(rng.randint(1, 999)) + L(1)                         # ABC 123D
    elif k < 0.8:
        a, b = L(2) + "Z" if rng.random() < 0.5 else L(1) + "I" + L(1), D(1, 4)  # NI
    elif k < 0.9:
        a, b = D(1, 4), L(rng.randint(1, 3))                                 # 1234 AB
    else:
        a, b = L(rng.randint(1, 3)), D(1, 4)                                 # ABC 123
    return a, b


def random_text(rng, lo=4, hi=8):
    n = rng.randint(lo, hi)
    return "".join(rng.choice(ALL_LETTERS + DIGITS * 2) for _ in range(n))


# ------------------------------------------------------------- plate drawing

def draw_text_fit(draw, box, text, fontpath, fill, rng, condense=1.0, spacing=None):
    """Draws `text` filling `box` (x0, y0, x1, y1) in height and returns the
    (x0, x1) of each run of spaces, where a plate may carry a separator.
    Characters are placed one by one so the pitch can follow plate rules."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    # Size the font so capitals are h tall.
    size = max(6, int(h * 1.35))
    f = font(fontpath, size)
    bb = f.getbbox("H")
    cap = bb[3] - bb[1]
    size = max(6, int(size * h / max(cap, 1)))
    f = font(fontpath, size)
    bb = f.getbbox("H")
    widths = []
    for ch in text:
        if ch == " ":
            widths.append(None)
        else:
            b = f.getbbox(ch)
            widths.append(b[2] - b[0])
    gap = spacing if spacing is not None else h * 0.14
    total = sum(w * condense if w else h * 0.35 for w in widths) + gap * (len(text) - 1)
    avail = x1 - x0
    scale = min(1.0, avail / max(total, 1))
    # Render each glyph into its own tile, then squeeze it horizontally.
    x = x0 + (avail - total * scale) / 2
    img = draw._image
    gaps = []
    for ch, w in zip(text, widths):
        if w is None:
            # The space between the glyphs either side, for a separator.
            step = (h * 0.35 + gap) * scale
            if gaps and abs(gaps[-1][1] - x) < 1e-6:
                gaps[-1] = (gaps[-1][0], x + step)
            else:
                gaps.append((x - gap * scale, x + step))
            x += step
            continue
        b = f.getbbox(ch)
        tile = Image.new("L", (b[2] - b[0] + 2, b[3] - bb[1] + 2), 0)
        ImageDraw.Draw(tile).text((1 - b[0], 1 - bb[1]), ch, font=f, fill=255)
        if GLYPH_WARP and ch.isalnum() and rng.random() < 0.6:
            tile = warp_glyph(tile, rng)
        tw = max(1, int(round(w * condense * scale)))
        tile = tile.resize((tw, int(round(h)) + 2), Image.BILINEAR)
        img.paste(Image.new(img.mode, tile.size, fill), (int(round(x)), int(round(y0)) - 1), tile)
        x += (w * condense + gap) * scale
    return gaps


def warp_glyph(tile, rng):
    """A glyph mask drawn as another face might draw it: strokes a little
    bolder or thinner, slanted, and bent by a smooth random field of about a
    twenty-fifth of the glyph's height (`GLYPH_WARP`)."""
    # Room to bend into; the bent glyph is cut back to its cell, grown where
    # its ink reaches out of it, so nothing is cut off.
    m = int(0.15 * tile.size[1]) + 2
    padded = Image.new("L", (tile.size[0] + 2 * m, tile.size[1] + 2 * m), 0)
    padded.paste(tile, (m, m))
    tile = padded
    w, h = tile.size
    r = rng.random()
    if r < 0.2:
        tile = tile.filter(ImageFilter.MaxFilter(3))
    elif r < 0.4:
        tile = tile.filter(ImageFilter.MinFilter(3))
    # Displacements on a coarse 3x4 grid, smoothly interpolated to every pixel.
    amp = 0.035 * h
    grid = [[(rng.gauss(0, amp), rng.gauss(0, amp)) for _ in range(3)] for _ in range(4)]
    g = np.array(grid, np.float32)  # rows x cols x (dx, dy)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d = bilinear(g, ys / max(h - 1, 1) * 3, xs / max(w - 1, 1) * 2)
    shear = rng.uniform(-0.12, 0.12)
    out = bilinear(np.asarray(tile, np.float32),
                   np.clip(ys + d[..., 1], 0, h - 1),
                   np.clip(xs + d[..., 0] + shear * (ys - h / 2), 0, w - 1))
    bent = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    ink = bent.point(lambda v: 255 if v > 40 else 0).getbbox() or (m, m, w - m, h - m)
    box = (min(ink[0], m), min(ink[1], m), max(ink[2], w - m), max(ink[3], h - m))
    return bent.crop(box)


def bilinear(a, y, x):
    """`a` (rows x cols, any trailing axes) sampled at the fractional
    positions `y`, `x`, which lie inside it."""
    y0 = np.minimum(y.astype(int), a.shape[0] - 1)
    x0 = np.minimum(x.astype(int), a.shape[1] - 1)
    y1, x1 = np.minimum(y0 + 1, a.shape[0] - 1), np.minimum(x0 + 1, a.shape[1] - 1)
    ty, tx = y - y0, x - x0
    if a.ndim > 2:
        ty, tx = ty[..., None], tx[..., None]
    return (a[y0, x0] * (1 - tx) * (1 - ty) + a[y0, x1] * tx * (1 - ty)
            + a[y1, x0] * (1 - tx) * ty + a[y1, x1] * tx * ty)


def draw_separator(d, rng, sep, x0, x1, y0, y1, ink):
    """What European plates carry between character groups and is not read:
    a hyphen or dot, Germany's two round seals, or a coat of arms. Drawn
    from simple random shapes, no real emblem."""
    if sep == "space":
        return
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if sep == "hyphen":
        hw, hh = w * rng.uniform(0.2, 0.4), h * rng.uniform(0.05, 0.1)
        d.rectangle([cx - hw, cy - hh, cx + hw, cy + hh], fill=ink)
    elif sep == "dot":
        r = h * rng.uniform(0.05, 0.09)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
    elif sep == "seals":
        r = min(w * 0.45, h * 0.25) * rng.uniform(0.8, 1.0)
        for sy in (cy - h * 0.24, cy + h * 0.24):
            shade = tuple(rng.randint(60, 230) for _ in range(3))
            d.ellipse([cx - r, sy - r, cx + r, sy + r], fill=shade, outline=tuple(
                rng.randint(0, 120) for _ in range(3)), width=max(1, int(r * 0.1)))
            for _ in range(rng.randint(0, 4)):
                q = r * rng.uniform(0.1, 0.4)
                ox, oy = rng.uniform(-r / 2, r / 2), rng.uniform(-r / 2, r / 2)
                d.ellipse([cx + ox - q, sy + oy - q, cx + ox + q, sy + oy + q],
                          fill=tuple(rng.randint(0, 255) for _ in range(3)))
    else:  # emblem: a shield of random pattern and colours
        if EU_EMBLEMS:
            ew, eh = min(w * 0.95, h * 0.7) * rng.uniform(0.7, 1.0), h * rng.uniform(0.55, 0.95)
        else:
            ew, eh = min(w * 0.8, h * 0.55) * rng.uniform(0.8, 1.0), h * rng.uniform(0.5, 0.75)
        top, left = cy - eh / 2, cx - ew / 2
        shape = [(left, top), (left + ew, top), (left + ew, top + eh * 0.65), (cx, top + eh),
                 (left, top + eh * 0.65)] if rng.random() < 0.6 else None
        base = tuple(rng.randint(0, 255) for _ in range(3))
        if shape:
            d.polygon(shape, fill=base, outline=ink)
        else:
            d.ellipse([left, top, left + ew, top + eh], fill=base, outline=ink)
        pattern = rng.choice(["checks", "stripes", "cross", "blobs"])
        other = tuple(rng.randint(0, 255) for _ in range(3))
        n = rng.randint(3, 5)
        if pattern == "checks":
            for i in range(n):
                for j in range(n):
                    if (i + j) % 2 == 0:
                        d.rectangle([left + ew * i / n, top + eh * 0.8 * j / n,
                                     left + ew * (i + 1) / n, top + eh * 0.8 * (j + 1) / n], fill=other)
        elif pattern == "stripes":
            for i in range(0, n, 2):
                d.rectangle([left + ew * i / n, top, left + ew * (i + 1) / n, top + eh * 0.7], fill=other)
        elif pattern == "cross":
            d.rectangle([cx - ew * 0.1, top, cx + ew * 0.1, top + eh * 0.85], fill=other)
            d.rectangle([left, top + eh * 0.3, left + ew, top + eh * 0.45], fill=other)
        else:
            for _ in range(rng.randint(2, 6)):
                q = ew * rng.uniform(0.08, 0.25)
                ox, oy = rng.uniform(left, left + ew), rng.uniform(top, top + eh * 0.7)
                d.ellipse([ox - q, oy - q, ox + q, oy + q], fill=tuple(rng.randint(0, 255) for _ in range(3)))


def plate_colours(rng, kind):
    """(background, ink) as RGB."""
    if kind == "uk":
        c = rng.random()
        if c < 0.45:
            return (238, 240, 236), (15, 15, 18)
        if c < 0.88:
            return (250, 206, 30), (15, 15, 18)
        return (24, 24, 26), (205, 205, 210)
    if kind == "eu":
        return ((240, 240, 236), (15, 15, 18)) if rng.random() < 0.8 else ((250, 206, 30), (15, 15, 18))
    # other: random but readable
    bg = tuple(rng.randint(120, 255) for _ in range(3))
    ink = tuple(rng.randint(0, 90) for _ in range(3))
    if rng.random() < 0.2:
        bg, ink = ink, bg
    return bg, ink


def render_plate(rng, px_per_mm=1.0):
    """A plate picture (RGB) and its label: (image, text, two_line)."""
    mix = [0.40, 0.13, 0.13, 0.25, 0.09] if US_SCENIC else [0.45, 0.15, 0.15, 0.15, 0.10]
    kind = rng.choices(["uk", "uk2", "eu", "us", "br"], mix)[0]
    fp = pick_font(rng)
    s = px_per_mm
    if kind == "uk":
        W, H = 520, 111
        bg, ink = plate_colours(rng, "uk")
        a, b = uk_mark(rng)
        im = Image.new("RGB", (int(W * s), int(H * s)), bg)
        d = ImageDraw.Draw(im)
        left = 11
        if rng.random() < 0.3:  # side band: flag / GB / UK identifier
            band = (0, 50, 150) if rng.random() < 0.6 else (20, 110, 60)
            d.rectangle([0, 0, 50 * s, H * s], fill=band)
            tag = rng.choice(["GB", "UK", "GB", "CYM", "ENG", "SCO"])
            draw_text_fit(d, (3 * s, 70 * s, 47 * s, 92 * s), tag, "dejavu/DejaVuSans-Bold.ttf",
                          (240, 240, 240), rng, spacing=2 * s)
            left = 56
        text = a + " " + b
        draw_text_fit(d, (left * s, 16 * s, (W - 11) * s, 95 * s), text, fp, ink, rng,
                      condense=rng.uniform(0.75, 1.0), spacing=11 * s)
        label, two = a + b, False
    elif kind == "uk2":
        W, H = rng.choice([(285, 203), (229, 178), (279, 203)])
        bg, ink = plate_colours(rng, "uk")
        a, b = uk_mark(rng)
        im = Image.new("RGB", (int(W * s), int(H * s)), bg)
        d = ImageDraw.Draw(im)
        ch = 64 if H < 190 else 79
        top = (H - 2 * ch - 19) / 2
        draw_text_fit(d, (8 * s, top * s, (W - 8) * s, (top + ch) * s), a, fp, ink, rng,
                      condense=rng.uniform(0.75, 1.0), spacing=10 * s)
        draw_text_fit(d, (8 * s, (top + ch + 19) * s, (W - 8) * s, (top + 2 * ch + 19) * s), b, fp,
                      ink, rng, condense=rng.uniform(0.75, 1.0), spacing=10 * s)
        label, two = a + b, True
    elif kind == "eu":
        W, H = 520, 110
        bg, ink = plate_colours(rng, "eu")
        im = Image.new("RGB", (int(W * s), int(H * s)), bg)
        d = ImageDraw.Draw(im)
        d.rectangle([0, 0, 45 * s, H * s], fill=(0, 51, 153))
        for i in range(12):
            t = i / 12 * 2 * math.pi
            cx, cy = 22 * s + 12 * s * math.cos(t), 35 * s + 12 * s * math.sin(t)
            d.ellipse([cx - 2 * s, cy - 2 * s, cx + 2 * s, cy + 2 * s], fill=(255, 204, 0))
        tag = rng.choice(["D", "F", "NL", "B", "PL", "CZ", "IRL", "E", "I", "A", "L", "P"])
        draw_text_fit(d, (5 * s, 65 * s, 40 * s, 95 * s), tag, "dejavu/DejaVuSans-Bold.ttf",
                      (240, 240, 240), rng, spacing=2 * s)
        groups = [random_text(rng, 1, 3), random_text(rng, 1, 3), random_text(rng, 1, 4)]
        groups = groups[: rng.choice([2, 3])]
        sep = "space"
        if EU_SEPARATORS:
            mix = [0.2, 0.15, 0.15, 0.4, 0.1] if EU_EMBLEMS else [0.3, 0.2, 0.2, 0.2, 0.1]
            sep = rng.choices(["space", "hyphen", "seals", "emblem", "dot"], mix)[0]
        text = (" " if sep in ("space", "hyphen", "dot") else "   ").join(groups)
        gaps = draw_text_fit(d, (52 * s, 20 * s, (W - 8) * s, 95 * s), text, "opendin/OSP-DIN.ttf"
                             if rng.random() < 0.7 else fp, ink, rng, condense=rng.uniform(0.8, 1.0),
                             spacing=6 * s)
        for gx0, gx1 in gaps:
            draw_separator(d, rng, sep, gx0, gx1, 20 * s, 95 * s, ink)
        label, two = "".join(groups), False
    elif kind == "us" and US_SCENIC and rng.random() < 0.75:
        im, label, ink = us_scenic_plate(rng, fp, s)
        two = False
    elif kind == "us":
        W, H = 305, 152
        bg, ink = plate_colours(rng, "other")
        im = Image.new("RGB", (int(W * s), int(H * s)), bg)
        d = ImageDraw.Draw(im)
        hdr = "".join(rng.choice(ALL_LETTERS) for _ in range(rng.randint(4, 10)))
        draw_text_fit(d, (30 * s, 8 * s, (W - 30) * s, 30 * s), hdr, pick_font(rng),
                      tuple(rng.randint(0, 120) for _ in range(3)), rng, spacing=3 * s)
        t = random_text(rng, 5, 7)
        draw_text_fit(d, (12 * s, 40 * s, (W - 12) * s, 118 * s), t, fp, ink, rng,
                      condense=rng.uniform(0.6, 0.95), spacing=4 * s)
        if rng.random() < 0.6:
            ftr = "".join(rng.choice(ALL_LETTERS + " ") for _ in range(rng.randint(6, 16)))
            draw_text_fit(d, (40 * s, 125 * s, (W - 40) * s, 142 * s), ftr, pick_font(rng),
                          tuple(rng.randint(0, 120) for _ in range(3)), rng, spacing=2 * s)
        label, two = t, False
    else:  # br: old grey (ABC-1234) or Mercosul (ABC1D23)
        W, H = 400, 130
        if rng.random() < 0.5:
            bg, ink = (200, 200, 200), (20, 20, 20)
            im = Image.new("RGB", (int(W * s), int(H * s)), bg)
            d = ImageDraw.Draw(im)
            hdr = "".join(rng.choice(ALL_LETTERS) for _ in range(rng.randint(5, 9)))
            draw_text_fit(d, (60 * s, 6 * s, (W - 60) * s, 24 * s), hdr, fp, ink, rng, spacing=3 * s)
            a = "".join(rng.choice(ALL_LETTERS) for _ in range(3))
            b = "".join(rng.choice(DIGITS) for _ in range(4))
            draw_text_fit(d, (14 * s, 34 * s, (W - 14) * s, 118 * s), a + "-" + b, fp, ink, rng,
                          condense=rng.uniform(0.7, 0.95), spacing=6 * s)
        else:
            bg, ink = (242, 242, 242), (10, 10, 10)
            im = Image.new("RGB", (int(W * s), int(H * s)), bg)
            d = ImageDraw.Draw(im)
            d.rectangle([0, 0, W * s, 28 * s], fill=(0, 51, 153))
            a = "".join(rng.choice(ALL_LETTERS) for _ in range(3))
            b = rng.choice(DIGITS) + rng.choice(ALL_LETTERS) + rng.choice(DIGITS) + rng.choice(DIGITS)
            draw_text_fit(d, (16 * s, 40 * s, (W - 16) * s, 118 * s), a + b, fp, ink, rng,
                          condense=rng.uniform(0.7, 0.95), spacing=6 * s)
        label, two = a + b, False
    if rng.random() < 0.5:
        ImageDraw.Draw(im).rectangle([1, 1, im.size[0] - 2, im.size[1] - 2],
                                     outline=ink if rng.random() < 0.7 else (90, 90, 90),
                                     width=max(1, int(3 * s)))
    mark_up(im, rng)
    return im, label, two


def us_scenic_plate(rng, fp, s):
    """A US-style plate (305 x 152 mm) as most states issue them: characters
    in colour over a pale picture (sky, hills, sun, a faded emblem), the
    state's name across the top, often a slogan along the bottom, stickers
    in the top corners and four bolt slots. Random shapes and words, no
    real state's design. (image, text, ink)."""
    W, H = 305, 152
    pale = lambda: tuple(rng.randint(205, 255) for _ in range(3))
    tint = lambda: tuple(rng.randint(140, 235) for _ in range(3))
    deep = lambda: rng.choice([(20, 40, 120), (150, 20, 30), (20, 90, 40), (20, 20, 25),
                               (90, 20, 60), (10, 70, 110), (120, 60, 10)])
    top, bottom = pale(), pale()
    im = Image.new("RGB", (int(W * s), int(H * s)), top)
    d = ImageDraw.Draw(im)
    for y in range(int(H * s)):  # a vertical gradient, the sky of many designs
        t = y / max(1, H * s - 1)
        d.line([(0, y), (W * s, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    for _ in range(rng.randint(0, 3)):
        what = rng.random()
        c = tint()
        if what < 0.4:  # hills or mountains along the lower part
            base = rng.uniform(95, 152)
            pts = [(0, H)] + [(x, base - rng.uniform(0, 45)) for x in range(0, W + 1, rng.randint(20, 70))] + [(W, H)]
            d.polygon([(x * s, y * s) for x, y in pts], fill=c)
        elif what < 0.65:  # a sun or a round emblem behind the characters
            cx, cy, r = rng.uniform(40, 265), rng.uniform(30, 120), rng.uniform(15, 60)
            d.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=c)
        elif what < 0.85:  # a band of colour across the plate
            y0 = rng.uniform(0, 130)
            d.rectangle([0, y0 * s, W * s, (y0 + rng.uniform(6, 30)) * s], fill=c)
        else:  # a faded blob, a bird or a state's outline
            cx, cy = rng.uniform(60, 245), rng.uniform(40, 110)
            pts = [(cx + math.cos(a) * rng.uniform(10, 45), cy + math.sin(a) * rng.uniform(10, 35))
                   for a in [i * math.pi / 5 for i in range(10)]]
            d.polygon([(x * s, y * s) for x, y in pts], fill=c)
    name = "".join(rng.choice(ALL_LETTERS) for _ in range(rng.randint(4, 12)))
    if rng.random() < 0.5:
        name = name[0] + name[1:].lower()
    draw_text_fit(d, (rng.uniform(25, 70) * s, rng.uniform(5, 10) * s, (W - rng.uniform(25, 70)) * s,
                      rng.uniform(24, 34) * s), name, pick_font(rng), deep(), rng, spacing=3 * s)
    t = random_text(rng, 5, 7)
    shown = t
    if rng.random() < 0.4:  # a gap, a hyphen or a small emblem between groups
        k = rng.randint(2, len(t) - 2)
        shown = t[:k] + " " + t[k:]
    ink = deep() if rng.random() < 0.8 else (20, 20, 25)
    y0, y1 = rng.uniform(36, 48), rng.uniform(108, 122)
    gaps = draw_text_fit(d, (rng.uniform(10, 30) * s, y0 * s, (W - rng.uniform(10, 30)) * s, y1 * s), shown,
                         fp, ink, rng, condense=rng.uniform(0.55, 0.95), spacing=rng.uniform(2, 7) * s)
    for gx0, gx1 in gaps:
        if rng.random() < 0.5:
            sep = rng.choice(["hyphen", "emblem"])
            draw_separator(d, rng, sep, gx0, gx1, y0 * s, y1 * s, ink)
    if rng.random() < 0.7:
        slogan = "".join(rng.choice(ALL_LETTERS + " ") for _ in range(rng.randint(6, 22)))
        draw_text_fit(d, (rng.uniform(30, 70) * s, 126 * s, (W - rng.uniform(30, 70)) * s, rng.uniform(136, 146) * s),
                      slogan.strip() or "STATE", pick_font(rng), deep(), rng, spacing=2 * s)
    for x0 in ([8, W - 36] if rng.random() < 0.7 else [rng.choice([8, W - 36])]):
        if rng.random() < 0.8:  # registration stickers
            c = tuple(rng.randint(0, 255) for _ in range(3))
            d.rectangle([x0 * s, 6 * s, (x0 + 28) * s, 26 * s], fill=c)
    for x in (W / 2 - 89, W / 2 + 89):  # bolt slots, 7 inches apart
        for y in (9, 143):
            if rng.random() < 0.7:
                d.rounded_rectangle([(x - 5) * s, (y - 2.5) * s, (x + 5) * s, (y + 2.5) * s], radius=2.5 * s,
                                    fill=(40, 40, 40))
    return im, t, ink


def mark_up(im, rng):
    """Screws, dirt and dealer text on the plate face."""
    d = ImageDraw.Draw(im)
    w, h = im.size
    if rng.random() < 0.5:
        y = h * rng.uniform(0.3, 0.7)
        r = h * 0.04
        for x in (w * 0.08, w * 0.92):
            d.ellipse([x - r, y - r, x + r, y + r], fill=(110, 110, 110))
    if rng.random() < 0.3:
        for _ in range(rng.randint(5, 60)):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), h * rng.uniform(0.005, 0.03)
            g = rng.randint(60, 170)
            d.ellipse([x - r, y - r, x + r, y + r], fill=(g, g - 5, g - 10))
    if rng.random() < 0.3:
        t = "".join(rng.choice(ALL_LETTERS + " ") for _ in range(rng.randint(8, 20)))
        f = font("dejavu/DejaVuSans.ttf", max(6, int(h * 0.07)))
        d.text((w * 0.3, h * 0.9), t, font=f, fill=(60, 60, 60))


# ------------------------------------------------------------------- geometry

def homography(src, dst):
    """3x3 H with dst ~ H @ src for four point pairs."""
    A, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); b.append(u)
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y]); b.append(v)
    h = np.linalg.solve(np.array(A, float), np.array(b, float))
    return np.append(h, 1).reshape(3, 3)


def warp(img, src_quad, dst_quad, size, resample=Image.BILINEAR):
    """Draws the quad src_quad of img onto dst_quad of a new `size` image
    (PIL wants the map from output to input)."""
    H = homography(dst_quad, src_quad)
    coeffs = (H / H[2, 2]).flatten()[:8]
    return img.transform(size, Image.PERSPECTIVE, tuple(coeffs), resample)


def rectify(img, corners, two_line):
    """The reader's input from a grey picture and a plate's corners: exactly
    what src/recognise/neural.rs does."""
    W, Hh = nets.READ_W, nets.READ_H
    tl, tr, br, bl = [np.array(p, float) for p in corners]
    if not two_line:
        return warp(img, [tl, tr, br, bl], [(0, 0), (W, 0), (W, Hh), (0, Hh)], (W, Hh))
    ml, mr = (tl + bl) / 2, (tr + br) / 2
    out = Image.new("L", (W, Hh))
    out.paste(warp(img, [tl, tr, mr, ml], [(0, 0), (W // 2, 0), (W // 2, Hh), (0, Hh)], (W // 2, Hh)), (0, 0))
    out.paste(warp(img, [ml, mr, br, bl], [(0, 0), (W // 2, 0), (W // 2, Hh), (0, Hh)], (W // 2, Hh)), (W // 2, 0))
    return out


def place(rng, pw, ph, cx, cy, tilt=0.15):
    """Corners (clockwise from top left) of a pw x ph plate centred at cx, cy,
    rotated and seen at an angle."""
    ang = rng.uniform(-tilt, tilt) * (2 if rng.random() < 0.1 else 1)
    yaw = rng.uniform(-0.25, 0.25)
    pitch = rng.uniform(-0.15, 0.15)
    shear = rng.uniform(-0.15, 0.15)
    pts = []
    for x, y in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
        X, Y = x * pw / 2, y * ph / 2
        X += shear * Y
        sc = 1 + yaw * x * 0.5 + pitch * y * 0.5
        X, Y = X * (1 + pitch * y * 0.3), Y * (1 + yaw * x * 0.3)
        c, s_ = math.cos(ang), math.sin(ang)
        pts.append((cx + X * c - Y * s_, cy + X * s_ + Y * c))
    return pts


# ----------------------------------------------------------------- degrading

def degrade(img, rng, strength=1.0):
    """Camera faults on a grey picture: contrast, blur, motion, noise, JPEG."""
    a = np.asarray(img, np.float32)
    if rng.random() < 0.3 * strength:
        k, mid = rng.uniform(0.3, 0.8), rng.uniform(70, 170)
        a = mid + (a - mid) * k
    if rng.random() < 0.25:
        a = a * rng.uniform(0.4, 1.3) + rng.uniform(-40, 40)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    r = rng.random()
    if r < 0.3 * strength:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    elif r < 0.45 * strength:
        n = rng.randint(2, 6)
        k = np.zeros((n, n)); 
        if rng.random() < 0.5:
            k[n // 2, :] = 1
        else:
            np.fill_diagonal(k, 1)
        if n in (3, 5):
            img = img.filter(ImageFilter.Kernel((n, n), k.flatten().tolist(), scale=k.sum()))
        else:
            img = img.filter(ImageFilter.BoxBlur(n / 3))
    a = np.asarray(img, np.float32)
    sigma = rng.uniform(0, 10) * strength
    if sigma > 0.5:
        a = a + np.random.default_rng(rng.getrandbits(32)).normal(0, sigma, a.shape)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.6:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(25, 92))
        img = Image.open(buf).convert("L")
    return img


def motion_blur(img, length):
    """Horizontal smear over `length` pixels (any length, 1.7 as well as 9):
    each pixel averages the run centred on it, the run's end pixels weighed
    by the share of them it covers; at the edges, what is there (as
    src/plate/degrade.rs `motion_blur`)."""
    if not length > 1.0:
        return img
    a = np.asarray(img, np.float32)
    half = length / 2
    reach = int(math.ceil(half + 0.5))
    w = a.shape[1]
    pad = np.pad(a, ((0, 0), (reach, reach)))
    inside = np.pad(np.ones(w, np.float32), (reach, reach))
    total = np.zeros_like(a)
    count = np.zeros(w, np.float32)
    for k in range(-reach, reach + 1):
        wt = min(max(half + 0.5 - abs(k), 0.0), 1.0)
        if wt > 0:
            total += wt * pad[:, reach + k:reach + k + w]
            count += wt * inside[reach + k:reach + k + w]
    return Image.fromarray(np.clip(total / count + 0.5, 0, 255).astype(np.uint8))


def shade(img, rng):
    """A shadow edge or a glare spot across the picture."""
    a = np.asarray(img, np.float32)
    h, w = a.shape
    if rng.random() < 0.2:
        yy, xx = np.mgrid[0:h, 0:w]
        t = rng.uniform(0, math.pi)
        m = (xx - rng.uniform(0, w)) * math.cos(t) + (yy - rng.uniform(0, h)) * math.sin(t) > 0
        a = np.where(m, a * rng.uniform(0.35, 0.75), a)
    if rng.random() < 0.1:
        yy, xx = np.mgrid[0:h, 0:w]
        gx, gy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.3) * min(w, h) + 2
        a = a + rng.uniform(60, 180) * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * r * r))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


# ------------------------------------------------------------------- scenes

def background(rng, w, h):
    """A grey scene: a real (non-plate) photo crop, or procedural road and
    vehicle-like shapes."""
    bgs = backgrounds()
    if bgs and rng.random() < 0.55:
        im = rng.choice(bgs)
        sc = max(w / im.size[0], h / im.size[1]) * rng.uniform(1.0, 2.5)
        im = im.resize((max(w, int(im.size[0] * sc)), max(h, int(im.size[1] * sc))), Image.BILINEAR)
        x, y = rng.randint(0, im.size[0] - w), rng.randint(0, im.size[1] - h)
        im = im.crop((x, y, x + w, y + h))
        if rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return im
    im = Image.new("L", (w, h), rng.randint(40, 200))
    d = ImageDraw.Draw(im)
    # sky / road gradient bands, lane lines, boxes
    hz = rng.uniform(0.1, 0.5) * h
    d.rectangle([0, 0, w, hz], fill=rng.randint(100, 240))
    for _ in range(rng.randint(2, 12)):
        x0, y0 = rng.uniform(-w * 0.2, w), rng.uniform(0, h)
        x1, y1 = x0 + rng.uniform(10, w * 0.6), y0 + rng.uniform(5, h * 0.5)
        if rng.random() < 0.5:
            d.rectangle([x0, y0, x1, y1], fill=rng.randint(0, 255))
        else:
            d.ellipse([x0, y0, x1, y1], fill=rng.randint(0, 255))
    for _ in range(rng.randint(0, 6)):
        d.line([rng.uniform(0, w), rng.uniform(hz, h), rng.uniform(0, w), rng.uniform(hz, h)],
               fill=rng.choice([30, 230, 250]), width=rng.randint(1, 8))
    if rng.random() < 0.4:  # text that is not a plate: signs, shop fronts, vehicle lettering
        for _ in range(rng.randint(1, 3)):
            f = font(pick_font(rng), rng.randint(8, 40))
            d.text((rng.uniform(0, w * 0.8), rng.uniform(0, h * 0.9)),
                   random_text(rng, 3, 12), font=f, fill=rng.randint(0, 255))
    return im


def vehicle(img, rng, cx, cy, pw):
    """A vehicle-like body behind a plate at (cx, cy) of width pw."""
    d = ImageDraw.Draw(img)
    bw = pw * rng.uniform(3.0, 4.5)
    bh = pw * rng.uniform(1.2, 2.5)
    x0, y0 = cx - bw / 2 + rng.uniform(-0.2, 0.2) * pw, cy - bh * rng.uniform(0.55, 0.8)
    body = rng.randint(10, 245)
    d.rounded_rectangle([x0, y0, x0 + bw, y0 + bh], radius=bw * 0.08, fill=body)
    d.rectangle([x0 + bw * 0.12, y0 + bh * 0.05, x0 + bw * 0.88, y0 + bh * 0.38], fill=rng.randint(0, 90))
    for lx in (x0 + bw * 0.05, x0 + bw * 0.8):
        d.rectangle([lx, y0 + bh * 0.45, lx + bw * 0.15, y0 + bh * 0.58], fill=rng.randint(150, 255))
    d.rectangle([x0, cy + pw * 0.25, x0 + bw, cy + pw * rng.uniform(0.3, 0.5)], fill=rng.randint(0, 120))
    if rng.random() < 0.5:  # grille
        for i in range(rng.randint(2, 6)):
            yy = cy - pw * 0.25 - i * pw * 0.07
            d.line([cx - pw * 0.7, yy, cx + pw * 0.7, yy], fill=rng.randint(0, 80), width=max(1, int(pw * 0.02)))


# ------------------------------------------------------------------ samples

CONTENT_SIZES = [(640, 360), (640, 360), (512, 384), (384, 384), (614, 384), (640, 384), (576, 384)]


def paste_plate(img, plate_rgb, corners, rng, ir=False):
    """Warps the plate picture onto img (grey) at `corners`."""
    pw = max(math.dist(corners[0], corners[1]), math.dist(corners[3], corners[2]))
    f = min(1.0, pw * 1.5 / plate_rgb.size[0])
    p = plate_rgb.convert("L")
    if f < 1.0:
        p = p.resize((max(8, int(p.size[0] * f)), max(4, int(p.size[1] * f))), Image.LANCZOS)
    if ir:
        p = p.point(lambda v: int(70 + v * 0.73))
    w, h = p.size
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    H = homography(corners, src)
    coeffs = tuple((H / H[2, 2]).flatten()[:8])
    warped = p.transform(img.size, Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    mask = Image.new("L", (w, h), 255).transform(img.size, Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    img.paste(warped, (0, 0), mask)


def detector_sample(rng):
    """(image 384x640 uint8, [(corners, two_line)]) for the detector."""
    cw, ch = rng.choice(CONTENT_SIZES)
    img = background(rng, cw, ch)
    ir = rng.random() < 0.1
    if ir:
        img = img.point(lambda v: int(v * 0.25))
    n = rng.choices([0, 1, 2, 3], [0.08, 0.62, 0.2, 0.1])[0]
    plates, boxes = [], []
    for _ in range(n):
        plate, _label, two = render_plate(rng)
        aspect = plate.size[0] / plate.size[1]
        hi = min(330, cw * 0.7, ch * 0.6 * aspect)
        pw = math.exp(rng.uniform(math.log(14), math.log(hi)))
        ph = pw / aspect
        for _try in range(10):
            cx = rng.uniform(pw * 0.6, cw - pw * 0.6)
            cy = rng.uniform(ph, ch - ph)
            box = (cx - pw * 0.8, cy - ph * 1.5, cx + pw * 0.8, cy + ph * 1.5)
            if all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in boxes):
                break
        else:
            continue
        boxes.append(box)
        if rng.random() < 0.5:
            vehicle(img, rng, cx, cy, pw)
        corners = place(rng, pw, ph, cx, cy)
        if rng.random() < 0.5:
            surround(img, rng, corners)
        paste_plate(img, plate, corners, rng, ir)
        plates.append((corners, two))
    for _ in range(rng.choices([0, 1, 2, 3], [0.4, 0.3, 0.2, 0.1])[0]):
        distractor(img, rng, boxes)
    img = shade(img, rng)
    img = degrade(img, rng)
    out = np.zeros((nets.DET_H, nets.DET_W), np.uint8)
    out[:ch, :cw] = np.asarray(img)
    return out, plates


def surround(img, rng, corners):
    """What a plate is mounted in, drawn before the plate: a holder frame
    (dark or chrome, often with a dealer's name along the bottom) or the
    recess of the bumper or boot lid, larger than the plate and of another
    shape. On real photographs the round-2 detector boxed the frame or the
    recess instead of a US plate inside it; here the plate is the label and
    its mounting only context."""
    c = [np.array(p, np.float64) for p in corners]
    centre = sum(c) / 4
    across = (c[1] - c[0] + c[2] - c[3]) / 2
    down = (c[3] - c[0] + c[2] - c[1]) / 2
    if rng.random() < 0.55:  # holder frame: a border a little larger than the plate
        side = rng.uniform(0.02, 0.08)
        top, bottom = rng.uniform(0.04, 0.25), rng.uniform(0.04, 0.4)
        fill = rng.randint(0, 60) if rng.random() < 0.7 else rng.randint(170, 250)
    else:  # recess: much wider or taller than the plate, in shadow
        side = rng.uniform(0.05, 0.6)
        top, bottom = rng.uniform(0.1, 0.8), rng.uniform(0.1, 0.8)
        fill = rng.randint(0, 110)
    def at(u, v):
        p = centre + across * u + down * v
        return (float(p[0]), float(p[1]))
    outer = [at(-0.5 - side, -0.5 - top), at(0.5 + side, -0.5 - top),
             at(0.5 + side, 0.5 + bottom), at(-0.5 - side, 0.5 + bottom)]
    d = ImageDraw.Draw(img)
    d.polygon(outer, fill=fill)
    if rng.random() < 0.5:  # an edge catching the light
        d.line(outer + [outer[0]], fill=min(255, fill + rng.randint(40, 140)),
               width=max(1, int(np.linalg.norm(down) * 0.05)))
    band = np.linalg.norm(down) * bottom
    if bottom > 0.15 and band >= 6 and rng.random() < 0.6:  # dealer text on the frame
        size = max(5, int(band * rng.uniform(0.5, 0.8)))
        x, y = at(rng.uniform(-0.4, -0.1), 0.5 + bottom * 0.1)
        ink = 255 - fill if rng.random() < 0.8 else rng.randint(0, 255)
        d.text((x, y), random_text(rng, 5, 14), font=font(pick_font(rng), size), fill=ink)


def distractor(img, rng, boxes):
    """Text that is not a plate, away from the plates: a long line, a block
    of lines, or a label on a panel (signs, liveries, shop fronts)."""
    w, h = img.size
    d = ImageDraw.Draw(img)
    size = rng.randint(8, 36)
    f = font(pick_font(rng), size)
    lines = [random_text(rng, 9, 18)] if rng.random() < 0.5 else [
        random_text(rng, 3, 10) for _ in range(rng.randint(3, 5))]
    bw = max(f.getbbox(t)[2] for t in lines) + size
    bh = len(lines) * size * 1.3 + size
    for _try in range(10):
        x, y = rng.uniform(0, max(1, w - bw)), rng.uniform(0, max(1, h - bh))
        if all(x + bw < b[0] or x > b[2] or y + bh < b[1] or y > b[3] for b in boxes):
            break
    else:
        return
    panel, ink = (rng.randint(150, 255), rng.randint(0, 90)) if rng.random() < 0.7 else (rng.randint(0, 90), rng.randint(160, 255))
    if rng.random() < 0.7:
        d.rectangle([x, y, x + bw, y + bh], fill=panel)
    for i, t in enumerate(lines):
        d.text((x + size / 2, y + size / 2 + i * size * 1.3), t, font=f, fill=ink)


def reader_sample(rng):
    """(crop 32x128 uint8, text) for the reader, with corners jittered like
    a detector's."""
    plate, label, two = render_plate(rng)
    aspect = plate.size[0] / plate.size[1]
    pw = math.exp(rng.uniform(math.log(28 if two else 45), math.log(360)))
    ph = pw / aspect
    cw, ch = int(pw * 1.8) + 8, int(ph * 2.6) + 8
    img = background(rng, cw, ch)
    ir = rng.random() < 0.1
    if ir:
        img = img.point(lambda v: int(v * 0.25))
    corners = place(rng, pw, ph, cw / 2, ch / 2, tilt=0.12)
    paste_plate(img, plate, corners, rng, ir)
    if TRAVEL_SMEAR and rng.random() < 0.25:
        img = motion_blur(img, rng.choice([10, 17, 23, 30]) * pw / plate.size[0])
    img = shade(img, rng)
    img = degrade(img, rng)
    j = 0.04 if rng.random() < 0.85 else 0.09
    jit = [(x + rng.gauss(0, j) * pw, y + rng.gauss(0, j * 1.5) * ph) for x, y in corners]
    crop = rectify(img, jit, two)
    return np.asarray(crop, np.uint8), label
