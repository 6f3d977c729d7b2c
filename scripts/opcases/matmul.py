# Parity cases of matmul.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
