import { describe, expect, it } from 'vitest';
import { referenceOps as ops } from '../../engine/reference/index.ts';
import { finiteDiffCheck } from '../../engine/reference/finiteDiff.ts';
import type { RefAttrs, RefOp, RefTensor } from '../../engine/reference/types.ts';
import { Rng } from '../../engine/random.ts';

const t = (shape: number[], data: ArrayLike<number>): RefTensor => ({ shape, data: Float64Array.from(data) });
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const normalT = (rng: Rng, shape: number[], std = 1, mean = 0) => t(shape, rng.normal(numel(shape), mean, std));
const uniformT = (rng: Rng, shape: number[], lo = 0, hi = 1) => t(shape, rng.uniform(numel(shape), lo, hi));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function expectClose(got: ArrayLike<number>, want: number[], tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol})`);
    }
  }
}

/** Random upstream gradients shaped like every output of the op. */
function upstreamFor(op: RefOp, inputs: Record<string, RefTensor>, attrs: RefAttrs, rng: Rng) {
  const outs = op.forward(inputs, attrs);
  const up: Record<string, RefTensor> = {};
  for (const [name, o] of Object.entries(outs)) up[name] = normalT(rng, o.shape);
  return up;
}

/** Runs finiteDiffCheck with random upstream and asserts the worst relative error. */
function fd(opId: string, inputs: Record<string, RefTensor>, attrs: RefAttrs, seed: number, skip: string[] = [], tol = 1e-6) {
  const op = ops[opId];
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

// ───────────────────────── worked values, docs/crosskd.md §3 ─────────────────────────

describe('worked values of docs/crosskd.md §3 (torch 1.13)', () => {
  const logits = [-1, 0.5, 2];

  it('sigmoid focal loss elements, gt class 1', () => {
    const { loss } = ops.sigmoid_focal_loss.forward({ logits: t([1, 3], logits), targets: t([1, 3], [0, 1, 0]) }, { alpha: 0.25, gamma: 2, reduction: 'none' });
    expect(loss.shape).toEqual([1, 3]);
    expectClose(loss.data, [0.016994, 0.016893, 1.237559]);
    const sum = ops.sigmoid_focal_loss.forward({ logits: t([1, 3], logits), targets: t([1, 3], [0, 1, 0]) }, { alpha: 0.25, gamma: 2, reduction: 'sum' }).loss;
    expect(sum.shape).toEqual([]);
    expectClose(sum.data, [0.016994 + 0.016893 + 1.237559]);
  });

  it('QFL with IoU 0.7: per-class elements and their sum', () => {
    // One class per row isolates each element: rows 0 and 2 are background (label 1 = C).
    const { loss } = ops.quality_focal_loss.forward(
      { pred: t([3, 1], logits), label: t([3], [1, 0, 1]), score: t([3], [0, 0.7, 0]) },
      { beta: 2, num_classes: 1 },
    );
    expectClose(loss.data, [0.022658, 0.003752, 1.650078]);
    const row = ops.quality_focal_loss.forward({ pred: t([1, 3], logits), label: t([1], [1]), score: t([1], [0.7]) }, { beta: 2, num_classes: 3 }).loss;
    expectClose(row.data, [0.022658 + 0.003752 + 1.650078]);
  });

  it('KD-QFL β1 with teacher logits [-2, 1, 0.3]', () => {
    const inputs = { pred: t([1, 3], logits), soft_target: t([1, 3], [-2, 1, 0.3].map(sigmoid)) };
    const none = ops.kd_quality_focal_loss.forward(inputs, { beta: 1, class_reduction: 'none' }).loss;
    expect(none.shape).toEqual([1, 3]);
    expectClose(none.data, [0.064757, 0.066088, 0.299628]);
    const sum = ops.kd_quality_focal_loss.forward(inputs, { beta: 1, class_reduction: 'sum' }).loss;
    expect(sum.shape).toEqual([1]);
    expectClose(sum.data, [0.064757 + 0.066088 + 0.299628]);
  });

  it('DFL and its integral, logits [0.1, 0.5, 2, 1, -1], target 2.3', () => {
    const pred = t([1, 5], [0.1, 0.5, 2, 1, -1]);
    expectClose(ops.distribution_focal_loss.forward({ pred, target: t([1], [2.3]) }, { reg_max: 4 }).loss.data, [0.88242]);
    expectClose(ops.integral.forward({ pred }, { reg_max: 4 }).out.data, [1.969384]);
  });

  it('distribution KL, T=1 sum and T=10 mean·T²', () => {
    const inputs = { pred: t([1, 5], [0, 1, 2, 0.5, -0.5]), soft_label: t([1, 5], [0.1, 0.5, 2, 1, -1]) };
    expectClose(ops.kd_kl_div.forward(inputs, { T: 1, bin_reduction: 'sum' }).loss.data, [0.044914]);
    expectClose(ops.kd_kl_div.forward(inputs, { T: 10, bin_reduction: 'mean' }).loss.data, [0.014253]);
  });

  it('boxes [0,0,10,10] vs [5,5,15,20]: IoU, GIoU, GIoU loss, IoU-log loss', () => {
    const inputs = { boxes1: t([1, 4], [0, 0, 10, 10]), boxes2: t([1, 4], [5, 5, 15, 20]) };
    const giouLoss = ops.generalized_box_iou_loss.forward(inputs, { eps: 1e-6, reduction: 'none' }).loss.data[0];
    const iouLoss = ops.iou_loss.forward(inputs, { eps: 1e-6, reduction: 'none' }).loss.data[0];
    expectClose([giouLoss], [1.138889]);
    expectClose([1 - giouLoss], [-0.138889]); // GIoU
    expectClose([iouLoss], [2.197225]);
    expectClose([Math.exp(-iouLoss)], [0.111111]); // IoU
  });
});

// ─────────────────────────────────── conv2d ───────────────────────────────────

describe('conv2d', () => {
  const x = t([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const weight = t([1, 1, 2, 2], [1, 2, 3, 4]);

  it('hand-worked 3×3 input, 2×2 kernel, with bias', () => {
    // out[i][j] = 1·x[i][j] + 2·x[i][j+1] + 3·x[i+1][j] + 4·x[i+1][j+1] + 0.5
    //   (0,0): 1+4+12+20 = 37   (0,1): 2+6+15+24 = 47
    //   (1,0): 4+10+21+32 = 67  (1,1): 5+12+24+36 = 77
    const { out } = ops.conv2d.forward({ x, weight, bias: t([1], [0.5]) }, {});
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expectClose(out.data, [37.5, 47.5, 67.5, 77.5], 1e-12);
  });

  it('hand-worked padding 1, stride 2, no bias', () => {
    // Padded 5×5 input; windows start at padded (0,0), (0,2), (2,0), (2,2):
    //   [0 0; 0 1] → 4·1 = 4            [0 0; 2 3] → 3·2 + 4·3 = 18
    //   [0 4; 0 7] → 2·4 + 4·7 = 36     [5 6; 8 9] → 5+12+24+36 = 77
    const { out } = ops.conv2d.forward({ x, weight }, { stride: [2, 2], padding: [1, 1] });
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expectClose(out.data, [4, 18, 36, 77], 1e-12);
  });

  it('hand-worked dilation 2: a 2×2 kernel reads the corners', () => {
    const { out } = ops.conv2d.forward({ x, weight }, { dilation: [2, 2] });
    expect(out.shape).toEqual([1, 1, 1, 1]);
    expectClose(out.data, [1 * 1 + 2 * 3 + 3 * 7 + 4 * 9], 1e-12);
  });

  it('groups = 2 equals two independent convs on the channel halves', () => {
    const rng = new Rng(7);
    const xg = normalT(rng, [2, 4, 5, 5]);
    const wg = normalT(rng, [6, 2, 3, 3]);
    const bg = normalT(rng, [6]);
    const attrs = { padding: [1, 1], groups: 2 };
    const full = ops.conv2d.forward({ x: xg, weight: wg, bias: bg }, attrs).out;
    for (let g = 0; g < 2; g++) {
      const xs = t(
        [2, 2, 5, 5],
        [0, 1].flatMap((n) => Array.from(xg.data.subarray((n * 4 + 2 * g) * 25, (n * 4 + 2 * g + 2) * 25))),
      );
      const ws = t([3, 2, 3, 3], wg.data.subarray(g * 54, (g + 1) * 54));
      const bs = t([3], bg.data.subarray(3 * g, 3 * g + 3));
      const part = ops.conv2d.forward({ x: xs, weight: ws, bias: bs }, { padding: [1, 1] }).out;
      for (let n = 0; n < 2; n++) {
        const want = Array.from(part.data.subarray(n * 75, (n + 1) * 75));
        expectClose(full.data.subarray((n * 6 + 3 * g) * 25, (n * 6 + 3 * g + 3) * 25), want, 1e-12);
      }
    }
  });

  const cases: { name: string; x: number[]; w: number[]; bias: boolean; attrs: RefAttrs }[] = [
    { name: 'stride 2, padding 1, bias', x: [2, 3, 7, 6], w: [4, 3, 3, 3], bias: true, attrs: { stride: [2, 2], padding: [1, 1] } },
    { name: 'dilation 2, padding 2, no bias', x: [1, 2, 7, 7], w: [3, 2, 3, 3], bias: false, attrs: { dilation: [2, 2], padding: [2, 2] } },
    { name: 'groups 2, rectangular kernel, stride [1,2]', x: [2, 4, 5, 6], w: [6, 2, 3, 2], bias: true, attrs: { groups: 2, stride: [1, 2], padding: [1, 0] } },
    { name: 'depthwise, channel multiplier 2', x: [1, 3, 5, 5], w: [6, 1, 3, 3], bias: true, attrs: { groups: 3, padding: [1, 1] } },
    { name: '1×1', x: [2, 5, 3, 4], w: [3, 5, 1, 1], bias: true, attrs: {} },
  ];
  for (const [k, c] of cases.entries()) {
    it(`finite differences: ${c.name}`, () => {
      const rng = new Rng(100 + k);
      const inputs: Record<string, RefTensor> = { x: normalT(rng, c.x), weight: normalT(rng, c.w, 0.5) };
      if (c.bias) inputs.bias = normalT(rng, [c.w[0]]);
      fd('conv2d', inputs, c.attrs, 100 + k);
    });
  }
});

// ───────────────────────────────── group_norm ─────────────────────────────────

describe('group_norm', () => {
  it('normalises each group to mean 0 and variance 1 (weight 1, bias 0)', () => {
    const rng = new Rng(3);
    const [N, C, H, W] = [2, 6, 3, 4];
    const x = normalT(rng, [N, C, H, W], 3, 5);
    for (const G of [1, 2, 3, 6]) {
      const { out } = ops.group_norm.forward({ x, weight: t([C], new Array(C).fill(1)), bias: t([C], new Array(C).fill(0)) }, { num_groups: G, eps: 0 });
      const M = (C / G) * H * W;
      for (let i = 0; i < N * G; i++) {
        const grp = out.data.subarray(i * M, (i + 1) * M);
        const mean = grp.reduce((a, b) => a + b, 0) / M;
        const v = grp.reduce((a, b) => a + (b - mean) ** 2, 0) / M; // biased, as PyTorch
        expect(Math.abs(mean)).toBeLessThan(1e-12);
        expect(Math.abs(v - 1)).toBeLessThan(1e-12);
      }
    }
  });

  it('applies the affine per channel and the optional fused ReLU', () => {
    const x = t([1, 2, 2], [1, 3, -2, 2]); // one group per channel: x̂ = [-1, 1], [-1, 1]
    const attrs = { num_groups: 2, eps: 0 };
    const inputs = { x, weight: t([2], [2, 0.5]), bias: t([2], [1, -1]) };
    expectClose(ops.group_norm.forward(inputs, attrs).out.data, [-1, 3, -1.5, -0.5], 1e-12);
    expectClose(ops.group_norm.forward(inputs, { ...attrs, relu: true }).out.data, [0, 3, 0, 0], 1e-12);
  });

  const cases: { name: string; shape: number[]; G: number; relu?: boolean }[] = [
    { name: 'G = 1', shape: [2, 4, 3, 3], G: 1 },
    { name: 'G = 2', shape: [2, 4, 3, 3], G: 2 },
    { name: 'G = C', shape: [2, 4, 3, 3], G: 4 },
    { name: 'rank 2 [N,C]', shape: [3, 6], G: 3 },
    { name: 'rank 3', shape: [2, 4, 5], G: 2 },
  ];
  for (const [k, c] of cases.entries()) {
    it(`finite differences: ${c.name}`, () => {
      const rng = new Rng(200 + k);
      const C = c.shape[1];
      const inputs = { x: normalT(rng, c.shape, 2, 1), weight: normalT(rng, [C], 1, 1), bias: normalT(rng, [C]) };
      fd('group_norm', inputs, { num_groups: c.G, eps: 1e-5 }, 200 + k);
    });
  }

  it('finite differences with the fused ReLU (kink: 1e-5)', () => {
    for (const seed of [210, 211]) {
      const rng = new Rng(seed);
      const inputs = { x: normalT(rng, [2, 4, 3, 3]), weight: normalT(rng, [4], 1, 1), bias: normalT(rng, [4], 0.5) };
      fd('group_norm', inputs, { num_groups: 2, eps: 1e-5, relu: true }, seed, [], 1e-5);
    }
  });
});

// ─────────────────────────────────── losses ───────────────────────────────────

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

/** Random boxes [N,4]: corner in [0, 10), sides in [1, 8). */
function randomBoxes(rng: Rng, N: number): RefTensor {
  const c = rng.uniform(2 * N, 0, 10);
  const s = rng.uniform(2 * N, 1, 8);
  const out: number[] = [];
  for (let i = 0; i < N; i++) out.push(c[2 * i], c[2 * i + 1], c[2 * i] + s[2 * i], c[2 * i + 1] + s[2 * i + 1]);
  return t([N, 4], out);
}

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
    expectClose(giou, [0, 1 + 0.5], 1e-12); // enclose 4, union 2: GIoU = 0 - 2/4
    const iou = ops.iou_loss.forward({ boxes1: a, boxes2: b }, attrs).loss.data;
    expectClose(iou, [0, -Math.log(1e-6)], 1e-9);
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

// ───────────────────────────── integral and box coding ─────────────────────────────

describe('integral', () => {
  for (const [k, regMax] of [16, 4].entries()) {
    it(`finite differences, reg_max ${regMax}`, () => {
      const rng = new Rng(900 + k);
      fd('integral', { pred: normalT(rng, [5, regMax + 1], 2) }, { reg_max: regMax }, 900 + k);
    });
  }

  it('uniform logits give reg_max / 2; a peaked distribution gives its bin', () => {
    expectClose(ops.integral.forward({ pred: t([1, 17], new Array(17).fill(0.3)) }, { reg_max: 16 }).out.data, [8], 1e-12);
    const peaked = new Array(5).fill(-30);
    peaked[3] = 30;
    expectClose(ops.integral.forward({ pred: t([1, 5], peaked) }, { reg_max: 4 }).out.data, [3], 1e-12);
  });
});

describe('distance2bbox and bbox2distance', () => {
  it('round-trips points and boxes, and matches the hand formula', () => {
    const points = t([2, 2], [5, 6, 0, 0]);
    const distance = t([2, 4], [1, 2, 3, 4, 0.5, 0.5, 0.5, 0.5]);
    const { out } = ops.distance2bbox.forward({ points, distance }, {});
    expectClose(out.data, [4, 4, 8, 10, -0.5, -0.5, 0.5, 0.5], 1e-12);
    expectClose(ops.bbox2distance.forward({ points, bbox: out }, {}).out.data, Array.from(distance.data), 1e-12);
  });

  it('bbox2distance clamps to [0, max_dis - eps] (mmdetection default eps 0.1)', () => {
    const points = t([1, 2], [5, 5]);
    const bbox = t([1, 4], [6, -20, 30, 7]); // raw distances: -1, 25, 25, 2
    expectClose(ops.bbox2distance.forward({ points, bbox }, { max_dis: 16 }).out.data, [0, 15.9, 15.9, 2], 1e-12);
    expectClose(ops.bbox2distance.forward({ points, bbox }, { max_dis: 16, eps: 0.01 }).out.data, [0, 15.99, 15.99, 2], 1e-12);
    expectClose(ops.bbox2distance.forward({ points, bbox }, {}).out.data, [-1, 25, 25, 2], 1e-12);
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

// ─────────────────────────────────── validation ───────────────────────────────────

describe('argument validation names op, argument, expected and actual', () => {
  const rng = new Rng(1);
  const x = normalT(rng, [1, 3, 4, 4]);

  it('conv2d: channels not divisible by groups', () => {
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 1, 3, 3]) }, { groups: 2 })).toThrow(
      /conv2d: argument 'x' expected a channel count divisible by groups = 2, got Cin = 3/,
    );
  });

  it('conv2d: weight shape mismatch, bias shape mismatch', () => {
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 2, 3, 3]) }, {})).toThrow(
      /conv2d: argument 'weight' expected shape \[4,3,kh,kw\].*got shape \[4,2,3,3\]/,
    );
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 3, 3, 3]), bias: normalT(rng, [3]) }, {})).toThrow(
      /conv2d: argument 'bias' expected shape \[4\], got shape \[3\]/,
    );
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 3, 9, 9]) }, {})).toThrow(/conv2d: argument 'x'.*got 4x4/);
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 3, 3, 3]) }, { stride: [0, 1] })).toThrow(
      /conv2d: argument 'stride' expected \[h, w\] of integers ≥ 1, got \[0,1\]/,
    );
  });

  it('group_norm: channels not divisible by num_groups, missing input', () => {
    expect(() => ops.group_norm.forward({ x, weight: normalT(rng, [3]), bias: normalT(rng, [3]) }, { num_groups: 2 })).toThrow(
      /group_norm: argument 'x' expected a channel count divisible by num_groups = 2, got C = 3/,
    );
    expect(() => ops.group_norm.forward({ x, weight: normalT(rng, [4]) }, { num_groups: 1 })).toThrow(
      /group_norm: argument 'weight' expected shape \[3\], got shape \[4\]/,
    );
    expect(() => ops.group_norm.forward({}, { num_groups: 1 })).toThrow(/group_norm: argument 'x' expected a tensor, got nothing/);
  });

  it('quality_focal_loss: labels outside [0, C] or not integers', () => {
    const pred = normalT(rng, [2, 3]);
    const score = uniformT(rng, [2]);
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [0, 4]), score }, { beta: 2, num_classes: 3 })).toThrow(
      /quality_focal_loss: argument 'label' expected integers in \[0, 3\] \(3 = background\), got label\[1\] = 4/,
    );
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [-1, 0]), score }, { beta: 2, num_classes: 3 })).toThrow(/label\[0\] = -1/);
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [0.5, 0]), score }, { beta: 2, num_classes: 3 })).toThrow(/label\[0\] = 0.5/);
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [0, 1]), score }, { beta: 2, num_classes: 4 })).toThrow(
      /quality_focal_loss: argument 'num_classes' expected pred.shape\[1\] = 3, got 4/,
    );
  });

  it('box losses: x2 < x1 or y2 < y1', () => {
    const good = t([2, 4], [0, 0, 1, 1, 0, 0, 2, 2]);
    const bad = t([2, 4], [0, 0, 1, 1, 3, 0, 2, 2]);
    for (const opId of ['generalized_box_iou_loss', 'iou_loss']) {
      expect(() => ops[opId].forward({ boxes1: good, boxes2: bad }, { eps: 1e-6, reduction: 'none' })).toThrow(
        new RegExp(`${opId}: argument 'boxes2' expected boxes with x2 ≥ x1 and y2 ≥ y1, got boxes2\\[1\\] = \\[3, 0, 2, 2\\]`),
      );
    }
    expect(() => ops.bbox2distance.forward({ points: t([2, 2], [0, 0, 0, 0]), bbox: bad }, {})).toThrow(
      /bbox2distance: argument 'bbox' expected boxes with x2 ≥ x1/,
    );
  });

  it('reg_max mismatch with the bin count', () => {
    const pred = normalT(rng, [2, 17]);
    expect(() => ops.distribution_focal_loss.forward({ pred, target: t([2], [1, 2]) }, { reg_max: 7 })).toThrow(
      /distribution_focal_loss: argument 'pred' expected shape \[N,8\] \(reg_max \+ 1 bins for reg_max = 7\), got shape \[2,17\]/,
    );
    expect(() => ops.integral.forward({ pred }, { reg_max: 16.5 })).toThrow(/integral: argument 'reg_max' expected an integer ≥ 1, got 16.5/);
    expect(() => ops.distribution_focal_loss.forward({ pred, target: t([2], [1, 16]) }, { reg_max: 16 })).toThrow(
      /distribution_focal_loss: argument 'target' expected values in \[0, 16\), got target\[1\] = 16/,
    );
  });

  it('unknown reduction strings', () => {
    const boxes = t([1, 4], [0, 0, 1, 1]);
    expect(() => ops.generalized_box_iou_loss.forward({ boxes1: boxes, boxes2: boxes }, { eps: 1e-6, reduction: 'mean' })).toThrow(
      /generalized_box_iou_loss: argument 'reduction' expected one of 'none' \| 'sum', got "mean"/,
    );
    const logits = normalT(rng, [2, 2]);
    expect(() => ops.sigmoid_focal_loss.forward({ logits, targets: logits }, { reduction: 'avg' })).toThrow(
      /sigmoid_focal_loss: argument 'reduction' expected one of 'none' \| 'sum', got "avg"/,
    );
    expect(() => ops.kd_kl_div.forward({ pred: logits, soft_label: logits }, { T: 1, bin_reduction: 'max' })).toThrow(
      /kd_kl_div: argument 'bin_reduction' expected one of 'sum' \| 'mean', got "max"/,
    );
    expect(() => ops.kd_quality_focal_loss.forward({ pred: logits, soft_target: logits }, { class_reduction: 'mean' })).toThrow(
      /kd_quality_focal_loss: argument 'class_reduction' expected one of 'sum' \| 'none', got "mean"/,
    );
  });

  it('data length must match shape', () => {
    expect(() => ops.integral.forward({ pred: { shape: [2, 5], data: new Float64Array(9) } }, { reg_max: 4 })).toThrow(
      /integral: argument 'pred' expected 10 values for shape \[2,5\], got 9/,
    );
  });
});
