"""Exports trained checkpoints to models/detector.onnx and models/reader.onnx.

    python3 export.py DETECTOR_CKPT READER_CKPT OUT_DIR

Either may instead be an exported network (a committed models/*.onnx),
loaded as `train.py --init` loads one: re-exported, its weights are the
same, so one network can be retrained while the other is kept.
"""

import json
import sys

import nets
from train import load_network


def main():
    det_ckpt, read_ckpt, out = sys.argv[1:4]
    det, reader = nets.Detector(), nets.Reader()
    info = load_network(det, det_ckpt), load_network(reader, read_ckpt)
    nets.export(det.eval(), reader.eval(), out)
    print(json.dumps({"detector": info[0], "reader": info[1]}, indent=1, default=str))


if __name__ == "__main__":
    main()
