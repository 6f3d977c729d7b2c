/**
 * The dense-detector losses of docs/crosskd.md §3 as fused kernels (kernels/loss_*.wgsl):
 * sigmoid focal, quality focal (QFL), KD quality focal, distribution focal (DFL), the
 * distribution KL of localization distillation, GIoU and IoU-log; plus Integral and the
 * box coding of §5 (distance2bbox, bbox2distance).
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
import { isGradEnabled, record } from '../autograd.ts';
import { runtime, type OverrideValues, type UniformValues } from '../runtime.ts';
import { fmt, sameShape, sizeOf } from '../shape.ts';
import { empty, keep, type Tensor } from '../tensor.ts';
import { affine, div, mul, scale } from './elementwise.ts';
import { mean, sum } from './reduce.ts';
import { reshape } from './movement.ts';
import { expectDtype, expectRank } from './util.ts';

// ------------------------------------------------------------------ reduction options

export type LossReduction = 'none' | 'sum' | 'mean';

export interface LossReduceOptions {
  /** per-element weight; shape = a prefix of the unreduced loss shape */
  weight?: Tensor | null;
  /** default 'mean' (mmdetection's default) */
  reduction?: LossReduction;
  /** with 'mean': sum / (avgFactor + 1.1920929e-7); a number or a one-element tensor */
  avgFactor?: number | Tensor | null;
}

/** float32 machine epsilon, the avg_factor guard of mmdetection (docs/crosskd.md §3). */
export const AVG_FACTOR_EPS = 1.1920929e-7;

const REDUCTIONS: readonly LossReduction[] = ['none', 'sum', 'mean'];

interface Reduce {
  reduction: LossReduction;
  weight: Tensor | null;
  avgFactor: number | Tensor | null;
}

function reduceOptions(op: string, opts: LossReduceOptions, lossShape: readonly number[]): Reduce {
  const reduction = opts.reduction ?? 'mean';
  if (!REDUCTIONS.includes(reduction)) throw new Error(`${op}: reduction must be one of 'none', 'sum', 'mean', got ${JSON.stringify(reduction)}`);
  const weight = opts.weight ?? null;
  if (weight) {
    expectDtype(op, 'weight', weight, 'float32');
    if (weight.rank > lossShape.length || !sameShape(weight.shape, lossShape.slice(0, weight.rank)))
      throw new Error(
        `${op}: weight must have the loss shape ${fmt(lossShape)} or a prefix of it (one weight per leading index), ` + `got ${fmt(weight.shape)}`,
      );
  }
  const avgFactor = opts.avgFactor ?? null;
  if (avgFactor !== null) {
    if (reduction !== 'mean') throw new Error(`${op}: avgFactor applies only with reduction 'mean' (as mmdetection), got reduction '${reduction}'`);
    if (typeof avgFactor === 'number') {
      if (!Number.isFinite(avgFactor)) throw new Error(`${op}: avgFactor must be a finite number, got ${avgFactor}`);
    } else {
      expectDtype(op, 'avgFactor', avgFactor, 'float32');
      if (avgFactor.size !== 1) throw new Error(`${op}: avgFactor must be a number or a one-element tensor, got ${avgFactor}`);
    }
  }
  return { reduction, weight, avgFactor };
}

// ------------------------------------------------------------------ launch plumbing

/** Workgroup size of the loss kernels (LOSS_WG in kernels/lib/loss_common.wgsl). */
const LOSS_WG = 256;
/**
 * The loss kernels loop over their work units (grid-stride), so one 1-D launch of at most
 * this many groups covers any size, and a reduced loss has at most 512·256 partial sums
 * for the finish kernel to add. 131 072 invocations keep every core of any adapter busy.
 */
const LOSS_MAX_GROUPS = 512;

const lossGroups = (units: number): number => Math.max(1, Math.min(LOSS_MAX_GROUPS, Math.ceil(units / LOSS_WG)));

/**
 * Placeholder buffers for bindings a kernel variant never touches (no weight, no second
 * gradient, ...): WebGPU wants every binding bound. One per binding name, so a dispatch
 * never binds one buffer twice; kept per device for the life of the process.
 */
const placeholders = new WeakMap<GPUDevice, Map<string, GPUBuffer>>();

function placeholder(name: string): GPUBuffer {
  const device = runtime().device;
  let byName = placeholders.get(device);
  if (!byName) placeholders.set(device, (byName = new Map()));
  let b = byName.get(name);
  if (!b) {
    b = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: `unused ${name}` });
    byName.set(name, b);
  }
  return b;
}

/** A differentiable input of a loss kernel, bound to grad_a or grad_b. */
interface DiffInput {
  input: Tensor;
  /** gradient elements per loss element (C for the classes of a QFL row, 4 box sides) */
  perLoss: number;
  /** the kernel's buffer for this gradient, when not grad_a / grad_b by position */
  binding?: string;
}

/** One fused loss kernel call, as each op describes it. */
interface LossLaunch {
  op: string;
  kernel: string;
  /** length of the kernel's grid-stride loop (uniform `n`): elements, rows or box pairs */
  units: number;
  /** the unreduced loss shape */
  lossShape: number[];
  uniforms: UniformValues;
  constants?: OverrideValues;
  /** the kernel's read-only buffers by binding name */
  buffers: Record<string, GPUBuffer>;
  /** the inputs that get gradients, in binding order grad_a, grad_b */
  diff: DiffInput[];
  /** further writable bindings this variant leaves unused */
  unused?: string[];
}

const GRAD_BINDINGS = ['grad_a', 'grad_b'] as const;

/**
 * Runs a fused loss: the kernel, the optional finish, and the record whose backward scales
 * the saved gradients. See the file header for the reduction semantics.
 */
function fusedLoss(l: LossLaunch, opts: LossReduceOptions): Tensor {
  const r = reduceOptions(l.op, opts, l.lossShape);
  const avgTensor = r.avgFactor !== null && typeof r.avgFactor !== 'number' ? r.avgFactor : null;
  if (isGradEnabled() && (r.weight?.requiresGrad || avgTensor?.requiresGrad)) return composedLoss(l, r);

  const wants = l.diff.map((d) => isGradEnabled() && d.input.requiresGrad);
  const reduce = r.reduction !== 'none';
  const groups = lossGroups(l.units);
  const lossSize = sizeOf(l.lossShape);
  const elems = reduce ? empty([groups * LOSS_WG]) : empty(l.lossShape);
  const saved = l.diff.map((d, k) => (wants[k] ? empty(d.input.shape) : null));
  const buffers: Record<string, GPUBuffer> = {
    ...l.buffers,
    weight: r.weight ? r.weight.buffer : placeholder('weight'),
    out: elems.buffer,
  };
  for (const name of [...GRAD_BINDINGS, ...(l.unused ?? [])]) buffers[name] = placeholder(name);
  l.diff.forEach((d, k) => {
    const name = d.binding ?? GRAD_BINDINGS[k];
    buffers[name] = saved[k]?.buffer ?? placeholder(name);
  });
  if (l.units > 0)
    runtime().dispatch({
      op: l.op,
      kernel: l.kernel,
      constants: { ...l.constants, REDUCE: reduce, WEIGHTED: r.weight !== null, GRAD_A: !!saved[0], GRAD_B: !!saved[1] },
      uniforms: { ...l.uniforms, n: l.units, w_div: r.weight ? Math.max(1, lossSize / Math.max(1, r.weight.size)) : 1 },
      buffers,
      workgroups: [groups],
    });

  let out = elems;
  let factor: Tensor | null = null;
  if (reduce) {
    out = empty([]);
    factor = empty([1]);
    const mode = r.avgFactor === null ? (r.reduction === 'mean' ? 1 : 0) : typeof r.avgFactor === 'number' ? 1 : 2;
    runtime().dispatch({
      op: l.op,
      kernel: 'loss_finish',
      constants: { AVG: mode },
      uniforms: {
        parts: l.units > 0 ? groups * LOSS_WG : 0,
        // 'mean' without avgFactor: divide by the count exactly (no epsilon), as loss.mean()
        avg: typeof r.avgFactor === 'number' ? r.avgFactor : lossSize,
        avg_eps: r.avgFactor === null ? 0 : AVG_FACTOR_EPS,
      },
      buffers: {
        partial: elems.buffer,
        avg: avgTensor ? avgTensor.buffer : placeholder('avg'),
        out: out.buffer,
        factor: factor.buffer,
      },
      workgroups: [1],
    });
    elems.dispose();
  }
  if (!saved.some((s) => s)) {
    factor?.dispose();
    runtime().opDone(l.op, [out]); // no tape record follows: close the op here
    return out;
  }
  return recordSaved(l.op, l.diff, out, saved, factor);
}

/**
 * Records `out` on the tape with a backward that multiplies each saved gradient by the
 * upstream gradient (times `factor[0]` for a reduced loss). The saved gradients live as
 * long as `out`: exempt from enclosing scopes, freed when `out` is disposed (by hand or by
 * its scope), so `scope(() => loss(...))` followed by backward() outside works and a loss
 * that is never differentiated still frees them.
 */
function recordSaved(op: string, diff: DiffInput[], out: Tensor, saved: (Tensor | null)[], factor: Tensor | null): Tensor {
  const held = [...saved, factor].filter((t): t is Tensor => t !== null);
  for (const t of held) keep(t);
  const disposeOut = out.dispose.bind(out);
  out.dispose = () => {
    disposeOut();
    for (const t of held) t.dispose();
  };
  return record(
    op,
    diff.map((d) => d.input),
    out,
    (g, needs) =>
      diff.map((d, k) => {
        if (!needs[k]) return null;
        const s = saved[k];
        if (!s) throw new Error(`${op}: ${d.input} did not require grad when the loss was computed; no gradient was saved`);
        return scaleSaved(op, s, g, factor, d.perLoss);
      }),
  );
}

/**
 * A kernel that views `t` as vec4s reads ceil(size/4) of them: the last reaches into the
 * padding that the buffer pool's size classes (multiples of 64 bytes) always leave.
 */
function vec4Padded(op: string, name: string, t: Tensor): Tensor {
  if (t.buffer.size < 16 * Math.ceil(t.size / 4)) throw new Error(`${op}: the buffer of ${name} (${t}) is not padded to whole vec4s`);
  return t;
}

/** saved · g (one g per `perLoss` elements), or saved · g[0] · factor[0] for a scalar loss. */
function scaleSaved(op: string, saved: Tensor, g: Tensor, factor: Tensor | null, perLoss: number): Tensor {
  const dx = empty(saved.shape);
  const n4 = Math.ceil(saved.size / 4);
  vec4Padded('loss backward', 'the saved gradient', saved);
  vec4Padded('loss backward', 'the input gradient', dx);
  if (saved.size > 0)
    runtime().dispatch({
      op: `${op} backward`,
      kernel: 'loss_grad',
      constants: { SCALAR: factor !== null },
      uniforms: { n4, g_div: perLoss },
      buffers: { saved: saved.buffer, g: g.buffer, factor: factor ? factor.buffer : placeholder('factor'), dx: dx.buffer },
      workgroups: [lossGroups(n4)],
    });
  return dx;
}

/**
 * The loss with a weight or avgFactor that requires grad: the fused unweighted elements,
 * then mul / sum / div from the elementwise ops, which differentiate weight and avgFactor.
 */
function composedLoss(l: LossLaunch, r: Reduce): Tensor {
  let loss = fusedLoss(l, { reduction: 'none' });
  if (r.weight) {
    const lead = r.weight.shape;
    const w = reshape(r.weight, [...lead, ...l.lossShape.slice(lead.length).map(() => 1)]);
    loss = mul(loss, w);
  }
  if (r.reduction === 'none') return loss;
  if (r.reduction === 'sum' || r.avgFactor === null) return r.reduction === 'sum' ? sum(loss) : mean(loss);
  const total = sum(loss);
  return typeof r.avgFactor === 'number' ? scale(total, 1 / (r.avgFactor + AVG_FACTOR_EPS)) : div(total, affine(reshape(r.avgFactor, []), 1, AVG_FACTOR_EPS));
}

// ------------------------------------------------------------------ argument checks

function expectShape(op: string, arg: string, t: Tensor, shape: readonly number[], what = ''): void {
  if (!sameShape(t.shape, shape)) throw new Error(`${op}: ${arg} must have shape ${fmt(shape)}${what}, got ${fmt(t.shape)}`);
}

function expectNumber(op: string, arg: string, v: unknown, ok: (x: number) => boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new Error(`${op}: ${arg} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

function expectChoice<T extends string>(op: string, arg: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new Error(`${op}: ${arg} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

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
      kernel: 'loss_focal',
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
      kernel: 'loss_qfl',
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
      kernel: 'loss_kd_qfl',
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

/** Longest row the DFL, KL and Integral kernels hold in registers (LOSS_ROW_MAX). */
const LOSS_ROW_MAX = 32;

/**
 * The BINS pipeline constant of the row kernels: the bin count when a row fits in
 * registers (one pipeline per bin count: 17 in practice), else 0 for the any-length path.
 */
const rowConstant = (m: number): number => (m <= LOSS_ROW_MAX ? m : 0);

/** pred must be [N, regMax + 1]; returns the bin count. */
function expectBins(op: string, pred: Tensor, regMax: number | undefined): number {
  expectDtype(op, 'pred', pred, 'float32');
  expectRank(op, 'pred', pred, 2);
  const m = pred.shape[1];
  if (regMax !== undefined) {
    if (!Number.isInteger(regMax) || regMax < 1) throw new Error(`${op}: regMax must be an integer ≥ 1, got ${JSON.stringify(regMax)}`);
    if (m !== regMax + 1) throw new Error(`${op}: pred must have regMax + 1 = ${regMax + 1} bins per row, got shape ${fmt(pred.shape)} (regMax ${regMax})`);
  } else if (m < 2) throw new Error(`${op}: pred needs at least 2 bins per row, got shape ${fmt(pred.shape)}`);
  return m;
}

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
      kernel: 'loss_dfl',
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
      kernel: 'loss_kl',
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
      kernel: 'loss_giou',
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

// ------------------------------------------------------------------ Integral

/**
 * GFL's Integral (docs/crosskd.md §5): out[n] = Σ_j softmax(pred[n])_j · j over the regMax + 1
 * bins of each row, the distance in stride units. Fused like the losses: the forward pass
 * also writes d out/d pred, and the backward scales it by the upstream gradient.
 */
export function integral(pred: Tensor, opts: { regMax?: number } = {}): Tensor {
  const op = 'integral';
  const m = expectBins(op, pred, opts.regMax);
  const N = pred.shape[0];
  const wants = isGradEnabled() && pred.requiresGrad;
  const out = empty([N]);
  const saved = wants ? empty(pred.shape) : null;
  if (N > 0)
    runtime().dispatch({
      op,
      kernel: 'integral',
      constants: { GRAD_A: wants, BINS: rowConstant(m) },
      uniforms: { n: N, bins: m },
      buffers: { pred: pred.buffer, out: out.buffer, grad_a: saved?.buffer ?? placeholder('grad_a') },
      workgroups: [lossGroups(N)],
    });
  if (saved) return recordSaved(op, [{ input: pred, perLoss: m }], out, [saved], null);
  runtime().opDone(op, [out]); // no tape record follows: close the op here
  return out;
}

// ------------------------------------------------------------------ box coding

function expectPoints(op: string, points: Tensor, other: Tensor, otherName: string): number {
  expectDtype(op, 'points', points, 'float32');
  expectDtype(op, otherName, other, 'float32');
  if (points.rank !== 2 || points.shape[1] !== 2) throw new Error(`${op}: points must have shape [N,2] (x,y), got ${fmt(points.shape)}`);
  expectShape(op, otherName, other, [points.shape[0], 4]);
  return points.shape[0];
}

/** distance2bbox (MODE 0) and bbox2distance (MODE 1): one kernel each way, see box_coding*.wgsl. */
function boxCoding(op: string, mode: 0 | 1, points: Tensor, boxes: Tensor, hi: number[] | null): Tensor {
  const N = points.shape[0];
  const out = empty([N, 4]);
  const clamp = hi !== null;
  const uniforms = { n: N, hi: hi ?? [0, 0, 0, 0] };
  if (N > 0)
    runtime().dispatch({
      op,
      kernel: 'box_coding',
      constants: { MODE: mode, CLAMP: clamp },
      uniforms,
      buffers: { points: points.buffer, boxes: boxes.buffer, out: out.buffer },
      workgroups: [lossGroups(N)],
    });
  return record(op, [points, boxes], out, (g, needs) => {
    const dp = needs[0] ? empty(points.shape) : null;
    const db = needs[1] ? empty(boxes.shape) : null;
    if (N > 0)
      runtime().dispatch({
        op: `${op} backward`,
        kernel: 'box_coding_grad',
        constants: { MODE: mode, CLAMP: clamp, GRAD_POINTS: !!dp, GRAD_BOXES: !!db },
        uniforms,
        buffers: {
          points: points.buffer,
          boxes: boxes.buffer,
          g: g.buffer,
          d_points: dp?.buffer ?? placeholder('d_points'),
          d_boxes: db?.buffer ?? placeholder('d_boxes'),
        },
        workgroups: [lossGroups(N)],
      });
    return [dp, db];
  });
}

/**
 * distance2bbox (docs/crosskd.md §5): points [N,2] and distances (left, top, right, bottom) [N,4]
 * → boxes (p_x − d_l, p_y − d_t, p_x + d_r, p_y + d_b). With maxShape [H, W] the x
 * coordinates are clamped to [0, W] and the y ones to [0, H] (mmdetection); the gradient
 * passes where a coordinate lies within its bounds, inclusive (torch.clamp).
 */
export function distance2bbox(points: Tensor, distance: Tensor, maxShape?: readonly [number, number] | null): Tensor {
  const op = 'distance2bbox';
  expectPoints(op, points, distance, 'distance');
  let hi: number[] | null = null;
  if (maxShape) {
    if (maxShape.length !== 2 || !maxShape.every((v) => Number.isFinite(v) && v >= 0))
      throw new Error(`${op}: maxShape must be [H, W] with non-negative finite values, got ${JSON.stringify(maxShape)}`);
    const [H, W] = maxShape;
    hi = [W, H, W, H];
  }
  return boxCoding(op, 0, points, distance, hi);
}

/**
 * bbox2distance: points [N,2] and boxes [N,4] → distances (p_x − x1, p_y − y1, x2 − p_x,
 * y2 − p_y). With maxDis each is clamped to [0, maxDis − eps] (mmdetection, eps 0.1): the
 * DFL targets, [0, 15.9] for reg_max 16 (docs/crosskd.md §3). The gradient passes inside the
 * bounds, inclusive.
 */
export function bbox2distance(points: Tensor, bbox: Tensor, maxDis?: number | null, eps = 0.1): Tensor {
  const op = 'bbox2distance';
  expectPoints(op, points, bbox, 'bbox');
  let hi: number[] | null = null;
  if (maxDis !== undefined && maxDis !== null) {
    expectNumber(op, 'eps', eps, () => true, 'a finite number');
    const top = expectNumber(op, 'maxDis', maxDis, (d) => d - eps >= 0, `a number with maxDis − eps ≥ 0 (eps = ${eps})`) - eps;
    hi = [top, top, top, top];
  }
  return boxCoding(op, 1, points, bbox, hi);
}
