# What every parity-case generator shares: the seeded float32-exact inputs, the float64/float32
# evaluation with autograd, the case and file format of docs/op-cases.md (schema_version 1).
# The generators import it whole: `from .common import *`.
import os
import sys

import torch

import json
import math
import re
import zlib

import numpy as np
import torch.nn.functional as F

F64 = torch.float64
F32 = torch.float32
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO, "test", "opcases")
REFERENCE = "PyTorch %s (CPU), float64 reference, float32 block from the same code in float32; scripts/gen_opcases.py" % torch.__version__
MAX_FILE_BYTES = 1_500_000
MAX_TOTAL_BYTES = 6_000_000

torch.set_num_threads(1)  # deterministic float32 reduction order


# ----------------------------------------------------------------------------------------------
# Random helpers. Every float value they return is a float64 tensor holding float32 values.
# ----------------------------------------------------------------------------------------------

def f32r(t):
    """Round a float64 tensor to float32-representable values (kept as float64)."""
    return t.to(F32).to(F64)


class Rng:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, shape, scale=1.0, shift=0.0):
        return f32r(torch.randn(list(shape), generator=self.g, dtype=F32).to(F64) * scale + shift)

    def uniform(self, shape, lo, hi):
        return f32r(torch.rand(list(shape), generator=self.g, dtype=F32).to(F64) * (hi - lo) + lo)

    def away(self, shape, lo, hi):
        """Random sign times a magnitude uniform in [lo, hi]: keeps |x| >= lo."""
        mag = self.uniform(shape, lo, hi)
        sign = 1.0 - 2.0 * (torch.rand(list(shape), generator=self.g) < 0.5).to(F64)
        return mag * sign

    def logu(self, shape, lo, hi):
        """Log-uniform positive values in [lo, hi]."""
        return f32r(torch.exp(self.uniform(shape, math.log(lo), math.log(hi))))

    def randint(self, shape, lo, hi):
        return torch.randint(lo, hi, list(shape), generator=self.g, dtype=torch.int64)

    def perm(self, n):
        return torch.randperm(n, generator=self.g)

    def fix(self, x, bad_fn, redraw_fn, tries=10000):
        """Redraw the elements of x where bad_fn(x) is true until none is."""
        x = x.clone()
        for _ in range(tries):
            bad = bad_fn(x)
            if not bool(bad.any()):
                return x
            x[bad] = redraw_fn(x.shape)[bad]
        raise RuntimeError("Rng.fix: could not satisfy the constraint")

    def until(self, draw_fn, ok_fn, tries=10000):
        """Redraw a whole sample until ok_fn accepts it."""
        for _ in range(tries):
            s = draw_fn()
            if ok_fn(s):
                return s
        raise RuntimeError("Rng.until: could not satisfy the constraint")


def seed_of(name):
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


# ----------------------------------------------------------------------------------------------
# Case building
# ----------------------------------------------------------------------------------------------

class Raw:
    """Pre-formatted JSON text (a data array), spliced in after json.dumps."""

    def __init__(self, text):
        self.text = text


def fmt64(t):
    return "[" + ",".join(repr(float(v)) for v in t.detach().to(F64).reshape(-1).tolist()) + "]"


def fmt32(t):
    a = t.detach().to(F32).reshape(-1).numpy()
    return "[" + ",".join(str(v) for v in a) + "]"  # numpy: shortest string that round-trips float32


def fmtint(t):
    return "[" + ",".join(str(int(v)) for v in t.reshape(-1).tolist()) + "]"


def assert_finite(t, what):
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise AssertionError("non-finite values in " + what)


def tensor_block(t, fmt):
    return {"shape": list(t.shape), "data": Raw(fmt(t))}


def evaluate(fn, inputs, dtype, upstream):
    """Run fn on inputs cast to dtype; return (outputs, grads) with grads[name] None when unused."""
    xs = {}
    for name, (t, rg) in inputs.items():
        if t.dtype == torch.int64:
            xs[name] = t
        else:
            xs[name] = t.to(dtype).detach().requires_grad_(rg)
    outs = fn(xs)
    grad_names = [n for n, (t, rg) in inputs.items() if rg]
    if upstream is None:
        return outs, None
    if not grad_names:  # nothing differentiable (batch_norm_running_stats)
        return outs, {}
    gouts = [upstream[o].to(dtype) for o in outs]
    gs = torch.autograd.grad(list(outs.values()), [xs[n] for n in grad_names], gouts, allow_unused=True)
    return outs, dict(zip(grad_names, gs))


def err_entry(a32, a64):
    d = (a32.detach().to(F64) - a64.detach()).abs()
    max_abs = float(d.max()) if d.numel() else 0.0
    ref = float(a64.detach().abs().max()) if a64.numel() else 0.0
    if ref == 0.0:
        if max_abs != 0.0:
            raise AssertionError("float32 result nonzero where the float64 reference is all zero")
        rel = 0.0
    else:
        rel = max_abs / ref
    return {"max_abs": max_abs, "max_rel_to_max": rel}


def make_case(name, op, attrs, inputs, fn, description, seed_rng, expect=None):
    """inputs: list of (name, tensor, requires_grad); fn(dict) -> dict of outputs (ordered)."""
    inp = {}
    for n, t, rg in inputs:
        if n in inp:
            raise AssertionError("duplicate input %s in %s" % (n, name))
        if t.dtype == torch.int64:
            assert not rg, "int64 input %s of %s cannot require grad" % (n, name)
        else:
            assert t.dtype == F64, (name, n, t.dtype)
            assert bool((f32r(t) == t).all()), "input %s of %s is not float32-representable" % (n, name)
            assert_finite(t, name + "." + n)
        inp[n] = (t, rg)
    outs64, _ = evaluate(fn, inp, F64, None)
    upstream = {o: seed_rng.randn(v.shape) for o, v in outs64.items()}
    outs64, grads64 = evaluate(fn, inp, F64, upstream)
    outs32, grads32 = evaluate(fn, inp, F32, upstream)
    if expect is not None:
        expect(outs64)

    case = {"name": name, "op": op, "description": description, "attributes": attrs}
    case["inputs"] = {}
    for n, (t, rg) in inp.items():
        if t.dtype == torch.int64:
            case["inputs"][n] = {"dtype": "int64", "shape": list(t.shape), "requires_grad": False, "data": Raw(fmtint(t))}
        else:
            case["inputs"][n] = {"dtype": "float", "shape": list(t.shape), "requires_grad": rg, "data": Raw(fmt64(t))}
    case["outputs"] = {}
    for o, v in outs64.items():
        assert_finite(v, name + ".outputs." + o)
        case["outputs"][o] = tensor_block(v, fmt64)
    case["upstream_grads"] = {o: tensor_block(u, fmt64) for o, u in upstream.items()}
    # null: the output does not depend on the input (autograd finds no path, or the gradient is
    # exactly zero everywhere in both precisions, e.g. `where` never selecting that operand)
    for n in grads64:
        if grads64[n] is not None and grads32[n] is not None and not bool(grads64[n].any()) and not bool(grads32[n].any()):
            grads64[n] = grads32[n] = None
    case["grads"] = {}
    for n, g in grads64.items():
        if g is None:
            case["grads"][n] = None
        else:
            assert_finite(g, name + ".grads." + n)
            case["grads"][n] = tensor_block(g, fmt64)
    f32 = {"outputs": {}, "grads": {}, "error_vs_float64": {}}
    for o, v in outs32.items():
        assert v.dtype == F32, "float32 run of %s produced %s" % (name, v.dtype)
        assert_finite(v, name + ".float32.outputs." + o)
        f32["outputs"][o] = tensor_block(v, fmt32)
        f32["error_vs_float64"]["outputs." + o] = err_entry(v, outs64[o])
    for n, g in grads32.items():
        if (g is None) != (grads64[n] is None):
            raise AssertionError("float32/float64 disagree on null gradient %s in %s" % (n, name))
        if g is None:
            f32["grads"][n] = None
        else:
            assert_finite(g, name + ".float32.grads." + n)
            f32["grads"][n] = tensor_block(g, fmt32)
            f32["error_vs_float64"]["grads." + n] = err_entry(g, grads64[n])
    case["float32"] = f32
    return case


class Family:
    def __init__(self, family):
        self.family = family
        self.cases = []

    def add(self, name, op, attrs, inputs, fn, description, rng, expect=None):
        self.cases.append(make_case(name, op, attrs, inputs, fn, description, rng, expect))

    def write(self):
        raws = []

        def enc(o):
            if isinstance(o, Raw):
                raws.append(o.text)
                return "@@RAW%d@@" % (len(raws) - 1)
            raise TypeError(type(o))

        def compact(o):  # short lists (shapes, attributes) on one line
            if isinstance(o, dict):
                return {k: compact(v) for k, v in o.items()}
            if isinstance(o, list) and not any(isinstance(v, (dict, Raw)) for v in o):
                return Raw(json.dumps(o, separators=(",", ":"), allow_nan=False))
            if isinstance(o, list):
                return [compact(v) for v in o]
            return o

        doc = {"schema_version": 1, "family": self.family, "reference": REFERENCE, "cases": compact(self.cases)}
        text = json.dumps(doc, indent=1, default=enc, allow_nan=False)
        text = re.sub(r'"@@RAW(\d+)@@"', lambda m: raws[int(m.group(1))], text)
        path = os.path.join(OUT_DIR, self.family + ".json")
        with open(path, "w") as f:
            f.write(text + "\n")
        return path


def sfx(shape):
    return "x".join(str(s) for s in shape) if len(shape) else "scalar"


def check_close(got, want, what, tol=1e-5):
    got = [float(v) for v in torch.as_tensor(got).reshape(-1).tolist()]
    if len(got) != len(want) or any(abs(g - w) > tol for g, w in zip(got, want)):
        raise AssertionError("worked value mismatch for %s: torch gives %s, docs/crosskd.md lists %s" % (what, got, want))
    print("  worked values OK: %s = %s" % (what, ", ".join("%.6f" % g for g in got)))


