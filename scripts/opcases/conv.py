# Parity cases of conv2d.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
