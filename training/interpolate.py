"""Mixes two networks' weights: (1 - ALPHA) of BASE plus ALPHA of TUNED.

    python3 interpolate.py [--detector] BASE TUNED ALPHA OUT_CKPT

Readers by default; detectors with --detector (detector round 6).

TUNED must have been fine-tuned from BASE with its batch norms frozen
(`train.py --init BASE --freeze-bn`), so that both share the same running
statistics and a straight line between their weights is a sensible family
of networks. BASE is a train.py checkpoint or an exported network (loaded
as `--init` loads it). Fine-tuning on anprd's own renderer gained on the
generated plates and lost some Brazilian photographs; half way between kept
most of the gain and lost less (models/README.md, round 7); the detector's
round 6, on US plates drawn as real ones look, read more of both sets of
real photographs half way. This is
"weight-space ensembling" (WiSE-FT, Wortsman et al., 2022).
"""

import sys

import torch

import nets
from train import load_network


def main():
    args = sys.argv[1:]
    net = nets.Reader
    if args[:1] == ["--detector"]:
        net, args = nets.Detector, args[1:]
    if len(args) != 4:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    base_path, tuned_path, alpha, out = args[0], args[1], float(args[2]), args[3]
    base_net, tuned_net = net(), net()
    load_network(base_net, base_path)
    meta = load_network(tuned_net, tuned_path)
    base, tuned = base_net.state_dict(), tuned_net.state_dict()
    for k in base:
        if "running" in k and not torch.equal(base[k], tuned[k]):
            raise SystemExit(f"{k} differs: {tuned_path} was not fine-tuned from {base_path} with --freeze-bn")
    mixed = {k: (1 - alpha) * base[k] + alpha * tuned[k] if base[k].is_floating_point() else tuned[k]
             for k in base}
    torch.save({"model": mixed, **meta, "interpolated": {"base": base_path, "alpha": alpha}}, out)
    print(f"{out}: {1 - alpha:g} x {base_path} + {alpha:g} x {tuned_path}")


if __name__ == "__main__":
    main()
