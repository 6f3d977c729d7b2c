/**
 * Float64 CPU reference of GFL's Integral and the box coding of docs/crosskd.md §5
 * (distance2bbox, bbox2distance), with the ids of docs/op-cases.md.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { binsSetup, checkBoxes, fmtShape, tensor, fail, input, expectRank, expectShape, numAttr, upstreamOf, logSoftmaxRow } from './args.ts';

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

export const boxReferenceOps: Record<string, RefOp> = { integral, distance2bbox, bbox2distance };
