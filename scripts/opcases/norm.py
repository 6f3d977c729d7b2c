# Parity cases of group_norm, batch_norm and batch_norm_running_stats.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
