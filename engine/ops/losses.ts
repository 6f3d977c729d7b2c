/**
 * The dense-detector losses of docs/crosskd.md §3 as fused kernels (kernels/<op id>.wgsl, e.g. quality_focal_loss.wgsl):
 * sigmoid focal, quality focal (QFL), KD quality focal, distribution focal (DFL), the
 * distribution KL of localization distillation, GIoU and IoU-log. Their launch plumbing
 * is engine/ops/lossLaunch.ts; Integral and the box coding of §5 are engine/ops/boxes.ts.
 *
 * Fused forward and backward (docs/design.md): one kernel pass reads the inputs once and writes
 * both the loss and d loss/d input. The op keeps that gradient; its backward rule is a
 * single multiply by the upstream gradient g (kernels/loss_grad.wgsl). When nothing
 * requires grad (or under noGrad) the kernel writes no gradient at all.
 *
 * Reduction, as mmdetection's weight_reduce_loss:
 * - `weight` (optional, float32): one weight per loss element, or per leading index — its
 *   shape must be a prefix of the unreduced loss shape (a [N] weight spans the C classes
 *   of a [N,C] focal loss). It is folded into the kernel.
 * - `reduction`: 'none' (the weighted elements), 'sum', or 'mean' (default). 'mean'
 *   divides by the element count, or, with `avgFactor`, computes
 *   sum / (avgFactor + 1.1920929e-7) (float32 epsilon, docs/crosskd.md §3). avgFactor is a
 *   number or a one-element tensor computed on the GPU (read there, never by readback).
 *   As in mmdetection, avgFactor with 'sum' is an error; with 'none' it would be ignored
 *   there, here it is an error too (it would be silently meaningless).
 * - A reduced loss leaves one partial sum per invocation of the loss kernel (no workgroup
 *   barrier: on lavapipe a barrier made the QFL/focal kernels ~3× slower), then one tiny
 *   kernel (kernels/loss_finish.wgsl) adds them and applies the normaliser.
 * - A weight or a tensor avgFactor that itself requires grad is differentiated too: the
 *   op then composes the unweighted fused loss with mul/sum/div (autograd does the rest).
 *
 * Inputs that carry no gradient: integer labels; the teacher's soft label of kdKlDiv (it
 * is the detached teacher, as in LD/CrossKD). Every other float input gets its
 * mathematical gradient when it requires grad — computed in the same pass (a second
 * gradient buffer), so QFL's IoU score works both detached (mmdetection) and not.
 *
 * Values that only the GPU sees cannot be validated without a readback. Labels outside
 * [0, C], DFL targets outside [0, reg_max) or NaN turn that prior's loss and gradients
 * into NaN, so the anomaly is visible in the loss; callers holding CPU values validate
 * first with validateLabels() / validateDflTargets() / validateBoxes(). Shape and dtype
 * mismatches are immediate errors.
 */
import { fmt } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { expectDtype, expectRank } from './util.ts';
import { type LossReduceOptions, fusedLoss, vec4Padded, expectShape, expectNumber, expectChoice, rowConstant, expectBins } from './lossLaunch.ts';

export { AVG_FACTOR_EPS, type LossReduction, type LossReduceOptions } from './lossLaunch.ts';

// ------------------------------------------------------------------ CPU-side validation

/**
 * Checks class labels held on the CPU before upload: integers in [0, numClasses], where
 * numClasses is the background label (QFL's convention). The GPU kernels cannot check
 * labels without a readback; they make the loss of an out-of-range label NaN instead.
 */
export function validateLabels(values: ArrayLike<number>, numClasses: number, name = 'labels'): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`validateLabels: numClasses must be a positive integer, got ${numClasses}`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v > numClasses)
      throw new Error(`validateLabels: ${name}[${i}] = ${v} is not an integer in [0, ${numClasses}] (${numClasses} = background)`);
  }
}

/** Checks x1y1x2y2 boxes held on the CPU: finite, x2 ≥ x1 and y2 ≥ y1. */
export function validateBoxes(values: ArrayLike<number>, name = 'boxes'): void {
  if (values.length % 4 !== 0) throw new Error(`validateBoxes: ${name} must hold 4 values per box, got ${values.length} values`);
  for (let i = 0; i < values.length; i += 4) {
    const [x1, y1, x2, y2] = [values[i], values[i + 1], values[i + 2], values[i + 3]];
    if (![x1, y1, x2, y2].every(Number.isFinite) || !(x2 >= x1 && y2 >= y1))
      throw new Error(`validateBoxes: ${name}[${i / 4}] = [${x1}, ${y1}, ${x2}, ${y2}] needs finite values with x2 ≥ x1 and y2 ≥ y1`);
  }
}

/**
 * Checks DFL targets held on the CPU: in [0, regMax), so that floor(y) + 1 is a bin.
 * bbox2distance(points, bbox, regMax) clamps to [0, regMax − 0.1] and always passes.
 */
export function validateDflTargets(values: ArrayLike<number>, regMax: number, name = 'target'): void {
  for (let i = 0; i < values.length; i++) {
    const y = values[i];
    if (!(y >= 0 && y < regMax)) throw new Error(`validateDflTargets: ${name}[${i}] = ${y} is outside [0, ${regMax})`);
  }
}

// ------------------------------------------------------------------ sigmoid focal loss

export interface FocalOptions extends LossReduceOptions {
  alpha?: number;
  gamma?: number;
}

/**
 * Sigmoid focal loss (RetinaNet; docs/crosskd.md §3), elementwise on logits of any shape with
 * targets of the same shape (one-hot, background all zero): α 0.25, γ 2 by default.
 */
export function sigmoidFocalLoss(logits: Tensor, targets: Tensor, opts: FocalOptions = {}): Tensor {
  const op = 'sigmoidFocalLoss';
  expectDtype(op, 'logits', logits, 'float32');
  expectDtype(op, 'targets', targets, 'float32');
  expectShape(op, 'targets', targets, logits.shape, ' (the shape of logits)');
  const alpha = expectNumber(op, 'alpha', opts.alpha ?? 0.25, () => true, 'a finite number');
  const gamma = expectNumber(op, 'gamma', opts.gamma ?? 2, (g) => g >= 0, 'a non-negative number');
  return fusedLoss(
    {
      op,
      kernel: 'sigmoid_focal_loss',
      units: logits.size,
      lossShape: [...logits.shape],
      uniforms: { alpha, gamma },
      buffers: { logits: logits.buffer, targets: targets.buffer },
      diff: [
        { input: logits, perLoss: 1 },
        { input: targets, perLoss: 1 },
      ],
    },
    opts,
  );
}

// ------------------------------------------------------------------ quality focal loss

export interface QflOptions extends LossReduceOptions {
  beta?: number;
  /** when given, checked against pred.shape[1] (the background label) */
  numClasses?: number;
}

/**
 * Quality focal loss (GFL; docs/crosskd.md §3): pred [N,C] logits, label int32 [N] in [0, C]
 * (C = background), score [N] the IoU quality target of positives; β 2 by default.
 * The unreduced loss is [N], summed over the classes; a weight is one per prior ([N]).
 * The score gets a gradient only when it requires grad (mmdetection detaches it).
 */
export function qualityFocalLoss(pred: Tensor, label: Tensor, score: Tensor, opts: QflOptions = {}): Tensor {
  const op = 'qualityFocalLoss';
  expectDtype(op, 'pred', pred, 'float32');
  expectRank(op, 'pred', pred, 2);
  expectDtype(op, 'label', label, 'int32');
  expectDtype(op, 'score', score, 'float32');
  const [N, C] = pred.shape;
  expectShape(op, 'label', label, [N], ' (one label per row of pred)');
  expectShape(op, 'score', score, [N], ' (one IoU score per row of pred)');
  const beta = expectNumber(op, 'beta', opts.beta ?? 2, (b) => b >= 0, 'a non-negative number');
  if (opts.numClasses !== undefined && opts.numClasses !== C)
    throw new Error(`${op}: numClasses must equal pred.shape[1] = ${C}, got ${JSON.stringify(opts.numClasses)}`);
  // whole rows of vec4s (80 classes): four classes per load and store
  const vec4 = C % 4 === 0;
  return fusedLoss(
    {
      op,
      kernel: 'quality_focal_loss',
      units: N,
      lossShape: [N],
      uniforms: { classes: C, beta },
      constants: { VEC4: vec4 },
      buffers: { pred4: vec4Padded(op, 'pred', pred).buffer, label: label.buffer, score: score.buffer },
      diff: [
        { input: pred, perLoss: C, binding: vec4 ? 'grad_a4' : 'grad_a' },
        { input: score, perLoss: 1 },
      ],
      unused: [vec4 ? 'grad_a' : 'grad_a4'],
    },
    opts,
  );
}

// ------------------------------------------------------------------ KD quality focal loss

export interface KdQflOptions extends LossReduceOptions {
  beta?: number;
  /** 'sum' (default): loss [N] summed over classes; 'none': loss [N,C] */
  classReduction?: 'sum' | 'none';
}

/**
 * CrossKD's classification KD (docs/crosskd.md §3): BCE(x̂, t)·|σ(x̂) − t|^β per element, with
 * softTarget t = σ(teacher logit) [N,C] (the caller applies σ and detaches); β 1 by default.
 */
export function kdQualityFocalLoss(pred: Tensor, softTarget: Tensor, opts: KdQflOptions = {}): Tensor {
  const op = 'kdQualityFocalLoss';
  expectDtype(op, 'pred', pred, 'float32');
  expectRank(op, 'pred', pred, 2);
  expectDtype(op, 'softTarget', softTarget, 'float32');
  expectShape(op, 'softTarget', softTarget, pred.shape, ' (the shape of pred)');
  const beta = expectNumber(op, 'beta', opts.beta ?? 1, (b) => b >= 0, 'a non-negative number');
  const classReduction = expectChoice(op, 'classReduction', opts.classReduction ?? 'sum', ['sum', 'none'] as const);
  const [N, C] = pred.shape;
  const rowSum = classReduction === 'sum';
  return fusedLoss(
    {
      op,
      kernel: 'kd_quality_focal_loss',
      units: N,
      lossShape: rowSum ? [N] : [N, C],
      uniforms: { classes: C, beta },
      constants: { ROW_SUM: rowSum },
      buffers: { pred: pred.buffer, soft_target: softTarget.buffer },
      diff: [
        { input: pred, perLoss: rowSum ? C : 1 },
        { input: softTarget, perLoss: rowSum ? C : 1 },
      ],
    },
    opts,
  );
}

// ------------------------------------------------------------------ distribution focal loss
export interface DflOptions extends LossReduceOptions {
  /** the largest bin index; pred must have regMax + 1 columns (default: inferred from pred) */
  regMax?: number;
}

/**
 * Distribution focal loss (GFL; docs/crosskd.md §3): pred [N, regMax+1] bin logits, target [N]
 * continuous distances in [0, regMax). Targets are not clamped here: mmdetection clamps
 * them where they are made, in bbox2distance(points, gt, regMax) with eps 0.1, giving
 * [0, regMax − 0.1] ("clamped to [0, 15.9]" for reg_max 16); use bbox2distance here the
 * same way. A target outside [0, regMax) would index a bin that does not exist: the
 * row's loss becomes NaN (CPU values: validateDflTargets). The target gets its gradient
 * (the slope CE_r − CE_l) when it requires grad.
 */
export function distributionFocalLoss(pred: Tensor, target: Tensor, opts: DflOptions = {}): Tensor {
  const op = 'distributionFocalLoss';
  const m = expectBins(op, pred, opts.regMax);
  expectDtype(op, 'target', target, 'float32');
  const N = pred.shape[0];
  expectShape(op, 'target', target, [N], ' (one target per row of pred)');
  return fusedLoss(
    {
      op,
      kernel: 'distribution_focal_loss',
      units: N,
      lossShape: [N],
      uniforms: { bins: m },
      constants: { BINS: rowConstant(m) },
      buffers: { pred: pred.buffer, dist_target: target.buffer },
      diff: [
        { input: pred, perLoss: m },
        { input: target, perLoss: 1 },
      ],
    },
    opts,
  );
}

// ------------------------------------------------------------------ distribution KL (LD)

export interface KdKlOptions extends LossReduceOptions {
  /** temperature, default 1 */
  T?: number;
  /** over the bins: 'sum' (CrossKD-GFL, default) or 'mean' (LD) */
  binReduction?: 'sum' | 'mean';
}

/**
 * Localization-distillation KL (docs/crosskd.md §3): per row, KL(softmax(z_t/T) ‖ softmax(z_s/T))·T²,
 * summed or averaged over the bins. pred = student logits [N, n+1]; softLabel = teacher
 * logits of the same shape, treated as detached (no gradient, whatever its requiresGrad).
 */
export function kdKlDiv(pred: Tensor, softLabel: Tensor, opts: KdKlOptions = {}): Tensor {
  const op = 'kdKlDiv';
  expectDtype(op, 'pred', pred, 'float32');
  expectRank(op, 'pred', pred, 2);
  expectDtype(op, 'softLabel', softLabel, 'float32');
  expectShape(op, 'softLabel', softLabel, pred.shape, ' (the shape of pred)');
  const T = expectNumber(op, 'T', opts.T ?? 1, (t) => t > 0, 'a positive temperature');
  const binReduction = expectChoice(op, 'binReduction', opts.binReduction ?? 'sum', ['sum', 'mean'] as const);
  const [N, m] = pred.shape;
  return fusedLoss(
    {
      op,
      kernel: 'kd_kl_div',
      units: N,
      lossShape: [N],
      uniforms: { bins: m, inv_t: 1 / T, scale: (T * T) / (binReduction === 'mean' ? m : 1) },
      constants: { BINS: rowConstant(m) },
      buffers: { pred: pred.buffer, soft_label: softLabel.buffer },
      diff: [{ input: pred, perLoss: m }],
    },
    opts,
  );
}

// ------------------------------------------------------------------ GIoU and IoU-log

export interface BoxLossOptions extends LossReduceOptions {
  eps?: number;
}

function boxLoss(op: string, iouLog: boolean, boxes1: Tensor, boxes2: Tensor, opts: BoxLossOptions): Tensor {
  expectDtype(op, 'boxes1', boxes1, 'float32');
  expectDtype(op, 'boxes2', boxes2, 'float32');
  if (boxes1.rank !== 2 || boxes1.shape[1] !== 4) throw new Error(`${op}: boxes1 must have shape [N,4] (x1,y1,x2,y2), got ${fmt(boxes1.shape)}`);
  expectShape(op, 'boxes2', boxes2, boxes1.shape, ' (the shape of boxes1)');
  const eps = expectNumber(op, 'eps', opts.eps ?? 1e-6, (e) => e > 0, 'a positive number');
  const N = boxes1.shape[0];
  return fusedLoss(
    {
      op,
      kernel: 'generalized_box_iou_loss',
      units: N,
      lossShape: [N],
      uniforms: { eps },
      constants: { IOU_LOG: iouLog },
      buffers: { boxes1: boxes1.buffer, boxes2: boxes2.buffer },
      diff: [
        { input: boxes1, perLoss: 4 },
        { input: boxes2, perLoss: 4 },
      ],
    },
    opts,
  );
}

/** GIoU loss 1 − GIoU on aligned x1y1x2y2 boxes [N,4] (docs/crosskd.md §3); both sets get gradients. */
export const giouLoss = (boxes1: Tensor, boxes2: Tensor, opts: BoxLossOptions = {}): Tensor => boxLoss('giouLoss', false, boxes1, boxes2, opts);

/** FCOS's IoU loss −ln(max(IoU, eps)) on aligned x1y1x2y2 boxes [N,4]; both sets get gradients. */
export const iouLoss = (boxes1: Tensor, boxes2: Tensor, opts: BoxLossOptions = {}): Tensor => boxLoss('iouLoss', true, boxes1, boxes2, opts);
