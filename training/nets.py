"""The two networks anprd runs, and their ONNX contract.

Both take grey pixels scaled to 0..1. The Rust side (src/recognise/neural.rs)
depends on exactly these names and shapes; change them together.

detector.onnx
    input  "image"  f32 [1, 1, 384, 640]  the frame letterboxed (top-left,
                                           one scale for both axes, rest 0)
    output "maps"   f32 [1, 10, 96, 160]  one cell per 4x4 input pixels:
        0     plate centre probability (sigmoid applied)
        1     two-line plate probability (sigmoid applied)
        2..9  the plate's corners, clockwise from top left, as (dx, dy) from
              the cell centre in input pixels divided by CORNER_SCALE

reader.onnx
    input  "plate"  f32 [N, 1, 32, 128]   the plate rectified to 128x32; a
                                           two-line plate as its top line in
                                           the left half, bottom in the right
    output "probs"  f32 [N, 32, 37]       per column, softmax over
                                           blank + ALPHABET (CTC)
"""

import torch
import torch.nn as nn

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DET_W, DET_H, DET_STRIDE = 640, 384, 4
CORNER_SCALE = 32.0
READ_W, READ_H = 128, 32


def conv_bn(cin, cout, stride=1, groups=1, k=3, dilation=1):
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def sep(cin, cout, stride=1, dilation=1):
    """Depthwise 3x3 then pointwise: most of the receptive field for little work."""
    return nn.Sequential(
        conv_bn(cin, cin, stride, groups=cin, dilation=dilation),
        conv_bn(cin, cout, k=1),
    )


class Detector(nn.Module):
    """A small feature pyramid (strides 4..32) with a CenterNet-style head at stride 4."""

    def __init__(self):
        super().__init__()
        self.s2 = conv_bn(1, 16, 2)
        self.s4 = nn.Sequential(sep(16, 24, 2), sep(24, 24))
        self.s8 = nn.Sequential(sep(24, 48, 2), sep(48, 48))
        self.s16 = nn.Sequential(sep(48, 64, 2), sep(64, 64), sep(64, 64, dilation=2))
        self.s32 = nn.Sequential(sep(64, 96, 2), sep(96, 96), sep(96, 96, dilation=2))
        self.l16 = conv_bn(64, 32, k=1)
        self.l32 = conv_bn(96, 32, k=1)
        self.l8 = conv_bn(48, 32, k=1)
        self.l4 = conv_bn(24, 32, k=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Sequential(sep(32, 32), sep(32, 32))
        self.out = nn.Conv2d(32, 10, 1)
        with torch.no_grad():
            self.out.bias[0] = -4.0
            self.out.bias[1] = -2.0

    def forward(self, x):
        x4 = self.s4(self.s2(x))
        x8 = self.s8(x4)
        x16 = self.s16(x8)
        x32 = self.s32(x16)
        p = self.l16(x16) + self.up(self.l32(x32))
        p = self.l8(x8) + self.up(p)
        p = self.l4(x4) + self.up(p)
        return self.out(self.head(p))  # raw logits; export adds the sigmoids


class DetectorExport(nn.Module):
    def __init__(self, det):
        super().__init__()
        self.det = det

    def forward(self, image):
        y = self.det(image)
        return torch.cat([torch.sigmoid(y[:, :2]), y[:, 2:]], dim=1)


class Reader(nn.Module):
    """CRNN without recurrence: convolutions to a 32-column sequence, then a
    wide 1-D convolution across columns so each column sees its neighbours."""

    def __init__(self, classes=len(ALPHABET) + 1):
        super().__init__()
        self.cnn = nn.Sequential(
            conv_bn(1, 16),                       # 32x128
            nn.MaxPool2d(2),                      # 16x64
            conv_bn(16, 32),
            nn.MaxPool2d(2),                      # 8x32
            conv_bn(32, 64),
            conv_bn(64, 64),
            nn.MaxPool2d((2, 1)),                 # 4x32
            conv_bn(64, 96),
            conv_bn(96, 96),
            nn.MaxPool2d((4, 1)),                 # 1x32
        )
        self.seq = nn.Sequential(
            nn.Conv1d(96, 128, 5, padding=2), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Conv1d(128, 128, 5, padding=2), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv1d(128, classes, 1),
        )

    def forward(self, x):
        f = self.cnn(x).squeeze(2)       # N, C, 32
        return self.seq(f).permute(0, 2, 1)  # N, 32, classes (logits)


class ReaderExport(nn.Module):
    def __init__(self, reader):
        super().__init__()
        self.reader = reader

    def forward(self, plate):
        return torch.softmax(self.reader(plate), dim=2)


def export(det, reader, out_dir):
    """Writes detector.onnx and reader.onnx (opset 13) to out_dir."""
    import os
    det = DetectorExport(det).eval()
    reader = ReaderExport(reader).eval()
    torch.onnx.export(det, torch.zeros(1, 1, DET_H, DET_W), os.path.join(out_dir, "detector.onnx"),
                      input_names=["image"], output_names=["maps"], opset_version=13,
                      do_constant_folding=True)
    torch.onnx.export(reader, torch.zeros(1, 1, READ_H, READ_W), os.path.join(out_dir, "reader.onnx"),
                      input_names=["plate"], output_names=["probs"], opset_version=13,
                      dynamic_axes={"plate": {0: "n"}, "probs": {0: "n"}}, do_constant_folding=True)


if __name__ == "__main__":
    import sys
    torch.manual_seed(0)
    d, r = Detector(), Reader()
    print("detector params", sum(p.numel() for p in d.parameters()))
    print("reader params", sum(p.numel() for p in r.parameters()))
    if len(sys.argv) > 1:
        export(d, r, sys.argv[1])
