# Parity cases of the movement ops: reshape, permute, transpose, slice, concat, pad, index_select, upsample_nearest2x, max_pool2d.

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
