# Parity cases of the detection losses of docs/crosskd.md §3 (formulas as mmdetection computes them; the worked values there are asserted).

from .common import *  # noqa: F401,F403 (torch, F, np, math, F64, F32, Rng, Family, seed_of, f32r, sfx, check_close, ...)


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
