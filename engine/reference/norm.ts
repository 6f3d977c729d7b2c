/**
 * Normalisation reference ops:
 *
 * - `group_norm`: x [N, C, ...], weight [C], bias [C] (optional); attributes num_groups,
 *   eps, relu (fused). Its argument checks are args.ts's, batch norm's shape.ts's.
 * - `batch_norm`: x [N, C, ...], weight [C], bias [C], running_mean [C], running_var [C];
 *   attributes training, momentum, eps, relu. Training mode normalises each channel over
 *   N and the spatial extent with the batch's biased variance; eval mode uses the running
 *   statistics (which it then requires). As torch.nn.functional.batch_norm; `relu` is the
 *   fused ReLU of conv → BN → ReLU. The running statistics are constants of this op: their
 *   update is the separate op below.
 * - `batch_norm_running_stats`: the update a training-mode forward makes to the running
 *   statistics, running ← (1 − momentum)·running + momentum·batch, with the unbiased
 *   variance of the batch (PyTorch's rule). Outputs running_mean and running_var; nothing
 *   is differentiable.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import * as arg from './args.ts';
import { boolAttr, checkNames, describe, fmtShape, getInput, getUpstream, shapesEqual, size } from './shape.ts';

const BN_INPUTS = ['x', 'weight', 'bias', 'running_mean', 'running_var'];

function numberAttr(op: string, attrs: RefAttrs, name: string, dflt: number, ok: (v: number) => boolean, what: string): number {
  const v = attrs[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !ok(v)) throw new Error(`${op}: attribute '${name}' must be ${what}, got ${describe(v)}`);
  return v;
}

function perChannel(op: string, inputs: Record<string, RefTensor>, name: string, c: number): RefTensor | undefined {
  if (!(name in inputs)) return undefined;
  const t = getInput(op, inputs, name);
  if (!shapesEqual(t.shape, [c])) throw new Error(`${op}: input '${name}' must have shape [${c}] (one per channel of x), got ${fmtShape(t.shape)}`);
  return t;
}

interface BnGeom {
  N: number;
  C: number;
  S: number;
  x: Float64Array;
  w?: Float64Array;
  b?: Float64Array;
  runningMean?: Float64Array;
  runningVar?: Float64Array;
  training: boolean;
  momentum: number;
  eps: number;
  relu: boolean;
}

function bnGeom(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs, inputNames: string[], attrNames: string[], training?: boolean): BnGeom {
  checkNames(op, 'input', inputs, inputNames);
  checkNames(op, 'attribute', attrs, attrNames);
  const x = getInput(op, inputs, 'x');
  if (x.shape.length < 2) throw new Error(`${op}: input 'x' must have rank ≥ 2 [N, C, ...], got shape ${fmtShape(x.shape)}`);
  const [N, C] = x.shape;
  const g: BnGeom = {
    N,
    C,
    S: size(x.shape.slice(2)),
    x: x.data,
    w: perChannel(op, inputs, 'weight', C)?.data,
    b: perChannel(op, inputs, 'bias', C)?.data,
    runningMean: perChannel(op, inputs, 'running_mean', C)?.data,
    runningVar: perChannel(op, inputs, 'running_var', C)?.data,
    training: training ?? boolAttr(op, attrs, 'training', false),
    momentum: numberAttr(op, attrs, 'momentum', 0.1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    eps: numberAttr(op, attrs, 'eps', 1e-5, (v) => v >= 0 && Number.isFinite(v), 'a finite number ≥ 0'),
    relu: boolAttr(op, attrs, 'relu', false),
  };
  if (g.training && N * g.S < 2) throw new Error(`${op}: training mode needs more than one value per channel, x has shape ${fmtShape(x.shape)}`);
  if (!g.training && (!g.runningMean || !g.runningVar)) throw new Error(`${op}: eval mode (training = false) needs inputs 'running_mean' and 'running_var'`);
  return g;
}

/** Each channel's batch mean and biased variance (two passes: no cancellation). */
function batchStats(g: BnGeom): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(g.C);
  const variance = new Float64Array(g.C);
  const m = g.N * g.S;
  for (let c = 0; c < g.C; c++) {
    let s = 0;
    for (let n = 0; n < g.N; n++) for (let i = 0; i < g.S; i++) s += g.x[(n * g.C + c) * g.S + i];
    const mu = s / m;
    let v = 0;
    for (let n = 0; n < g.N; n++) for (let i = 0; i < g.S; i++) v += (g.x[(n * g.C + c) * g.S + i] - mu) ** 2;
    mean[c] = mu;
    variance[c] = v / m;
  }
  return { mean, variance };
}

/** x̂ and, per channel, 1/sqrt(var + eps), from the batch (training) or the running statistics. */
function normalise(g: BnGeom): { xhat: Float64Array; rstd: Float64Array } {
  const { mean, variance } = g.training ? batchStats(g) : { mean: g.runningMean!, variance: g.runningVar! };
  const rstd = Float64Array.from(variance, (v) => 1 / Math.sqrt(v + g.eps));
  const xhat = new Float64Array(g.x.length);
  for (let i = 0; i < xhat.length; i++) {
    const c = Math.floor(i / g.S) % g.C;
    xhat[i] = (g.x[i] - mean[c]) * rstd[c];
  }
  return { xhat, rstd };
}

const affine = (g: BnGeom, xhat: Float64Array, i: number): number => {
  const c = Math.floor(i / g.S) % g.C;
  return xhat[i] * (g.w ? g.w[c] : 1) + (g.b ? g.b[c] : 0);
};

const BN_ATTRS = ['training', 'momentum', 'eps', 'relu'];

const batch_norm: RefOp = {
  forward(inputs, attrs) {
    const g = bnGeom('batch_norm', inputs, attrs, BN_INPUTS, BN_ATTRS);
    const { xhat } = normalise(g);
    const out = Float64Array.from(xhat, (_v, i) => (g.relu ? Math.max(affine(g, xhat, i), 0) : affine(g, xhat, i)));
    return { out: { shape: [...inputs.x.shape], data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const op = 'batch_norm';
    const g = bnGeom(op, inputs, attrs, BN_INPUTS, BN_ATTRS);
    const { xhat, rstd } = normalise(g);
    const u = getUpstream(op, upstream, 'out', inputs.x.shape).data;
    // dy: the gradient at the affine output, masked by the fused ReLU (passes where out > 0)
    const dy = Float64Array.from(u, (v, i) => (g.relu && !(affine(g, xhat, i) > 0) ? 0 : v));
    const dw = new Float64Array(g.C);
    const db = new Float64Array(g.C);
    for (let i = 0; i < dy.length; i++) {
      const c = Math.floor(i / g.S) % g.C;
      dw[c] += dy[i] * xhat[i];
      db[c] += dy[i];
    }
    // Training: dx = rstd·γ·(dy − mean(dy) − x̂·mean(dy·x̂)) over the channel's N·S values
    // (mean(dy) = dβ/M, mean(dy·x̂) = dγ/M). Eval: the statistics are constants, dx = rstd·γ·dy.
    const m = g.N * g.S;
    const dx = new Float64Array(dy.length);
    for (let i = 0; i < dy.length; i++) {
      const c = Math.floor(i / g.S) % g.C;
      const scale = rstd[c] * (g.w ? g.w[c] : 1);
      dx[i] = g.training ? scale * (dy[i] - db[c] / m - xhat[i] * (dw[c] / m)) : scale * dy[i];
    }
    const grads: Record<string, RefTensor | null> = { x: { shape: [...inputs.x.shape], data: dx } };
    if (inputs.weight) grads.weight = { shape: [g.C], data: dw };
    if (inputs.bias) grads.bias = { shape: [g.C], data: db };
    if (inputs.running_mean) grads.running_mean = null;
    if (inputs.running_var) grads.running_var = null;
    return grads;
  },
};

const STATS_INPUTS = ['x', 'running_mean', 'running_var'];

const batch_norm_running_stats: RefOp = {
  forward(inputs, attrs) {
    const op = 'batch_norm_running_stats';
    const g = bnGeom(op, inputs, attrs, STATS_INPUTS, ['momentum'], true);
    if (!g.runningMean || !g.runningVar) throw new Error(`${op}: inputs 'running_mean' and 'running_var' are required`);
    const { mean, variance } = batchStats(g);
    const m = g.N * g.S;
    const k = g.momentum;
    const rm = Float64Array.from(g.runningMean, (r, c) => (1 - k) * r + k * mean[c]);
    const rv = Float64Array.from(g.runningVar, (r, c) => (1 - k) * r + k * variance[c] * (m / (m - 1)));
    return { running_mean: { shape: [g.C], data: rm }, running_var: { shape: [g.C], data: rv } };
  },
  vjp(inputs) {
    return Object.fromEntries(Object.keys(inputs).map((name) => [name, null]));
  },
};

// ───────────────────────────────── group_norm ─────────────────────────────────

interface GnGeom {
  N: number;
  C: number;
  S: number;
  G: number;
  cpg: number;
  eps: number;
  relu: boolean;
}

function gnGeom(inputs: Record<string, RefTensor>, attrs: RefAttrs): GnGeom {
  const op = 'group_norm';
  const x = arg.input(op, inputs, 'x');
  if (x.shape.length < 2) arg.fail(op, 'x', 'rank ≥ 2 [N,C,...]', `shape ${arg.fmtShape(x.shape)}`);
  const [N, C] = x.shape;
  const G = arg.intAttr(op, attrs, 'num_groups', 1);
  if (C % G !== 0) arg.fail(op, 'x', `a channel count divisible by num_groups = ${G}`, `C = ${C}`);
  const eps = arg.numAttr(op, attrs, 'eps', 1e-5);
  if (eps < 0) arg.fail(op, 'eps', 'a non-negative number', String(eps));
  const relu = arg.boolAttr(op, attrs, 'relu', false);
  // weight and bias may be absent (affine = False): then they act as 1 and 0.
  const w = arg.optionalInput(op, inputs, 'weight');
  const b = arg.optionalInput(op, inputs, 'bias');
  if (w) arg.expectShape(op, 'weight', w, [C]);
  if (b) arg.expectShape(op, 'bias', b, [C]);
  return { N, C, S: arg.numel(x.shape.slice(2)), G, cpg: C / G, eps, relu };
}

/** Normalised values x̂ and 1/sqrt(var + eps) per (n, group); biased variance as PyTorch. */
function gnStats(g: GnGeom, x: Float64Array): { xhat: Float64Array; rstd: Float64Array } {
  const xhat = new Float64Array(x.length);
  const rstd = new Float64Array(g.N * g.G);
  const M = g.cpg * g.S;
  for (let n = 0; n < g.N; n++) {
    for (let gr = 0; gr < g.G; gr++) {
      const start = (n * g.C + gr * g.cpg) * g.S; // a group is contiguous: cpg channels × S
      let mean = 0;
      for (let i = 0; i < M; i++) mean += x[start + i];
      mean /= M;
      // Two-pass variance: no cancellation when |mean| ≫ std.
      let v = 0;
      for (let i = 0; i < M; i++) v += (x[start + i] - mean) ** 2;
      const r = 1 / Math.sqrt(v / M + g.eps);
      rstd[n * g.G + gr] = r;
      for (let i = 0; i < M; i++) xhat[start + i] = (x[start + i] - mean) * r;
    }
  }
  return { xhat, rstd };
}

const group_norm: RefOp = {
  forward(inputs, attrs) {
    const g = gnGeom(inputs, attrs);
    const { xhat } = gnStats(g, inputs.x.data);
    const w = inputs.weight?.data;
    const b = inputs.bias?.data;
    const out = arg.tensor([...inputs.x.shape]);
    for (let i = 0; i < xhat.length; i++) {
      const c = Math.floor(i / g.S) % g.C;
      const y = xhat[i] * (w ? w[c] : 1) + (b ? b[c] : 0);
      out.data[i] = g.relu ? Math.max(y, 0) : y;
    }
    return { out };
  },
  vjp(inputs, attrs, upstream) {
    const g = gnGeom(inputs, attrs);
    const { xhat, rstd } = gnStats(g, inputs.x.data);
    const w = inputs.weight?.data;
    const b = inputs.bias?.data;
    const u = arg.upstreamOf('group_norm', upstream, 'out', xhat.length);
    // dy: gradient at the affine output, masked by the fused ReLU (passes where out > 0).
    const dy = new Float64Array(u.length);
    for (let i = 0; i < u.length; i++) {
      const c = Math.floor(i / g.S) % g.C;
      const y = xhat[i] * (w ? w[c] : 1) + (b ? b[c] : 0);
      dy[i] = g.relu && !(y > 0) ? 0 : u[i];
    }
    const dw = arg.tensor([g.C]);
    const db = arg.tensor([g.C]);
    const dx = arg.tensor([...inputs.x.shape]);
    const M = g.cpg * g.S;
    for (let n = 0; n < g.N; n++) {
      for (let gr = 0; gr < g.G; gr++) {
        const start = (n * g.C + gr * g.cpg) * g.S;
        // dx̂ = dy·γ; dx = rstd·(dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂)), the standard normalisation backward.
        let mD = 0;
        let mDX = 0;
        for (let i = 0; i < M; i++) {
          const c = gr * g.cpg + Math.floor(i / g.S);
          const d = dy[start + i] * (w ? w[c] : 1);
          mD += d;
          mDX += d * xhat[start + i];
          dw.data[c] += dy[start + i] * xhat[start + i];
          db.data[c] += dy[start + i];
        }
        mD /= M;
        mDX /= M;
        const r = rstd[n * g.G + gr];
        for (let i = 0; i < M; i++) {
          const c = gr * g.cpg + Math.floor(i / g.S);
          const d = dy[start + i] * (w ? w[c] : 1);
          dx.data[start + i] = r * (d - mD - xhat[start + i] * mDX);
        }
      }
    }
    const grads: Record<string, RefTensor | null> = { x: dx };
    if (w) grads.weight = dw;
    if (b) grads.bias = db;
    return grads;
  },
};

export const normReferenceOps: Record<string, RefOp> = { group_norm, batch_norm, batch_norm_running_stats };
