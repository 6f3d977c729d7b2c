/**
 * OpSpecs of the fused detection losses (engine/ops/losses.ts). Op ids, input names and
 * attributes are those of docs/op-cases.md (iou_loss, absent there, follows
 * engine/reference/losses.ts). Outputs are the unreduced loss unless `reduction` says
 * 'sum'.
 *
 * Cases cover the edge values the losses must survive: logits of ±30, targets of exactly
 * 0 and 1, labels of every class and the background, large bin logits, tiny and thin and
 * disjoint boxes. Gradcheck inputs stay away from kinks (|σ(x) − t| = 0 at β = 1, integer
 * DFL targets, clamp bounds, box ties), where central differences straddle two slopes;
 * the parity files hold the tie cases.
 *
 * Every float input gets its gradient from the op when it requires grad, so the gradcheck
 * differentiates them all, except kd_kl_div's soft_label (the detached teacher; the
 * reference's vjp is null there too) and DFL targets sitting on integers.
 */
import * as E from '../../index.ts';
import { bits, c, flatBoxes, type Gen, need, randomBoxes, ref, saturated, saturatedAt } from '../specHelpers.ts';
import type { InputGen, OpSpec, Tolerance } from '../spec.ts';

// ------------------------------------------------------------------ value generators

/** Probabilities σ(z) of normal teacher logits, rounded to float32. */
const probabilities: Gen = (rng, n) => rng.normal(n, 0, 2).map((z) => Math.fround(1 / (1 + Math.exp(-z))));

/** Probabilities that include exactly 0 and 1 (a teacher that is certain). */
const certain: Gen = (rng, n) => probabilities(rng, n).map((p, i) => (i % 4 === 0 ? 0 : i % 4 === 1 ? 1 : p));

/** DFL targets on integers (and the clamp top 15.9): exactly where y_l switches. */
const integerTargets =
  (regMax: number): Gen =>
  (rng, n) =>
    rng.int(n, 0, regMax).map((v, i) => (i === 0 ? Math.fround(regMax - 0.1) : v));

/**
 * Aligned box pairs: boxes1 random; boxes2 independent ('free'), a jittered copy of
 * boxes1 moving each side by up to 30% of the box's extent along that axis ('jitter'),
 * or boxes1 shifted 40 to the right ('disjoint'). With `thin`, boxes1's width (even
 * boxes) or height (odd ones) is cut to 0.02–0.05 first. boxes2's generator reads what
 * boxes1's drew (the gradcheck generates inputs in order).
 */
function boxPair(n: number, lo: number, hi: number, kind: 'free' | 'jitter' | 'disjoint' = 'free', thin = false): Record<string, InputGen> {
  let first: number[][] = [];
  const gen1: Gen = (rng) => {
    first = randomBoxes(rng, n, lo, hi);
    if (thin)
      first = first.map((b, i) => {
        const k = i % 2;
        const out = [...b];
        out[k + 2] = out[k] + 0.02 + (0.03 * ((i * 7) % 10)) / 10;
        return out;
      });
    return flatBoxes(first);
  };
  const gen2: Gen = (rng) => {
    if (kind === 'free') return flatBoxes(randomBoxes(rng, n, lo, hi));
    const jitter = rng.uniform(4 * n, -0.3, 0.3);
    return flatBoxes(
      first.map(([x1, y1, x2, y2], i) => {
        if (kind === 'disjoint') return [x1 + 40, y1, x2 + 40, y2];
        const ext = [x2 - x1, y2 - y1, x2 - x1, y2 - y1];
        const b = [x1, y1, x2, y2].map((v, k) => v + jitter[4 * i + k] * ext[k]);
        return [b[0], b[1], Math.max(b[2], b[0]), Math.max(b[3], b[1])];
      }),
    );
  };
  return { boxes1: { shape: [n, 4], values: gen1 }, boxes2: { shape: [n, 4], values: gen2 } };
}

function noGradBoxes(pair: Record<string, InputGen>): Record<string, InputGen> {
  return { boxes1: { ...pair.boxes1, grad: false }, boxes2: { ...pair.boxes2, grad: false } };
}

// ------------------------------------------------------------------ helpers

const num = (v: unknown, dflt: number): number => (v === undefined ? dflt : (v as number));
const reductionAttr = (v: unknown): 'none' | 'sum' => (v === undefined ? 'none' : (v as 'none' | 'sum'));

// ------------------------------------------------------------------ tolerances

// u = 2^-24 ≈ 6e-8. The kernels' transcendental pieces: exp (≤ 3 + 2|x| ulp), the
// series log1p (≤ ~4 ulp), division (2.5 ulp), log (3 ulp, 2^-21 absolute near 1).

const FOCAL_TOL: Tolerance = {
  fwd: 2e-6,
  bwd: 5e-6,
  why:
    'per element a chain of ~6 roundings around one exp and the series log1p (~15u ≈ 1e-6 of the element); ' +
    'the pt^γ factor doubles relative errors of pt at γ = 2; a sum over ≤ 30 elements adds sqrt(30)·u. ' +
    'Backward has two product terms of opposite sign: 5e-6 of max|ref|',
};

const QFL_TOL: Tolerance = {
  fwd: 2e-6,
  bwd: 5e-6,
  why:
    'per class ~6 roundings around exp and the series log1p (~1e-6 relative), summed over C ≤ 20 classes in ' +
    'float32 (≤ C·u of the row); d/d score is -x·f + BCE·df with cancellation near s ≈ σ(x): 5e-6 of max|ref|',
};

const KDQFL_TOL: Tolerance = {
  fwd: 2e-6,
  bwd: 5e-6,
  why:
    '|σ(x) − t| is formed from the correctly computed σ and t (one rounding, but absolute: its relative error grows ' +
    'where σ ≈ t, which only matters where the loss is small against max|ref|); ~1e-6 forward, 5e-6 backward',
};

const SOFTMAX_ROW_TOL: Tolerance = {
  fwd: 5e-6,
  bwd: 5e-6,
  why:
    'log-sum-exp with the row max subtracted: 17 exps (3 ulp each) summed, one log (2^-21 absolute near 1, ' +
    'added to a value ≥ ~1 in the loss): a few 1e-7 absolute against max|ref| ≥ ~0.5; gradients are ' +
    "softmax − one-hot weights: exp(z − lse) carries lse's absolute error as relative error: 5e-6",
};

const KL_TOL: Tolerance = {
  fwd: 5e-6,
  bwd: 5e-6,
  why:
    'KL = Σ t(log t − log q) cancels: each log-prob carries ~2e-7 absolute error (lse with a 2^-21-accurate log), ' +
    'and the sum is small when teacher and student agree (PyTorch float32 itself errs 1.8e-4 relative on the T = 10 ' +
    'worked values). The cases here have rows differing by O(1), KL O(0.1–1), and measure ≤ 1e-6: 5e-6 forward; ' +
    'the gradient (q − t)/T is a difference of two accurately computed probabilities: 5e-6',
};

const BOX_TOL: Tolerance = {
  fwd: 2e-6,
  bwd: 1e-5,
  why:
    'areas, overlap and union are products and sums of float32 coordinates ≤ 60 (~4 roundings, ~2.5e-7 relative), ' +
    'IoU and the enclose ratio one division each: ~1e-6 of a loss ≈ 1; the backward divides by union² and enclose², ' +
    'and sums up to 4 paths per coordinate with cancellation: 1e-5 of max|ref|',
};

const IOU_LOG_TOL: Tolerance = {
  fwd: 5e-6,
  bwd: 2e-5,
  why:
    "−ln(IoU) amplifies IoU's relative error (~1e-6) into absolute error ~1e-6, against losses ≥ 0.1; the gradient " +
    '−1/IoU · dIoU grows like 1/IoU for low-overlap pairs (IoU ≈ 0.05 here): 2e-5 of max|ref|',
};

// ------------------------------------------------------------------ specs

const focalSpec: OpSpec = {
  id: 'sigmoid_focal_loss',
  inputs: ['logits', 'targets'],
  attributes: ['alpha', 'gamma', 'reduction'],
  run: (inputs, attrs) => ({
    loss: E.sigmoidFocalLoss(need('sigmoid_focal_loss', inputs, 'logits'), need('sigmoid_focal_loss', inputs, 'targets'), {
      alpha: num(attrs.alpha, 0.25),
      gamma: num(attrs.gamma, 2),
      reduction: reductionAttr(attrs.reduction),
    }),
  }),
  reference: ref('sigmoid_focal_loss'),
  kernels: ['sigmoid_focal_loss', 'loss_finish', 'loss_grad'],
  cases: [
    c('normal_6x5_none', { logits: { shape: [6, 5] }, targets: { shape: [6, 5], values: bits } }, { reduction: 'none' }),
    c(
      'normal_8x7_sum',
      { logits: { shape: [8, 7], values: (r, n) => r.normal(n, 0, 3) }, targets: { shape: [8, 7], values: bits } },
      {
        reduction: 'sum',
      },
    ),
    c('saturated_pm30_4x6_none', { logits: { shape: [4, 6], values: saturated }, targets: { shape: [4, 6], values: bits } }),
    c(
      'alpha0.5_gamma1.5_3x9_sum',
      { logits: { shape: [3, 9] }, targets: { shape: [3, 9], values: bits } },
      {
        alpha: 0.5,
        gamma: 1.5,
        reduction: 'sum',
      },
    ),
    c('gamma0_2x3x4_none', { logits: { shape: [2, 3, 4] }, targets: { shape: [2, 3, 4], values: bits } }, { gamma: 0 }),
  ],
  tol: FOCAL_TOL,
};

const qflSpec: OpSpec = {
  id: 'quality_focal_loss',
  inputs: ['pred', 'label', 'score'],
  attributes: ['beta', 'num_classes'],
  run: (inputs, attrs) => {
    const pred = need('quality_focal_loss', inputs, 'pred');
    return {
      loss: E.qualityFocalLoss(pred, need('quality_focal_loss', inputs, 'label'), need('quality_focal_loss', inputs, 'score'), {
        beta: num(attrs.beta, 2),
        numClasses: attrs.num_classes === undefined ? undefined : (attrs.num_classes as number),
        reduction: 'none',
      }),
    };
  },
  reference: ref('quality_focal_loss'),
  kernels: ['quality_focal_loss', 'loss_grad'],
  cases: [
    c(
      'mixed_labels_8x5',
      { pred: { shape: [8, 5] }, label: { shape: [8], dtype: 'int', values: [0, 6] }, score: { shape: [8], values: [0, 1] } },
      {
        beta: 2,
        num_classes: 5,
      },
    ),
    c('saturated_pm30_12x4', {
      pred: { shape: [12, 4], values: saturated },
      label: { shape: [12], dtype: 'int', values: [0, 5] },
      score: { shape: [12], values: [0, 1] },
    }),
    c('all_background_4x3', {
      pred: { shape: [4, 3] },
      label: { shape: [4], dtype: 'int', values: [3, 4] },
      score: { shape: [4], values: [0, 1] },
    }),
    c(
      'beta1.5_16x20',
      {
        pred: { shape: [16, 20], values: (r, n) => r.normal(n, -2, 2) },
        label: { shape: [16], dtype: 'int', values: [0, 21] },
        score: { shape: [16], values: [0.05, 0.95] },
      },
      {
        beta: 1.5,
      },
    ),
  ],
  tol: QFL_TOL,
};

const kdQflSpec: OpSpec = {
  id: 'kd_quality_focal_loss',
  inputs: ['pred', 'soft_target'],
  attributes: ['beta', 'class_reduction'],
  run: (inputs, attrs) => ({
    loss: E.kdQualityFocalLoss(need('kd_quality_focal_loss', inputs, 'pred'), need('kd_quality_focal_loss', inputs, 'soft_target'), {
      beta: num(attrs.beta, 1),
      classReduction: (attrs.class_reduction ?? 'sum') as 'sum' | 'none',
      reduction: 'none',
    }),
  }),
  reference: ref('kd_quality_focal_loss'),
  kernels: ['kd_quality_focal_loss', 'loss_grad'],
  cases: [
    c('sum_6x4', { pred: { shape: [6, 4] }, soft_target: { shape: [6, 4], values: probabilities } }, { beta: 1, class_reduction: 'sum' }),
    c('none_5x3', { pred: { shape: [5, 3] }, soft_target: { shape: [5, 3], values: probabilities } }, { beta: 1, class_reduction: 'none' }),
    c('saturated_pm30_certain_teacher_8x6_sum', { pred: { shape: [8, 6], values: saturated }, soft_target: { shape: [8, 6], values: certain } }),
    c('beta2_7x5_none', { pred: { shape: [7, 5] }, soft_target: { shape: [7, 5], values: probabilities } }, { beta: 2, class_reduction: 'none' }),
  ],
  tol: KDQFL_TOL,
};

const dflSpec: OpSpec = {
  id: 'distribution_focal_loss',
  inputs: ['pred', 'target'],
  attributes: ['reg_max'],
  run: (inputs, attrs) => ({
    loss: E.distributionFocalLoss(need('distribution_focal_loss', inputs, 'pred'), need('distribution_focal_loss', inputs, 'target'), {
      regMax: attrs.reg_max === undefined ? undefined : (attrs.reg_max as number),
      reduction: 'none',
    }),
  }),
  reference: ref('distribution_focal_loss'),
  kernels: ['distribution_focal_loss', 'loss_grad'],
  cases: [
    c('reg_max16_12x17', { pred: { shape: [12, 17] }, target: { shape: [12], values: [0, 15.9] } }, { reg_max: 16 }),
    c('large_logits_8x17', { pred: { shape: [8, 17], values: saturated }, target: { shape: [8], values: [0, 15.9] } }, { reg_max: 16 }),
    c('integer_targets_16x17', { pred: { shape: [16, 17] }, target: { shape: [16], values: integerTargets(16), grad: false } }, { reg_max: 16 }),
    c('reg_max4_5x5', { pred: { shape: [5, 5] }, target: { shape: [5], values: [0, 3.99] } }, { reg_max: 4 }),
    // more bins than the kernels keep in registers: the any-length path
    c('reg_max40_6x41', { pred: { shape: [6, 41] }, target: { shape: [6], values: [0, 39.9] } }, { reg_max: 40 }),
  ],
  tol: SOFTMAX_ROW_TOL,
};

const klSpec: OpSpec = {
  id: 'kd_kl_div',
  inputs: ['pred', 'soft_label'],
  attributes: ['T', 'bin_reduction'],
  run: (inputs, attrs) => ({
    loss: E.kdKlDiv(need('kd_kl_div', inputs, 'pred'), need('kd_kl_div', inputs, 'soft_label'), {
      T: num(attrs.T, 1),
      binReduction: (attrs.bin_reduction ?? 'sum') as 'sum' | 'mean',
      reduction: 'none',
    }),
  }),
  reference: ref('kd_kl_div'),
  kernels: ['kd_kl_div', 'loss_grad'],
  noGrad: ['soft_label'],
  cases: [
    c('T1_sum_8x17', { pred: { shape: [8, 17] }, soft_label: { shape: [8, 17] } }, { T: 1, bin_reduction: 'sum' }),
    c(
      'T10_mean_8x17',
      { pred: { shape: [8, 17], values: (r, n) => r.normal(n, 0, 8) }, soft_label: { shape: [8, 17], values: (r, n) => r.normal(n, 0, 8) } },
      {
        T: 10,
        bin_reduction: 'mean',
      },
    ),
    c(
      'large_logits_T1_sum_6x17',
      { pred: { shape: [6, 17], values: saturated }, soft_label: { shape: [6, 17], values: saturatedAt(1) } },
      {
        T: 1,
        bin_reduction: 'sum',
      },
    ),
    c('T2_mean_40_bins_5x40', { pred: { shape: [5, 40] }, soft_label: { shape: [5, 40] } }, { T: 2, bin_reduction: 'mean' }),
  ],
  tol: KL_TOL,
};

function boxLossSpec(id: 'generalized_box_iou_loss' | 'iou_loss', fn: typeof E.giouLoss, tol: Tolerance): OpSpec {
  return {
    id,
    inputs: ['boxes1', 'boxes2'],
    attributes: ['eps', 'reduction'],
    run: (inputs, attrs) => ({
      loss: fn(need(id, inputs, 'boxes1'), need(id, inputs, 'boxes2'), { eps: num(attrs.eps, 1e-6), reduction: reductionAttr(attrs.reduction) }),
    }),
    reference: ref(id),
    kernels: ['generalized_box_iou_loss', 'loss_finish', 'loss_grad'],
    cases: [
      c('overlapping_16', boxPair(16, 1, 6, 'jitter'), { eps: 1e-6, reduction: 'none' }),
      c('mixed_24_sum', boxPair(24, 1, 10), { eps: 1e-6, reduction: 'sum' }),
      // IoU-log of disjoint boxes is the constant −ln eps: no gradient to check there
      ...(id === 'iou_loss' ? [] : [c('disjoint_8', boxPair(8, 1, 5, 'disjoint'), { eps: 1e-6 })]),
      c('thin_12', boxPair(12, 1, 5, 'jitter', true), { eps: 1e-6 }),
      // sides of 1e-4: areas below eps, so union and enclose are clamped to eps. Central
      // differences cannot resolve such boxes (the step is 1e-6 of a coordinate ≈ 10),
      // so only the forward is checked here; test/ops/losses.test.ts checks the gradient.
      c('tiny_below_eps_8', noGradBoxes(boxPair(8, 1e-4, 2e-4, 'jitter')), { eps: 1e-6 }),
    ],
    tol,
  };
}

const giouSpec = boxLossSpec('generalized_box_iou_loss', E.giouLoss, BOX_TOL);
const iouSpec = boxLossSpec('iou_loss', E.iouLoss, IOU_LOG_TOL);

export const lossSpecs: OpSpec[] = [focalSpec, qflSpec, kdQflSpec, dflSpec, klSpec, giouSpec, iouSpec];
