#!/usr/bin/env python3
# Generates the parity case files test/opcases/*.json (format: docs/op-cases.md, schema_version 1).
# Regenerate with: python3 scripts/gen_opcases.py   (writes test/opcases/; needs PyTorch, e.g. Debian's
# python3-torch; if the python3 on PATH lacks torch the script re-runs itself under /usr/bin/python3).
#
# Every case: seeded inputs (torch.Generator, seed derived from the case name), float inputs and upstream
# grads exactly representable in float32 (drawn in float32, then widened), outputs and gradients computed
# by torch.autograd in float64, plus the same computation in float32 and its error against float64.
# Loss formulas follow docs/crosskd.md §3 (mmdetection); the "Worked values" there are asserted.
# The script checks every written file against the format and fails loudly on any mismatch.

import os
import sys

try:
    import torch
except ImportError:  # the python3 on PATH (e.g. a pyenv shim) may lack torch; Debian's has it
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import json
import math
import re
import zlib

import numpy as np
import torch.nn.functional as F

F64 = torch.float64
F32 = torch.float32
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


# ----------------------------------------------------------------------------------------------
# Core families
# ----------------------------------------------------------------------------------------------

def gen_unary():
    fam = Family("unary")
    fns = {
        "neg": lambda x: -x, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt,
        "abs": torch.abs, "sigmoid": torch.sigmoid, "relu": torch.relu,
    }

    def add(name, op, x, desc):
        rng = Rng(seed_of("unary/" + name))
        f = fns[op]
        fam.add(name, op, {}, [("x", x, True)], lambda d: {"out": f(d["x"])}, desc, rng)

    def R(name):
        return Rng(seed_of("unary-in/" + name))

    add("neg_3x4", "neg", R("neg_3x4").randn([3, 4]), "negation")
    add("neg_scalar", "neg", R("neg_scalar").randn([]), "negation of a shape [] tensor")
    add("exp_2x3x4", "exp", R("exp_2x3x4").uniform([2, 3, 4], -4, 4), "exp on [-4, 4]")
    add("exp_1000", "exp", R("exp_1000").uniform([1000], -10, 10), "exp on [-10, 10], 1000 elements")
    add("log_3x5", "log", R("log_3x5").logu([3, 5], 0.05, 20), "log of positive inputs in [0.05, 20]")
    add("log_wide_257", "log", R("log_wide_257").logu([257], 1e-6, 1e6), "log over [1e-6, 1e6] (257 elements)")
    add("sqrt_3x5", "sqrt", R("sqrt_3x5").logu([3, 5], 0.01, 10), "sqrt of positive inputs in [0.01, 10]")
    add("sqrt_wide_257", "sqrt", R("sqrt_wide_257").logu([257], 1e-4, 1e4), "sqrt over [1e-4, 1e4]")
    add("abs_4x5", "abs", R("abs_4x5").away([4, 5], 0.05, 3), "abs with |x| >= 0.05 (away from the kink)")
    add("sigmoid_3x4", "sigmoid", R("sigmoid_3x4").randn([3, 4], 3.0), "sigmoid of N(0, 3^2)")
    xs = R("sigmoid_large").uniform([2, 8], -30, 30)
    xs[0, 0], xs[0, 1], xs[1, 0], xs[1, 1] = 30.0, -30.0, 20.0, -20.0
    add("sigmoid_large_2x8", "sigmoid", xs, "sigmoid with large logits up to +-30 (saturation)")
    add("relu_4x5", "relu", R("relu_4x5").away([4, 5], 0.05, 3), "relu with |x| >= 0.05")
    add("relu_1000", "relu", R("relu_1000").away([1000], 0.01, 3), "relu, 1000 elements")
    xr = R("relu_tie").away([3, 4], 0.05, 3)
    xr[0, 0] = xr[1, 2] = xr[2, 3] = 0.0
    add("relu_tie_zero_3x4", "relu", xr, "tie case: some x exactly 0; relu's gradient at 0 is 0")
    return fam


def gen_binary():
    fam = Family("binary")
    fns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
           "maximum": torch.maximum, "minimum": torch.minimum, "pow": torch.pow}

    def add(name, op, a, b, desc, b_grad=True):
        rng = Rng(seed_of("binary/" + name))
        f = fns[op]
        fam.add(name, op, {}, [("a", a, True), ("b", b, b_grad)],
                lambda d: {"out": f(d["a"], d["b"])}, desc, rng)

    shapes = [([3, 4], [3, 4]), ([2, 3, 4], [4]), ([2, 1, 4], [3, 1]), ([], [2, 3]), ([2, 3], []), ([4, 1], [1, 5])]
    for op in ["add", "sub", "mul", "div"]:
        for sa, sb in shapes:
            name = "%s_%s_%s" % (op, sfx(sa), sfx(sb))
            r = Rng(seed_of("binary-in/" + name))
            a = r.randn(sa)
            b = r.away(sb, 0.5, 2.0) if op == "div" else r.randn(sb)
            add(name, op, a, b, "%s with broadcasting %s and %s%s" % (op, sa, sb, ", |b| in [0.5, 2]" if op == "div" else ""))
    r = Rng(seed_of("binary-in/div_scalar_scalar"))
    add("div_scalar_scalar", "div", r.randn([]), r.away([], 0.5, 2.0), "div of two shape [] tensors")

    for op in ["maximum", "minimum"]:
        for sa, sb in [([3, 4], [3, 4]), ([2, 3, 4], [4]), ([2, 1, 4], [3, 1]), ([], [2, 3])]:
            name = "%s_%s_%s" % (op, sfx(sa), sfx(sb))
            r = Rng(seed_of("binary-in/" + name))
            a, b = r.until(lambda: (r.randn(sa), r.randn(sb)),
                           lambda ab: bool(((ab[0] - ab[1]).abs() >= 0.01).all()))
            add(name, op, a, b, "%s with broadcasting %s and %s; |a-b| >= 0.01 everywhere (no ties)" % (op, sa, sb))
        name = "%s_tie_3x4" % op
        r = Rng(seed_of("binary-in/" + name))
        a, b = r.until(lambda: (r.randn([3, 4]), r.randn([3, 4])),
                       lambda ab: bool(((ab[0] - ab[1]).abs() >= 0.01).all()))
        tie = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=torch.bool)
        b = torch.where(tie, a, b)
        add(name, op, a, b, "tie case: a == b at 7 of 12 elements; the gradient splits 0.5/0.5 there (PyTorch)")

    r = Rng(seed_of("binary-in/pow_pos"))
    add("pow_positive_base_3x4", "pow", r.uniform([3, 4], 0.5, 2.5), r.uniform([3, 4], -2, 2),
        "pow with base in [0.5, 2.5], exponent in [-2, 2]; gradients to both")
    r = Rng(seed_of("binary-in/pow_pos_scalar_exp"))
    add("pow_positive_base_2x3x4_scalar_exp", "pow", r.uniform([2, 3, 4], 0.3, 3.0), r.uniform([], 0.5, 3.0),
        "pow with positive base and a shape [] exponent (its gradient sums over all elements)")
    r = Rng(seed_of("binary-in/pow_pos_bcast"))
    add("pow_positive_base_2x1x4_3x1", "pow", r.uniform([2, 1, 4], 0.5, 2.0), r.uniform([3, 1], -1.5, 2.5),
        "pow with positive base, both operands broadcast")
    r = Rng(seed_of("binary-in/pow_neg"))
    a = r.away([3, 4], 0.5, 2.0)
    b = torch.tensor([[-2, 3, 2, 1], [0, -1, 3, 2], [2, -2, 1, 3]], dtype=F64)
    add("pow_negative_base_integer_exp_3x4", "pow", a, b,
        "pow with mixed-sign base (|a| in [0.5, 2]) and integer-valued exponents -2..3; "
        "b has no gradient (undefined for a negative base)", b_grad=False)
    return fam


def gen_clamp():
    fam = Family("clamp")

    def add(name, x, lo, hi, desc):
        rng = Rng(seed_of("clamp/" + name))
        fam.add(name, "clamp", {"min": lo, "max": hi}, [("x", x, True)],
                lambda d: {"out": torch.clamp(d["x"], min=lo, max=hi)}, desc, rng)

    def away_from(r, shape, bounds, scale=1.5):
        x = r.randn(shape, scale)
        return r.fix(x, lambda x: torch.stack([(x - v).abs() < 0.02 for v in bounds]).any(0),
                     lambda s: r.randn(s, scale))

    r = Rng(seed_of("clamp-in/both"))
    add("clamp_both_4x5", away_from(r, [4, 5], [-0.5, 0.75]), -0.5, 0.75, "clamp to [-0.5, 0.75], x at least 0.02 from the bounds")
    r = Rng(seed_of("clamp-in/min"))
    add("clamp_min_only_3x7", away_from(r, [3, 7], [0.25]), 0.25, None, "clamp with min 0.25, max null (unbounded)")
    r = Rng(seed_of("clamp-in/max"))
    add("clamp_max_only_3x7", away_from(r, [3, 7], [-1.0]), None, -1.0, "clamp with min null, max -1")
    r = Rng(seed_of("clamp-in/large"))
    add("clamp_both_2x500", away_from(r, [2, 500], [-1.0, 1.0], 2.0), -1.0, 1.0, "clamp to [-1, 1], 1000 elements")
    r = Rng(seed_of("clamp-in/tie"))
    x = away_from(r, [3, 4], [-0.5, 0.75])
    x[0, 1] = -0.5
    x[1, 2] = 0.75
    x[2, 0] = -0.5
    x[2, 3] = 0.75
    add("clamp_tie_at_bounds_3x4", x, -0.5, 0.75, "tie case: some x exactly at min or max; the gradient passes there (PyTorch)")
    return fam


def gen_where():
    fam = Family("where")

    def add(name, cond, a, b, desc):
        rng = Rng(seed_of("where/" + name))
        fam.add(name, "where", {}, [("cond", cond, False), ("a", a, True), ("b", b, True)],
                lambda d: {"out": torch.where(d["cond"] != 0, d["a"], d["b"])}, desc, rng)

    def cond(r, shape):
        vals = torch.tensor([0.0, 1.0, -2.0, 0.5], dtype=F64)
        return vals[r.randint(shape, 0, 4)]

    r = Rng(seed_of("where-in/same"))
    add("where_3x4_3x4_3x4", cond(r, [3, 4]), r.randn([3, 4]), r.randn([3, 4]), "cond values 0, 1, -2, 0.5 (nonzero = true); same shapes")
    r = Rng(seed_of("where-in/bcast"))
    add("where_3x1_3x4_4", cond(r, [3, 1]), r.randn([3, 4]), r.randn([4]), "cond [3,1], a [3,4], b [4] broadcast to [3,4]")
    r = Rng(seed_of("where-in/scalar"))
    add("where_2x3x4_scalar_3x4", cond(r, [2, 3, 4]), r.randn([]), r.randn([3, 4]), "a is shape []; its gradient sums where cond is true")
    r = Rng(seed_of("where-in/bcast2"))
    add("where_2x1x5_1x4x1_2x4x5", cond(r, [2, 1, 5]), r.randn([1, 4, 1]), r.randn([2, 4, 5]), "all three broadcast")
    r = Rng(seed_of("where-in/all_true"))
    add("where_all_true_3x4_b_unused", torch.tensor([[1.0, -1.0, 2.0, 0.5]] * 3, dtype=F64), r.randn([3, 4]), r.randn([3, 4]),
        "cond nonzero everywhere: the output does not depend on b, whose gradient is null")
    return fam


def gen_reduce():
    fam = Family("reduce")

    def red(op, x, axes, keepdim):
        dims = tuple(range(x.dim())) if axes is None else tuple(axes)
        if op == "sum":
            return x.sum(dim=dims, keepdim=keepdim)
        if op == "mean":
            return x.mean(dim=dims, keepdim=keepdim)
        return torch.amax(x, dim=dims, keepdim=keepdim)

    def add(name, op, x, axes, keepdim, desc, tie=False):
        if op == "max":
            dims = tuple(range(x.dim())) if axes is None else tuple(axes)
            m = torch.amax(x, dim=dims, keepdim=True)
            count = (x == m).to(F64).sum(dim=dims)
            if tie:
                assert bool((count > 1).any()), name
            else:
                assert bool((count == 1).all()), "max case %s has tied maxima" % name
        rng = Rng(seed_of("reduce/" + name))
        fam.add(name, op, {"axes": axes, "keepdim": keepdim}, [("x", x, True)],
                lambda d: {"out": red(op, d["x"], axes, keepdim)}, desc, rng)

    configs = [
        ("axis1", [3, 4, 5], [1], False, "one middle axis"),
        ("axis0_keepdim", [3, 4, 5], [0], True, "first axis, keepdim"),
        ("axes02_keepdim", [3, 4, 5], [0, 2], True, "axes [0, 2], keepdim"),
        ("axes02", [3, 4, 5], [0, 2], False, "axes [0, 2]"),
        ("neg_axis", [3, 4, 5], [-1], False, "axis -1"),
        ("neg_axes", [2, 3, 4, 5], [-3, -1], False, "axes [-3, -1]"),
        ("neg_axes_keepdim", [2, 3, 4, 5], [-2, 0], True, "axes [-2, 0], keepdim"),
        ("all", [3, 4, 5], None, False, "axes null (all), output shape []"),
        ("all_keepdim", [3, 4, 5], None, True, "axes null (all), keepdim: output [1,1,1]"),
        ("all_listed", [2, 3, 4], [0, 1, 2], False, "all axes listed explicitly"),
        ("scalar_in", [], None, False, "reduction of a shape [] tensor"),
    ]
    for op in ["sum", "mean", "max"]:
        for tag, shape, axes, keepdim, desc in configs:
            name = "%s_%s_%s" % (op, tag, sfx(shape))
            r = Rng(seed_of("reduce-in/" + name))
            add(name, op, r.randn(shape, 2.0), axes, keepdim, "%s: %s" % (op, desc))
    r = Rng(seed_of("reduce-in/sum_long"))
    add("sum_long_axis_2x3000", "sum", r.randn([2, 3000]), [1], False, "sum over a long axis of 3000 elements")
    r = Rng(seed_of("reduce-in/sum_long_pos"))
    add("sum_long_axis_positive_3000x2", "sum", r.uniform([3000, 2], 0.0, 1.0), [0], True,
        "sum over 3000 positive elements along the first axis (accumulation error grows)")
    r = Rng(seed_of("reduce-in/mean_long"))
    add("mean_long_all_3000", "mean", r.randn([3000], 1.0, 5.0), None, False, "mean of 3000 elements around 5, axes null")
    r = Rng(seed_of("reduce-in/max_long"))
    add("max_long_axis_2x3000", "max", r.randn([2, 3000]), [-1], False, "max over a long axis of 3000 elements (unique maxima)")

    # tie cases for max: PyTorch's amax splits the gradient equally between tied maxima
    x = torch.tensor([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [0.5, -1.0, 0.5, 0.25]], dtype=F64)
    add("max_tie_axis1_3x4", "max", x, [1], False,
        "tie case: row maxima appear 2, 4 and 2 times; the gradient splits equally between them", tie=True)
    r = Rng(seed_of("reduce-in/max_tie_all"))
    x = r.randn([3, 4])
    x[0, 2] = x[2, 1] = float(x.max()) + 0.5
    add("max_tie_all_3x4", "max", x, None, True, "tie case: the global maximum appears twice (gradient 0.5 each)", tie=True)
    r = Rng(seed_of("reduce-in/max_tie_axes"))
    x = r.randn([2, 3, 4])
    x[1, 0, 3] = float(x[:, 0, :].max())
    x[0, 2, 0] = x[1, 2, 2] = x[0, 2, 3] = float(x[:, 2, :].max()) + 0.25
    add("max_tie_axes02_2x3x4", "max", x, [0, 2], False, "tie case over axes [0, 2]: groups with 2 and 3 tied maxima", tie=True)
    return fam


def gen_softmax():
    fam = Family("softmax")
    configs = [
        ("last_4x7", [4, 7], 1, 1.0, "last axis"),
        ("last_neg_2x3x5", [2, 3, 5], -1, 1.0, "axis -1"),
        ("middle_2x5x3", [2, 5, 3], 1, 1.0, "middle axis"),
        ("first_6x4", [6, 4], 0, 1.0, "first axis"),
        ("large_3x17", [3, 17], 1, 30.0, "large logits uniform in [-30, 30]"),
        ("large_middle_2x17x4", [2, 17, 4], 1, 30.0, "large logits in [-30, 30], middle axis"),
        ("long_2x300", [2, 300], 1, 3.0, "300 entries on the softmax axis"),
    ]
    for op in ["softmax", "log_softmax"]:
        f = torch.softmax if op == "softmax" else torch.log_softmax
        for tag, shape, axis, scale, desc in configs:
            name = "%s_%s" % (op, tag)
            r = Rng(seed_of("softmax-in/" + name))
            x = r.uniform(shape, -scale, scale) if scale > 1 else r.randn(shape, 2.0)
            if scale >= 30:
                x.view(-1)[0] = 30.0
                x.view(-1)[1] = -30.0
            rng = Rng(seed_of("softmax/" + name))
            fam.add(name, op, {"axis": axis}, [("x", x, True)],
                    (lambda f, axis: lambda d: {"out": f(d["x"], dim=axis)})(f, axis),
                    "%s, %s" % (op, desc), rng)
    return fam


def gen_matmul():
    fam = Family("matmul")
    configs = [
        ("2d_3x4_4x5", [3, 4], [4, 5], "2D"),
        ("2d_1x7_7x1", [1, 7], [7, 1], "2D with unit M and N"),
        ("2d_7x13_13x5", [7, 13], [13, 5], "sizes not multiples of 4 (M 7, K 13, N 5)"),
        ("batched_2x3x4_2x4x5", [2, 3, 4], [2, 4, 5], "batched 3D"),
        ("bcast_2x3x4x5_5x6", [2, 3, 4, 5], [5, 6], "batch broadcasting: b has no batch dims"),
        ("bcast_1x4x5_3x5x2", [1, 4, 5], [3, 5, 2], "batch broadcasting: a's batch dim 1 against 3"),
        ("bcast_2x1x3x4_3x4x2", [2, 1, 3, 4], [3, 4, 2], "batch broadcasting on both sides ([2,1] vs [3])"),
        ("2d_64x96_96x80", [64, 96], [96, 80], "larger 2D (M 64, K 96, N 80)"),
    ]
    for tag, sa, sb, desc in configs:
        name = "matmul_" + tag
        r = Rng(seed_of("matmul-in/" + name))
        a, b = r.randn(sa), r.randn(sb)
        fam.add(name, "matmul", {}, [("a", a, True), ("b", b, True)],
                lambda d: {"out": torch.matmul(d["a"], d["b"])}, "matmul, " + desc, Rng(seed_of("matmul/" + name)))
    return fam


def gen_movement():
    fam = Family("movement")

    def add(name, op, attrs, inputs, fn, desc):
        fam.add(name, op, attrs, inputs, fn, desc, Rng(seed_of("movement/" + name)))

    def R(name):
        return Rng(seed_of("movement-in/" + name))

    for tag, shape, new in [("2x3x4_to_4xm1", [2, 3, 4], [4, -1]), ("2x3x4_to_m1", [2, 3, 4], [-1]),
                            ("2x3x4_to_6x1x4", [2, 3, 4], [6, 1, 4]), ("24_to_2xm1x3", [24], [2, -1, 3])]:
        add("reshape_" + tag, "reshape", {"shape": new}, [("x", R("reshape_" + tag).randn(shape), True)],
            (lambda new: lambda d: {"out": d["x"].reshape(new)})(new), "reshape %s -> %s" % (shape, new))
    for tag, shape, dims in [("2x3x4x5_3102", [2, 3, 4, 5], [3, 1, 0, 2]), ("2x3x4x5_0231", [2, 3, 4, 5], [0, 2, 3, 1]),
                             ("3x4_10", [3, 4], [1, 0])]:
        add("permute_" + tag, "permute", {"dims": dims}, [("x", R("permute_" + tag).randn(shape), True)],
            (lambda dims: lambda d: {"out": d["x"].permute(dims)})(dims), "permute %s by %s" % (shape, dims))
    for tag, shape, d0, d1 in [("2x3x4_0_2", [2, 3, 4], 0, 2), ("2x3x4x5_1_3", [2, 3, 4, 5], 1, 3), ("5x7_0_1", [5, 7], 0, 1)]:
        add("transpose_" + tag, "transpose", {"dim0": d0, "dim1": d1}, [("x", R("transpose_" + tag).randn(shape), True)],
            (lambda d0, d1: lambda d: {"out": d["x"].transpose(d0, d1)})(d0, d1), "transpose dims %d and %d of %s" % (d0, d1, shape))
    for tag, shape, st, en in [("3x5x6", [3, 5, 6], [1, 0, 2], [3, 4, 5]), ("4x7", [4, 7], [0, 3], [4, 7]),
                               ("2x3x4x5_full_and_one", [2, 3, 4, 5], [0, 1, 0, 4], [2, 2, 4, 5])]:
        def fsl(d, st=st, en=en):
            return {"out": d["x"][tuple(slice(s, e) for s, e in zip(st, en))]}
        add("slice_" + tag, "slice", {"starts": st, "ends": en}, [("x", R("slice_" + tag).randn(shape), True)], fsl,
            "slice %s from %s to %s (end exclusive)" % (shape, st, en))
    r = R("concat_mid")
    add("concat_3_inputs_axis1", "concat", {"axis": 1},
        [("x0", r.randn([2, 3, 4]), True), ("x1", r.randn([2, 1, 4]), True), ("x2", r.randn([2, 5, 4]), True)],
        lambda d: {"out": torch.cat([d["x0"], d["x1"], d["x2"]], dim=1)}, "concat of 3 inputs along the middle axis")
    r = R("concat_last")
    add("concat_2_inputs_axis_last", "concat", {"axis": 2},
        [("x0", r.randn([2, 3, 2]), True), ("x1", r.randn([2, 3, 5]), True)],
        lambda d: {"out": torch.cat([d["x0"], d["x1"]], dim=2)}, "concat of 2 inputs along the last axis")
    r = R("concat_first")
    add("concat_3_inputs_axis0", "concat", {"axis": 0},
        [("x0", r.randn([1, 4]), True), ("x1", r.randn([3, 4]), True), ("x2", r.randn([2, 4]), True)],
        lambda d: {"out": torch.cat([d["x0"], d["x1"], d["x2"]], dim=0)}, "concat of 3 inputs along axis 0")

    def fpad(pads):
        flat = []
        for before, after in reversed(pads):
            flat += [before, after]
        return lambda d: {"out": F.pad(d["x"], flat)}

    for tag, shape, pads in [("2x3x4", [2, 3, 4], [[0, 0], [1, 2], [2, 1]]),
                             ("nchw_1x2x3x5", [1, 2, 3, 5], [[0, 0], [0, 0], [1, 1], [1, 1]]),
                             ("all_dims_3x2", [3, 2], [[1, 0], [2, 3]])]:
        add("pad_" + tag, "pad", {"pads": pads}, [("x", R("pad_" + tag).randn(shape), True)], fpad(pads),
            "zero pad %s with %s" % (shape, pads))
    r = R("index_select0")
    idx = torch.tensor([2, 0, 2, 2, 1, 4], dtype=torch.int64)
    add("index_select_axis0_repeated", "index_select", {"axis": 0}, [("x", r.randn([5, 3]), True), ("index", idx, False)],
        lambda d: {"out": torch.index_select(d["x"], 0, d["index"])},
        "index_select rows [2,0,2,2,1,4] of [5,3]: row 2 thrice (gradients accumulate), row 3 never (zero gradient)")
    r = R("index_select1")
    idx = torch.tensor([3, 3, 0, 1, 3], dtype=torch.int64)
    add("index_select_axis1_repeated", "index_select", {"axis": 1}, [("x", r.randn([2, 4, 3]), True), ("index", idx, False)],
        lambda d: {"out": torch.index_select(d["x"], 1, d["index"])}, "index_select along the middle axis with repeats")
    for tag, shape in [("1x1x2x3", [1, 1, 2, 3]), ("2x3x4x5", [2, 3, 4, 5])]:
        add("upsample_nearest2x_" + tag, "upsample_nearest2x", {}, [("x", R("up_" + tag).randn(shape), True)],
            lambda d: {"out": F.interpolate(d["x"], scale_factor=2, mode="nearest")},
            "nearest 2x upsampling of %s (gradient sums each 2x2 block)" % shape)
    for tag, shape, k, st, pd in [("1x2x8x8_k2", [1, 2, 8, 8], [2, 2], [2, 2], [0, 0]),
                                  ("2x3x9x7_k3s2p1", [2, 3, 9, 7], [3, 3], [2, 2], [1, 1]),
                                  ("1x2x6x5_k3s1p1", [1, 2, 6, 5], [3, 3], [1, 1], [1, 1])]:
        add("max_pool2d_" + tag, "max_pool2d", {"kernel_size": k, "stride": st, "padding": pd}, [("x", R("mp_" + tag).randn(shape), True)],
            lambda d, k=k, st=st, pd=pd: {"out": F.max_pool2d(d["x"], k, st, pd)},
            "max pooling of %s, kernel %s, stride %s, padding %s (gradient to each window's maximum, summed over overlaps)" % (shape, k, st, pd))
    return fam


# ----------------------------------------------------------------------------------------------
# Detection families
# ----------------------------------------------------------------------------------------------

def gen_conv2d():
    fam = Family("conv2d")
    # (tag, N, Cin, H, W, Cout, kh, kw, stride, padding, dilation, groups, bias)
    configs = [
        ("3x3_s1_p1", 2, 3, 7, 11, 4, 3, 3, [1, 1], [1, 1], [1, 1], 1, True),
        ("3x3_s1_p1_nobias", 2, 3, 7, 11, 4, 3, 3, [1, 1], [1, 1], [1, 1], 1, False),
        ("3x3_s2_p1", 2, 3, 8, 9, 5, 3, 3, [2, 2], [1, 1], [1, 1], 1, True),
        ("3x3_s2_p0_odd", 2, 2, 7, 11, 3, 3, 3, [2, 2], [0, 0], [1, 1], 1, False),
        ("3x3_s1_p0", 2, 2, 6, 5, 3, 3, 3, [1, 1], [0, 0], [1, 1], 1, True),
        ("3x3_s1_p2", 2, 2, 5, 6, 3, 3, 3, [1, 1], [2, 2], [1, 1], 1, True),
        ("3x3_d2_p2", 2, 3, 9, 10, 4, 3, 3, [1, 1], [2, 2], [2, 2], 1, True),
        ("3x3_d2_p1_s2", 2, 2, 9, 9, 3, 3, 3, [2, 2], [1, 1], [2, 2], 1, False),
        ("1x1_s1_p0", 2, 6, 5, 7, 4, 1, 1, [1, 1], [0, 0], [1, 1], 1, True),
        ("1x1_s2_p0_nobias", 2, 4, 7, 6, 5, 1, 1, [2, 2], [0, 0], [1, 1], 1, False),
        ("3x1_p1x0", 2, 3, 7, 11, 4, 3, 1, [1, 1], [1, 0], [1, 1], 1, True),
        ("1x3_s1x2_p0x1", 2, 3, 6, 11, 2, 1, 3, [1, 2], [0, 1], [1, 1], 1, True),
        ("3x3_groups2", 2, 4, 6, 7, 6, 3, 3, [1, 1], [1, 1], [1, 1], 2, True),
        ("3x3_groups2_s2_nobias", 2, 6, 7, 8, 4, 3, 3, [2, 2], [1, 1], [1, 1], 2, False),
        ("depthwise_3x3", 2, 4, 7, 11, 4, 3, 3, [1, 1], [1, 1], [1, 1], 4, True),
        ("depthwise_3x3_s2_nobias", 2, 5, 8, 8, 5, 3, 3, [2, 2], [1, 1], [1, 1], 5, False),
        ("depthwise_mult2_3x3", 2, 4, 6, 7, 8, 3, 3, [1, 1], [1, 1], [1, 1], 4, True),
        ("depthwise_d2_p2", 2, 3, 8, 8, 3, 3, 3, [1, 1], [2, 2], [2, 2], 3, True),
        ("5x5_p2", 2, 2, 8, 7, 3, 5, 5, [1, 1], [2, 2], [1, 1], 1, True),
        ("head_16to16_3x3_nobias", 2, 16, 6, 6, 16, 3, 3, [1, 1], [1, 1], [1, 1], 1, False),
        ("head_predictor_4to68_3x3", 2, 4, 4, 4, 68, 3, 3, [1, 1], [1, 1], [1, 1], 1, True),
    ]
    for tag, N, Cin, H, W, Cout, kh, kw, st, pd, dl, g, has_bias in configs:
        name = "conv2d_" + tag
        r = Rng(seed_of("conv2d-in/" + name))
        x = r.randn([N, Cin, H, W])
        w = r.randn([Cout, Cin // g, kh, kw], 1.0 / math.sqrt(Cin // g * kh * kw))
        inputs = [("x", x, True), ("weight", w, True)]
        if has_bias:
            inputs.append(("bias", r.randn([Cout], 0.1), True))
        for n, t, _ in inputs:
            assert t.numel() < 20000, (name, n)

        def fn(d, st=st, pd=pd, dl=dl, g=g):
            return {"out": F.conv2d(d["x"], d["weight"], d.get("bias"), stride=st, padding=pd, dilation=dl, groups=g)}

        out_hw = [(H + 2 * pd[0] - dl[0] * (kh - 1) - 1) // st[0] + 1, (W + 2 * pd[1] - dl[1] * (kw - 1) - 1) // st[1] + 1]
        desc = "x [%d,%d,%d,%d], weight [%d,%d,%d,%d]%s, stride %s, padding %s, dilation %s, groups %d -> out [%d,%d,%d,%d]" % (
            N, Cin, H, W, Cout, Cin // g, kh, kw, ", bias" if has_bias else ", no bias", st, pd, dl, g, N, Cout, out_hw[0], out_hw[1])
        fam.add(name, "conv2d", {"stride": st, "padding": pd, "dilation": dl, "groups": g}, inputs, fn, desc,
                Rng(seed_of("conv2d/" + name)))
    return fam


def gen_group_norm():
    fam = Family("group_norm")
    eps = 1e-5
    # (tag, N, C, H, W, groups, x scale, x shift)
    configs = [
        ("g1_c8_3x3", 2, 8, 3, 3, 1, 2.0, 0.5),
        ("g2_c8_4x5", 2, 8, 4, 5, 2, 1.0, -1.0),
        ("g4_c16_5x3", 2, 16, 5, 3, 4, 3.0, 0.0),
        ("g32_c32_4x4", 2, 32, 4, 4, 32, 1.0, 0.0),
        ("g32_c64_3x3", 2, 64, 3, 3, 32, 1.5, 2.0),
        ("g2_c4_1x1_two_elements", 2, 4, 1, 1, 2, 1.0, 0.0),
        ("g4_c16_7x11", 2, 16, 7, 11, 4, 1.0, 0.3),
        ("ill_conditioned_mean1000_std0.01_g2_c8_4x4", 2, 8, 4, 4, 2, 0.01, 1000.0),
    ]
    for tag, N, C, H, W, G, scale, shift in configs:
        name = "group_norm_" + tag
        r = Rng(seed_of("group_norm-in/" + name))
        x = r.randn([N, C, H, W], scale, shift)
        w = r.randn([C], 0.2, 1.0)
        b = r.randn([C], 0.2)
        desc = "x [%d,%d,%d,%d] ~ N(%g, %g^2), %d groups (%d elements each), eps %g" % (N, C, H, W, shift, scale, G, C // G * H * W, eps)
        if "ill" in tag:
            desc += "; ill-conditioned: mean 1000, std 0.01, float32 loses digits (see error_vs_float64)"
        if C // G * H * W == 2:
            desc += "; groups of 2 elements"
        fam.add(name, "group_norm", {"num_groups": G, "eps": eps},
                [("x", x, True), ("weight", w, True), ("bias", b, True)],
                (lambda G: lambda d: {"out": F.group_norm(d["x"], G, d["weight"], d["bias"], eps)})(G),
                desc, Rng(seed_of("group_norm/" + name)))
    return fam


def gen_batch_norm():
    fam = Family("batch_norm")
    eps = 1e-5
    # (tag, shape, training, relu, affine, x scale, x shift)
    configs = [
        ("train_c8_4x4", [2, 8, 4, 4], True, False, True, 1.0, 0.0),
        ("train_c6_3x5", [3, 6, 3, 5], True, False, True, 2.0, 0.5),
        ("train_c32_5x5", [2, 32, 5, 5], True, False, True, 1.0, -1.0),
        ("train_rank2_6x5", [6, 5], True, False, True, 1.0, 0.0),
        ("train_two_values_2x3", [2, 3], True, False, True, 1.0, 0.0),
        ("train_relu_c8_5x5", [2, 8, 5, 5], True, True, True, 1.0, 0.2),
        ("train_no_affine_c4_4x4", [2, 4, 4, 4], True, False, False, 1.0, 0.0),
        ("train_ill_conditioned_mean1000_std0.01", [4, 4, 3, 3], True, False, True, 0.01, 1000.0),
        ("eval_c8_4x4", [2, 8, 4, 4], False, False, True, 1.0, 0.0),
        ("eval_relu_c6_3x3", [3, 6, 3, 3], False, True, True, 1.5, 0.3),
        ("eval_rank2_1x5", [1, 5], False, False, True, 1.0, 0.0),
    ]
    for tag, shape, training, relu, affine, scale, shift in configs:
        name = "batch_norm_" + tag
        r = Rng(seed_of("batch_norm-in/" + name))
        C = shape[1]
        x = r.randn(shape, scale, shift)
        w = r.randn([C], 0.2, 1.0)
        b = r.randn([C], 0.2)
        rm = r.randn([C], 0.5)
        rv = r.uniform([C], 0.5, 2.0)
        momentum = 0.1
        inputs = [("x", x, True)]
        if affine:
            inputs += [("weight", w, True), ("bias", b, True)]
        inputs += [("running_mean", rm, False), ("running_var", rv, False)]
        attrs = {"training": training, "momentum": momentum, "eps": eps, "relu": relu}
        desc = "x %s ~ N(%g, %g^2), %s mode (%s statistics)%s%s, eps %g" % (
            shape, shift, scale, "training" if training else "eval", "batch" if training else "running",
            ", fused ReLU" if relu else "", "" if affine else ", no affine", eps)

        def fn(d, training=training, relu=relu, momentum=momentum):
            # running statistics are updated in place by a training-mode call: pass copies
            y = F.batch_norm(d["x"], d["running_mean"].clone(), d["running_var"].clone(), d.get("weight"), d.get("bias"),
                             training, momentum, eps)
            return {"out": F.relu(y) if relu else y}
        fam.add(name, "batch_norm", attrs, inputs, fn, desc, Rng(seed_of("batch_norm/" + name)))
    # The running-statistics update of a training-mode call: (tag, shape, momentum, x scale, x shift)
    for tag, shape, momentum, scale, shift in [
        ("c8_4x4_momentum0.1", [2, 8, 4, 4], 0.1, 1.0, 0.0),
        ("c6_3x5_momentum0.3", [3, 6, 3, 5], 0.3, 2.0, 0.5),
        ("rank2_two_values_momentum1", [2, 5], 1.0, 1.0, 0.0),
        ("ill_conditioned_mean1000_std0.01", [4, 4, 4, 4], 0.1, 0.01, 1000.0),
    ]:
        name = "batch_norm_running_stats_" + tag
        r = Rng(seed_of("batch_norm-in/" + name))
        C = shape[1]
        x = r.randn(shape, scale, shift)
        rm = r.randn([C], 0.5)
        rv = r.uniform([C], 0.5, 2.0)

        def fn(d, momentum=momentum):
            mean, var = d["running_mean"].clone(), d["running_var"].clone()
            F.batch_norm(d["x"], mean, var, None, None, True, momentum, eps)
            return {"running_mean": mean, "running_var": var}
        desc = "x %s ~ N(%g, %g^2), momentum %g: running <- (1 - momentum) running + momentum batch (unbiased variance)" % (
            shape, shift, scale, momentum)
        fam.add(name, "batch_norm_running_stats", {"momentum": momentum},
                [("x", x, False), ("running_mean", rm, False), ("running_var", rv, False)], fn, desc,
                Rng(seed_of("batch_norm/" + name)))
    return fam


# Loss formulas (docs/crosskd.md §3, as mmdetection computes them).

def bce(x, t):
    # BCE(x, t) = max(x,0) - x t + log(1 + exp(-|x|)); torch's stable form, with the exact gradient sigma(x) - t
    return F.binary_cross_entropy_with_logits(x, t, reduction="none")


def sigmoid_focal_elements(x, t, alpha, gamma):
    p = x.sigmoid()
    pt = (1 - p) * t + p * (1 - t)
    return bce(x, t) * ((alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma))


def sigmoid_focal_loss(x, t, alpha, gamma, reduction):
    e = sigmoid_focal_elements(x, t, alpha, gamma)
    return e.sum() if reduction == "sum" else e


def qfl_elements(pred, label, score, beta):
    """[N, C]: BCE(x, 0) sigma^beta everywhere, BCE(x, s) |s - sigma|^beta at a positive's class."""
    C = pred.shape[1]
    sig = pred.sigmoid()
    neg = bce(pred, torch.zeros_like(pred)) * sig.pow(beta)
    pos_mask = (label[:, None] == torch.arange(C)[None, :]) & (label[:, None] >= 0) & (label[:, None] < C)
    s = score[:, None].expand_as(pred)
    pos = bce(pred, s) * (s - sig).abs().pow(beta)
    return torch.where(pos_mask, pos, neg)


def kd_qfl_elements(pred, t, beta):
    return bce(pred, t) * (pred.sigmoid() - t).abs().pow(beta)


def dfl(pred, target):
    left = target.floor().long()
    right = left + 1
    w_left = right.to(pred.dtype) - target
    w_right = target - left.to(pred.dtype)
    return (F.cross_entropy(pred, left, reduction="none") * w_left
            + F.cross_entropy(pred, right, reduction="none") * w_right)


def kd_kl_div(pred, soft_label, T, bin_reduction):
    target = F.softmax(soft_label / T, dim=1)
    kl = F.kl_div(F.log_softmax(pred / T, dim=1), target, reduction="none")
    kl = kl.sum(1) if bin_reduction == "sum" else kl.mean(1)
    return kl * (T * T)


def box_iou_giou(b1, b2, eps):
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.maximum(b1[:, :2], b2[:, :2])
    rb = torch.minimum(b1[:, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = (area1 + area2 - overlap).clamp(min=eps)
    iou = overlap / union
    elt = torch.minimum(b1[:, :2], b2[:, :2])
    erb = torch.maximum(b1[:, 2:], b2[:, 2:])
    ewh = (erb - elt).clamp(min=0)
    enclose = (ewh[:, 0] * ewh[:, 1]).clamp(min=eps)
    giou = iou - (enclose - union) / enclose
    return iou, giou


def giou_loss(b1, b2, eps, reduction):
    _, giou = box_iou_giou(b1, b2, eps)
    loss = 1 - giou
    return loss.sum() if reduction == "sum" else loss


def gen_sigmoid_focal_loss():
    fam = Family("sigmoid_focal_loss")
    alpha, gamma = 0.25, 2.0

    def add(name, logits, targets, reduction, desc, expect=None):
        fam.add(name, "sigmoid_focal_loss", {"alpha": alpha, "gamma": gamma, "reduction": reduction},
                [("logits", logits, True), ("targets", targets, False)],
                lambda d: {"loss": sigmoid_focal_loss(d["logits"], d["targets"], alpha, gamma, reduction)},
                desc, Rng(seed_of("sigmoid_focal_loss/" + name)), expect)

    x = f32r(torch.tensor([[-1.0, 0.5, 2.0]], dtype=F64))
    t = torch.tensor([[0.0, 1.0, 0.0]], dtype=F64)
    add("focal_worked_values", x, t, "none", "docs/crosskd.md worked values: logits [-1, 0.5, 2], gt class 1",
        lambda o: check_close(o["loss"], [0.016994, 0.016893, 1.237559], "sigmoid focal elements"))

    def onehot(r, N, C, n_bg):
        labels = r.randint([N], 0, C)
        t = F.one_hot(labels, C).to(F64)
        t[r.perm(N)[:n_bg]] = 0.0  # background rows: all zero
        return t

    for red in ["none", "sum"]:
        name = "focal_6x5_%s" % red
        r = Rng(seed_of("sigmoid_focal_loss-in/" + name))
        x = r.randn([6, 5], 2.5)
        t = onehot(r, 6, 5, 2)
        x[0, 0], x[1, 1], x[2, 2], x[3, 3] = 30.0, -30.0, 30.0, -30.0
        add(name, x, t, red, "6 priors x 5 classes, one-hot targets (2 background rows), logits N(0, 2.5^2) with some +-30; reduction " + red)
    r = Rng(seed_of("sigmoid_focal_loss-in/focal_large"))
    x = r.randn([64, 20], 3.0, -2.0)
    t = onehot(r, 64, 20, 40)
    add("focal_64x20_sum", x, t, "sum", "64 priors x 20 classes, 40 background rows, reduction sum")
    r = Rng(seed_of("sigmoid_focal_loss-in/focal_3d"))
    add("focal_2x4x3_none", r.randn([2, 4, 3], 2.0), (r.uniform([2, 4, 3], 0, 1) < 0.3).to(F64), "none",
        "3D logits, independent 0/1 targets, reduction none")
    return fam


def gen_quality_focal_loss():
    fam = Family("quality_focal_loss")
    beta = 2.0

    def add(name, pred, label, score, desc, expect=None):
        C = pred.shape[1]
        fam.add(name, "quality_focal_loss", {"beta": beta, "num_classes": C},
                [("pred", pred, True), ("label", label, False), ("score", score, False)],
                lambda d: {"loss": qfl_elements(d["pred"], d["label"], d["score"], beta).sum(1)},
                desc, Rng(seed_of("quality_focal_loss/" + name)), expect)

    x = f32r(torch.tensor([[-1.0, 0.5, 2.0]], dtype=F64))
    lab = torch.tensor([1], dtype=torch.int64)
    sc = f32r(torch.tensor([0.7], dtype=F64))
    check_close(qfl_elements(x, lab, sc, beta), [0.022658, 0.003752, 1.650078], "QFL elements (IoU 0.7)")
    add("qfl_worked_values", x, lab, sc, "docs/crosskd.md worked values: logits [-1, 0.5, 2], gt class 1, IoU 0.7 "
        "(elements 0.022658, 0.003752, 1.650078, summed)",
        lambda o: check_close(o["loss"], [0.022658 + 0.003752 + 1.650078], "QFL sum over classes", 2e-5))

    r = Rng(seed_of("quality_focal_loss-in/qfl_8x5"))
    C = 5
    x = r.randn([8, C], 2.5)
    label = torch.tensor([0, 5, 2, 4, 5, 1, 3, 2], dtype=torch.int64)
    score = r.uniform([8], 0.05, 0.95)
    score[0], score[2], score[3], score[5] = 0.0, 1.0, 1.0, 0.0
    score[1] = score[4] = 0.0  # background rows: score unused
    x[0, 0] = 30.0    # positive, score 0, saturated
    x[2, 2] = -30.0   # positive, score 1, saturated the wrong way
    x[3, 4] = 30.0    # positive, score 1, saturated the right way
    x[1, 3] = 30.0    # background row, negative class saturated
    x[4, 0] = -30.0
    add("qfl_8x5_background_and_saturated", x, label, score,
        "8 priors x 5 classes; labels include background (5); scores 0, 1 and in between; logits include +-30")
    r = Rng(seed_of("quality_focal_loss-in/qfl_64x20"))
    C = 20
    x = r.randn([64, C], 2.0, -3.0)
    label = r.randint([64], 0, C + 1)
    label[r.perm(64)[:30]] = C
    score = r.uniform([64], 0.0, 1.0)
    add("qfl_64x20", x, label, score, "64 priors x 20 classes, about half background, scores in [0, 1)")
    r = Rng(seed_of("quality_focal_loss-in/qfl_all_bg"))
    add("qfl_4x3_all_background", r.randn([4, 3], 2.0), torch.full([4], 3, dtype=torch.int64), r.uniform([4], 0, 1),
        "all priors background (label 3 = num_classes)")
    return fam


def gen_kd_quality_focal_loss():
    fam = Family("kd_quality_focal_loss")

    def add(name, pred, t, beta, red, desc, expect=None):
        def fn(d):
            e = kd_qfl_elements(d["pred"], d["soft_target"], beta)
            return {"loss": e.sum(1) if red == "sum" else e}
        fam.add(name, "kd_quality_focal_loss", {"beta": beta, "class_reduction": red},
                [("pred", pred, True), ("soft_target", t, False)], fn, desc,
                Rng(seed_of("kd_quality_focal_loss/" + name)), expect)

    x = f32r(torch.tensor([[-1.0, 0.5, 2.0]], dtype=F64))
    t = f32r(torch.tensor([[-2.0, 1.0, 0.3]], dtype=F64).sigmoid())
    want = [0.064757, 0.066088, 0.299628]
    add("kdqfl_worked_values_none", x, t, 1.0, "none",
        "docs/crosskd.md worked values: logits [-1, 0.5, 2], soft target sigmoid([-2, 1, 0.3]) (rounded to float32), beta 1",
        lambda o: check_close(o["loss"], want, "KD-QFL elements (beta 1)"))
    add("kdqfl_worked_values_sum", x, t, 1.0, "sum", "the worked values summed over classes",
        lambda o: check_close(o["loss"], [sum(want)], "KD-QFL sum", 2e-5))

    def soft(r, shape, x):
        t = r.uniform(shape, 0.0, 1.0)
        # keep |sigma(x) - t| >= 0.01 so |.|^beta is differentiable
        return r.fix(t, lambda t: (x.sigmoid() - t).abs() < 0.01, lambda s: r.uniform(s, 0.0, 1.0))

    for red in ["sum", "none"]:
        name = "kdqfl_6x4_%s" % red
        r = Rng(seed_of("kd_quality_focal_loss-in/" + name))
        x = r.randn([6, 4], 2.5)
        x[0, 0], x[1, 1], x[2, 2], x[3, 3] = 30.0, -30.0, -30.0, 30.0
        t = soft(r, [6, 4], x)
        t[0, 0], t[1, 1], t[2, 2], t[3, 3] = 1.0, 0.0, 1.0, 0.0   # saturated agreeing / disagreeing
        t[4, 0], t[4, 1], t[5, 2], t[5, 3] = 0.0, 1.0, 1.0, 0.0
        add(name, x, t, 1.0, red, "6 priors x 4 classes, beta 1, soft targets including exactly 0 and 1, "
            "logits including +-30; class_reduction " + red)
    r = Rng(seed_of("kd_quality_focal_loss-in/kdqfl_teacher"))
    x = r.randn([32, 20], 2.0, -3.0)
    t = f32r(r.randn([32, 20], 2.0, -3.0).sigmoid())
    t = r.fix(t, lambda t: (x.sigmoid() - t).abs() < 0.001, lambda s: f32r(r.randn(s, 2.0, -3.0).sigmoid()))
    add("kdqfl_32x20_teacher_sigmoid_sum", x, t, 1.0, "sum", "32 priors x 20 classes, targets sigmoid(teacher logits), beta 1")
    r = Rng(seed_of("kd_quality_focal_loss-in/kdqfl_beta2"))
    x = r.randn([5, 3], 2.0)
    add("kdqfl_5x3_beta2_none", x, soft(r, [5, 3], x), 2.0, "none", "beta 2, class_reduction none")
    return fam


def gen_distribution_focal_loss():
    fam = Family("distribution_focal_loss")

    def add(name, pred, target, desc, expect=None):
        fam.add(name, "distribution_focal_loss", {"reg_max": pred.shape[1] - 1},
                [("pred", pred, True), ("target", target, False)],
                lambda d: {"loss": dfl(d["pred"], d["target"])}, desc,
                Rng(seed_of("distribution_focal_loss/" + name)), expect)

    x = f32r(torch.tensor([[0.1, 0.5, 2.0, 1.0, -1.0]], dtype=F64))
    y = f32r(torch.tensor([2.3], dtype=F64))
    check_close((F.softmax(x, 1) * torch.arange(5, dtype=F64)).sum(1), [1.969384], "DFL integral")
    add("dfl_worked_values", x, y, "docs/crosskd.md worked values: logits [0.1, 0.5, 2, 1, -1] (reg_max 4), target 2.3 (float32)",
        lambda o: check_close(o["loss"], [0.882420], "DFL"))

    r = Rng(seed_of("distribution_focal_loss-in/dfl_12x17"))
    x = r.randn([12, 17], 2.0)
    y = r.uniform([12], 0.0, 15.9)
    y[0], y[1], y[2], y[3], y[4] = 0.0, f32r(torch.tensor(15.9, dtype=F64)), 3.0, 7.0, 15.0
    add("dfl_12x17_reg_max16", x, y, "reg_max 16 (17 bins); targets include 0, 15.9, and integers 3, 7, 15 "
        "(right weight exactly 0)")
    r = Rng(seed_of("distribution_focal_loss-in/dfl_large"))
    x = r.uniform([8, 17], -30.0, 30.0)
    y = r.uniform([8], 0.0, 15.9)
    add("dfl_8x17_large_logits", x, y, "reg_max 16 with large logits in [-30, 30]")
    r = Rng(seed_of("distribution_focal_loss-in/dfl_64"))
    add("dfl_64x17", r.randn([64, 17], 1.5), r.uniform([64], 0.0, 15.9), "64 box sides, reg_max 16")
    return fam


def gen_kd_kl_div():
    fam = Family("kd_kl_div")

    def add(name, pred, soft, T, red, desc, expect=None):
        fam.add(name, "kd_kl_div", {"T": T, "bin_reduction": red},
                [("pred", pred, True), ("soft_label", soft, False)],
                lambda d: {"loss": kd_kl_div(d["pred"], d["soft_label"], T, red)}, desc,
                Rng(seed_of("kd_kl_div/" + name)), expect)

    teacher = f32r(torch.tensor([[0.1, 0.5, 2.0, 1.0, -1.0]], dtype=F64))
    student = f32r(torch.tensor([[0.0, 1.0, 2.0, 0.5, -0.5]], dtype=F64))
    add("kl_worked_values_T1_sum", student, teacher, 1.0, "sum",
        "docs/crosskd.md worked values: teacher [0.1, 0.5, 2, 1, -1] vs student [0, 1, 2, 0.5, -0.5], T 1, sum",
        lambda o: check_close(o["loss"], [0.044914], "KL T=1 sum"))
    add("kl_worked_values_T10_mean", student, teacher, 10.0, "mean", "the same pair, T 10, mean over bins, times T^2",
        lambda o: check_close(o["loss"], [0.014253], "KL T=10 mean"))
    for T, red in [(1.0, "sum"), (10.0, "mean")]:
        name = "kl_8x17_T%g_%s" % (T, red)
        r = Rng(seed_of("kd_kl_div-in/" + name))
        add(name, r.randn([8, 17], 2.0), r.randn([8, 17], 2.0), T, red, "8 x 17 bins, T %g, %s over bins" % (T, red))
    for T, red in [(1.0, "sum"), (10.0, "mean")]:
        name = "kl_6x17_large_logits_T%g_%s" % (T, red)
        r = Rng(seed_of("kd_kl_div-in/" + name))
        s = r.uniform([6, 17], -30, 30)
        t = r.uniform([6, 17], -30, 30)
        t[0, 0], s[0, 1] = 30.0, -30.0
        add(name, s, t, T, red, "large logits in [-30, 30] (near one-hot teacher at T 1), T %g, %s over bins" % (T, red))
    r = Rng(seed_of("kd_kl_div-in/kl_equal"))
    s = r.randn([3, 17], 2.0)
    t = s.clone()
    t[1] = r.randn([17], 2.0)
    add("kl_3x17_teacher_equals_student_rows", s, t, 1.0, "sum", "rows 0 and 2: teacher == student (loss 0, gradient 0)")
    return fam


def gen_generalized_box_iou_loss():
    fam = Family("generalized_box_iou_loss")
    eps = 1e-6

    def add(name, b1, b2, red, desc, expect=None):
        fam.add(name, "generalized_box_iou_loss", {"eps": eps, "reduction": red},
                [("boxes1", b1, True), ("boxes2", b2, True)],
                lambda d: {"loss": giou_loss(d["boxes1"], d["boxes2"], eps, red)}, desc,
                Rng(seed_of("generalized_box_iou_loss/" + name)), expect)

    b1 = torch.tensor([[0.0, 0.0, 10.0, 10.0]], dtype=F64)
    b2 = torch.tensor([[5.0, 5.0, 15.0, 20.0]], dtype=F64)
    iou, giou = box_iou_giou(b1, b2, eps)
    check_close(iou, [0.111111], "IoU")
    check_close(giou, [-0.138889], "GIoU")
    check_close(-torch.log(iou.clamp(min=eps)), [2.197225], "IoU-log loss")
    add("giou_worked_values", b1, b2, "none", "docs/crosskd.md worked values: [0,0,10,10] vs [5,5,15,20]",
        lambda o: check_close(o["loss"], [1.138889], "GIoU loss"))

    M = 0.01  # minimum gap between compared coordinates (no max/min ties, no clamp at 0)

    def ok(p):
        a, b = p
        if not bool(((a[2:] - a[:2]) > 0).all() and ((b[2:] - b[:2]) > 0).all()):
            return False
        if bool(((a - b).abs() < M).any()):
            return False
        ov = torch.minimum(a[2:], b[2:]) - torch.maximum(a[:2], b[:2])
        if bool((ov.abs() < M).any()):
            return False
        area = lambda z: float((z[2] - z[0]) * (z[3] - z[1]))
        ovl = float(ov.clamp(min=0).prod())
        return area(a) + area(b) - ovl > 1e3 * eps

    def pair(r, kind, scale):
        def draw():
            x1, y1 = float(r.uniform([], 0, 50)) * scale, float(r.uniform([], 0, 50)) * scale
            w, h = float(r.uniform([], 2, 30)) * scale, float(r.uniform([], 2, 30)) * scale
            if kind == "thin":
                w = float(r.uniform([], 0.05, 0.3))
            a = [x1, y1, x1 + w, y1 + h]
            u = lambda lo, hi: float(r.uniform([], lo, hi))
            if kind == "overlap":
                b = [x1 + u(-0.6, 0.6) * w, y1 + u(-0.6, 0.6) * h]
                b += [b[0] + w * u(0.5, 1.5), b[1] + h * u(0.5, 1.5)]
            elif kind == "disjoint":
                if u(0, 1) < 0.5:
                    b = [x1 + w + u(0.5, 10) * scale, y1 + u(-0.5, 0.5) * h]
                else:
                    b = [x1 + u(-0.5, 0.5) * w, y1 + h + u(0.5, 10) * scale]
                b += [b[0] + u(2, 30) * scale, b[1] + u(2, 30) * scale]
            elif kind == "disjoint_both":
                b = [x1 - u(5, 20) * scale, y1 + h + u(0.5, 5) * scale]
                b += [b[0] + u(1, 4) * scale, b[1] + u(2, 30) * scale]
            elif kind == "nested":
                b = [x1 + u(0.05, 0.3) * w, y1 + u(0.05, 0.3) * h, x1 + w - u(0.05, 0.3) * w, y1 + h - u(0.05, 0.3) * h]
            elif kind == "identical_ish":
                d = [u(0.02, 0.1) * (1 if u(0, 1) < 0.5 else -1) for _ in range(4)]
                b = [a[i] + d[i] for i in range(4)]
            elif kind == "thin":
                b = [x1 + u(-0.03, 0.03) + (0.04 if u(0, 1) < 0.5 else -0.04), y1 + u(-0.5, 0.5) * h]
                b += [b[0] + float(r.uniform([], 0.05, 0.3)), b[1] + h * u(0.5, 1.5)]
            else:
                raise ValueError(kind)
            a, b = f32r(torch.tensor(a, dtype=F64)), f32r(torch.tensor(b, dtype=F64))
            if kind == "nested" and u(0, 1) < 0.5:
                a, b = b, a
            return a, b
        return r.until(draw, ok)

    kinds = ["overlap", "disjoint", "disjoint_both", "nested", "identical_ish", "thin"]
    for red, N, scale in [("none", 12, 1.0), ("sum", 12, 1.0), ("none", 24, 16.0)]:
        name = "giou_%d_mixed_%s%s" % (N, red, "_image_scale" if scale > 1 else "")
        r = Rng(seed_of("generalized_box_iou_loss-in/" + name))
        ps = [pair(r, kinds[i % len(kinds)], scale) for i in range(N)]
        b1 = torch.stack([p[0] for p in ps])
        b2 = torch.stack([p[1] for p in ps])
        add(name, b1, b2, red, "%d box pairs cycling %s (coordinates up to ~%d); compared coordinates at least "
            "%g apart (no ties); reduction %s" % (N, "/".join(kinds), int(80 * scale), M, red))
    return fam


# ----------------------------------------------------------------------------------------------
# Self-check of the written files
# ----------------------------------------------------------------------------------------------

OPS = {
    # op: (required inputs, optional inputs, attributes)
    **{op: (["a", "b"], [], []) for op in ["add", "sub", "mul", "div", "maximum", "minimum", "pow"]},
    **{op: (["x"], [], []) for op in ["neg", "exp", "log", "sqrt", "abs", "sigmoid", "relu"]},
    "clamp": (["x"], [], ["min", "max"]),
    "where": (["cond", "a", "b"], [], []),
    **{op: (["x"], [], ["axes", "keepdim"]) for op in ["sum", "mean", "max"]},
    "softmax": (["x"], [], ["axis"]), "log_softmax": (["x"], [], ["axis"]),
    "matmul": (["a", "b"], [], []),
    "reshape": (["x"], [], ["shape"]), "permute": (["x"], [], ["dims"]), "transpose": (["x"], [], ["dim0", "dim1"]),
    "slice": (["x"], [], ["starts", "ends"]), "concat": (None, [], ["axis"]), "pad": (["x"], [], ["pads"]),
    "index_select": (["x", "index"], [], ["axis"]), "upsample_nearest2x": (["x"], [], []),
    "max_pool2d": (["x"], [], ["kernel_size", "stride", "padding"]),
    "conv2d": (["x", "weight"], ["bias"], ["stride", "padding", "dilation", "groups"]),
    "group_norm": (["x", "weight", "bias"], [], ["num_groups", "eps"]),
    "batch_norm": (["x", "running_mean", "running_var"], ["weight", "bias"], ["training", "momentum", "eps", "relu"]),
    "batch_norm_running_stats": (["x", "running_mean", "running_var"], [], ["momentum"]),
    "sigmoid_focal_loss": (["logits", "targets"], [], ["alpha", "gamma", "reduction"]),
    "quality_focal_loss": (["pred", "label", "score"], [], ["beta", "num_classes"]),
    "kd_quality_focal_loss": (["pred", "soft_target"], [], ["beta", "class_reduction"]),
    "distribution_focal_loss": (["pred", "target"], [], ["reg_max"]),
    "kd_kl_div": (["pred", "soft_label"], [], ["T", "bin_reduction"]),
    "generalized_box_iou_loss": (["boxes1", "boxes2"], [], ["eps", "reduction"]),
}
NO_GRAD_OPS = {"batch_norm_running_stats"}
INT_INPUTS = {("quality_focal_loss", "label"), ("index_select", "index")}


def validate_file(path):
    with open(path) as f:
        doc = json.load(f)
    where = os.path.basename(path)

    def req(cond, msg):
        if not cond:
            raise AssertionError("%s: %s" % (where, msg))

    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def check_tensor(blk, what, shape=None):
        req(isinstance(blk, dict) and isinstance(blk.get("shape"), list) and isinstance(blk.get("data"), list), what + ": bad block")
        req(all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in blk["shape"]), what + ": bad shape")
        req(len(blk["data"]) == math.prod(blk["shape"]), what + ": data length %d != prod(shape %s)" % (len(blk["data"]), blk["shape"]))
        req(all(is_num(v) for v in blk["data"]), what + ": non-numeric or non-finite data")
        if shape is not None:
            req(blk["shape"] == shape, what + ": shape %s, expected %s" % (blk["shape"], shape))

    req(doc.get("schema_version") == 1, "schema_version")
    req(isinstance(doc.get("family"), str) and isinstance(doc.get("reference"), str), "family/reference")
    req(isinstance(doc.get("cases"), list) and doc["cases"], "cases")
    names = set()
    for c in doc["cases"]:
        n = c.get("name")
        req(isinstance(n, str) and n not in names, "missing or duplicate case name %r" % n)
        names.add(n)
        req(set(c) >= {"name", "op", "description", "attributes", "inputs", "outputs", "upstream_grads", "grads"}, n + ": missing fields")
        req(set(c) <= {"name", "op", "description", "attributes", "inputs", "outputs", "upstream_grads", "grads", "float32"}, n + ": extra fields")
        op = c["op"]
        req(op in OPS, n + ": unknown op " + str(op))
        required, optional, attrs = OPS[op]
        req(isinstance(c["attributes"], dict) and sorted(c["attributes"]) == sorted(attrs), n + ": attributes %s" % sorted(c["attributes"]))
        ins = c["inputs"]
        if required is None:  # concat: x0, x1, ...
            req(list(ins) == ["x%d" % i for i in range(len(ins))] and len(ins) >= 2, n + ": concat inputs")
        else:
            req(set(required) <= set(ins) <= set(required) | set(optional), n + ": inputs %s" % list(ins))
        for iname, blk in ins.items():
            check_tensor(blk, n + ".inputs." + iname)
            req(blk.get("dtype") in ("float", "int64") and isinstance(blk.get("requires_grad"), bool), n + ": input " + iname)
            if (op, iname) in INT_INPUTS:
                req(blk["dtype"] == "int64" and not blk["requires_grad"], n + ": " + iname + " must be int64")
            else:
                req(blk["dtype"] == "float", n + ": " + iname + " must be float")
            if blk["dtype"] == "int64":
                req(all(isinstance(v, int) for v in blk["data"]), n + ": int data")
            else:
                req(all(float(np.float32(v)) == v for v in blk["data"]), n + ": input " + iname + " not float32-representable")
        req(isinstance(c["outputs"], dict) and c["outputs"], n + ": outputs")
        for o, blk in c["outputs"].items():
            check_tensor(blk, n + ".outputs." + o)
        req(list(c["upstream_grads"]) == list(c["outputs"]), n + ": upstream_grads names")
        for o, blk in c["upstream_grads"].items():
            check_tensor(blk, n + ".upstream_grads." + o, c["outputs"][o]["shape"])
            req(all(float(np.float32(v)) == v for v in blk["data"]), n + ": upstream grad not float32-representable")
        want_grads = [i for i, b in ins.items() if b["requires_grad"]]
        # every case differentiates something, but for ops with no differentiable input
        req((want_grads or op in NO_GRAD_OPS) and sorted(c["grads"]) == sorted(want_grads),
            n + ": grads names %s vs %s" % (list(c["grads"]), want_grads))
        for g, blk in c["grads"].items():
            if blk is not None:
                check_tensor(blk, n + ".grads." + g, ins[g]["shape"])
        if "float32" in c:
            f = c["float32"]
            req(set(f) == {"outputs", "grads", "error_vs_float64"}, n + ": float32 fields")
            req(list(f["outputs"]) == list(c["outputs"]), n + ": float32 outputs")
            for o, blk in f["outputs"].items():
                check_tensor(blk, n + ".float32.outputs." + o, c["outputs"][o]["shape"])
            req(sorted(f["grads"]) == sorted(c["grads"]), n + ": float32 grads")
            keys = ["outputs." + o for o in c["outputs"]]
            for g, blk in f["grads"].items():
                req((blk is None) == (c["grads"][g] is None), n + ": float32 null grad mismatch")
                if blk is not None:
                    check_tensor(blk, n + ".float32.grads." + g, ins[g]["shape"])
                    keys.append("grads." + g)
            req(sorted(f["error_vs_float64"]) == sorted(keys), n + ": error_vs_float64 keys")
            for k, e in f["error_vs_float64"].items():
                req(set(e) == {"max_abs", "max_rel_to_max"} and all(is_num(v) and v >= 0 for v in e.values()), n + ": error " + k)
    return doc


# ----------------------------------------------------------------------------------------------

GENERATORS = [gen_unary, gen_binary, gen_clamp, gen_where, gen_reduce, gen_softmax, gen_matmul, gen_movement,
              gen_conv2d, gen_group_norm, gen_batch_norm, gen_sigmoid_focal_loss, gen_quality_focal_loss, gen_kd_quality_focal_loss,
              gen_distribution_focal_loss, gen_kd_kl_div, gen_generalized_box_iou_loss]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for gen in GENERATORS:
        fam = gen()
        path = fam.write()
        doc = validate_file(path)
        size = os.path.getsize(path)
        total += size
        if size > MAX_FILE_BYTES:
            raise AssertionError("%s is %d bytes (limit %d)" % (path, size, MAX_FILE_BYTES))
        worst = max(((e["max_rel_to_max"], c["name"] + ":" + k) for c in doc["cases"]
                     for k, e in c["float32"]["error_vs_float64"].items()), default=(0.0, "-"))
        print("%-32s %3d cases %9d bytes  worst float32 rel err %.2e (%s)" % (
            os.path.relpath(path, REPO), len(doc["cases"]), size, worst[0], worst[1]))
    if total > MAX_TOTAL_BYTES:
        raise AssertionError("total %d bytes (limit %d)" % (total, MAX_TOTAL_BYTES))
    print("total %d bytes; all files validated" % total)


if __name__ == "__main__":
    main()
