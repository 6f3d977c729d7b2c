/**
 * Shared pieces of the float64 references of conv2d, group norm, the detection losses and
 * the box helpers (conv.ts, norm.ts, losses.ts, boxes.ts): argument checks whose messages
 * read "<op>: argument '<name>' expected <what>, got <actual>", the reductions of the losses,
 * and numerically stable scalar functions.
 *
 * Conventions of the ops built on them:
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
import type { RefAttrs, RefTensor } from './types.ts';

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export function tensor(shape: number[], data?: Float64Array): RefTensor {
  return { shape, data: data ?? new Float64Array(numel(shape)) };
}

export function fail(op: string, arg: string, expected: string, actual: string): never {
  throw new Error(`${op}: argument '${arg}' expected ${expected}, got ${actual}`);
}

/** Fetches a required input and checks that its data length matches its shape. */
export function input(op: string, inputs: Record<string, RefTensor>, name: string): RefTensor {
  const t = inputs[name];
  if (!t) fail(op, name, 'a tensor', 'nothing (input missing)');
  return checked(op, name, t);
}

/** Fetches an optional input (absent → undefined). */
export function optionalInput(op: string, inputs: Record<string, RefTensor>, name: string): RefTensor | undefined {
  const t = inputs[name];
  return t ? checked(op, name, t) : undefined;
}

export function checked(op: string, name: string, t: RefTensor): RefTensor {
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

export function expectRank(op: string, name: string, t: RefTensor, rank: number, what: string): void {
  if (t.shape.length !== rank) fail(op, name, `rank ${rank} ${what}`, `shape ${fmtShape(t.shape)}`);
}

export function expectShape(op: string, name: string, t: RefTensor, shape: readonly number[]): void {
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!same) fail(op, name, `shape ${fmtShape(shape)}`, `shape ${fmtShape(t.shape)}`);
}

export function numAttr(op: string, attrs: RefAttrs, name: string, dflt?: number): number {
  const v = attrs[name];
  if (v === undefined) {
    if (dflt === undefined) fail(op, name, 'a number (required attribute)', 'nothing');
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(op, name, 'a finite number', JSON.stringify(v));
  return v;
}

export function intAttr(op: string, attrs: RefAttrs, name: string, min: number, dflt?: number): number {
  const v = numAttr(op, attrs, name, dflt);
  if (!Number.isInteger(v) || v < min) fail(op, name, `an integer ≥ ${min}`, String(v));
  return v;
}

/** [h, w] attribute; a single number means the same value for both. */
export function pairAttr(op: string, attrs: RefAttrs, name: string, min: number, dflt: number): [number, number] {
  const v = attrs[name] ?? [dflt, dflt];
  const pair = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((x) => Number.isInteger(x) && x >= min)) {
    fail(op, name, `[h, w] of integers ≥ ${min}`, JSON.stringify(v));
  }
  return [pair[0] as number, pair[1] as number];
}

export function enumAttr<T extends string>(op: string, attrs: RefAttrs, name: string, allowed: readonly T[], dflt: T): T {
  const v = attrs[name] ?? dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(op, name, `one of ${allowed.map((a) => `'${a}'`).join(' | ')}`, JSON.stringify(v));
  }
  return v as T;
}

export function boolAttr(op: string, attrs: RefAttrs, name: string, dflt: boolean): boolean {
  const v = attrs[name] ?? dflt;
  if (typeof v !== 'boolean') fail(op, name, 'a boolean', JSON.stringify(v));
  return v;
}

/** Fetches the upstream gradient of output `name`, checking its length. */
export function upstreamOf(op: string, upstream: Record<string, RefTensor>, name: string, length: number): Float64Array {
  const u = upstream[name];
  if (!u) fail(op, `upstream.${name}`, 'a tensor', 'nothing');
  if (u.data.length !== length) fail(op, `upstream.${name}`, `${length} values`, `${u.data.length}`);
  return u.data;
}

export type Reduction = 'none' | 'sum';
export const REDUCTIONS: readonly Reduction[] = ['none', 'sum'];

/** Output of an elementwise loss: the elements themselves, or their sum as a scalar. */
export function reduce(elems: RefTensor, reduction: Reduction): RefTensor {
  if (reduction === 'none') return elems;
  let s = 0;
  for (const v of elems.data) s += v;
  return tensor([], Float64Array.of(s));
}

/** Upstream per element: the array itself for 'none', the broadcast scalar for 'sum'. */
export function upstreamElems(op: string, upstream: Record<string, RefTensor>, name: string, n: number, reduction: Reduction): Float64Array {
  if (reduction === 'none') return upstreamOf(op, upstream, name, n);
  const g = upstreamOf(op, upstream, name, 1)[0];
  return new Float64Array(n).fill(g);
}

// Numerically stable scalar pieces.

/** σ(x), never computing exp of a large positive number. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}). */
export const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/**
 * BCE with logits in the stable form of docs/crosskd.md: (max(x,0) - x·t) + log(1 + e^{-|x|}).
 * The order matters: at x = 30, t = 1 the bracket is exactly 0 and the tiny log term
 * survives; softplus(x) - x·t would cancel it away to a 1% error.
 */
export const bce = (x: number, t: number): number => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));

/** d/db of b^γ for b ≥ 0, with the limit at b = 0 taken as torch's pow backward does for γ ≥ 1. */
export function powGrad(b: number, gamma: number): number {
  if (gamma === 0) return 0;
  if (b === 0) return gamma === 1 ? 1 : gamma > 1 ? 0 : Infinity;
  return gamma * b ** (gamma - 1);
}

/** Stable log-softmax of row `r` (length m) of `z` scaled by 1/T, written into `out`. */
export function logSoftmaxRow(z: Float64Array, r: number, m: number, invT: number, out: Float64Array): void {
  let mx = -Infinity;
  for (let j = 0; j < m; j++) mx = Math.max(mx, z[r * m + j] * invT);
  let s = 0;
  for (let j = 0; j < m; j++) s += Math.exp(z[r * m + j] * invT - mx);
  const lse = mx + Math.log(s);
  for (let j = 0; j < m; j++) out[j] = z[r * m + j] * invT - lse;
}

/** Gradient shares of max(a, b) (torch.maximum): [d/da, d/db], ties split half and half. */
export const maxShares = (a: number, b: number): [number, number] => (a > b ? [1, 0] : a < b ? [0, 1] : [0.5, 0.5]);
/** Gradient shares of min(a, b) (torch.minimum). */
export const minShares = (a: number, b: number): [number, number] => (a < b ? [1, 0] : a > b ? [0, 1] : [0.5, 0.5]);
/** d/dv of max(v, c) for a constant c (torch.max(v, c_tensor)): tie gives half. */
export const maxConstGrad = (v: number, c: number): number => (v > c ? 1 : v < c ? 0 : 0.5);

/** Checks pred [N, reg_max+1] and returns its geometry; shared by DFL and integral. */
export function binsSetup(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const pred = input(op, inputs, 'pred');
  expectRank(op, 'pred', pred, 2, '[N,reg_max+1]');
  const [N, m] = pred.shape;
  const regMax = intAttr(op, attrs, 'reg_max', 1, m - 1);
  if (m !== regMax + 1) fail(op, 'pred', `shape [N,${regMax + 1}] (reg_max + 1 bins for reg_max = ${regMax})`, `shape ${fmtShape(pred.shape)}`);
  return { pred, N, m, regMax };
}

export function checkBoxes(op: string, name: string, t: RefTensor): void {
  for (let i = 0; i < t.shape[0]; i++) {
    const [x1, y1, x2, y2] = t.data.subarray(4 * i, 4 * i + 4);
    if (!(x2 >= x1 && y2 >= y1)) {
      fail(op, name, 'boxes with x2 ≥ x1 and y2 ≥ y1', `${name}[${i}] = [${x1}, ${y1}, ${x2}, ${y2}]`);
    }
  }
}
