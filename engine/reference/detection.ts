/**
 * Float64 CPU reference of the detection ops: conv2d, group norm, the dense-detector
 * losses (focal, QFL, KD-QFL, DFL, distribution KL, GIoU, IoU-log) and the box helpers
 * (integral, distance2bbox, bbox2distance). Formulas follow docs/crosskd.md §3 and §5;
 * op ids, input names, attributes and outputs follow docs/op-cases.md.
 *
 * Conventions shared by every op here:
 * - `vjp` returns d/dinput of Σ_o Σ_i upstream[o][i]·out[o][i]. Integer inputs (labels) and
 *   detached ones (the teacher's soft_label of kd_kl_div) get `null`.
 * - Non-smooth points use PyTorch's own subgradients, so that cases made with autograd in
 *   PyTorch match exactly even at ties:
 *     · elementwise max(a, b) / min(a, b) of two variables (torch.maximum / minimum): an exact
 *       tie splits the gradient half and half;
 *     · clamp(x, lo, hi) (torch.clamp): the gradient passes where lo ≤ x ≤ hi (inclusive);
 *     · max(v, eps) with a constant eps (torch.max(v, eps_tensor)): a tie gives half to v;
 *     · |v| (torch.abs): d|v|/dv = sign(v), 0 at v = 0;
 *     · ReLU (fused in group_norm): the gradient passes where the output is > 0.
 * - Every error names the op, the argument, what was expected and what was found.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';

// ───────────────────────────── small local helpers ─────────────────────────────

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

function tensor(shape: number[], data?: Float64Array): RefTensor {
  return { shape, data: data ?? new Float64Array(numel(shape)) };
}

function fail(op: string, arg: string, expected: string, actual: string): never {
  throw new Error(`${op}: argument '${arg}' expected ${expected}, got ${actual}`);
}

/** Fetches a required input and checks that its data length matches its shape. */
function input(op: string, inputs: Record<string, RefTensor>, name: string): RefTensor {
  const t = inputs[name];
  if (!t) fail(op, name, 'a tensor', 'nothing (input missing)');
  return checked(op, name, t);
}

/** Fetches an optional input (absent → undefined). */
function optionalInput(op: string, inputs: Record<string, RefTensor>, name: string): RefTensor | undefined {
  const t = inputs[name];
  return t ? checked(op, name, t) : undefined;
}

function checked(op: string, name: string, t: RefTensor): RefTensor {
  if (!Array.isArray(t.shape) || !(t.data instanceof Float64Array)) {
    fail(op, name, 'a RefTensor {shape: number[], data: Float64Array}', String(t));
  }
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 0) fail(op, name, 'non-negative integer dimensions', fmtShape(t.shape));
  }
  if (t.data.length !== numel(t.shape)) {
    fail(op, name, `${numel(t.shape)} values for shape ${fmtShape(t.shape)}`, `${t.data.length}`);
  }
  return t;
}

function expectRank(op: string, name: string, t: RefTensor, rank: number, what: string): void {
  if (t.shape.length !== rank) fail(op, name, `rank ${rank} ${what}`, `shape ${fmtShape(t.shape)}`);
}

function expectShape(op: string, name: string, t: RefTensor, shape: readonly number[]): void {
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!same) fail(op, name, `shape ${fmtShape(shape)}`, `shape ${fmtShape(t.shape)}`);
}

function numAttr(op: string, attrs: RefAttrs, name: string, dflt?: number): number {
  const v = attrs[name];
  if (v === undefined) {
    if (dflt === undefined) fail(op, name, 'a number (required attribute)', 'nothing');
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(op, name, 'a finite number', JSON.stringify(v));
  return v;
}

function intAttr(op: string, attrs: RefAttrs, name: string, min: number, dflt?: number): number {
  const v = numAttr(op, attrs, name, dflt);
  if (!Number.isInteger(v) || v < min) fail(op, name, `an integer ≥ ${min}`, String(v));
  return v;
}

/** [h, w] attribute; a single number means the same value for both. */
function pairAttr(op: string, attrs: RefAttrs, name: string, min: number, dflt: number): [number, number] {
  const v = attrs[name] ?? [dflt, dflt];
  const pair = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((x) => Number.isInteger(x) && x >= min)) {
    fail(op, name, `[h, w] of integers ≥ ${min}`, JSON.stringify(v));
  }
  return [pair[0] as number, pair[1] as number];
}

function enumAttr<T extends string>(op: string, attrs: RefAttrs, name: string, allowed: readonly T[], dflt: T): T {
  const v = attrs[name] ?? dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(op, name, `one of ${allowed.map((a) => `'${a}'`).join(' | ')}`, JSON.stringify(v));
  }
  return v as T;
}

function boolAttr(op: string, attrs: RefAttrs, name: string, dflt: boolean): boolean {
  const v = attrs[name] ?? dflt;
  if (typeof v !== 'boolean') fail(op, name, 'a boolean', JSON.stringify(v));
  return v;
}

/** Fetches the upstream gradient of output `name`, checking its length. */
function upstreamOf(op: string, upstream: Record<string, RefTensor>, name: string, length: number): Float64Array {
  const u = upstream[name];
  if (!u) fail(op, `upstream.${name}`, 'a tensor', 'nothing');
  if (u.data.length !== length) fail(op, `upstream.${name}`, `${length} values`, `${u.data.length}`);
  return u.data;
}

type Reduction = 'none' | 'sum';
const REDUCTIONS: readonly Reduction[] = ['none', 'sum'];

/** Output of an elementwise loss: the elements themselves, or their sum as a scalar. */
function reduce(elems: RefTensor, reduction: Reduction): RefTensor {
  if (reduction === 'none') return elems;
  let s = 0;
  for (const v of elems.data) s += v;
  return tensor([], Float64Array.of(s));
}

/** Upstream per element: the array itself for 'none', the broadcast scalar for 'sum'. */
function upstreamElems(op: string, upstream: Record<string, RefTensor>, name: string, n: number, reduction: Reduction): Float64Array {
  if (reduction === 'none') return upstreamOf(op, upstream, name, n);
  const g = upstreamOf(op, upstream, name, 1)[0];
  return new Float64Array(n).fill(g);
}

// Numerically stable scalar pieces.

/** σ(x), never computing exp of a large positive number. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}). */
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/**
 * BCE with logits in the stable form of docs/crosskd.md: (max(x,0) - x·t) + log(1 + e^{-|x|}).
 * The order matters: at x = 30, t = 1 the bracket is exactly 0 and the tiny log term
 * survives; softplus(x) - x·t would cancel it away to a 1% error.
 */
const bce = (x: number, t: number): number => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));

/** d/db of b^γ for b ≥ 0, with the limit at b = 0 taken as torch's pow backward does for γ ≥ 1. */
function powGrad(b: number, gamma: number): number {
  if (gamma === 0) return 0;
  if (b === 0) return gamma === 1 ? 1 : gamma > 1 ? 0 : Infinity;
  return gamma * b ** (gamma - 1);
}

/** Stable log-softmax of row `r` (length m) of `z` scaled by 1/T, written into `out`. */
function logSoftmaxRow(z: Float64Array, r: number, m: number, invT: number, out: Float64Array): void {
  let mx = -Infinity;
  for (let j = 0; j < m; j++) mx = Math.max(mx, z[r * m + j] * invT);
  let s = 0;
  for (let j = 0; j < m; j++) s += Math.exp(z[r * m + j] * invT - mx);
  const lse = mx + Math.log(s);
  for (let j = 0; j < m; j++) out[j] = z[r * m + j] * invT - lse;
}

/** Gradient shares of max(a, b) (torch.maximum): [d/da, d/db], ties split half and half. */
const maxShares = (a: number, b: number): [number, number] => (a > b ? [1, 0] : a < b ? [0, 1] : [0.5, 0.5]);
/** Gradient shares of min(a, b) (torch.minimum). */
const minShares = (a: number, b: number): [number, number] => (a < b ? [1, 0] : a > b ? [0, 1] : [0.5, 0.5]);
/** d/dv of max(v, c) for a constant c (torch.max(v, c_tensor)): tie gives half. */
const maxConstGrad = (v: number, c: number): number => (v > c ? 1 : v < c ? 0 : 0.5);

// ─────────────────────────────────── conv2d ───────────────────────────────────

interface ConvGeom {
  N: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  kh: number;
  kw: number;
  groups: number;
  cinG: number;
  coutG: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  OH: number;
  OW: number;
}

function convGeom(inputs: Record<string, RefTensor>, attrs: RefAttrs): ConvGeom {
  const op = 'conv2d';
  const x = input(op, inputs, 'x');
  const w = input(op, inputs, 'weight');
  const b = optionalInput(op, inputs, 'bias');
  expectRank(op, 'x', x, 4, '[N,Cin,H,W]');
  expectRank(op, 'weight', w, 4, '[Cout,Cin/groups,kh,kw]');
  const [N, Cin, H, W] = x.shape;
  const [Cout, wCin, kh, kw] = w.shape;
  const [sh, sw] = pairAttr(op, attrs, 'stride', 1, 1);
  const [ph, pw] = pairAttr(op, attrs, 'padding', 0, 0);
  const [dh, dw] = pairAttr(op, attrs, 'dilation', 1, 1);
  const groups = intAttr(op, attrs, 'groups', 1, 1);
  if (Cin % groups !== 0) fail(op, 'x', `a channel count divisible by groups = ${groups}`, `Cin = ${Cin}`);
  if (Cout % groups !== 0) fail(op, 'weight', `an output channel count divisible by groups = ${groups}`, `Cout = ${Cout}`);
  if (wCin !== Cin / groups) {
    fail(op, 'weight', `shape [${Cout},${Cin / groups},kh,kw] (Cin/groups = ${Cin}/${groups})`, `shape ${fmtShape(w.shape)}`);
  }
  if (b) expectShape(op, 'bias', b, [Cout]);
  // Output size with dilated kernel extent d·(k-1)+1, as in PyTorch.
  const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (OH < 1 || OW < 1) {
    fail(op, 'x', `a padded input at least as large as the dilated kernel (${dh * (kh - 1) + 1}x${dw * (kw - 1) + 1})`, `${H}x${W} with padding [${ph},${pw}]`);
  }
  return { N, Cin, H, W, Cout, kh, kw, groups, cinG: Cin / groups, coutG: Cout / groups, sh, sw, ph, pw, dh, dw, OH, OW };
}

/**
 * Visits every (output element, weight element, input element) triple that contributes,
 * skipping zero padding. Forward and both gradients are the same loop with a different
 * accumulation, which keeps them consistent by construction.
 */
function convVisit(g: ConvGeom, visit: (oIdx: number, wIdx: number, xIdx: number, co: number) => void): void {
  for (let n = 0; n < g.N; n++) {
    for (let co = 0; co < g.Cout; co++) {
      const grp = Math.floor(co / g.coutG);
      for (let oy = 0; oy < g.OH; oy++) {
        for (let ox = 0; ox < g.OW; ox++) {
          const oIdx = ((n * g.Cout + co) * g.OH + oy) * g.OW + ox;
          for (let ci = 0; ci < g.cinG; ci++) {
            const c = grp * g.cinG + ci;
            for (let ky = 0; ky < g.kh; ky++) {
              const iy = oy * g.sh - g.ph + ky * g.dh;
              if (iy < 0 || iy >= g.H) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const ix = ox * g.sw - g.pw + kx * g.dw;
                if (ix < 0 || ix >= g.W) continue;
                visit(oIdx, ((co * g.cinG + ci) * g.kh + ky) * g.kw + kx, ((n * g.Cin + c) * g.H + iy) * g.W + ix, co);
              }
            }
          }
        }
      }
    }
  }
}

const conv2d: RefOp = {
  forward(inputs, attrs) {
    const g = convGeom(inputs, attrs);
    const x = inputs.x.data;
    const w = inputs.weight.data;
    const b = inputs.bias?.data;
    const out = tensor([g.N, g.Cout, g.OH, g.OW]);
    if (b) {
      const plane = g.OH * g.OW;
      for (let i = 0; i < out.data.length; i++) out.data[i] = b[Math.floor(i / plane) % g.Cout];
    }
    convVisit(g, (o, wi, xi) => {
      out.data[o] += w[wi] * x[xi];
    });
    return { out };
  },
  vjp(inputs, attrs, upstream) {
    const g = convGeom(inputs, attrs);
    const x = inputs.x.data;
    const w = inputs.weight.data;
    const u = upstreamOf('conv2d', upstream, 'out', g.N * g.Cout * g.OH * g.OW);
    const dx = tensor([...inputs.x.shape]);
    const dw = tensor([...inputs.weight.shape]);
    convVisit(g, (o, wi, xi) => {
      dx.data[xi] += u[o] * w[wi];
      dw.data[wi] += u[o] * x[xi];
    });
    const grads: Record<string, RefTensor | null> = { x: dx, weight: dw };
    if (inputs.bias) {
      const db = tensor([g.Cout]);
      const plane = g.OH * g.OW;
      for (let i = 0; i < u.length; i++) db.data[Math.floor(i / plane) % g.Cout] += u[i];
      grads.bias = db;
    }
    return grads;
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
  const x = input(op, inputs, 'x');
  if (x.shape.length < 2) fail(op, 'x', 'rank ≥ 2 [N,C,...]', `shape ${fmtShape(x.shape)}`);
  const [N, C] = x.shape;
  const G = intAttr(op, attrs, 'num_groups', 1);
  if (C % G !== 0) fail(op, 'x', `a channel count divisible by num_groups = ${G}`, `C = ${C}`);
  const eps = numAttr(op, attrs, 'eps', 1e-5);
  if (eps < 0) fail(op, 'eps', 'a non-negative number', String(eps));
  const relu = boolAttr(op, attrs, 'relu', false);
  // weight and bias may be absent (affine = False): then they act as 1 and 0.
  const w = optionalInput(op, inputs, 'weight');
  const b = optionalInput(op, inputs, 'bias');
  if (w) expectShape(op, 'weight', w, [C]);
  if (b) expectShape(op, 'bias', b, [C]);
  return { N, C, S: numel(x.shape.slice(2)), G, cpg: C / G, eps, relu };
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
    const out = tensor([...inputs.x.shape]);
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
    const u = upstreamOf('group_norm', upstream, 'out', xhat.length);
    // dy: gradient at the affine output, masked by the fused ReLU (passes where out > 0).
    const dy = new Float64Array(u.length);
    for (let i = 0; i < u.length; i++) {
      const c = Math.floor(i / g.S) % g.C;
      const y = xhat[i] * (w ? w[c] : 1) + (b ? b[c] : 0);
      dy[i] = g.relu && !(y > 0) ? 0 : u[i];
    }
    const dw = tensor([g.C]);
    const db = tensor([g.C]);
    const dx = tensor([...inputs.x.shape]);
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

// ───────────────────────────── sigmoid_focal_loss ─────────────────────────────

function focalSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'sigmoid_focal_loss';
  const logits = input(op, inputs, 'logits');
  const targets = input(op, inputs, 'targets');
  expectShape(op, 'targets', targets, logits.shape);
  const alpha = numAttr(op, attrs, 'alpha', 0.25);
  const gamma = numAttr(op, attrs, 'gamma', 2);
  if (gamma < 0) fail(op, 'gamma', 'a non-negative number', String(gamma));
  const reduction = enumAttr(op, attrs, 'reduction', REDUCTIONS, 'none');
  return { logits, targets, alpha, gamma, reduction };
}

/**
 * loss = w·pt^γ·BCE(x, t), w = α·t + (1-α)(1-t), pt = (1-p)·t + p·(1-t), p = σ(x).
 * Targets are 0/1 in use but the formula is smooth in t, so t gets its true gradient too.
 * 1 - p is computed as σ(-x), never by subtraction: at x = 30 the subtraction would lose
 * almost every digit of pt for a positive.
 */
const sigmoid_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { logits, targets, alpha, gamma, reduction } = focalSetup(inputs, attrs);
    const elems = tensor([...logits.shape]);
    for (let i = 0; i < elems.data.length; i++) {
      const x = logits.data[i];
      const t = targets.data[i];
      const p = sigmoid(x);
      const q = sigmoid(-x);
      const w = alpha * t + (1 - alpha) * (1 - t);
      const pt = q * t + p * (1 - t);
      elems.data[i] = w * pt ** gamma * bce(x, t);
    }
    return { loss: reduce(elems, reduction) };
  },
  vjp(inputs, attrs, upstream) {
    const { logits, targets, alpha, gamma, reduction } = focalSetup(inputs, attrs);
    const n = logits.data.length;
    const u = upstreamElems('sigmoid_focal_loss', upstream, 'loss', n, reduction);
    const dx = tensor([...logits.shape]);
    const dt = tensor([...targets.shape]);
    for (let i = 0; i < n; i++) {
      const x = logits.data[i];
      const t = targets.data[i];
      const p = sigmoid(x);
      const q = sigmoid(-x);
      const w = alpha * t + (1 - alpha) * (1 - t);
      const pt = q * t + p * (1 - t);
      const ptG = pt ** gamma;
      const dptG = powGrad(pt, gamma);
      const l = bce(x, t);
      // dpt/dx = p·q·(1 - 2t); dBCE/dx = p - t; dpt/dt = q - p; dBCE/dt = -x; dw/dt = 2α - 1.
      dx.data[i] = u[i] * w * (dptG * p * q * (1 - 2 * t) * l + ptG * (p - t));
      dt.data[i] = u[i] * ((2 * alpha - 1) * ptG * l + w * dptG * (q - p) * l - w * ptG * x);
    }
    return { logits: dx, targets: dt };
  },
};

// ───────────────────────────── quality_focal_loss ─────────────────────────────

function qflSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'quality_focal_loss';
  const pred = input(op, inputs, 'pred');
  const label = input(op, inputs, 'label');
  const score = input(op, inputs, 'score');
  expectRank(op, 'pred', pred, 2, '[N,C]');
  const [N, C] = pred.shape;
  expectShape(op, 'label', label, [N]);
  expectShape(op, 'score', score, [N]);
  const beta = numAttr(op, attrs, 'beta', 2);
  if (beta < 0) fail(op, 'beta', 'a non-negative number', String(beta));
  const numClasses = intAttr(op, attrs, 'num_classes', 1, C);
  if (numClasses !== C) fail(op, 'num_classes', `pred.shape[1] = ${C}`, String(numClasses));
  for (let i = 0; i < N; i++) {
    const l = label.data[i];
    if (!Number.isInteger(l) || l < 0 || l > C) {
      fail(op, 'label', `integers in [0, ${C}] (${C} = background)`, `label[${i}] = ${l}`);
    }
  }
  return { pred, label, score, N, C, beta };
}

/**
 * Per prior and class: negatives BCE(x, 0)·σ(x)^β; at a positive's own class
 * BCE(x, s)·|s - σ(x)|^β. Summed over classes. The σ in the factor is not detached, and
 * the score is an ordinary float input, so it gets its gradient like PyTorch would give it.
 */
const quality_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { pred, label, score, N, C, beta } = qflSetup(inputs, attrs);
    const loss = tensor([N]);
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const x = pred.data[n * C + c];
        const p = sigmoid(x);
        s += label.data[n] === c ? bce(x, score.data[n]) * Math.abs(score.data[n] - p) ** beta : softplus(x) * p ** beta;
      }
      loss.data[n] = s;
    }
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, label, score, N, C, beta } = qflSetup(inputs, attrs);
    const u = upstreamOf('quality_focal_loss', upstream, 'loss', N);
    const dpred = tensor([N, C]);
    const dscore = tensor([N]);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const x = pred.data[n * C + c];
        const p = sigmoid(x);
        const q = sigmoid(-x);
        if (label.data[n] === c) {
          const s = score.data[n];
          const diff = s - p;
          const f = Math.abs(diff) ** beta;
          const df = powGrad(Math.abs(diff), beta) * Math.sign(diff); // d f / d diff
          const l = bce(x, s);
          dpred.data[n * C + c] = u[n] * ((p - s) * f + l * df * -(p * q));
          dscore.data[n] += u[n] * (-x * f + l * df);
        } else {
          // d/dx [softplus(x)·p^β] = p·p^β + softplus(x)·β p^{β-1}·p·q
          dpred.data[n * C + c] = u[n] * (p * p ** beta + softplus(x) * powGrad(p, beta) * p * q);
        }
      }
    }
    return { pred: dpred, label: null, score: dscore };
  },
};

// ─────────────────────────── kd_quality_focal_loss ───────────────────────────

function kdqflSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'kd_quality_focal_loss';
  const pred = input(op, inputs, 'pred');
  const target = input(op, inputs, 'soft_target');
  expectRank(op, 'pred', pred, 2, '[N,C]');
  expectShape(op, 'soft_target', target, pred.shape);
  const beta = numAttr(op, attrs, 'beta', 1);
  if (beta < 0) fail(op, 'beta', 'a non-negative number', String(beta));
  const classReduction = enumAttr(op, attrs, 'class_reduction', ['sum', 'none'] as const, 'sum');
  const [N, C] = pred.shape;
  return { pred, target, beta, classReduction, N, C };
}

/**
 * CrossKD's classification KD: element BCE(x̂, t)·|σ(x̂) - t|^β with t the teacher's
 * probability (the caller applies σ and detaches). soft_target is a float input, so its
 * mathematical gradient is returned too; CrossKD itself never asks for it.
 */
const kd_quality_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { pred, target, beta, classReduction, N, C } = kdqflSetup(inputs, attrs);
    const elems = tensor([N, C]);
    for (let i = 0; i < N * C; i++) {
      const x = pred.data[i];
      const t = target.data[i];
      elems.data[i] = bce(x, t) * Math.abs(sigmoid(x) - t) ** beta;
    }
    if (classReduction === 'none') return { loss: elems };
    const loss = tensor([N]);
    for (let i = 0; i < N * C; i++) loss.data[Math.floor(i / C)] += elems.data[i];
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, target, beta, classReduction, N, C } = kdqflSetup(inputs, attrs);
    const u = upstreamOf('kd_quality_focal_loss', upstream, 'loss', classReduction === 'none' ? N * C : N);
    const dpred = tensor([N, C]);
    const dtarget = tensor([N, C]);
    for (let i = 0; i < N * C; i++) {
      const g = classReduction === 'none' ? u[i] : u[Math.floor(i / C)];
      const x = pred.data[i];
      const t = target.data[i];
      const p = sigmoid(x);
      const q = sigmoid(-x);
      const diff = p - t;
      const f = Math.abs(diff) ** beta;
      const df = powGrad(Math.abs(diff), beta) * Math.sign(diff); // d f / d diff
      const l = bce(x, t);
      dpred.data[i] = g * ((p - t) * f + l * df * p * q);
      dtarget.data[i] = g * (-x * f - l * df);
    }
    return { pred: dpred, soft_target: dtarget };
  },
};

// ────────────────────────── distribution_focal_loss ──────────────────────────

/** Checks pred [N, reg_max+1] and returns its geometry; shared by DFL and integral. */
function binsSetup(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const pred = input(op, inputs, 'pred');
  expectRank(op, 'pred', pred, 2, '[N,reg_max+1]');
  const [N, m] = pred.shape;
  const regMax = intAttr(op, attrs, 'reg_max', 1, m - 1);
  if (m !== regMax + 1) fail(op, 'pred', `shape [N,${regMax + 1}] (reg_max + 1 bins for reg_max = ${regMax})`, `shape ${fmtShape(pred.shape)}`);
  return { pred, N, m, regMax };
}

function dflSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'distribution_focal_loss';
  const { pred, N, m, regMax } = binsSetup(op, inputs, attrs);
  const target = input(op, inputs, 'target');
  expectShape(op, 'target', target, [N]);
  for (let i = 0; i < N; i++) {
    const y = target.data[i];
    // y_r = floor(y) + 1 must be a bin: y in [0, reg_max). The caller clamps (docs/crosskd.md §3).
    if (!(y >= 0 && y < regMax)) fail(op, 'target', `values in [0, ${regMax})`, `target[${i}] = ${y}`);
  }
  return { pred, target, N, m };
}

/**
 * loss = CE(z, y_l)·(y_r - y) + CE(z, y_r)·(y - y_l), y_l = floor(y), y_r = y_l + 1.
 * In y the loss is piecewise linear and continuous; its slope CE_r - CE_l is taken from
 * the interval [y_l, y_l + 1) that the forward uses (right derivative at integers).
 */
const distribution_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { pred, target, N, m } = dflSetup(inputs, attrs);
    const loss = tensor([N]);
    const ls = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1, ls);
      const y = target.data[n];
      const yl = Math.floor(y);
      loss.data[n] = -ls[yl] * (yl + 1 - y) - ls[yl + 1] * (y - yl);
    }
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, target, N, m } = dflSetup(inputs, attrs);
    const u = upstreamOf('distribution_focal_loss', upstream, 'loss', N);
    const dpred = tensor([N, m]);
    const dtarget = tensor([N]);
    const ls = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1, ls);
      const y = target.data[n];
      const yl = Math.floor(y);
      const wl = yl + 1 - y;
      const wr = y - yl;
      // d CE(z, k)/dz_j = softmax_j - [j = k]; the weights sum to 1.
      for (let j = 0; j < m; j++) dpred.data[n * m + j] = u[n] * Math.exp(ls[j]);
      dpred.data[n * m + yl] -= u[n] * wl;
      dpred.data[n * m + yl + 1] -= u[n] * wr;
      dtarget.data[n] = u[n] * (-ls[yl + 1] + ls[yl]);
    }
    return { pred: dpred, target: dtarget };
  },
};

// ────────────────────────────────── kd_kl_div ──────────────────────────────────

function klSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'kd_kl_div';
  const pred = input(op, inputs, 'pred');
  const soft = input(op, inputs, 'soft_label');
  expectRank(op, 'pred', pred, 2, '[N,n+1]');
  expectShape(op, 'soft_label', soft, pred.shape);
  const T = numAttr(op, attrs, 'T', 1);
  if (!(T > 0)) fail(op, 'T', 'a positive temperature', String(T));
  const binReduction = enumAttr(op, attrs, 'bin_reduction', ['sum', 'mean'] as const, 'sum');
  const [N, m] = pred.shape;
  return { pred, soft, T, binReduction, N, m };
}

/**
 * Per row: KL(softmax(z_t/T) || softmax(z_s/T))·T², summed or averaged over the bins
 * (F.kl_div(log_softmax(pred/T), softmax(soft/T)) then .sum(1) or .mean(1), times T²).
 * The teacher is detached: soft_label's gradient is null.
 */
const kd_kl_div: RefOp = {
  forward(inputs, attrs) {
    const { pred, soft, T, binReduction, N, m } = klSetup(inputs, attrs);
    const scale = (T * T) / (binReduction === 'mean' ? m : 1);
    const loss = tensor([N]);
    const lq = new Float64Array(m);
    const lt = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1 / T, lq);
      logSoftmaxRow(soft.data, n, m, 1 / T, lt);
      let s = 0;
      for (let j = 0; j < m; j++) {
        const t = Math.exp(lt[j]);
        if (t > 0) s += t * (lt[j] - lq[j]); // xlogy convention: 0·log 0 = 0
      }
      loss.data[n] = s * scale;
    }
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, soft, T, binReduction, N, m } = klSetup(inputs, attrs);
    const scale = (T * T) / (binReduction === 'mean' ? m : 1);
    const u = upstreamOf('kd_kl_div', upstream, 'loss', N);
    const dpred = tensor([N, m]);
    const lq = new Float64Array(m);
    const lt = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1 / T, lq);
      logSoftmaxRow(soft.data, n, m, 1 / T, lt);
      // d/dz_j of -Σ t·log q(z/T) = (q_j - t_j)/T, since Σ t = 1.
      for (let j = 0; j < m; j++) dpred.data[n * m + j] = (u[n] * scale * (Math.exp(lq[j]) - Math.exp(lt[j]))) / T;
    }
    return { pred: dpred, soft_label: null };
  },
};

// ───────────────────────── box losses: GIoU and IoU-log ─────────────────────────

function boxesSetup(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const b1 = input(op, inputs, 'boxes1');
  const b2 = input(op, inputs, 'boxes2');
  expectRank(op, 'boxes1', b1, 2, '[N,4]');
  if (b1.shape[1] !== 4) fail(op, 'boxes1', 'shape [N,4] (x1,y1,x2,y2)', `shape ${fmtShape(b1.shape)}`);
  expectShape(op, 'boxes2', b2, b1.shape);
  checkBoxes(op, 'boxes1', b1);
  checkBoxes(op, 'boxes2', b2);
  const eps = numAttr(op, attrs, 'eps', 1e-6);
  if (!(eps > 0)) fail(op, 'eps', 'a positive number', String(eps));
  const reduction = enumAttr(op, attrs, 'reduction', REDUCTIONS, 'none');
  return { b1: b1.data, b2: b2.data, N: b1.shape[0], eps, reduction };
}

function checkBoxes(op: string, name: string, t: RefTensor): void {
  for (let i = 0; i < t.shape[0]; i++) {
    const [x1, y1, x2, y2] = t.data.subarray(4 * i, 4 * i + 4);
    if (!(x2 >= x1 && y2 >= y1)) {
      fail(op, name, 'boxes with x2 ≥ x1 and y2 ≥ y1', `${name}[${i}] = [${x1}, ${y1}, ${x2}, ${y2}]`);
    }
  }
}

/**
 * One aligned box pair: IoU and GIoU (mmdetection's bbox_overlaps with eps clamps) and,
 * given dL/dIoU and dL/dGIoU, the gradients with respect to both boxes. Written as an
 * explicit forward then reverse sweep so the tie conventions (see the file header) are
 * visible at each min/max.
 */
function boxPair(a: Float64Array, b: Float64Array, eps: number, gIou = 0, gGiou = 0, da?: Float64Array, db?: Float64Array) {
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  // Intersection: lt = max of the top-left corners, rb = min of the bottom-right ones.
  const ltx = Math.max(a[0], b[0]);
  const lty = Math.max(a[1], b[1]);
  const rbx = Math.min(a[2], b[2]);
  const rby = Math.min(a[3], b[3]);
  const iwRaw = rbx - ltx;
  const ihRaw = rby - lty;
  const iw = Math.max(iwRaw, 0);
  const ih = Math.max(ihRaw, 0);
  const overlap = iw * ih;
  const unionRaw = areaA + areaB - overlap;
  const union = Math.max(unionRaw, eps);
  const iou = overlap / union;
  // Enclosing box: min of top-left corners, max of bottom-right ones.
  const ex1 = Math.min(a[0], b[0]);
  const ey1 = Math.min(a[1], b[1]);
  const ex2 = Math.max(a[2], b[2]);
  const ey2 = Math.max(a[3], b[3]);
  const ewRaw = ex2 - ex1;
  const ehRaw = ey2 - ey1;
  const ew = Math.max(ewRaw, 0);
  const eh = Math.max(ehRaw, 0);
  const encRaw = ew * eh;
  const enclose = Math.max(encRaw, eps);
  const giou = iou - (enclose - union) / enclose;

  if (da && db) {
    // giou = iou - 1 + union/enclose
    const gIouTot = gIou + gGiou;
    const gUnion = (-gIouTot * overlap) / (union * union) + gGiou / enclose;
    const gEnclose = (-gGiou * union) / (enclose * enclose);
    let gOverlap = gIouTot / union;
    const gUnionRaw = gUnion * maxConstGrad(unionRaw, eps);
    gOverlap -= gUnionRaw;
    const gAreaA = gUnionRaw;
    const gAreaB = gUnionRaw;
    // Areas.
    da[0] -= gAreaA * (a[3] - a[1]);
    da[2] += gAreaA * (a[3] - a[1]);
    da[1] -= gAreaA * (a[2] - a[0]);
    da[3] += gAreaA * (a[2] - a[0]);
    db[0] -= gAreaB * (b[3] - b[1]);
    db[2] += gAreaB * (b[3] - b[1]);
    db[1] -= gAreaB * (b[2] - b[0]);
    db[3] += gAreaB * (b[2] - b[0]);
    // Intersection width/height, clamp(min = 0) passes the gradient at ≥ 0 (torch.clamp).
    const gIw = iwRaw >= 0 ? gOverlap * ih : 0;
    const gIh = ihRaw >= 0 ? gOverlap * iw : 0;
    spread(gIw, minShares(a[2], b[2]), da, db, 2);
    spread(-gIw, maxShares(a[0], b[0]), da, db, 0);
    spread(gIh, minShares(a[3], b[3]), da, db, 3);
    spread(-gIh, maxShares(a[1], b[1]), da, db, 1);
    // Enclosing box.
    const gEncRaw = gEnclose * maxConstGrad(encRaw, eps);
    const gEw = ewRaw >= 0 ? gEncRaw * eh : 0;
    const gEh = ehRaw >= 0 ? gEncRaw * ew : 0;
    spread(gEw, maxShares(a[2], b[2]), da, db, 2);
    spread(-gEw, minShares(a[0], b[0]), da, db, 0);
    spread(gEh, maxShares(a[3], b[3]), da, db, 3);
    spread(-gEh, minShares(a[1], b[1]), da, db, 1);
  }
  return { iou, giou };
}

function spread(g: number, shares: [number, number], da: Float64Array, db: Float64Array, k: number): void {
  da[k] += g * shares[0];
  db[k] += g * shares[1];
}

/** loss = 1 - GIoU per pair (docs/crosskd.md §3). */
const generalized_box_iou_loss: RefOp = {
  forward(inputs, attrs) {
    const { b1, b2, N, eps, reduction } = boxesSetup('generalized_box_iou_loss', inputs, attrs);
    const elems = tensor([N]);
    for (let n = 0; n < N; n++) {
      elems.data[n] = 1 - boxPair(b1.subarray(4 * n, 4 * n + 4), b2.subarray(4 * n, 4 * n + 4), eps).giou;
    }
    return { loss: reduce(elems, reduction) };
  },
  vjp(inputs, attrs, upstream) {
    const { b1, b2, N, eps, reduction } = boxesSetup('generalized_box_iou_loss', inputs, attrs);
    const u = upstreamElems('generalized_box_iou_loss', upstream, 'loss', N, reduction);
    const d1 = tensor([N, 4]);
    const d2 = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const s = 4 * n;
      boxPair(b1.subarray(s, s + 4), b2.subarray(s, s + 4), eps, 0, -u[n], d1.data.subarray(s, s + 4), d2.data.subarray(s, s + 4));
    }
    return { boxes1: d1, boxes2: d2 };
  },
};

/**
 * FCOS IoU-log loss: -ln(max(IoU, eps)), IoU with union = max(union, eps). The outer clamp
 * is torch.clamp(min = eps), so the gradient passes where IoU ≥ eps and is 0 below.
 */
const iou_loss: RefOp = {
  forward(inputs, attrs) {
    const { b1, b2, N, eps, reduction } = boxesSetup('iou_loss', inputs, attrs);
    const elems = tensor([N]);
    for (let n = 0; n < N; n++) {
      const { iou } = boxPair(b1.subarray(4 * n, 4 * n + 4), b2.subarray(4 * n, 4 * n + 4), eps);
      elems.data[n] = -Math.log(Math.max(iou, eps));
    }
    return { loss: reduce(elems, reduction) };
  },
  vjp(inputs, attrs, upstream) {
    const { b1, b2, N, eps, reduction } = boxesSetup('iou_loss', inputs, attrs);
    const u = upstreamElems('iou_loss', upstream, 'loss', N, reduction);
    const d1 = tensor([N, 4]);
    const d2 = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const s = 4 * n;
      const a = b1.subarray(s, s + 4);
      const b = b2.subarray(s, s + 4);
      const { iou } = boxPair(a, b, eps);
      const gIou = iou >= eps ? -u[n] / Math.max(iou, eps) : 0;
      boxPair(a, b, eps, gIou, 0, d1.data.subarray(s, s + 4), d2.data.subarray(s, s + 4));
    }
    return { boxes1: d1, boxes2: d2 };
  },
};

// ─────────────────────────────────── integral ───────────────────────────────────

/** out[n] = Σ_j softmax(pred[n])_j · j: the expected bin, a distance in stride units. */
const integral: RefOp = {
  forward(inputs, attrs) {
    const { pred, N, m } = binsSetup('integral', inputs, attrs);
    const out = tensor([N]);
    const ls = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1, ls);
      let s = 0;
      for (let j = 0; j < m; j++) s += Math.exp(ls[j]) * j;
      out.data[n] = s;
    }
    return { out };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, N, m } = binsSetup('integral', inputs, attrs);
    const u = upstreamOf('integral', upstream, 'out', N);
    const dpred = tensor([N, m]);
    const ls = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1, ls);
      let mean = 0;
      for (let j = 0; j < m; j++) mean += Math.exp(ls[j]) * j;
      // d E[j] / dz_k = p_k·(k - E[j])
      for (let k = 0; k < m; k++) dpred.data[n * m + k] = u[n] * Math.exp(ls[k]) * (k - mean);
    }
    return { pred: dpred };
  },
};

// ───────────────────────── distance2bbox / bbox2distance ─────────────────────────

function pointsSetup(op: string, inputs: Record<string, RefTensor>, other: string) {
  const points = input(op, inputs, 'points');
  const t = input(op, inputs, other);
  expectRank(op, 'points', points, 2, '[N,2]');
  if (points.shape[1] !== 2) fail(op, 'points', 'shape [N,2] (x,y)', `shape ${fmtShape(points.shape)}`);
  expectShape(op, other, t, [points.shape[0], 4]);
  return { points: points.data, t, N: points.shape[0] };
}

/** (p_x - d_l, p_y - d_t, p_x + d_r, p_y + d_b); no max_shape clipping. */
const distance2bbox: RefOp = {
  forward(inputs) {
    const { points: p, t: d, N } = pointsSetup('distance2bbox', inputs, 'distance');
    const out = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const [px, py] = [p[2 * n], p[2 * n + 1]];
      out.data.set([px - d.data[4 * n], py - d.data[4 * n + 1], px + d.data[4 * n + 2], py + d.data[4 * n + 3]], 4 * n);
    }
    return { out };
  },
  vjp(inputs, _attrs, upstream) {
    const { N } = pointsSetup('distance2bbox', inputs, 'distance');
    const u = upstreamOf('distance2bbox', upstream, 'out', 4 * N);
    const dp = tensor([N, 2]);
    const dd = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const [g0, g1, g2, g3] = u.subarray(4 * n, 4 * n + 4);
      dp.data[2 * n] = g0 + g2;
      dp.data[2 * n + 1] = g1 + g3;
      dd.data.set([-g0, -g1, g2, g3], 4 * n);
    }
    return { points: dp, distance: dd };
  },
};

function b2dSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'bbox2distance';
  const s = pointsSetup(op, inputs, 'bbox');
  checkBoxes(op, 'bbox', s.t);
  // mmdetection: clamp(min = 0, max = max_dis - eps) when max_dis is given; its default
  // eps is 0.1, which gives GFL's DFL targets in [0, 15.9] for reg_max 16 (docs/crosskd.md §3).
  const maxDis = attrs.max_dis === undefined || attrs.max_dis === null ? undefined : numAttr(op, attrs, 'max_dis');
  const eps = numAttr(op, attrs, 'eps', 0.1);
  const hi = maxDis === undefined ? undefined : maxDis - eps;
  if (hi !== undefined && hi < 0) fail(op, 'max_dis', `max_dis - eps ≥ 0 (eps = ${eps})`, String(maxDis));
  return { ...s, hi };
}

/** Raw distances (p_x - x1, p_y - y1, x2 - p_x, y2 - p_y). */
function rawDistances(p: Float64Array, b: Float64Array, n: number): number[] {
  const [px, py] = [p[2 * n], p[2 * n + 1]];
  return [px - b[4 * n], py - b[4 * n + 1], b[4 * n + 2] - px, b[4 * n + 3] - py];
}

const bbox2distance: RefOp = {
  forward(inputs, attrs) {
    const { points, t: bbox, N, hi } = b2dSetup(inputs, attrs);
    const out = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const raw = rawDistances(points, bbox.data, n);
      out.data.set(hi === undefined ? raw : raw.map((v) => Math.min(Math.max(v, 0), hi)), 4 * n);
    }
    return { out };
  },
  vjp(inputs, attrs, upstream) {
    const { points, t: bbox, N, hi } = b2dSetup(inputs, attrs);
    const u = upstreamOf('bbox2distance', upstream, 'out', 4 * N);
    const dp = tensor([N, 2]);
    const db = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const raw = rawDistances(points, bbox.data, n);
      // torch.clamp passes the gradient where 0 ≤ v ≤ hi, inclusive.
      const g = raw.map((v, k) => (hi === undefined || (v >= 0 && v <= hi) ? u[4 * n + k] : 0));
      dp.data[2 * n] = g[0] - g[2];
      dp.data[2 * n + 1] = g[1] - g[3];
      db.data.set([-g[0], -g[1], g[2], g[3]], 4 * n);
    }
    return { points: dp, bbox: db };
  },
};

// ─────────────────────────────────── registry ───────────────────────────────────

export const detectionReferenceOps: Record<string, RefOp> = {
  conv2d,
  group_norm,
  sigmoid_focal_loss,
  quality_focal_loss,
  kd_quality_focal_loss,
  distribution_focal_loss,
  kd_kl_div,
  generalized_box_iou_loss,
  iou_loss,
  integral,
  distance2bbox,
  bbox2distance,
};
