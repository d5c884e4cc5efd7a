"""A corner refiner: a small network that moves a detected plate's four corners
onto the plate's true corners, looking at the plate and its surroundings only.

Why: on generated pictures the reader reads 99.7 % of plates from their true
corners and 97.5 % from the detector's (models/README.md, "Corner
precision"). The detector finds corners on a coarse grid across a whole frame;
a second look at the plate alone, rectified and at a fixed scale, can place
them more finely.

    refiner.py scenes DIR --seed S --count N   # gen.py's scenes (US, Brazilian, European plates too) as pictures
    refiner.py collect DIR...            # runs `anprd recognise --json` on anprd-synth or `scenes` output
    refiner.py train --data D1.npz ... --minutes M --out refiner.pt
    refiner.py apply --ckpt refiner.pt DIR OUT   # detector quads refined, as labels.jsonl
    refiner.py export --ckpt refiner.pt models/refiner.onnx

The input is the detected quad grown by GROW_X of its width either side and
GROW_Y of its height above and below (a quad around one line of a two-line
plate then still shows the other line), warped to IN_W x IN_H. The output is
the four true corners in that grown quad's unit square, and whether the plate
has two lines.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IN_W, IN_H = 128, 64
GROW_X, GROW_Y = 0.25, 1.0
# Context patches: the plate's box centre, scaled so the box is PATCH_PLATE wide.
PATCH_W, PATCH_H, PATCH_PLATE = 320, 256, 128.0


class Refiner(nn.Module):
    def __init__(self):
        super().__init__()

        def block(i, o, s):
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

        self.features = nn.Sequential(
            block(1, 16, 1), block(16, 32, 2),  # 32x64
            block(32, 64, 2),  # 16x32
            block(64, 64, 1), block(64, 96, 2),  # 8x16
            block(96, 128, 2),  # 4x8
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 8, 256), nn.ReLU(inplace=True), nn.Linear(256, 9))

    def forward(self, x):
        # x: (B, 1, IN_H, IN_W) grey in [0, 255]
        x = x / 127.5 - 1.0
        out = self.head(self.features(x))
        return out[:, :8], out[:, 8]


# --- geometry -----------------------------------------------------------------

UNIT = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def homography(src, dst):
    """(B,4,2) src -> dst; returns (B,3,3) H with dst ~ H src."""
    b = src.shape[0]
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    z, o = torch.zeros_like(x), torch.ones_like(x)
    rows1 = torch.stack([x, y, o, z, z, z, -u * x, -u * y], -1)
    rows2 = torch.stack([z, z, z, x, y, o, -v * x, -v * y], -1)
    a = torch.cat([rows1, rows2], 1)
    rhs = torch.cat([u, v], 1)
    h = torch.linalg.solve(a, rhs)
    return torch.cat([h, torch.ones(b, 1)], 1).view(b, 3, 3)


def apply_h(h, pts):
    """(B,3,3), (B,N,2) -> (B,N,2)."""
    p = torch.cat([pts, torch.ones_like(pts[..., :1])], -1) @ h.transpose(1, 2)
    return p[..., :2] / p[..., 2:3]


def grown(quads):
    """The quad grown by GROW_X / GROW_Y in its own frame."""
    b = quads.shape[0]
    h = homography(UNIT.expand(b, 4, 2), quads)
    g = torch.tensor([[-GROW_X, -GROW_Y], [1 + GROW_X, -GROW_Y], [1 + GROW_X, 1 + GROW_Y], [-GROW_X, 1 + GROW_Y]])
    return apply_h(h, g.expand(b, 4, 2))


def sample(patches, quads):
    """Warps the grown `quads` (patch pixels) of `patches` (B,1,H,W) to IN_H x IN_W."""
    b, _, ph, pw = patches.shape
    h = homography(UNIT.expand(b, 4, 2), grown(quads))
    ys, xs = torch.meshgrid((torch.arange(IN_H) + 0.5) / IN_H, (torch.arange(IN_W) + 0.5) / IN_W, indexing="ij")
    grid = torch.stack([xs, ys], -1).view(1, -1, 2).expand(b, -1, -1)
    p = apply_h(h, grid)
    norm = torch.stack([p[..., 0] / pw * 2 - 1, p[..., 1] / ph * 2 - 1], -1).view(b, IN_H, IN_W, 2)
    return F.grid_sample(patches, norm, mode="bilinear", padding_mode="border", align_corners=False)


def to_unit(quads, pts):
    """`pts` (patch pixels) in the unit square of `quads` grown."""
    b = quads.shape[0]
    h = homography(grown(quads), UNIT.expand(b, 4, 2))
    return apply_h(h, pts)


def from_unit(quads, unit):
    b = quads.shape[0]
    h = homography(UNIT.expand(b, 4, 2), grown(quads))
    return apply_h(h, unit)


# --- data -----------------------------------------------------------------------

def load_grey(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"), dtype=np.uint8)


def patch_of(img, box):
    """A PATCH_W x PATCH_H patch centred on `box` (x, y, w, h), scaled so the box is
    PATCH_PLATE wide; returns the patch and (scale, x0, y0): patch = scale * (frame - (x0, y0))."""
    from PIL import Image

    x, y, w, h = box
    s = PATCH_PLATE / max(w, 8.0)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = cx - PATCH_W / 2 / s, cy - PATCH_H / 2 / s
    im = Image.fromarray(img)
    # PIL's affine maps output (px, py) to input (a px + b py + c, d px + e py + f).
    patch = im.transform((PATCH_W, PATCH_H), Image.AFFINE, (1 / s, 0, x0, 0, 1 / s, y0), resample=Image.BILINEAR)
    return np.asarray(patch, dtype=np.uint8), (s, x0, y0)


def quad_box(q):
    q = np.asarray(q, dtype=np.float32)
    x0, y0 = q.min(0)
    x1, y1 = q.max(0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def centre_in(q, box):
    c = np.asarray(q, dtype=np.float32).mean(0)
    x, y, w, h = box
    return x <= c[0] <= x + w and y <= c[1] <= y + h


# The models `collect` and `apply` take the detector's corners from: without a
# refiner, or the corners would already be refined.
MODELS = os.environ.get("ANPRD_MODELS", "models")


def detect(anprd, directory):
    """Detector quads per file: `anprd recognise --json --as-frame --no-rules`."""
    out = subprocess.run(
        [anprd, "recognise", "--json", "--as-frame", "--no-rules", "--models", MODELS, directory],
        check=True, capture_output=True, text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        d = json.loads(line)
        found[os.path.basename(d["image"])] = [p["corners"] for p in d["plates"]]
    return found


def collect(args):
    for directory in args.dirs:
        found = detect(args.anprd, directory)
        patches, truth, start, two, meta = [], [], [], [], []
        for line in open(os.path.join(directory, "labels.jsonl")):
            lab = json.loads(line)
            quads = [q for q in found.get(lab["file"], []) if centre_in(q, lab["box"])]
            img = load_grey(os.path.join(directory, lab["file"]))
            patch, (s, x0, y0) = patch_of(img, quad_box(lab["corners"]))
            to_patch = lambda q: (np.asarray(q, dtype=np.float32) - [x0, y0]) * s
            patches.append(patch)
            truth.append(to_patch(lab["corners"]))
            start.append(to_patch(quads[0]) if quads else np.full((4, 2), np.nan, np.float32))
            two.append(bool(lab["two_line"]))
            meta.append(lab["file"])
        out = os.path.join(args.out, os.path.basename(os.path.normpath(directory)) + ".npz")
        np.savez_compressed(out, patches=np.stack(patches), truth=np.stack(truth), start=np.stack(start),
                            two=np.array(two), files=np.array(meta))
        found_n = int(np.isfinite(np.stack(start)[:, 0, 0]).sum())
        print(f"{directory}: {len(patches)} plates, {found_n} detected -> {out}", flush=True)


# Plates narrower than this in a `scenes` picture are left out: upscaled to
# PATCH_PLATE they show too little to place corners on.
SCENE_MIN_W = 40.0


def scene_block(args):
    import random

    import synth

    seed, n, first = args
    synth.US_SCENIC = synth.EU_SEPARATORS = synth.EU_EMBLEMS = True
    rng = random.Random(seed)
    out = []
    for k in range(n):
        img, plates = synth.detector_sample(rng)
        labels = []
        for corners, two in plates:
            box = quad_box(corners)
            if box[2] >= SCENE_MIN_W:
                labels.append({"box": box, "corners": [list(map(float, c)) for c in corners], "two_line": bool(two)})
        if labels:
            out.append((f"scene-{first + k:05}.png", img, labels))
    return out


def scenes(args):
    """gen.py's detector scenes (UK, European, US and Brazilian-like plates, as
    `gen.py --us-scenic --eu-separators --eu-emblems` draws them) written as
    pictures with an anprd-synth-like labels.jsonl, one line per plate, for
    `collect`: the refiner then sees plates other than anprd's UK ones."""
    import multiprocessing as mp

    from PIL import Image

    import gen

    os.makedirs(args.dir, exist_ok=True)
    # gen.py's blocks of 100, each from its own seed: the pictures do not
    # depend on the worker count. Each block is given its first picture's number.
    blocks = [(seed, n, i * 100) for i, (seed, n) in enumerate(gen.blocks(args.seed, 0, args.count))]
    plates = 0
    with mp.Pool(args.jobs) as pool, open(os.path.join(args.dir, "labels.jsonl"), "w") as labels:
        for block in pool.imap(scene_block, blocks):
            for name, img, labs in block:
                Image.fromarray(img).save(os.path.join(args.dir, name))
                for lab in labs:
                    labels.write(json.dumps(dict(lab, file=name)) + "\n")
                    plates += 1
    print(f"{args.dir}: {plates} plates at least {SCENE_MIN_W:.0f} px wide", flush=True)


def jittered(truth, rng):
    """Quads as the detector errs, from the true ones (patch pixels)."""
    b = truth.shape[0]
    tl, tr, br, bl = truth[:, 0], truth[:, 1], truth[:, 2], truth[:, 3]
    right, down = (tr + br - tl - bl) / 2, (bl + br - tl - tr) / 2  # width and height vectors
    q = truth.clone()
    # One line of a two-line plate, for a share of them.
    half = torch.rand(b, generator=rng) < 0.08
    top = torch.rand(b, generator=rng) < 0.6
    cut = torch.where(top, torch.zeros(b), torch.full((b,), 0.5))
    for i, (u, v) in enumerate([(0, 0), (1, 0), (1, 1), (0, 1)]):
        vv = torch.where(half, cut + 0.5 * v, torch.full((b,), float(v)))
        q[:, i] = tl + right * u + down * vv[:, None]
    # Whole-quad shift, scale, then each corner on its own.
    def n(scale):
        return torch.randn(b, 1, generator=rng) * scale
    c = q.mean(1, keepdim=True)
    sx, sy = 1 + n(0.06), 1 + n(0.12)
    rel = q - c
    rw = right / right.norm(dim=1, keepdim=True).clamp(min=1e-3)
    rd = down / down.norm(dim=1, keepdim=True).clamp(min=1e-3)
    a = (rel * rw[:, None]).sum(-1, keepdim=True)
    d = (rel * rd[:, None]).sum(-1, keepdim=True)
    rel = a * sx[:, None] * rw[:, None] + d * sy[:, None] * rd[:, None]
    shift = n(0.04) * right + n(0.1) * down
    q = c + rel + shift[:, None]
    per = torch.randn(b, 4, 2, generator=rng)
    q = q + per[..., :1] * 0.02 * right.norm(dim=1)[:, None, None] * rw[:, None] \
        + per[..., 1:] * 0.05 * down.norm(dim=1)[:, None, None] * rd[:, None]
    return q


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = torch.Generator().manual_seed(args.seed)
    parts = [np.load(p) for p in args.data]
    patches = torch.from_numpy(np.concatenate([p["patches"] for p in parts])).float().unsqueeze(1)
    truth = torch.from_numpy(np.concatenate([p["truth"] for p in parts])).float()
    start = torch.from_numpy(np.concatenate([p["start"] for p in parts])).float()
    two = torch.from_numpy(np.concatenate([p["two"] for p in parts])).float()
    detected = torch.isfinite(start[:, 0, 0])
    n = len(truth)
    held = torch.arange(n) % 50 == 0
    train_idx, val_idx = torch.nonzero(~held).squeeze(1), torch.nonzero(held & detected).squeeze(1)
    print(f"{n} plates, {int(detected.sum())} with a detector quad; {len(val_idx)} held out", flush=True)
    net = Refiner()
    if args.init:
        net.load_state_dict(torch.load(args.init)["model"])
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)

    def batch_quads(idx):
        q = jittered(truth[idx], rng)
        use_det = detected[idx] & (torch.rand(len(idx), generator=rng) < 0.5)
        det = start[idx].clone()
        det[~detected[idx]] = 0
        det = det + torch.randn(det.shape, generator=rng) * 0.5
        return torch.where(use_det[:, None, None], det, q)

    def loss_of(idx, quads):
        x = sample(patches[idx], quads)
        # Brightness, contrast and inversion, as cameras and plates differ.
        k = len(idx)
        gain = torch.exp(torch.randn(k, 1, 1, 1, generator=rng) * 0.2)
        x = ((x - 128) * gain + 128 + torch.randn(k, 1, 1, 1, generator=rng) * 15).clamp(0, 255)
        corners, two_logit = net(x)
        target = to_unit(quads, truth[idx]).reshape(k, 8)
        # Corners in the grown quad's unit square: an error in x counts as a
        # share of the grown width, in y of the grown height.
        return F.smooth_l1_loss(corners, target, beta=0.01) + 0.1 * F.binary_cross_entropy_with_logits(two_logit, two[idx])

    def evaluate():
        net.eval()
        with torch.no_grad():
            errs, base = [], []
            for i in range(0, len(val_idx), 256):
                idx = val_idx[i:i + 256]
                q = start[idx]
                corners, _ = net(sample(patches[idx], q))
                pred = from_unit(q, corners.view(-1, 4, 2))
                w = (truth[idx, 1] - truth[idx, 0]).norm(dim=1)[:, None]
                errs.append(((pred - truth[idx]).norm(dim=2) / w).mean(1))
                base.append(((q - truth[idx]).norm(dim=2) / w).mean(1))
        net.train()
        e, b = torch.cat(errs), torch.cat(base)
        return float(b.mean()), float(e.mean()), 100 * float((e < b).float().mean())

    print("held out, mean corner error / plate width: detector %.4f, refined %.4f (%.0f %% of plates closer)" % evaluate(), flush=True)
    began, step = time.time(), 0
    sched_total = args.minutes * 60
    while time.time() - began < sched_total:
        frac = (time.time() - began) / sched_total
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        idx = train_idx[torch.randint(len(train_idx), (args.batch,), generator=rng)]
        loss = loss_of(idx, batch_quads(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            print(f"step {step} {time.time() - began:.0f}s loss {loss.item():.5f}; held out: "
                  "detector %.4f refined %.4f (%.0f %% of plates closer)" % evaluate(), flush=True)
    print(f"{step} steps; held out: detector %.4f refined %.4f (%.0f %% of plates closer)" % evaluate(), flush=True)
    torch.save({"model": net.state_dict(), "steps": step, "seed": args.seed}, args.out)


def apply(args):
    """Refines the detector's quads of a labelled set and writes them as labels
    (`examples/true_corners.rs` then reads from them)."""
    net = Refiner()
    net.load_state_dict(torch.load(args.ckpt)["model"])
    net.eval()
    found = detect(args.anprd, args.dir)
    out_det, out_ref = open(args.out + ".detector.jsonl", "w"), open(args.out + ".refined.jsonl", "w")
    for line in open(os.path.join(args.dir, "labels.jsonl")):
        lab = json.loads(line)
        quads = [q for q in found.get(lab["file"], []) if centre_in(q, lab["box"])]
        if not quads:
            continue
        img = load_grey(os.path.join(args.dir, lab["file"]))
        patch, (s, x0, y0) = patch_of(img, quad_box(quads[0]))
        q = torch.from_numpy(((np.asarray(quads[0], np.float32) - [x0, y0]) * s).astype(np.float32))[None]
        with torch.no_grad():
            corners, two_logit = net(sample(torch.from_numpy(patch).float()[None, None], q))
        pred = from_unit(q, corners.view(1, 4, 2))[0].numpy() / s + [x0, y0]
        det = dict(lab, corners=quads[0])
        ref = dict(lab, corners=pred.tolist())
        if args.own_layout:
            det["two_line"] = ref["two_line"] = bool(two_logit[0] > 0)
        out_det.write(json.dumps(det) + "\n")
        out_ref.write(json.dumps(ref) + "\n")


class Exported(nn.Module):
    """The ONNX contract (src/recognise/neural/refine.rs): input `plate`
    (1, 1, IN_H, IN_W) grey levels; output `refined` (1, 9): four corners in
    the grown quad's unit square, then the two-line logit."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        corners, two = self.net(x)
        return torch.cat([corners, two[:, None]], 1)


def export(args):
    net = Refiner()
    net.load_state_dict(torch.load(args.ckpt)["model"])
    net.eval()
    torch.onnx.export(Exported(net), torch.zeros(1, 1, IN_H, IN_W), args.out, input_names=["plate"],
                      output_names=["refined"], opset_version=13, do_constant_folding=True)
    print(f"{args.out}: {os.path.getsize(args.out)} bytes")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("scenes")
    sc.add_argument("dir")
    sc.add_argument("--seed", type=int, required=True)
    sc.add_argument("--count", type=int, default=4000)
    sc.add_argument("--jobs", type=int, default=os.cpu_count())
    c = sub.add_parser("collect")
    c.add_argument("dirs", nargs="+")
    c.add_argument("--out", required=True)
    c.add_argument("--anprd", default="anprd")
    t = sub.add_parser("train")
    t.add_argument("--data", nargs="+", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--init")
    t.add_argument("--minutes", type=float, default=30)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("apply")
    a.add_argument("dir")
    a.add_argument("out")
    a.add_argument("--ckpt", required=True)
    a.add_argument("--anprd", default="anprd")
    a.add_argument("--own-layout", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", required=True)
    e.add_argument("out")
    args = ap.parse_args()
    {"scenes": scenes, "collect": collect, "train": train, "apply": apply, "export": export}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
