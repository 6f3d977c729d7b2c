/**
 * The float64 Integral and box coding of GFL/FCOS (engine/reference/boxes.ts): worked values, clamping, central differences.
 */
import { describe, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { referenceOps as ops } from '../../engine/reference/index.ts';
import { t, normalT, uniformT, expectValues, fd, randomBoxes } from './helpers.ts';

describe('integral', () => {
  for (const [k, regMax] of [16, 4].entries()) {
    it(`finite differences, reg_max ${regMax}`, () => {
      const rng = new Rng(900 + k);
      fd('integral', { pred: normalT(rng, [5, regMax + 1], 2) }, { reg_max: regMax }, 900 + k);
    });
  }

  it('uniform logits give reg_max / 2; a peaked distribution gives its bin', () => {
    expectValues(ops.integral.forward({ pred: t([1, 17], new Array(17).fill(0.3)) }, { reg_max: 16 }).out.data, [8], 1e-12);
    const peaked = new Array(5).fill(-30);
    peaked[3] = 30;
    expectValues(ops.integral.forward({ pred: t([1, 5], peaked) }, { reg_max: 4 }).out.data, [3], 1e-12);
  });
});

describe('distance2bbox and bbox2distance', () => {
  it('round-trips points and boxes, and matches the hand formula', () => {
    const points = t([2, 2], [5, 6, 0, 0]);
    const distance = t([2, 4], [1, 2, 3, 4, 0.5, 0.5, 0.5, 0.5]);
    const { out } = ops.distance2bbox.forward({ points, distance }, {});
    expectValues(out.data, [4, 4, 8, 10, -0.5, -0.5, 0.5, 0.5], 1e-12);
    expectValues(ops.bbox2distance.forward({ points, bbox: out }, {}).out.data, Array.from(distance.data), 1e-12);
  });

  it('bbox2distance clamps to [0, max_dis - eps] (mmdetection default eps 0.1)', () => {
    const points = t([1, 2], [5, 5]);
    const bbox = t([1, 4], [6, -20, 30, 7]); // raw distances: -1, 25, 25, 2
    expectValues(ops.bbox2distance.forward({ points, bbox }, { max_dis: 16 }).out.data, [0, 15.9, 15.9, 2], 1e-12);
    expectValues(ops.bbox2distance.forward({ points, bbox }, { max_dis: 16, eps: 0.01 }).out.data, [0, 15.99, 15.99, 2], 1e-12);
    expectValues(ops.bbox2distance.forward({ points, bbox }, {}).out.data, [-1, 25, 25, 2], 1e-12);
  });

  it('finite differences: distance2bbox', () => {
    const rng = new Rng(950);
    fd('distance2bbox', { points: uniformT(rng, [6, 2], 0, 50), distance: uniformT(rng, [6, 4], 0, 10) }, {}, 950);
  });

  it('finite differences: bbox2distance, unclamped and clamped', () => {
    const rng = new Rng(951);
    const points = uniformT(rng, [10, 2], 0, 20);
    const bbox = randomBoxes(rng, 10);
    for (let i = 0; i < bbox.data.length; i++) bbox.data[i] *= 2; // points fall inside and outside
    fd('bbox2distance', { points, bbox }, {}, 951);
    fd('bbox2distance', { points, bbox }, { max_dis: 4 }, 952);
  });
});
