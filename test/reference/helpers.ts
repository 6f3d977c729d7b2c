/**
 * What the float64 reference tests share: tensors from values or seeded generators, the
 * forward and vjp of an op by id, closeness checks for hand-worked values, and central
 * finite differences of every vjp.
 */
import { expect } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { finiteDiffCheck } from '../../engine/reference/finiteDiff.ts';
import { getReferenceOp, referenceOps } from '../../engine/reference/index.ts';
import { size } from '../../engine/reference/shape.ts';
import type { RefAttrs, RefOp, RefTensor } from '../../engine/reference/types.ts';

export type Inputs = Record<string, RefTensor>;

export const t = (shape: number[], data: ArrayLike<number>): RefTensor => ({ shape, data: Float64Array.from(data) });

export const randn = (rng: Rng, shape: number[], std = 1): RefTensor => ({ shape, data: rng.normal(size(shape), 0, std) });
export const uniform = (rng: Rng, shape: number[], lo: number, hi: number): RefTensor => ({
  shape,
  data: rng.uniform(size(shape), lo, hi),
});
/** normal(mean, std) values. */
export const normalT = (rng: Rng, shape: number[], std = 1, mean = 0) => t(shape, rng.normal(size(shape), mean, std));
/** uniform [lo, hi) values. */
export const uniformT = (rng: Rng, shape: number[], lo = 0, hi = 1) => t(shape, rng.uniform(size(shape), lo, hi));
export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Random sign, magnitude in [lo, hi]: keeps abs/relu/div away from their kink or pole at 0. */
export const awayFromZero = (rng: Rng, shape: number[], lo = 0.2, hi = 2): RefTensor => {
  const mag = rng.uniform(size(shape), lo, hi);
  const sign = rng.uniform(size(shape));
  return { shape, data: mag.map((m, i) => (sign[i] < 0.5 ? -m : m)) };
};
/** Values in [lo, hi) that stay `margin` away from every point in `avoid` (kinks of clamp). */
export const awayFrom = (rng: Rng, shape: number[], lo: number, hi: number, avoid: number[], margin = 0.05): RefTensor => {
  const x = uniform(rng, shape, lo, hi);
  x.data = x.data.map((v) => {
    for (const p of avoid) if (Math.abs(v - p) < margin) return v < p ? p - 2 * margin : p + 2 * margin;
    return v;
  });
  return x;
};

export const fwd = (id: string, inputs: Inputs, attrs: RefAttrs = {}): RefTensor => getReferenceOp(id).forward(inputs, attrs).out;

/** The vjp with upstream `g` (default: all ones, i.e. the gradient of sum(out)). */
export const vjp = (id: string, inputs: Inputs, attrs: RefAttrs = {}, g?: number[]) => {
  const out = fwd(id, inputs, attrs);
  const up = t(out.shape, g ?? new Array<number>(out.data.length).fill(1));
  return getReferenceOp(id).vjp(inputs, attrs, { out: up });
};

export const arr = (x: RefTensor | null | undefined): number[] => {
  if (!x) throw new Error('expected a tensor, got null');
  return Array.from(x.data);
};

/** A tensor's shape and values against hand-worked ones (which involve a few float64 roundings). */
export function expectTensor(got: RefTensor | null | undefined, shape: number[], want: number[], tol = 1e-12): void {
  if (!got) throw new Error('expected a tensor, got null');
  expect(got.shape).toEqual(shape);
  expect(got.data.length).toBe(want.length);
  want.forEach((w, i) => {
    if (Number.isNaN(w)) expect(got.data[i], `element ${i}`).toBeNaN();
    else expect(Math.abs(got.data[i] - w), `element ${i}: got ${got.data[i]}, want ${w}`).toBeLessThanOrEqual(tol);
  });
}

/** Values against worked ones (from torch or by hand), elementwise within tol. */
export function expectValues(got: ArrayLike<number>, want: number[], tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol})`);
    }
  }
}

/**
 * Central differences on every input not in `skip`, with a random upstream gradient for
 * every output; also checks that each gradient has its input's shape and that the inputs
 * in `nullGrads` (non-differentiable ones: conditions, indices) get null.
 */
export function checkGrads(id: string, inputs: Inputs, attrs: RefAttrs = {}, skip: string[] = [], nullGrads = skip, seed = 1234): void {
  const op = getReferenceOp(id);
  const outs = op.forward(inputs, attrs);
  const rng = new Rng(seed);
  const upstream = Object.fromEntries(Object.entries(outs).map(([k, o]) => [k, randn(rng, o.shape)]));
  const grads = op.vjp(inputs, attrs, upstream);
  for (const [name, x] of Object.entries(inputs)) {
    if (nullGrads.includes(name)) {
      expect(grads[name], `${id}: grad of ${name}`).toBeNull();
    } else {
      expect(grads[name]?.shape, `${id}: grad shape of ${name}`).toEqual(x.shape);
    }
  }
  const r = finiteDiffCheck(op, inputs, attrs, upstream, skip);
  expect(Object.keys(r.perInput).sort()).toEqual(
    Object.keys(inputs)
      .filter((k) => !skip.includes(k))
      .sort(),
  );
  expect(r.worstRelErr, `${id} ${JSON.stringify(attrs)}: ${JSON.stringify(r.perInput)}`).toBeLessThan(1e-6);
}

/** Random upstream gradients shaped like every output of the op. */
function upstreamFor(op: RefOp, inputs: Inputs, attrs: RefAttrs, rng: Rng) {
  const outs = op.forward(inputs, attrs);
  const up: Record<string, RefTensor> = {};
  for (const [name, o] of Object.entries(outs)) up[name] = normalT(rng, o.shape);
  return up;
}

/** finiteDiffCheck with a random upstream (seeded by `seed`): asserts the worst relative error and that every probed input got a gradient. */
export function fd(opId: string, inputs: Inputs, attrs: RefAttrs, seed: number, skip: string[] = [], tol = 1e-6) {
  const op = referenceOps[opId];
  const up = upstreamFor(op, inputs, attrs, new Rng(seed + 1000));
  const res = finiteDiffCheck(op, inputs, attrs, up, skip);
  // Every probed input must have been given a gradient (not silently null).
  const grads = op.vjp(inputs, attrs, up);
  for (const name of Object.keys(inputs)) {
    if (skip.includes(name)) continue;
    expect(grads[name], `${opId}: gradient of ${name}`).toBeTruthy();
    expect(grads[name]!.shape).toEqual(inputs[name].shape);
  }
  expect(res.worstRelErr, `${opId} ${JSON.stringify(res.perInput)}`).toBeLessThan(tol);
  return res;
}

export const numel = (shape: number[]) => size(shape);

/** Random boxes [N,4]: corner in [0, 10), sides in [1, 8). */
export function randomBoxes(rng: Rng, N: number): RefTensor {
  const c = rng.uniform(2 * N, 0, 10);
  const s = rng.uniform(2 * N, 1, 8);
  const out: number[] = [];
  for (let i = 0; i < N; i++) out.push(c[2 * i], c[2 * i + 1], c[2 * i] + s[2 * i], c[2 * i + 1] + s[2 * i + 1]);
  return t([N, 4], out);
}
