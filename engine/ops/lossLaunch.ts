/**
 * How the fused loss kernels of engine/ops/losses.ts and engine/ops/boxes.ts are launched:
 * mmdetection's reduction options (weight, reduction, avgFactor), the dispatch of a fused
 * forward + backward kernel with its partial sums and finishing pass, the saved gradient
 * and its backward rule, and the argument checks they share. Internal to engine/ops: the
 * package exports only the reduction types and AVG_FACTOR_EPS (through losses.ts).
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

export const REDUCTIONS: readonly LossReduction[] = ['none', 'sum', 'mean'];

export interface Reduce {
  reduction: LossReduction;
  weight: Tensor | null;
  avgFactor: number | Tensor | null;
}

export function reduceOptions(op: string, opts: LossReduceOptions, lossShape: readonly number[]): Reduce {
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
export const LOSS_WG = 256;
/**
 * The loss kernels loop over their work units (grid-stride), so one 1-D launch of at most
 * this many groups covers any size, and a reduced loss has at most 512·256 partial sums
 * for the finish kernel to add. 131 072 invocations keep every core of any adapter busy.
 */
export const LOSS_MAX_GROUPS = 512;

export const lossGroups = (units: number): number => Math.max(1, Math.min(LOSS_MAX_GROUPS, Math.ceil(units / LOSS_WG)));

/**
 * Placeholder buffers for bindings a kernel variant never touches (no weight, no second
 * gradient, ...): WebGPU wants every binding bound. One per binding name, so a dispatch
 * never binds one buffer twice; kept per device for the life of the process.
 */
export const placeholders = new WeakMap<GPUDevice, Map<string, GPUBuffer>>();

export function placeholder(name: string): GPUBuffer {
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
export interface DiffInput {
  input: Tensor;
  /** gradient elements per loss element (C for the classes of a QFL row, 4 box sides) */
  perLoss: number;
  /** the kernel's buffer for this gradient, when not grad_a / grad_b by position */
  binding?: string;
}

/** One fused loss kernel call, as each op describes it. */
export interface LossLaunch {
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

export const GRAD_BINDINGS = ['grad_a', 'grad_b'] as const;

/**
 * Runs a fused loss: the kernel, the optional finish, and the record whose backward scales
 * the saved gradients. See the file header for the reduction semantics.
 */
export function fusedLoss(l: LossLaunch, opts: LossReduceOptions): Tensor {
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
export function recordSaved(op: string, diff: DiffInput[], out: Tensor, saved: (Tensor | null)[], factor: Tensor | null): Tensor {
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
export function vec4Padded(op: string, name: string, t: Tensor): Tensor {
  if (t.buffer.size < 16 * Math.ceil(t.size / 4)) throw new Error(`${op}: the buffer of ${name} (${t}) is not padded to whole vec4s`);
  return t;
}

/** saved · g (one g per `perLoss` elements), or saved · g[0] · factor[0] for a scalar loss. */
export function scaleSaved(op: string, saved: Tensor, g: Tensor, factor: Tensor | null, perLoss: number): Tensor {
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
export function composedLoss(l: LossLaunch, r: Reduce): Tensor {
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

export function expectShape(op: string, arg: string, t: Tensor, shape: readonly number[], what = ''): void {
  if (!sameShape(t.shape, shape)) throw new Error(`${op}: ${arg} must have shape ${fmt(shape)}${what}, got ${fmt(t.shape)}`);
}

export function expectNumber(op: string, arg: string, v: unknown, ok: (x: number) => boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new Error(`${op}: ${arg} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

export function expectChoice<T extends string>(op: string, arg: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new Error(`${op}: ${arg} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** Longest row the DFL, KL and Integral kernels hold in registers (LOSS_ROW_MAX). */
export const LOSS_ROW_MAX = 32;

/**
 * The BINS pipeline constant of the row kernels: the bin count when a row fits in
 * registers (one pipeline per bin count: 17 in practice), else 0 for the any-length path.
 */
export const rowConstant = (m: number): number => (m <= LOSS_ROW_MAX ? m : 0);

/** pred must be [N, regMax + 1]; returns the bin count. */
export function expectBins(op: string, pred: Tensor, regMax: number | undefined): number {
  expectDtype(op, 'pred', pred, 'float32');
  expectRank(op, 'pred', pred, 2);
  const m = pred.shape[1];
  if (regMax !== undefined) {
    if (!Number.isInteger(regMax) || regMax < 1) throw new Error(`${op}: regMax must be an integer ≥ 1, got ${JSON.stringify(regMax)}`);
    if (m !== regMax + 1) throw new Error(`${op}: pred must have regMax + 1 = ${regMax + 1} bins per row, got shape ${fmt(pred.shape)} (regMax ${regMax})`);
  } else if (m < 2) throw new Error(`${op}: pred needs at least 2 bins per row, got shape ${fmt(pred.shape)}`);
  return m;
}
