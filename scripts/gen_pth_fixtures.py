#!/usr/bin/env python3
# Generates test/io/fixtures/pth/: .pth files written by torch.save (Debian's python3-torch 1.13)
# for test/io/pth.test.ts, and checks the other direction — files written by the TypeScript
# writer (engine/io/pth.ts, run here through node) load in torch with exactly the values meant.
#
# Regenerate with: python3 scripts/gen_pth_fixtures.py   (needs PyTorch and node with the
# project's npm packages; re-runs itself under /usr/bin/python3 if the python3 on PATH lacks torch)
#
# Files written:
#   state.pth          a bare OrderedDict state_dict: float32, float64, float16, bfloat16, int64, int32,
#                      uint8, bool; a 0-dim tensor, an empty one, a transposed (non-contiguous) view and a
#                      slice at a storage offset that shares its storage with another tensor
#   state.json         the expected values of state.pth per key: dtype, shape, values row-major
#                      (float16/bfloat16 as their bit patterns, int64 as decimal strings, bool as 0/1)
#   mmdet.pth          mmengine's layout: {meta, state_dict (keys with DataParallel's 'module.'),
#                      message_hub holding a numpy scalar, optimizer}, as mmdetection 3.x saves
#   mmcv.pth           mmdetection 2.x's (mmcv runner's) layout: {meta with a numpy best score in its
#                      hook_msgs, state_dict, optimizer} plus an entry holding an object of a class
#                      of the training script (as a custom hook may leave); the weights must still load
#   legacy.pth         the same state_dict in the pre-1.6 (non-zip) format
#   torchscript.pt     a TorchScript archive (torch.jit.save), not a state_dict
#   evil.pth           a pickle whose state_dict value would call os.system when unpickled by pickle
#   ts_written.pth     written by encodePth from state.json's tensors with meta {epoch: 3, ...};
#                      torch.load here must give state.json's values and the meta (checked below)
#   ts_resaved.pth     ts_written.pth loaded by torch and saved again by torch.save: the test reads it
#                      back (TypeScript → torch → TypeScript)
#   ts_reencoded.pth   state.pth decoded and encoded again by the TypeScript side; torch.load here must
#                      give state.pth's tensors (torch → TypeScript → torch); the test checks that the
#                      writer still produces these bytes

import os
import sys

try:
    import torch
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import collections
import json
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "io", "fixtures", "pth")
META = {"epoch": 3, "iter": 600, "mmengine_version": "0.10.4", "dataset_meta": {"classes": ["circle", "square"]}, "lr": 0.25}


def state_dict():
    g = torch.Generator().manual_seed(2026)
    base = torch.randn(4, 6, generator=g)
    sd = collections.OrderedDict()
    sd["backbone.conv1.weight"] = torch.randn(3, 2, 3, 3, generator=g)
    sd["backbone.bn1.running_var"] = torch.rand(3, generator=g, dtype=torch.float64) + 0.5
    sd["backbone.bn1.num_batches_tracked"] = torch.tensor(1234567890123, dtype=torch.int64)
    sd["neck.half"] = torch.tensor([1.5, -2.0, 65504.0, 6.1e-5, 0.0], dtype=torch.float16)
    sd["neck.bf16"] = torch.tensor([1.0, -3.140625, 1e30], dtype=torch.bfloat16)
    sd["head.labels"] = torch.tensor([0, -5, 2147483647], dtype=torch.int32)
    sd["head.bytes"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["head.mask"] = torch.tensor([[True, False], [False, True]])
    sd["head.scalar"] = torch.tensor(0.75)
    sd["head.empty"] = torch.zeros(2, 0)
    sd["head.transposed"] = base.t()  # stride (1, 6): not contiguous
    sd["head.rows"] = base[1:3]  # storage offset 6, shares base's storage with head.transposed
    return sd


def expected(sd):
    out = {}
    for k, t in sd.items():
        c = t.contiguous().reshape(-1)
        if t.dtype in (torch.float16, torch.bfloat16):
            values = c.view(torch.int16).to(torch.int32).bitwise_and(0xFFFF).tolist()
        elif t.dtype == torch.int64:
            values = [str(v) for v in c.tolist()]
        elif t.dtype == torch.bool:
            values = [int(v) for v in c.tolist()]
        elif t.dtype in (torch.float32, torch.float64):
            values = [float(v) for v in c.double().tolist()]
        else:
            values = c.tolist()
        out[k] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": values}
    return out


def same(a, b):
    assert list(a.keys()) == list(b.keys()), (list(a.keys()), list(b.keys()))
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k].contiguous().reshape(-1).view(torch.uint8), b[k].contiguous().reshape(-1).view(torch.uint8)) if a[k].numel() else True, k


class TrainingScriptObject:
    """A class only the training script has: a reader cannot build it, and must not need to."""

    def __init__(self):
        self.count = 3


MMCV_META = {"mmcv_version": "1.7.1", "epoch": 12, "iter": 10000, "CLASSES": ("circle", "square"),
             "hook_msgs": {"last_ckpt": "work_dirs/gfl/epoch_12.pth", "best_score": np.float64(0.405)}}


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def node(script):
    subprocess.run(["node", "--import", "tsx", "--input-type=module", "-e", script], cwd=ROOT, check=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = lambda name: os.path.join(OUT, name)
    sd = state_dict()
    torch.save(sd, p("state.pth"))
    with open(p("state.json"), "w") as f:
        json.dump(expected(sd), f, indent=1)
    wrapped = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    torch.save(
        {"meta": META, "state_dict": wrapped, "message_hub": {"log_scalars": {"loss": np.float64(0.5)}}, "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]}},
        p("mmdet.pth"),
    )
    torch.save({"meta": MMCV_META, "state_dict": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]},
                "custom_hook": TrainingScriptObject()}, p("mmcv.pth"))
    torch.save(sd, p("legacy.pth"), _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), p("torchscript.pt"))
    torch.save({"state_dict": {"w": Evil()}}, p("evil.pth"))

    # TypeScript → torch: encodePth writes state.json's tensors; torch.load must read them exactly
    node(
        "import * as fs from 'node:fs';"
        "import { encodePth } from './engine/io/pth.ts';"
        "import { fixtureTensors } from './test/io/pthFixture.ts';"
        f"fs.writeFileSync('{p('ts_written.pth')}', encodePth(fixtureTensors(JSON.parse(fs.readFileSync('{p('state.json')}', 'utf8'))), {{ meta: {json.dumps(META)}, name: 'ts_written' }}));"
        "import { decodePth } from './engine/io/pth.ts';"
        f"fs.writeFileSync('{p('ts_reencoded.pth')}', encodePth(decodePth(new Uint8Array(fs.readFileSync('{p('state.pth')}')), 'state.pth').stateDict, {{ name: 'ts_reencoded' }}));"
    )
    # (torch 1.13's weights_only reader lacks BINFLOAT, which the float in META needs; the
    # meta-less ts_reencoded.pth below loads with weights_only=True)
    loaded = torch.load(p("ts_written.pth"))
    assert loaded["meta"] == META, loaded["meta"]
    same(loaded["state_dict"], collections.OrderedDict((k, v.contiguous()) for k, v in sd.items()))
    torch.save(loaded, p("ts_resaved.pth"))
    # torch → TypeScript → torch
    same(torch.load(p("ts_reencoded.pth"), weights_only=True), collections.OrderedDict((k, v.contiguous()) for k, v in sd.items()))
    print(f"wrote {OUT}; torch {torch.__version__} reads both TypeScript-written files exactly")


if __name__ == "__main__":
    main()
