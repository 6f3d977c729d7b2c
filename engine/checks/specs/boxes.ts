/**
 * OpSpecs of GFL's Integral and the box coding of GFL/FCOS (engine/ops/boxes.ts): integral,
 * distance2bbox, bbox2distance (ids, inputs and attributes of engine/reference/boxes.ts).
 * The conventions of the generators and tolerances are in ../specHelpers.ts.
 */
import * as E from '../../index.ts';
import { boxes, c, need, points, ref, saturated } from '../specHelpers.ts';
import type { OpSpec, Tolerance } from '../spec.ts';

const num = (v: unknown, dflt: number): number => (v === undefined ? dflt : (v as number));

const BOX_CODING_TOL: Tolerance = {
  fwd: 1e-7,
  bwd: 1e-7,
  why:
    'forward: one float32 add or subtract per coordinate, ≤ 0.5u ≈ 3e-8 of its magnitude ≤ max|ref|; backward: the ' +
    'upstream values negated or masked (exact) and, for the points, added in pairs (one rounding): 1e-7',
};

const integralSpec: OpSpec = {
  id: 'integral',
  inputs: ['pred'],
  attributes: ['reg_max'],
  run: (inputs, attrs) => ({
    out: E.integral(need('integral', inputs, 'pred'), { regMax: attrs.reg_max === undefined ? undefined : (attrs.reg_max as number) }),
  }),
  reference: ref('integral'),
  kernels: ['integral'],
  cases: [
    c('reg_max16_10x17', { pred: { shape: [10, 17] } }, { reg_max: 16 }),
    c('large_logits_8x17', { pred: { shape: [8, 17], values: saturated } }, { reg_max: 16 }),
    c('reg_max7_5x8', { pred: { shape: [5, 8], values: (r, n) => r.normal(n, 0, 3) } }, { reg_max: 7 }),
    c('reg_max40_4x41', { pred: { shape: [4, 41] } }, { reg_max: 40 }),
  ],
  tol: {
    fwd: 2e-6,
    bwd: 5e-6,
    why:
      'Σ softmax_j·j with the max subtracted: 17 exps (3 ulp each) and sums of ≤ 17 terms, one division: ~1e-6 of ' +
      'max|ref| ≈ reg_max/2; the gradient p_k(k − E) subtracts E (error ~1e-6·reg_max) from k: 5e-6',
  },
};

const distance2bboxSpec: OpSpec = {
  id: 'distance2bbox',
  inputs: ['points', 'distance'],
  attributes: [],
  run: (inputs) => ({ out: E.distance2bbox(need('distance2bbox', inputs, 'points'), need('distance2bbox', inputs, 'distance')) }),
  reference: ref('distance2bbox'),
  kernels: ['box_coding', 'box_coding_grad'],
  cases: [
    c('points_16', { points: points(16), distance: { shape: [16, 4], values: [0, 16] } }),
    c('points_5_small_distances', { points: points(5), distance: { shape: [5, 4], values: [0, 0.5] } }),
  ],
  tol: BOX_CODING_TOL,
};

const bbox2distanceSpec: OpSpec = {
  id: 'bbox2distance',
  inputs: ['points', 'bbox'],
  attributes: ['max_dis', 'eps'],
  run: (inputs, attrs) => ({
    out: E.bbox2distance(
      need('bbox2distance', inputs, 'points'),
      need('bbox2distance', inputs, 'bbox'),
      attrs.max_dis === undefined || attrs.max_dis === null ? null : (attrs.max_dis as number),
      num(attrs.eps, 0.1),
    ),
  }),
  reference: ref('bbox2distance'),
  kernels: ['box_coding', 'box_coding_grad'],
  cases: [
    c('unclamped_12', { points: points(12), bbox: { shape: [12, 4], values: boxes(1, 10) } }),
    // points up to 20 away from boxes: distances below 0 and above 3.9 get clamped
    c('clamped_max_dis4_16', { points: points(16), bbox: { shape: [16, 4], values: boxes(1, 6) } }, { max_dis: 4, eps: 0.1 }),
  ],
  tol: BOX_CODING_TOL,
};

export const boxSpecs: OpSpec[] = [integralSpec, distance2bboxSpec, bbox2distanceSpec];
