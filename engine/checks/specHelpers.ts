/**
 * What the OpSpecs in ./specs/ share: input generators that keep gradcheck inputs away
 * from the points where an op is not differentiable (kinks, ties, bounds, domain edges,
 * so central differences and the analytic gradient agree; the parity files cover the tie
 * conventions), the lookup of an op's float64 reference, and the tolerance of ops that
 * only move or select values.
 *
 * Tolerances compare max|gpu − ref| with tol · max|ref| (ref in float64, inputs exactly
 * float32). Unit roundoff of float32 is u = 2^-24 ≈ 6e-8.
 */
import type { Rng } from '../random.ts';
import { referenceOps } from '../reference/index.ts';
import type { Tensor } from '../tensor.ts';
import type { Attrs, GradcheckCase, InputGen, Tolerance } from './spec.ts';

// ------------------------------------------------------------------ value generators

export type Gen = (rng: Rng, n: number) => Float64Array;

/** ±[lo, hi]: magnitudes uniform in [lo, hi], random sign (keeps away from 0). */
export const awayFromZero =
  (lo: number, hi: number): Gen =>
  (rng, n) => {
    const mag = rng.uniform(n, lo, hi);
    const sign = rng.uniform(n);
    return mag.map((m, i) => (sign[i] < 0.5 ? -m : m));
  };

/** Multiples of `step` in [lo·step, hi·step) shifted by `offset`·step: two such grids with
 * offsets 0 and 0.5 never meet, so maximum/minimum/clamp inputs are never tied. */
export const grid =
  (lo: number, hi: number, step: number, offset = 0): Gen =>
  (rng, n) =>
    rng.int(n, lo, hi).map((k) => (k + offset) * step);

/** n distinct values (a shuffled grid of spacing `step`, centred on 0): max has no ties. */
export const distinct =
  (step: number): Gen =>
  (rng, n) => {
    const v = Float64Array.from({ length: n }, (_, i) => (i - Math.floor(n / 2)) * step);
    const r = rng.uniform(n);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r[i] * (i + 1));
      [v[i], v[j]] = [v[j], v[i]];
    }
    return v.map(Math.fround);
  };

/** 0/1 conditions. */
export const bits: Gen = (rng, n) => rng.int(n, 0, 2);

/**
 * Saturated logits: ±30 and ±20 mixed with ordinary ones, so every regime appears.
 * `phase` moves the extremes to other positions (a teacher unlike its student).
 */
export const saturatedAt =
  (phase: number): Gen =>
  (rng, n) => {
    const extremes = [30, -30, 20, -20];
    const normal = rng.normal(n, 0, 2);
    return normal.map((v, i) => ((i + phase) % 3 === 0 ? extremes[((i + phase) / 3 + phase) % 4] : v));
  };
export const saturated = saturatedAt(0);

/** Boxes [N,4] x1y1x2y2: corners in [0, 20), sides in [lo, hi). */
export function randomBoxes(rng: Rng, N: number, lo: number, hi: number): number[][] {
  const corner = rng.uniform(2 * N, 0, 20);
  const side = rng.uniform(2 * N, lo, hi);
  return Array.from({ length: N }, (_, i) => {
    const [x1, y1] = [corner[2 * i], corner[2 * i + 1]];
    return [x1, y1, x1 + side[2 * i], y1 + side[2 * i + 1]];
  });
}

export const flatBoxes = (bs: number[][]): Float64Array => Float64Array.from(bs.flat().map(Math.fround));

export const boxes =
  (lo: number, hi: number): Gen =>
  (rng, n) =>
    flatBoxes(randomBoxes(rng, n / 4, lo, hi));

/** Points [N,2] in [0, 20)². */
export const points = (n: number): InputGen => ({ shape: [n, 2], values: [0, 20] });

// ------------------------------------------------------------------ run helpers

/** inputs[name], or an error naming the op and the missing input. */
export function need(op: string, inputs: Record<string, Tensor>, name: string): Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`${op}: input '${name}' is missing`);
  return t;
}

/** The float64 reference of op `id` (engine/reference/). */
export function ref(id: string) {
  const op = referenceOps[id];
  if (!op) throw new Error(`specs: no reference op '${id}'`);
  return op;
}

/** A gradcheck case. */
export const c = (name: string, inputs: GradcheckCase['inputs'], attrs: Attrs = {}): GradcheckCase => ({ name, attrs, inputs });

// ------------------------------------------------------------------ tolerances

export const EXACT: Tolerance = {
  fwd: 0,
  bwd: 0,
  why: 'pure data movement or sign/selection of float32 values: forward and backward copy values, so the GPU must match exactly',
};
