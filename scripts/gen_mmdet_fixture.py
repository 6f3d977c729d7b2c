#!/usr/bin/env python3
# Generates test/io/fixtures/mmdet/: what the engine's torchvision-layout ResNets and its import of
# an mmdetection GFL R50-FPN checkpoint are tested against (test/detection/mmdet.test.ts).
#
# The PyTorch replica: torchvision's ResNet-18 and ResNet-50 (Debian's python3-torchvision) as the
# backbone, without `fc` (mmdetection's ResNet has the same modules and names), mmdetection 3.x's FPN
# (in_channels [256, 512, 1024, 2048], start_level 1, add_extra_convs 'on_output', num_outs 5) and
# GFLHead (stacked_convs 4, feat 256, GN 32, reg_max 16, 80 classes) written to their definitions.
#
# Weights are "hashed": every value is a function of its key and flat index (fnv-1a of the key, mixed
# with the index by murmur3's finaliser, scaled per kind of tensor; test/detection/hashedWeights.ts is
# the same function in TypeScript), so the 32M values of the R50 detector need not be stored: the test
# builds the same state_dict, writes it as a .pth with the engine's writer, and loads that the way a
# user loads an mmdetection checkpoint.
#
# Files:
#   keys.json                   every state_dict key of torchvision's resnet18/resnet50 (no fc) and of the
#                               GFL R50-FPN detector, with shape and dtype, in state_dict order
#   resnet18_forward.safetensors  input [1,3,64,64] (F32) and the layer2..layer4 outputs c3..c5 in eval
#                               mode (F64)
#   gfl_r50_forward.safetensors   input [1,3,128,128] (F32) and, per FPN level, the class scores (sigmoid) and
#                               box distances (integral of the distribution × stride), eval mode (F64)
#   heads_keys.json             the state_dict of mmdetection's ATSSHead, RetinaHead and FCOSHead (small:
#                               3 classes, 16 channels, 2 tower blocks, 3 levels) under `bbox_head.`
#   heads_forward.safetensors   per head, hashed level features `<head>.feat<l>` (F32) and its outputs
#                               `<head>.level<l>.{cls,reg,centerness}` (F64): logits, ATSS deltas after the
#                               Scale, RetinaNet deltas, FCOS distances exp(Scale · x)
# Outputs are float64 forwards of the float32-rounded weights and inputs; the float32 forward's error
# against them is stored in the metadata to size the test's tolerance.
#
# Regenerate with: python3 scripts/gen_mmdet_fixture.py

import os
import sys

try:
    import torch
    import torchvision
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import json
import math

import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch_fixture import ConvModule as GnConvModule, GFLHead, Scale, write_safetensors  # noqa: E402  (mmdetection's GFLHead replica)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "io", "fixtures", "mmdet")
M32 = 0xFFFFFFFF


def fnv1a(s):
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & M32
    return h


def fmix32(x):
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & M32
    x ^= x >> 16
    return x


def hashed(key, shape):
    """The value of every element of tensor `key` (float64, then rounded to float32 by the caller)."""
    n = math.prod(shape)
    h = fnv1a(key)
    u = torch.tensor([fmix32(h ^ (((i + 1) * 0x9E3779B1) & M32)) for i in range(n)], dtype=torch.float64) / 2**32
    s = 2 * u - 1  # in [-1, 1)
    if key.endswith("running_var"):
        v = 0.5 + u
    elif key.endswith("running_mean"):
        v = 0.2 * s
    elif len(shape) == 4:  # conv weights: He-uniform, variance 2/fan_in
        v = s * math.sqrt(6 / math.prod(shape[1:]))
    elif key.endswith("gfl_cls.bias"):
        v = -2 + 0.1 * s
    elif key.endswith("bias"):
        v = 0.1 * s
    else:  # norm weights and the per-level scales
        v = 1 + 0.2 * s
    return v.reshape(shape)


def hashed_state(model):
    out = {}
    for k, t in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(1000, dtype=torch.int64)
        elif k.endswith("integral.project"):
            out[k] = t.clone()
        else:
            out[k] = hashed(k, list(t.shape)).float()
    return out


class Backbone(nn.Module):
    """torchvision's ResNet without its classifier: C3, C4, C5 (layer2..layer4)."""

    def __init__(self, resnet):
        super().__init__()
        for name in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]:
            setattr(self, name, getattr(resnet, name))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class ConvModule(nn.Module):
    """mmcv's ConvModule without norm and activation (the FPN's): a conv with bias, key `conv`."""

    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)

    def forward(self, x):
        return self.conv(x)


class FPN(nn.Module):
    """mmdetection's FPN with start_level 1 (C3..C5 of a 4-stage backbone), add_extra_convs 'on_output'."""

    def __init__(self, in_channels, out_channels, num_outs):
        super().__init__()
        self.lateral_convs = nn.ModuleList([ConvModule(c, out_channels, 1) for c in in_channels])
        self.fpn_convs = nn.ModuleList([ConvModule(out_channels, out_channels, 3) for _ in in_channels])
        for _ in range(num_outs - len(in_channels)):
            self.fpn_convs.append(ConvModule(out_channels, out_channels, 3, stride=2))
        self.num_outs = num_outs

    def forward(self, inputs):
        laterals = [lat(x) for lat, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], mode="nearest")
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals))]
        for i in range(len(laterals), self.num_outs):
            outs.append(self.fpn_convs[i](outs[-1]))
        return outs


GFL_HEAD = {"numClasses": 80, "inChannels": 256, "featChannels": 256, "stackedConvs": 4, "gnGroups": 32, "regMax": 16, "numLevels": 5}
STRIDES = [8, 16, 32, 64, 128]


class GFL(nn.Module):
    """mmdetection's GFL R50-FPN: backbone, neck, bbox_head, with its state_dict keys."""

    def __init__(self):
        super().__init__()
        self.backbone = Backbone(torchvision.models.resnet50())
        self.neck = FPN([512, 1024, 2048], 256, 5)
        self.bbox_head = GFLHead(GFL_HEAD)

    def forward(self, x):
        cls_scores, bbox_preds = self.bbox_head(self.neck(self.backbone(x)))
        reg_max = GFL_HEAD["regMax"]
        project = self.bbox_head.integral.project.to(x.dtype)
        scores, distances = [], []
        for c, b, stride in zip(cls_scores, bbox_preds, STRIDES):
            n, _, h, w = b.shape
            prob = F.softmax(b.reshape(n, 4, reg_max + 1, h, w), dim=2)
            distances.append((prob * project.reshape(1, 1, -1, 1, 1)).sum(2) * stride)
            scores.append(c.sigmoid())
        return scores, distances


# The other heads, head only (mmdetection 3.x's ATSSHead, RetinaHead, FCOSHead as the CrossKD
# reference configures them), small: 3 classes, 16 channels, 2 tower blocks, 3 levels.
SMALL_HEAD = {"numClasses": 3, "inChannels": 16, "featChannels": 16, "stackedConvs": 2, "gnGroups": 4}
SMALL_FEATS = [[1, 16, 8, 8], [1, 16, 4, 4], [1, 16, 2, 2]]


class PlainConvModule(nn.Module):
    """mmcv's ConvModule without a norm (RetinaNet's towers): a conv with bias, then ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x))


class DenseHeadReplica(nn.Module):
    """Towers `cls_convs`/`reg_convs` and predictors named per head; forward as mmdetection's forward_single."""

    def __init__(self, kind, c, num_levels):
        super().__init__()
        self.kind = kind
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(c["stackedConvs"]):
            cin = c["inChannels"] if i == 0 else c["featChannels"]
            block = (lambda: PlainConvModule(cin, c["featChannels"])) if kind == "retina" else (lambda: GnConvModule(cin, c["featChannels"], c["gnGroups"]))
            self.cls_convs.append(block())
            self.reg_convs.append(block())
        f, n = c["featChannels"], c["numClasses"]
        conv = lambda cout: nn.Conv2d(f, cout, 3, padding=1)  # noqa: E731
        if kind == "atss":
            self.atss_cls, self.atss_reg, self.atss_centerness = conv(n), conv(4), conv(1)
        elif kind == "retina":
            a = 9  # 3 ratios × 3 scales
            self.retina_cls, self.retina_reg = conv(a * n), conv(a * 4)
        else:
            self.conv_cls, self.conv_reg, self.conv_centerness = conv(n), conv(4), conv(1)
        if kind != "retina":
            self.scales = nn.ModuleList([Scale(1.0) for _ in range(num_levels)])

    def forward(self, feats):
        out = {"cls": [], "reg": [], "centerness": []}
        for level, x in enumerate(feats):
            cls_feat, reg_feat = x, x
            for conv in self.cls_convs:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
            if self.kind == "atss":  # ATSSHead.forward_single: centerness on the reg tower
                out["cls"].append(self.atss_cls(cls_feat))
                out["reg"].append(self.scales[level](self.atss_reg(reg_feat)).float())
                out["centerness"].append(self.atss_centerness(reg_feat))
            elif self.kind == "retina":
                out["cls"].append(self.retina_cls(cls_feat))
                out["reg"].append(self.retina_reg(reg_feat))
            else:  # FCOSHead.forward_single, centerness_on_reg False, norm_on_bbox False: exp(scale · x)
                out["cls"].append(self.conv_cls(cls_feat))
                out["reg"].append(self.scales[level](self.conv_reg(reg_feat)).float().exp())
                out["centerness"].append(self.conv_centerness(cls_feat))
        return out


class HeadOnly(nn.Module):
    """Only for the `bbox_head.` prefix of the names."""

    def __init__(self, kind):
        super().__init__()
        self.bbox_head = DenseHeadReplica(kind, SMALL_HEAD, len(SMALL_FEATS))

    def forward(self, feats):
        return self.bbox_head(feats)


def entries(model):
    return [[k, list(t.shape), str(t.dtype).replace("torch.", "")] for k, t in model.state_dict().items()]


def rel_err(a, ref):
    return ((a.double() - ref).abs().max() / ref.abs().max()).item()


def run(model, state, x):
    """float64 and float32 forwards of the same float32 weights and input (eval mode)."""
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        out32 = model.float()(x)
        out64 = model.double()(x.double())
    return out32, out64


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.manual_seed(0)
    r18 = Backbone(torchvision.models.resnet18())
    r50 = Backbone(torchvision.models.resnet50())
    gfl = GFL()
    keys = {"resnet18": entries(r18), "resnet50": entries(r50), "gfl_r50_fpn": entries(gfl)}
    with open(os.path.join(OUT_DIR, "keys.json"), "w") as f:
        json.dump(keys, f, separators=(",", ":"))
        f.write("\n")

    x18 = hashed("input", [1, 3, 64, 64]).float()
    feats32, feats64 = run(r18, hashed_state(r18), x18)
    tensors = {"input": x18}  # float32: it is exactly that
    errs18 = []
    for i, (a, b) in enumerate(zip(feats32, feats64)):
        tensors[f"c{i + 3}"] = b
        errs18.append(rel_err(a, b))
    write_safetensors(os.path.join(OUT_DIR, "resnet18_forward.safetensors"), tensors, {"float32_rel_err": json.dumps(errs18)})

    x = hashed("input", [1, 3, 128, 128]).float()
    (s32, d32), (s64, d64) = run(gfl, hashed_state(gfl), x)
    tensors = {"input": x}
    errs = []
    for i in range(len(STRIDES)):
        tensors[f"level{i}.scores"] = s64[i]
        tensors[f"level{i}.distances"] = d64[i]
        errs += [rel_err(s32[i], s64[i]), rel_err(d32[i], d64[i])]
    write_safetensors(os.path.join(OUT_DIR, "gfl_r50_forward.safetensors"), tensors, {"float32_rel_err": json.dumps(errs)})
    heads_keys = {}
    tensors = {}
    head_errs = {}
    for kind in ["atss", "retina", "fcos"]:
        model = HeadOnly(kind)
        heads_keys[kind] = entries(model)
        feats = [hashed(f"{kind}.feat{l}", shape).float() for l, shape in enumerate(SMALL_FEATS)]
        model.load_state_dict(hashed_state(model))
        model.eval()
        with torch.no_grad():
            out32 = model.float()(feats)
            out64 = model.double()([f.double() for f in feats])
        errs = []
        for l, f in enumerate(feats):
            tensors[f"{kind}.feat{l}"] = f
            for part in ["cls", "reg", "centerness"]:
                if out64[part]:
                    tensors[f"{kind}.level{l}.{part}"] = out64[part][l]
                    errs.append(rel_err(out32[part][l], out64[part][l]))
        head_errs[kind] = errs
    with open(os.path.join(OUT_DIR, "heads_keys.json"), "w") as f:
        json.dump(heads_keys, f, separators=(",", ":"))
        f.write("\n")
    write_safetensors(os.path.join(OUT_DIR, "heads_forward.safetensors"), tensors, {f"{k}.float32_rel_err": json.dumps(v) for k, v in head_errs.items()})
    n = sum(t.numel() for k, t in gfl.state_dict().items())
    print(f"keys.json: resnet18 {len(keys['resnet18'])}, resnet50 {len(keys['resnet50'])}, gfl_r50_fpn {len(keys['gfl_r50_fpn'])} keys ({n} values)")
    print(f"float32 error of the replica against float64: resnet18 {max(errs18):.2e}, gfl {max(errs):.2e}")


if __name__ == "__main__":
    main()
