#!/usr/bin/env python3
# Generates test/io/fixtures/gfl_head_torch*.safetensors: a small GFL head built in PyTorch with
# mmdetection's module structure and names (mmdet/models/dense_heads/gfl_head.py: ConvModule towers
# with GroupNorm, gfl_cls, gfl_reg, a Scale per level, the Integral's `project` buffer), random weights
# from a fixed seed, run on a fixed input. test/io/torchFixture.test.ts loads the weights into the
# engine's GFLHead and compares its outputs with PyTorch's.
#
# Regenerate with: python3 scripts/gen_torch_fixture.py   (needs PyTorch, e.g. Debian's python3-torch;
# if the python3 on PATH lacks torch the script re-runs itself under /usr/bin/python3).
#
# Files written (safetensors, written here by hand from the format's definition, since the
# `safetensors` Python package is not part of Debian's torch):
#   gfl_head_torch.safetensors     the head's state_dict under `bbox_head.` as F32, as a PyTorch
#                                  checkpoint holds it; __metadata__: format "pt", the head config (JSON),
#                                  and torch's float32 error against float64 on these outputs
#   gfl_head_torch_io.safetensors  inputs in.<level> and expected outputs cls.<level>, reg.<level> (F64)
#
# The expected outputs are the forward pass in float64 of the float32 weights and inputs (both are
# drawn in float32, then widened), so they are exact up to float64 rounding; the same forward in
# float32 is run too, and its error against float64 (max|f32 - f64| / max|f64|) is recorded to size
# the test's tolerance (as the parity files do).

import os
import sys

try:
    import torch
except ImportError:  # the python3 on PATH (e.g. a pyenv shim) may lack torch; Debian's has it
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import argparse
import json
import struct

import numpy as np
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "io", "fixtures")

# The head: small, but every structural feature of mmdetection's GFLHead (two blocks per tower,
# GroupNorm with several groups, two FPN levels of different sizes, reg_max bins) and batch 2.
CONFIG = {
    "numClasses": 3,
    "inChannels": 8,
    "featChannels": 8,
    "stackedConvs": 2,
    "gnGroups": 4,
    "regMax": 4,
    "numLevels": 2,
}
INPUT_SHAPES = [(2, 8, 8, 8), (2, 8, 4, 4)]
SEED = 2026


class ConvModule(nn.Module):
    """mmcv.cnn.ConvModule with norm_cfg=GN and ReLU: conv (no bias: the norm follows) -> gn -> activate."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(groups, cout)
        self.activate = nn.ReLU()

    def forward(self, x):
        return self.activate(self.gn(self.conv(x)))


class Scale(nn.Module):
    """mmcv.cnn.Scale: a learnable 0-dim multiplier."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x):
        return x * self.scale


class Integral(nn.Module):
    """mmdet's Integral: holds the bin positions 0..reg_max as a (persistent) buffer."""

    def __init__(self, reg_max):
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("project", torch.linspace(0, reg_max, reg_max + 1))


class GFLHead(nn.Module):
    """The parts of mmdet's GFLHead that hold weights, and its forward (cls_score, bbox_pred per level)."""

    def __init__(self, c):
        super().__init__()
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(c["stackedConvs"]):
            cin = c["inChannels"] if i == 0 else c["featChannels"]
            self.cls_convs.append(ConvModule(cin, c["featChannels"], c["gnGroups"]))
            self.reg_convs.append(ConvModule(cin, c["featChannels"], c["gnGroups"]))
        self.gfl_cls = nn.Conv2d(c["featChannels"], c["numClasses"], 3, padding=1)
        self.gfl_reg = nn.Conv2d(c["featChannels"], 4 * (c["regMax"] + 1), 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in range(c["numLevels"])])
        self.integral = Integral(c["regMax"])

    def forward(self, feats):
        cls_scores, bbox_preds = [], []
        for x, scale in zip(feats, self.scales):
            cls_feat, reg_feat = x, x
            for conv in self.cls_convs:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
            cls_scores.append(self.gfl_cls(cls_feat))
            bbox_preds.append(scale(self.gfl_reg(reg_feat)))
        return cls_scores, bbox_preds


class Detector(nn.Module):
    """Only for the `bbox_head.` prefix that mmdetection detectors give the head's names."""

    def __init__(self, c):
        super().__init__()
        self.bbox_head = GFLHead(c)


# The names a GFL head has in an mmdetection checkpoint (two tower blocks, two levels).
EXPECTED_NAMES = sorted(
    [f"bbox_head.{t}.{i}.conv.weight" for t in ("cls_convs", "reg_convs") for i in range(2)]
    + [f"bbox_head.{t}.{i}.gn.{p}" for t in ("cls_convs", "reg_convs") for i in range(2) for p in ("weight", "bias")]
    + [f"bbox_head.{m}.{p}" for m in ("gfl_cls", "gfl_reg") for p in ("weight", "bias")]
    + ["bbox_head.scales.0.scale", "bbox_head.scales.1.scale", "bbox_head.integral.project"]
)


def randomize(model, gen):
    """Weights away from their initial values, so a parameter loaded into the wrong place shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gn.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".scale"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)


DTYPES = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"), torch.int64: ("I64", "<i8")}


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 LE header length, JSON header (names -> dtype, shape, byte offsets,
    plus __metadata__ of strings), spaces up to 8-byte alignment, then each tensor's little-endian bytes."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        dtype, _ = DTYPES[t.dtype]
        data = t.numpy().astype(DTYPES[t.dtype][1], copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text.encode())) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text.encode())))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Reads back what write_safetensors wrote (a check of the writer, independent of the engine)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        np_dtype = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}[e["dtype"]]
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + b : 8 + n + end], dtype=np_dtype).copy()).reshape(e["shape"])
    return out, meta


def rel_err(a, ref):
    return ((a.double() - ref).abs().max() / ref.abs().max()).item()


def main():
    parser = argparse.ArgumentParser(
        description="Write a PyTorch-built GFL head (mmdetection names), its input and float64 outputs as safetensors.",
        epilog="Exit codes: 0 ok, 1 a check of the written files failed, 2 bad arguments.",
    )
    parser.add_argument("--out-dir", default=OUT_DIR, help=f"output folder (default {os.path.relpath(OUT_DIR, ROOT)})")
    out_dir = parser.parse_args().out_dir

    gen = torch.Generator().manual_seed(SEED)
    model = Detector(CONFIG)
    randomize(model, gen)
    state = model.state_dict()
    names = sorted(state)
    if names != EXPECTED_NAMES:
        raise SystemExit(f"state_dict names differ from mmdetection's:\n  got      {names}\n  expected {EXPECTED_NAMES}")
    if state["bbox_head.scales.0.scale"].shape != torch.Size([]):
        raise SystemExit("mmcv's Scale holds a 0-dim parameter; this one does not")

    inputs = [torch.randn(s, generator=gen, dtype=torch.float32) for s in INPUT_SHAPES]
    head = model.bbox_head
    with torch.no_grad():
        cls32, reg32 = head(inputs)
        head64 = Detector(CONFIG).double().bbox_head
        head64.load_state_dict({k[len("bbox_head.") :]: v.double() for k, v in state.items()})
        cls64, reg64 = head64([x.double() for x in inputs])
    f32_error = max(rel_err(a, b) for a, b in zip(cls32 + reg32, cls64 + reg64))

    os.makedirs(out_dir, exist_ok=True)
    weights_file = os.path.join(out_dir, "gfl_head_torch.safetensors")
    io_file = os.path.join(out_dir, "gfl_head_torch_io.safetensors")
    metadata = {
        "format": "pt",
        "generator": "scripts/gen_torch_fixture.py",
        "torch": torch.__version__,
        "seed": str(SEED),
        "config": json.dumps(CONFIG, separators=(",", ":")),
        "f32_error_vs_f64": repr(f32_error),
    }
    write_safetensors(weights_file, dict(state), metadata)
    io = {}
    for level, (x, c, r) in enumerate(zip(inputs, cls64, reg64)):
        io[f"in.{level}"] = x.double()
        io[f"cls.{level}"] = c
        io[f"reg.{level}"] = r
    write_safetensors(io_file, io, {"generator": "scripts/gen_torch_fixture.py", "shapes": "in, cls, reg: [N, C, H, W] per level"})

    # the files read back as written
    back, meta = read_safetensors(weights_file)
    assert meta == metadata and sorted(back) == names
    for k in names:
        assert back[k].dtype == torch.float32 and torch.equal(back[k], state[k]), k
    back_io, _ = read_safetensors(io_file)
    for k, v in io.items():
        assert torch.equal(back_io[k], v), k

    for f in (weights_file, io_file):
        print(f"wrote {os.path.relpath(f, ROOT)} ({os.path.getsize(f)} bytes)")
    print(f"torch float32 vs float64 on the outputs: max rel error {f32_error:.3g}")


if __name__ == "__main__":
    main()
