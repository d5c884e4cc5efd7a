"""Trains one of the two networks on a data set written by gen.py.

    python3 train.py reader   DATA_DIR CHECKPOINT --minutes 25
    python3 train.py detector DATA_DIR CHECKPOINT --minutes 30

Runs on the CPU (a GPU is used if present, never required). Training stops
after a time budget rather than a number of epochs, so the one regeneration
command finishes in a predictable time on a small machine; the seed, the
steps taken and the validation figures are printed and recorded in
models/README.md.
"""

import argparse
import copy
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import nets

DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def reader_batches(x, y, idx, bs, rng, geometry=False):
    while True:
        perm = rng.permutation(idx)
        for i in range(0, len(perm) - bs + 1, bs):
            b = perm[i:i + bs]
            img = torch.from_numpy(x[b]).float().div_(255).unsqueeze(1)
            # brightness / contrast / polarity-free jitter on the fly
            k = torch.empty(len(b), 1, 1, 1).uniform_(0.6, 1.3)
            m = torch.empty(len(b), 1, 1, 1).uniform_(-0.15, 0.15)
            img = ((img - 0.5) * k + 0.5 + m).clamp_(0, 1)
            if geometry:  # on the training device: on a GPU the CPU would be the bottleneck
                img = corner_error(img.to(DEV), rng)
            yield img, [y[j] for j in b], b


def corner_error(img, rng, p=0.5):
    """Shifts and scales half of the crops as a detector's corner error
    would, more up and down than across (a detector misses the top and
    bottom edges of a plate more than its ends; measured on the generated
    test set: 21 % of the height against 6 % of the width, mean absolute).
    Pixels from outside the crop repeat its edge."""
    n = img.shape[0]
    pick = torch.from_numpy(rng.random(n) < p)
    u = lambda lo, hi: torch.from_numpy(rng.uniform(lo, hi, n)).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = u(0.94, 1.06)   # width seen, share of the crop
    theta[:, 0, 2] = u(-0.03, 0.03)
    theta[:, 1, 1] = u(0.8, 1.25)    # height seen
    theta[:, 1, 2] = u(-0.15, 0.15)  # up or down, share of half the height
    theta[~pick] = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    theta = theta.to(img.device)
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, padding_mode="border", align_corners=False)


def schedule(opt, step, steps, t0, budget, peak_lr):
    """Sets and returns the learning rate for this step: a 200-step warm-up,
    then a cosine down to zero over the step or time budget; None once the
    budget is spent."""
    frac = step / steps if steps else (time.time() - t0) / budget
    if frac >= 1:
        return None
    lr = peak_lr * min(1.0, step / 200) * 0.5 * (1 + math.cos(math.pi * frac))
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def encode(labels):
    idx = {c: i + 1 for i, c in enumerate(nets.ALPHABET)}
    flat = [idx[c] for s in labels for c in s]
    return torch.tensor(flat, dtype=torch.long), torch.tensor([len(s) for s in labels], dtype=torch.long)


def decode(probs):
    out = []
    for row in probs.argmax(-1).tolist():
        s, prev = [], 0
        for k in row:
            if k != prev and k != 0:
                s.append(nets.ALPHABET[k - 1])
            prev = k
        out.append("".join(s))
    return out


def load_onnx(model, path):
    """Loads an exported network (models/reader.onnx or detector.onnx) into
    `model`, of the same architecture. Export folds each batch norm into the
    convolution before it, so the folded weights go to the convolutions and
    every batch norm becomes the identity plus the folded bias: the same
    function, to be fine-tuned with the batch norms frozen (`--freeze-bn`)."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    mods = [m for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    norms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    if len(convs) != len(mods) or len(norms) != len(mods) - 1:
        raise SystemExit(f"{path}: {len(convs)} convolutions, the network has {len(mods)}")
    with torch.no_grad():
        for i, (node, conv) in enumerate(zip(convs, mods)):
            w, b = init[node.input[1]], init[node.input[2]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise SystemExit(f"{path}: convolution {i} is {w.shape}, the network's {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(w.copy()))
            if i < len(norms):
                if conv.bias is not None:  # folded into the batch norm's shift
                    conv.bias.zero_()
                bn = norms[i]
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(b.copy()))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            else:
                conv.bias.copy_(torch.from_numpy(b.copy()))


def load_network(model, path, device="cpu"):
    """Loads a checkpoint of train.py or an export (`load_onnx`) into
    `model`; returns the rest of the checkpoint (an export has none)."""
    if path.endswith(".onnx"):
        load_onnx(model, path)
        return {}
    ckpt = torch.load(path, map_location=device)
    model.load_state_dict(ckpt.pop("model"))
    return ckpt


def init_from(model, init, freeze_bn):
    """Starts `model` from a checkpoint of train.py or from an export."""
    if init and init.endswith(".onnx") and not freeze_bn:
        raise SystemExit("--init with an exported network needs --freeze-bn (its batch norms are folded)")
    if init:
        load_network(model, init, DEV)


def freeze_batch_norms(model):
    """Batch norms use and keep their running statistics (their scale and
    shift still learn): fine-tuning then starts from exactly the function
    it was given."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.eval()


def train_reader(data, ckpt, minutes, seed, steps=None, init=None, peak_lr=2e-3, geometry=False,
                 freeze_bn=False, rust_weight=4, distill=0.0, bs=96):
    x = np.load(os.path.join(data, "reader.npy"))
    y = open(os.path.join(data, "reader.txt")).read().split("\n")[: len(x)]
    n = len(x)
    val = np.arange(n - max(500, n // 50), n)
    tr = np.arange(0, val[0])
    if os.path.exists(os.path.join(data, "reader_rs.npy")):  # plates of anprd's own renderer
        xr = np.load(os.path.join(data, "reader_rs.npy"))
        yr = open(os.path.join(data, "reader_rs.txt")).read().split("\n")[: len(xr)]
        x, y = np.concatenate([x, xr]), y + yr
        # Drawn rust_weight times as often (4 by default: the daemon's own
        # tests and clips use these glyphs, and there were few of them).
        tr = np.concatenate([tr] + [np.arange(n, n + len(xr))] * rust_weight)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nets.Reader().to(DEV)
    init_from(model, init, freeze_bn)
    # Learning without forgetting: on crops that are not anprd's own
    # renderer's, the network is also held to what it read before this round
    # (per-column KL to a frozen copy), so that new glyphs do not move the
    # boundaries it had learnt for other fonts (models/README.md, round 8).
    teacher = None
    if distill > 0:
        if not init:
            raise SystemExit("--distill needs --init: it holds the network to where it started")
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    # The held-out marks with a digit where the UK's current format has
    # letters (AB12 CDE: places 5-7), as Brazil's ABC 1234 and many European
    # marks do. Rounds that lean on UK marks learn what each place holds and
    # read those digits as look-alike letters (6 as G, 8 as B, 0 as D;
    # models/README.md, reader round 13): printed before and after, to show
    # that trade before the photographs do. At 2 % held out they are about
    # 300 crops, too few for a trade of a few plates in a hundred (round 14).
    late_digits = np.array([i for i in val if len(y[i]) >= 5 and any(c.isdigit() for c in y[i][4:7])],
                           dtype=np.int64)
    start_acc = eval_reader(model, x, y, val) if init else float("nan")
    start_late = eval_reader(model, x, y, late_digits) if init else float("nan")
    print(f"reader: {len(val)} held out, {len(late_digits)} of them with digits in places 5-7"
          + (f"; before training {start_acc:.4f}, those {start_late:.4f}" if init else ""), flush=True)
    opt = torch.optim.AdamW(model.parameters(), peak_lr, weight_decay=1e-4)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    t0, step = time.time(), 0
    budget = minutes * 60
    for img, labels, idx in reader_batches(x, y, tr, bs, rng, geometry):
        lr = schedule(opt, step, steps, t0, budget, peak_lr)
        if lr is None:
            break
        model.train()
        if freeze_bn:
            freeze_batch_norms(model)
        logits = model(img.to(DEV))                       # N, T, C
        lp = logits.log_softmax(2).permute(1, 0, 2)       # T, N, C
        tgt, tl = encode(labels)
        loss = ctc(lp, tgt, torch.full((len(labels),), lp.shape[0], dtype=torch.long), tl)
        own = torch.from_numpy(idx < n) if teacher is not None else None
        if own is not None and own.any():
            with torch.no_grad():
                t_lp = teacher(img[own].to(DEV)).log_softmax(2)
            s_lp = logits[own.to(DEV)].log_softmax(2)
            # batchmean sums over columns and classes: divide by the columns.
            kl = F.kl_div(s_lp, t_lp, log_target=True, reduction="batchmean") / s_lp.shape[1]
            loss = loss + distill * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            print(f"reader step {step} loss {loss.item():.3f} lr {lr:.5f} {time.time() - t0:.0f}s", flush=True)
    acc = eval_reader(model, x, y, val)
    late = eval_reader(model, x, y, late_digits)
    print(f"reader done: {step} steps, {step * bs} samples, val exact {acc:.4f} ({start_acc:.4f} before); "
          f"digits in places 5-7 {late:.4f} ({start_late:.4f} before)", flush=True)
    torch.save({"model": model.state_dict(), "steps": step, "samples": step * bs, "val_exact": acc,
                "val_late_digits": late, "seconds": time.time() - t0, "seed": seed}, ckpt)


def eval_reader(model, x, y, idx):
    if len(idx) == 0:
        return float("nan")
    model.eval()
    good = 0
    with torch.no_grad():
        for i in range(0, len(idx), 256):
            b = idx[i:i + 256]
            img = torch.from_numpy(x[b]).float().div_(255).unsqueeze(1).to(DEV)
            for p, t in zip(decode(model(img).cpu()), [y[j] for j in b]):
                good += p == t
    return good / len(idx)


# ------------------------------------------------------------------ detector

CROP_H, CROP_W = 256, 384
S = nets.DET_STRIDE


def det_targets(plates, oy, ox, gh, gw):
    """Heatmap, two-line flag, corner offsets and weights on a gh x gw grid
    for the crop whose top-left is (oy, ox) in image pixels."""
    heat = np.zeros((gh, gw), np.float32)
    two = np.zeros((gh, gw), np.float32)
    reg = np.zeros((8, gh, gw), np.float32)
    rw = np.zeros((gh, gw), np.float32)
    yy, xx = np.mgrid[0:gh, 0:gw]
    ccx, ccy = (xx + 0.5) * S, (yy + 0.5) * S
    for corners, is_two in plates:
        c = np.array(corners, np.float32) - [ox, oy]
        cx, cy = c[:, 0].mean(), c[:, 1].mean()
        pw = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
        ph = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
        if not (0 <= cx < gw * S and 0 <= cy < gh * S):
            continue
        sig = max(0.7, min(pw / 3, ph) / S / 2.5)
        g = np.exp(-(((ccx - cx) / S) ** 2 + ((ccy - cy) / S) ** 2) / (2 * sig * sig))
        pk = (int(cy // S), int(cx // S))
        g[pk] = 1.0
        heat = np.maximum(heat, g)
        near = g > 0.5
        take = near & (g >= rw)
        for k in range(4):
            reg[2 * k][take] = ((c[k, 0] - ccx) / nets.CORNER_SCALE)[take]
            reg[2 * k + 1][take] = ((c[k, 1] - ccy) / nets.CORNER_SCALE)[take]
        two[take] = float(is_two)
        rw[take] = np.maximum(rw[take], g[take]) / max(pw / 128, 0.2)
    return heat, two, reg, rw


def det_batches(x, meta, idx, bs, rng):
    gh, gw = CROP_H // S, CROP_W // S
    while True:
        perm = rng.permutation(idx)
        for i in range(0, len(perm) - bs + 1, bs):
            imgs, hs, ts, rs, ws = [], [], [], [], []
            for j in perm[i:i + bs]:
                plates = meta[j]
                if plates and rng.random() < 0.85:
                    cx, cy = np.array(plates[rng.integers(len(plates))][0]).mean(0)
                    ox = int(np.clip(cx - rng.uniform(0.1, 0.9) * CROP_W, 0, 640 - CROP_W)) // S * S
                    oy = int(np.clip(cy - rng.uniform(0.1, 0.9) * CROP_H, 0, 384 - CROP_H)) // S * S
                else:
                    ox = int(rng.integers(0, (640 - CROP_W) // S + 1)) * S
                    oy = int(rng.integers(0, (384 - CROP_H) // S + 1)) * S
                imgs.append(x[j, oy:oy + CROP_H, ox:ox + CROP_W])
                h, t, r, w = det_targets(plates, oy, ox, gh, gw)
                hs.append(h); ts.append(t); rs.append(r); ws.append(w)
            img = torch.from_numpy(np.stack(imgs)).float().div_(255).unsqueeze(1)
            k = torch.empty(len(imgs), 1, 1, 1).uniform_(0.7, 1.3)
            img = ((img - 0.5) * k + 0.5).clamp_(0, 1)
            yield (img, torch.from_numpy(np.stack(hs)), torch.from_numpy(np.stack(ts)),
                   torch.from_numpy(np.stack(rs)), torch.from_numpy(np.stack(ws)))


def focal(logit, heat):
    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    neg = 1 - pos
    pl = -torch.log(p) * (1 - p) ** 2 * pos
    nl = -torch.log(1 - p) * p ** 2 * (1 - heat) ** 4 * neg
    return (pl.sum() + nl.sum()) / pos.sum().clamp(min=1)


def edges(c):
    """Top, bottom, left and right edge vectors of corner maps (N, 8, H, W),
    corners clockwise from top left as x, y pairs."""
    p = [c[:, 2 * k:2 * k + 2] for k in range(4)]
    return torch.cat([p[1] - p[0], p[2] - p[3], p[3] - p[0], p[2] - p[1]], 1)


def train_detector(data, ckpt, minutes, seed, steps=None, init=None, peak_lr=3e-3, also=(), edge_weight=0.0,
                   freeze_bn=False):
    x = np.load(os.path.join(data, "detector.npy"), mmap_mode="r")
    meta = json.load(open(os.path.join(data, "detector.json")))
    n = len(meta)
    val = np.arange(n - max(200, n // 40), n)
    tr = np.arange(0, val[0])
    # More pictures to train on (all of them: validation stays data's tail),
    # then anprd's own renderer's.
    more = [(os.path.join(d, "detector.npy"), os.path.join(d, "detector.json")) for d in also]
    if os.path.exists(os.path.join(data, "detector_rs.npy")):
        more.append((os.path.join(data, "detector_rs.npy"), os.path.join(data, "detector_rs.json")))
    if more:
        xs = [np.asarray(x)]
        for npy, js in more:
            start = sum(len(a) for a in xs)
            xs.append(np.load(npy))
            meta = meta + json.load(open(js))
            tr = np.concatenate([tr, np.arange(start, start + len(xs[-1]))])
        x = np.concatenate(xs)
        del xs
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nets.Detector().to(DEV)
    init_from(model, init, freeze_bn)
    opt = torch.optim.AdamW(model.parameters(), peak_lr, weight_decay=1e-4)
    t0, step, bs = time.time(), 0, 16
    budget = minutes * 60
    for img, heat, two, reg, rw in det_batches(x, meta, tr, bs, rng):
        lr = schedule(opt, step, steps, t0, budget, peak_lr)
        if lr is None:
            break
        model.train()
        if freeze_bn:
            freeze_batch_norms(model)
        out = model(img.to(DEV))
        heat, two, reg, rw = heat.to(DEV), two.to(DEV), reg.to(DEV), rw.to(DEV)
        lh = focal(out[:, 0], heat)
        m = (rw > 0).float()
        lt = (F.binary_cross_entropy_with_logits(out[:, 1], two, reduction="none") * m).sum() / m.sum().clamp(min=1)
        lr_ = ((out[:, 2:] - reg).abs().sum(1) * rw).sum() / m.sum().clamp(min=1)
        loss = lh + lt + lr_
        if edge_weight:
            # The quad's shape on its own: a corner loss alone lets the
            # shared offset dominate, and rounds 1-2 never learnt rotation.
            le = ((edges(out[:, 2:]) - edges(reg)).abs().sum(1) * rw).sum() / m.sum().clamp(min=1)
            loss = loss + edge_weight * le
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"detector step {step} heat {lh.item():.3f} two {lt.item():.3f} corners {lr_.item():.3f} "
                  f"edges {le.item() if edge_weight else 0:.3f} "
                  f"lr {lr:.5f} {time.time() - t0:.0f}s", flush=True)
    rec = eval_detector(model, x, meta, val)
    print(f"detector done: {step} steps, {step * bs} crops, val recall {rec}", flush=True)
    torch.save({"model": model.state_dict(), "steps": step, "samples": step * bs, "val_recall": rec,
                "seconds": time.time() - t0, "seed": seed}, ckpt)


def eval_detector(model, x, meta, idx, thr=0.3):
    """Share of plates with a peak above thr whose decoded corners' box
    overlaps the true box with IoU >= 0.5; false peaks per image; and, over
    the plates found, how the quads' angle follows the true one (slope of a
    least-squares fit: 1 when the detector turns its quads, 0 when it keeps
    them level) and its mean error in degrees."""
    model.eval()
    found = total = false = 0
    angles = []
    with torch.no_grad():
        for j in idx:
            out = model(torch.from_numpy(np.array(x[j])).float().div(255)[None, None].to(DEV))[0].cpu()
            hm = torch.sigmoid(out[0])
            mx = F.max_pool2d(hm[None, None], 3, 1, 1)[0, 0]
            peaks = ((hm == mx) & (hm > thr)).nonzero().tolist()
            boxes, quads = [], []
            for cy, cx in peaks:
                pts = [((cx + 0.5) * S + out[2 + 2 * k, cy, cx].item() * nets.CORNER_SCALE,
                        (cy + 0.5) * S + out[3 + 2 * k, cy, cx].item() * nets.CORNER_SCALE) for k in range(4)]
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                quads.append(pts)
                boxes.append((min(xs), min(ys), max(xs), max(ys)))
            used = set()
            for corners, _ in meta[j]:
                total += 1
                c = np.array(corners)
                tb = (c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max())
                for bi, b in enumerate(boxes):
                    if bi not in used and iou(b, tb) >= 0.5:
                        used.add(bi); found += 1
                        angles.append((angle(c), angle(np.array(quads[bi]))))
                        break
            false += len(boxes) - len(used)
    a = np.array(angles).reshape(-1, 2)
    slope = float(np.polyfit(a[:, 0], a[:, 1], 1)[0]) if len(a) > 2 else float("nan")
    error = float(np.abs(a[:, 0] - a[:, 1]).mean()) if len(a) else float("nan")
    return {"recall": found / max(total, 1), "false_per_image": false / len(idx),
            "angle_slope": round(slope, 3), "angle_error_deg": round(error, 2)}


def angle(c):
    """Mean angle of a quad's top and bottom edges, in degrees."""
    top, bottom = c[1] - c[0], c[2] - c[3]
    return math.degrees((math.atan2(top[1], top[0]) + math.atan2(bottom[1], bottom[0])) / 2)


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", choices=["reader", "detector"])
    ap.add_argument("data")
    ap.add_argument("checkpoint")
    ap.add_argument("--minutes", type=float, default=25)
    ap.add_argument("--steps", type=int, help="a fixed number of steps instead of --minutes (reproducible)")
    ap.add_argument("--init", help="start from this checkpoint (fine-tuning), or from an exported network (models/*.onnx, with --freeze-bn)")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="keep the batch norms' running statistics fixed while fine-tuning")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corner-error", action="store_true",
                    help="reader: also shift and scale crops as a detector's corner error would")
    ap.add_argument("--lr", type=float, help="peak learning rate (default 2e-3 reader, 3e-3 detector; lower to fine-tune)")
    ap.add_argument("--also", action="append", default=[],
                    help="detector: also train on this data directory's pictures (repeatable)")
    ap.add_argument("--edge-weight", type=float, default=0.0,
                    help="detector: weight of a loss on the quad's edge vectors (its shape and rotation)")
    ap.add_argument("--rust-weight", type=int, default=4,
                    help="reader: how many times as often a crop of anprd's own renderer (reader_rs) is drawn")
    ap.add_argument("--distill", type=float, default=0.0,
                    help="reader: weight of a per-column KL to the --init network on crops not from anprd's renderer")
    ap.add_argument("--batch", type=int, default=96, help="reader: crops per step")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    extra = {"peak_lr": a.lr} if a.lr else {}
    if a.which == "reader":
        train_reader(a.data, a.checkpoint, a.minutes, a.seed, a.steps, a.init, geometry=a.corner_error,
                     freeze_bn=a.freeze_bn, rust_weight=a.rust_weight, distill=a.distill, bs=a.batch, **extra)
    else:
        train_detector(a.data, a.checkpoint, a.minutes, a.seed, a.steps, a.init, also=a.also,
                       edge_weight=a.edge_weight, freeze_bn=a.freeze_bn, **extra)


if __name__ == "__main__":
    main()
