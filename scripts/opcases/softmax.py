# Parity cases of softmax and log_softmax.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
