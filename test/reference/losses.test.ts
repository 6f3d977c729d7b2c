/**
 * The float64 detection losses of docs/crosskd.md §3: worked values from torch 1.13, edge values, central differences.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { referenceOps as ops } from '../../engine/reference/index.ts';
import { t, normalT, uniformT, expectValues, fd, randomBoxes, sigmoid } from './helpers.ts';

describe('worked values of docs/crosskd.md §3 (torch 1.13)', () => {
  const logits = [-1, 0.5, 2];

  it('sigmoid focal loss elements, gt class 1', () => {
    const { loss } = ops.sigmoid_focal_loss.forward({ logits: t([1, 3], logits), targets: t([1, 3], [0, 1, 0]) }, { alpha: 0.25, gamma: 2, reduction: 'none' });
    expect(loss.shape).toEqual([1, 3]);
    expectValues(loss.data, [0.016994, 0.016893, 1.237559]);
    const sum = ops.sigmoid_focal_loss.forward({ logits: t([1, 3], logits), targets: t([1, 3], [0, 1, 0]) }, { alpha: 0.25, gamma: 2, reduction: 'sum' }).loss;
    expect(sum.shape).toEqual([]);
    expectValues(sum.data, [0.016994 + 0.016893 + 1.237559]);
  });

  it('QFL with IoU 0.7: per-class elements and their sum', () => {
    // One class per row isolates each element: rows 0 and 2 are background (label 1 = C).
    const { loss } = ops.quality_focal_loss.forward(
      { pred: t([3, 1], logits), label: t([3], [1, 0, 1]), score: t([3], [0, 0.7, 0]) },
      { beta: 2, num_classes: 1 },
    );
    expectValues(loss.data, [0.022658, 0.003752, 1.650078]);
    const row = ops.quality_focal_loss.forward({ pred: t([1, 3], logits), label: t([1], [1]), score: t([1], [0.7]) }, { beta: 2, num_classes: 3 }).loss;
    expectValues(row.data, [0.022658 + 0.003752 + 1.650078]);
  });

  it('KD-QFL β1 with teacher logits [-2, 1, 0.3]', () => {
    const inputs = { pred: t([1, 3], logits), soft_target: t([1, 3], [-2, 1, 0.3].map(sigmoid)) };
    const none = ops.kd_quality_focal_loss.forward(inputs, { beta: 1, class_reduction: 'none' }).loss;
    expect(none.shape).toEqual([1, 3]);
    expectValues(none.data, [0.064757, 0.066088, 0.299628]);
    const sum = ops.kd_quality_focal_loss.forward(inputs, { beta: 1, class_reduction: 'sum' }).loss;
    expect(sum.shape).toEqual([1]);
    expectValues(sum.data, [0.064757 + 0.066088 + 0.299628]);
  });

  it('DFL and its integral, logits [0.1, 0.5, 2, 1, -1], target 2.3', () => {
    const pred = t([1, 5], [0.1, 0.5, 2, 1, -1]);
    expectValues(ops.distribution_focal_loss.forward({ pred, target: t([1], [2.3]) }, { reg_max: 4 }).loss.data, [0.88242]);
    expectValues(ops.integral.forward({ pred }, { reg_max: 4 }).out.data, [1.969384]);
  });

  it('distribution KL, T=1 sum and T=10 mean·T²', () => {
    const inputs = { pred: t([1, 5], [0, 1, 2, 0.5, -0.5]), soft_label: t([1, 5], [0.1, 0.5, 2, 1, -1]) };
    expectValues(ops.kd_kl_div.forward(inputs, { T: 1, bin_reduction: 'sum' }).loss.data, [0.044914]);
    expectValues(ops.kd_kl_div.forward(inputs, { T: 10, bin_reduction: 'mean' }).loss.data, [0.014253]);
  });

  it('boxes [0,0,10,10] vs [5,5,15,20]: IoU, GIoU, GIoU loss, IoU-log loss', () => {
    const inputs = { boxes1: t([1, 4], [0, 0, 10, 10]), boxes2: t([1, 4], [5, 5, 15, 20]) };
    const giouLoss = ops.generalized_box_iou_loss.forward(inputs, { eps: 1e-6, reduction: 'none' }).loss.data[0];
    const iouLoss = ops.iou_loss.forward(inputs, { eps: 1e-6, reduction: 'none' }).loss.data[0];
    expectValues([giouLoss], [1.138889]);
    expectValues([1 - giouLoss], [-0.138889]); // GIoU
    expectValues([iouLoss], [2.197225]);
    expectValues([Math.exp(-iouLoss)], [0.111111]); // IoU
  });
});

describe('sigmoid_focal_loss', () => {
  for (const [k, reduction] of (['none', 'sum'] as const).entries()) {
    it(`finite differences, reduction ${reduction}, 0/1 and soft targets`, () => {
      const rng = new Rng(300 + k);
      const hard = { logits: normalT(rng, [4, 5], 3), targets: t([4, 5], rng.int(20, 0, 2)) };
      fd('sigmoid_focal_loss', hard, { alpha: 0.25, gamma: 2, reduction }, 300 + k);
      const soft = { logits: normalT(rng, [3, 4], 3), targets: uniformT(rng, [3, 4]) };
      fd('sigmoid_focal_loss', soft, { alpha: 0.3, gamma: 1.5, reduction }, 310 + k);
    });
  }

  it('is finite at logits ±30 (forward and gradient)', () => {
    const inputs = { logits: t([2, 2], [30, -30, 30, -30]), targets: t([2, 2], [1, 1, 0, 0]) };
    const attrs = { alpha: 0.25, gamma: 2, reduction: 'none' };
    const { loss } = ops.sigmoid_focal_loss.forward(inputs, attrs);
    expect(Array.from(loss.data).every(Number.isFinite)).toBe(true);
    // Confident and right (x = 30, t = 1): tiny but not lost to cancellation; σ(-30)² · e^{-30}·0.25.
    expect(loss.data[0] / (0.25 * Math.exp(-90))).toBeCloseTo(1, 6);
    const g = ops.sigmoid_focal_loss.vjp(inputs, attrs, { loss: t([2, 2], [1, 1, 1, 1]) });
    expect(Array.from(g.logits!.data).every(Number.isFinite)).toBe(true);
  });
});

describe('quality_focal_loss', () => {
  for (const [k, beta] of [2, 1].entries()) {
    it(`finite differences, β = ${beta}`, () => {
      const rng = new Rng(400 + k);
      const N = 8;
      const C = 4;
      // Labels cover every class and the background (C).
      const inputs = { pred: normalT(rng, [N, C], 3), label: t([N], [0, 1, 2, 3, 4, 4, 1, 2]), score: uniformT(rng, [N], 0.05, 0.95) };
      fd('quality_focal_loss', inputs, { beta, num_classes: C }, 400 + k, ['label'], beta === 2 ? 1e-6 : 1e-5);
      const g = ops.quality_focal_loss.vjp(inputs, { beta, num_classes: C }, { loss: normalT(rng, [N]) });
      expect(g.label).toBeNull();
      // Background rows do not depend on their score.
      expect(g.score!.data[4]).toBe(0);
      expect(g.score!.data[5]).toBe(0);
    });
  }

  it('is finite at logits ±30', () => {
    const inputs = { pred: t([2, 2], [30, -30, -30, 30]), label: t([2], [0, 2]), score: t([2], [0.9, 0]) };
    const attrs = { beta: 2, num_classes: 2 };
    expect(Array.from(ops.quality_focal_loss.forward(inputs, attrs).loss.data).every(Number.isFinite)).toBe(true);
    const g = ops.quality_focal_loss.vjp(inputs, attrs, { loss: t([2], [1, 1]) });
    expect(Array.from(g.pred!.data).every(Number.isFinite)).toBe(true);
  });
});

describe('kd_quality_focal_loss', () => {
  const cases = [
    { beta: 1, class_reduction: 'sum', tol: 1e-5 },
    { beta: 1, class_reduction: 'none', tol: 1e-5 },
    { beta: 2, class_reduction: 'sum', tol: 1e-6 },
  ];
  for (const [k, c] of cases.entries()) {
    it(`finite differences, β = ${c.beta}, class_reduction ${c.class_reduction}`, () => {
      const rng = new Rng(500 + k);
      const inputs = { pred: normalT(rng, [5, 4], 3), soft_target: t([5, 4], Array.from(rng.normal(20, 0, 3), sigmoid)) };
      fd('kd_quality_focal_loss', inputs, { beta: c.beta, class_reduction: c.class_reduction }, 500 + k, [], c.tol);
    });
  }

  it('is finite at logits ±30', () => {
    const inputs = { pred: t([1, 4], [30, -30, 30, -30]), soft_target: t([1, 4], [1, 0, 0, 1]) };
    const attrs = { beta: 1, class_reduction: 'none' };
    expect(Array.from(ops.kd_quality_focal_loss.forward(inputs, attrs).loss.data).every(Number.isFinite)).toBe(true);
  });
});

describe('distribution_focal_loss', () => {
  for (const [k, regMax] of [16, 4].entries()) {
    it(`finite differences, reg_max ${regMax}`, () => {
      const rng = new Rng(600 + k);
      const N = 6;
      // Targets kept 0.1 away from integers, where the piecewise-linear loss has its kinks.
      const ints = rng.int(N, 0, regMax);
      const frac = rng.uniform(N, 0.1, 0.9);
      const target = t(
        [N],
        Array.from(ints, (v, i) => v + frac[i]),
      );
      fd('distribution_focal_loss', { pred: normalT(rng, [N, regMax + 1], 2), target }, { reg_max: regMax }, 600 + k);
    });
  }

  it('is continuous in the target across an integer', () => {
    const pred = t([1, 5], [0.1, 0.5, 2, 1, -1]);
    const at = (y: number) => ops.distribution_focal_loss.forward({ pred, target: t([1], [y]) }, { reg_max: 4 }).loss.data[0];
    expect(Math.abs(at(2 - 1e-12) - at(2))).toBeLessThan(1e-10);
  });

  it('is finite at logits ±30', () => {
    const inputs = { pred: t([1, 5], [30, -30, 30, -30, 30]), target: t([1], [1.5]) };
    expect(Number.isFinite(ops.distribution_focal_loss.forward(inputs, { reg_max: 4 }).loss.data[0])).toBe(true);
  });
});

describe('kd_kl_div', () => {
  const cases = [
    { T: 1, bin_reduction: 'sum' },
    { T: 10, bin_reduction: 'mean' },
    { T: 2, bin_reduction: 'sum' },
  ];
  for (const [k, c] of cases.entries()) {
    it(`finite differences, T = ${c.T}, ${c.bin_reduction}`, () => {
      const rng = new Rng(700 + k);
      const inputs = { pred: normalT(rng, [4, 17], 2), soft_label: normalT(rng, [4, 17], 2) };
      fd('kd_kl_div', inputs, c, 700 + k, ['soft_label']);
      const g = ops.kd_kl_div.vjp(inputs, c, { loss: normalT(rng, [4]) });
      expect(g.soft_label).toBeNull();
    });
  }

  it('is zero when student equals teacher, finite at logits ±30', () => {
    const z = t([1, 5], [30, -30, 0, 30, -30]);
    expect(Math.abs(ops.kd_kl_div.forward({ pred: z, soft_label: z }, { T: 1, bin_reduction: 'sum' }).loss.data[0])).toBeLessThan(1e-15);
    const loss = ops.kd_kl_div.forward({ pred: t([1, 5], [-30, 30, 0, -30, 30]), soft_label: z }, { T: 1, bin_reduction: 'sum' }).loss;
    expect(Number.isFinite(loss.data[0])).toBe(true);
  });
});

describe('generalized_box_iou_loss and iou_loss', () => {
  for (const opId of ['generalized_box_iou_loss', 'iou_loss']) {
    for (const [k, reduction] of (['none', 'sum'] as const).entries()) {
      it(`${opId}: finite differences, reduction ${reduction}`, () => {
        const seed = (opId === 'iou_loss' ? 850 : 800) + k;
        const rng = new Rng(seed);
        // Overlapping, disjoint and nested pairs all occur among 12 random pairs.
        const inputs = { boxes1: randomBoxes(rng, 12), boxes2: randomBoxes(rng, 12) };
        fd(opId, inputs, { eps: 1e-6, reduction }, seed, [], 1e-5);
      });
    }
  }

  it('identical boxes: loss 0; disjoint boxes: GIoU < 0 and IoU-log at -ln(eps)', () => {
    const a = t([2, 4], [0, 0, 4, 4, 0, 0, 1, 1]);
    const b = t([2, 4], [0, 0, 4, 4, 3, 0, 4, 1]);
    const attrs = { eps: 1e-6, reduction: 'none' };
    const giou = ops.generalized_box_iou_loss.forward({ boxes1: a, boxes2: b }, attrs).loss.data;
    expectValues(giou, [0, 1 + 0.5], 1e-12); // enclose 4, union 2: GIoU = 0 - 2/4
    const iou = ops.iou_loss.forward({ boxes1: a, boxes2: b }, attrs).loss.data;
    expectValues(iou, [0, -Math.log(1e-6)], 1e-9);
    // Ties (identical boxes) split evenly, so the two boxes get equal gradients.
    const g = ops.generalized_box_iou_loss.vjp({ boxes1: a, boxes2: b }, attrs, { loss: t([2], [1, 0]) });
    expect(Array.from(g.boxes1!.data.subarray(0, 4))).toEqual(Array.from(g.boxes2!.data.subarray(0, 4)));
  });

  it('degenerate boxes (zero area) stay finite thanks to the eps clamps', () => {
    const a = t([1, 4], [1, 1, 1, 1]);
    const attrs = { eps: 1e-6, reduction: 'sum' };
    for (const opId of ['generalized_box_iou_loss', 'iou_loss']) {
      const loss = ops[opId].forward({ boxes1: a, boxes2: a }, attrs).loss;
      expect(Number.isFinite(loss.data[0])).toBe(true);
      const g = ops[opId].vjp({ boxes1: a, boxes2: a }, attrs, { loss: t([], [1]) });
      expect(Array.from(g.boxes1!.data).every(Number.isFinite)).toBe(true);
    }
  });
});
