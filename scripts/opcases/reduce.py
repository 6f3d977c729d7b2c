# Parity cases of the reductions: sum, mean, max.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
