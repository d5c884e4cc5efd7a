"""Exports trained checkpoints to models/detector.onnx and models/reader.onnx.

    python3 export.py DETECTOR_CKPT READER_CKPT OUT_DIR
"""

import json
import sys

import torch

import nets


def main():
    det_ckpt, read_ckpt, out = sys.argv[1:4]
    det, reader = nets.Detector(), nets.Reader()
    d = torch.load(det_ckpt, map_location="cpu")
    r = torch.load(read_ckpt, map_location="cpu")
    det.load_state_dict(d["model"])
    reader.load_state_dict(r["model"])
    nets.export(det.eval(), reader.eval(), out)
    info = {k: v for k, v in d.items() if k != "model"}, {k: v for k, v in r.items() if k != "model"}
    print(json.dumps({"detector": info[0], "reader": info[1]}, indent=1))


if __name__ == "__main__":
    main()
