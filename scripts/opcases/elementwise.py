# Parity cases of the elementwise families: unary, binary, clamp, where.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
