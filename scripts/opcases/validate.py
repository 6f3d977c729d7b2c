# The self-check of every written parity file against the format of docs/op-cases.md.

from .common import *  # noqa: F401,F403


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
