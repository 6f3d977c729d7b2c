/**
 * The fused detection losses (engine/ops/losses.ts; with Integral, engine/ops/boxes.ts) on the GPU:
 * the worked values of docs/crosskd.md §3 (typed in here, independent of any code), forward and
 * backward against the float64 reference with weights, reductions and avg_factor, the
 * extreme inputs (logits ±30 and beyond, targets exactly 0 and 1, tiny and thin boxes),
 * the one-kernel backward and the lifetime of the saved gradients, and bad arguments.
 * The per-op gradient checks of engine/checks/specs/losses.ts run in test/checks.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dispatched } from '../helpers/dispatched.ts';
import { expectNear, values } from '../helpers/values.ts';
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { Rng } from '../../engine/random.ts';
import { referenceOps as R } from '../../engine/reference/index.ts';
import type { RefTensor } from '../../engine/reference/types.ts';

beforeAll(async () => {
  await E.init();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const EPS = 1.1920929e-7;
const ref = (shape: number[], data: ArrayLike<number>): RefTensor => ({ shape, data: Float64Array.from(data) });
const f32 = (v: ArrayLike<number>) => Float32Array.from(v);

/** max|got − want| ≤ tol · max|want|. */
function expectRel(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = ''): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  expectNear(got, want, tol * scale, what);
}

const allFinite = (v: ArrayLike<number>) => Array.from(v).every(Number.isFinite);

// ------------------------------------------------------------------ worked values

describe('worked values of docs/crosskd.md §3 (torch 1.13, six decimals)', () => {
  const TOL = 2e-6; // half a unit of the sixth decimal, plus float32 rounding

  it('sigmoid focal loss, logits [-1, 0.5, 2], gt class 1', async () => {
    const loss = E.sigmoidFocalLoss(E.tensor([-1, 0.5, 2], [1, 3]), E.tensor([0, 1, 0], [1, 3]), { reduction: 'none' });
    expectNear(await values(loss), [0.016994, 0.016893, 1.237559], TOL, 'focal');
  });

  it('QFL with IoU 0.7: each class as a one-class row (label 0 = its positive, 1 = background)', async () => {
    // the op sums over classes; one column per row exposes the three elements
    const pred = E.tensor([-1, 0.5, 2], [3, 1]);
    const label = E.tensor([1, 0, 1], [3], 'int32');
    const score = E.tensor([0, 0.7, 0], [3]);
    const loss = E.qualityFocalLoss(pred, label, score, { reduction: 'none' });
    expectNear(await values(loss), [0.022658, 0.003752, 1.650078], TOL, 'qfl');
    const row = E.qualityFocalLoss(E.tensor([-1, 0.5, 2], [1, 3]), E.tensor([1], [1], 'int32'), E.tensor([0.7]), { reduction: 'none' });
    expectNear(await values(row), [0.022658 + 0.003752 + 1.650078], 3 * TOL, 'qfl row sum');
  });

  it('KD-QFL β 1 with teacher logits [-2, 1, 0.3]', async () => {
    const t = [-2, 1, 0.3].map((z) => 1 / (1 + Math.exp(-z)));
    const loss = E.kdQualityFocalLoss(E.tensor([-1, 0.5, 2], [1, 3]), E.tensor(t, [1, 3]), { classReduction: 'none', reduction: 'none' });
    expectNear(await values(loss), [0.064757, 0.066088, 0.299628], TOL, 'kd-qfl');
  });

  it('DFL of logits [0.1, 0.5, 2, 1, -1] at target 2.3, and their integral', async () => {
    const pred = E.tensor([0.1, 0.5, 2, 1, -1], [1, 5]);
    expectNear(await values(E.distributionFocalLoss(pred, E.tensor([2.3]), { regMax: 4, reduction: 'none' })), [0.88242], TOL, 'dfl');
    expectNear(await values(E.integral(pred, { regMax: 4 })), [1.969384], TOL, 'integral');
  });

  it('distribution KL, teacher [0.1, 0.5, 2, 1, -1] vs student [0, 1, 2, 0.5, -0.5]', async () => {
    const student = E.tensor([0, 1, 2, 0.5, -0.5], [1, 5]);
    const teacher = E.tensor([0.1, 0.5, 2, 1, -1], [1, 5]);
    expectNear(await values(E.kdKlDiv(student, teacher, { T: 1, binReduction: 'sum', reduction: 'none' })), [0.044914], TOL, 'T1 sum');
    expectNear(await values(E.kdKlDiv(student, teacher, { T: 10, binReduction: 'mean', reduction: 'none' })), [0.014253], TOL, 'T10 mean');
  });

  it('boxes [0,0,10,10] vs [5,5,15,20]: GIoU loss 1.138889, IoU-log 2.197225', async () => {
    const a = E.tensor([0, 0, 10, 10], [1, 4]);
    const b = E.tensor([5, 5, 15, 20], [1, 4]);
    expectNear(await values(E.giouLoss(a, b, { reduction: 'none' })), [1.138889], TOL, 'giou');
    expectNear(await values(E.iouLoss(a, b, { reduction: 'none' })), [2.197225], TOL, 'iou-log');
  });

  it('distance2bbox and bbox2distance invert each other at a point', async () => {
    const p = E.tensor([5, 7], [1, 2]);
    const box = E.distance2bbox(p, E.tensor([1, 2, 3, 4], [1, 4]));
    expect(await values(box)).toEqual([4, 5, 8, 11]);
    expect(await values(E.bbox2distance(p, box))).toEqual([1, 2, 3, 4]);
  });
});

// ------------------------------------------------------------------ against the reference

interface RefCase {
  id: string;
  inputs: Record<string, RefTensor>;
  attrs: Record<string, unknown>;
  /** the GPU call on tensors of the same names, given the op's reduce options */
  run: (t: Record<string, Tensor>, opts: E.LossReduceOptions) => Tensor;
  /** inputs that get gradients */
  diff: string[];
  /** loss elements per leading index (the [N] a per-prior weight spans) */
  rows: number;
}

function refCases(rng: Rng): RefCase[] {
  const N = 300;
  const C = 20;
  const labels = rng.int(N, 0, C + 1);
  const boxesA: number[] = [];
  const boxesB: number[] = [];
  const u = rng.uniform(8 * N);
  for (let i = 0; i < N; i++) {
    const [x, y, w, h] = [u[8 * i] * 50, u[8 * i + 1] * 50, 1 + u[8 * i + 2] * 20, 1 + u[8 * i + 3] * 20];
    boxesA.push(x, y, x + w, y + h);
    const [dx, dy, dw, dh] = [u[8 * i + 4] - 0.5, u[8 * i + 5] - 0.5, u[8 * i + 6] - 0.5, u[8 * i + 7] - 0.5];
    boxesB.push(x + dx * w, y + dy * h, x + w + dw * w, y + h + dh * h);
  }
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const round = (v: Float64Array) => v.map(Math.fround);
  return [
    {
      id: 'sigmoid_focal_loss',
      inputs: { logits: ref([N, C], rng.normal(N * C, 0, 3)), targets: ref([N, C], rng.int(N * C, 0, 2)) },
      attrs: { alpha: 0.25, gamma: 2 },
      run: (t, o) => E.sigmoidFocalLoss(t.logits, t.targets, o),
      diff: ['logits', 'targets'],
      rows: N,
    },
    {
      id: 'quality_focal_loss',
      inputs: { pred: ref([N, C], rng.normal(N * C, -3, 2)), label: ref([N], labels), score: ref([N], rng.uniform(N)) },
      attrs: { beta: 2 },
      run: (t, o) => E.qualityFocalLoss(t.pred, t.label, t.score, o),
      diff: ['pred', 'score'],
      rows: N,
    },
    {
      id: 'kd_quality_focal_loss',
      inputs: { pred: ref([N, C], rng.normal(N * C, 0, 2)), soft_target: ref([N, C], round(rng.normal(N * C, 0, 2).map(sig))) },
      attrs: { beta: 1, class_reduction: 'sum' },
      run: (t, o) => E.kdQualityFocalLoss(t.pred, t.soft_target, o),
      diff: ['pred', 'soft_target'],
      rows: N,
    },
    {
      id: 'distribution_focal_loss',
      inputs: { pred: ref([N, 17], rng.normal(N * 17, 0, 2)), target: ref([N], rng.uniform(N, 0, 15.9)) },
      attrs: { reg_max: 16 },
      run: (t, o) => E.distributionFocalLoss(t.pred, t.target, { ...o, regMax: 16 }),
      diff: ['pred', 'target'],
      rows: N,
    },
    {
      id: 'kd_kl_div',
      inputs: { pred: ref([N, 17], rng.normal(N * 17, 0, 2)), soft_label: ref([N, 17], rng.normal(N * 17, 0, 2)) },
      attrs: { T: 1, bin_reduction: 'sum' },
      run: (t, o) => E.kdKlDiv(t.pred, t.soft_label, o),
      diff: ['pred'],
      rows: N,
    },
    {
      id: 'generalized_box_iou_loss',
      inputs: { boxes1: ref([N, 4], round(Float64Array.from(boxesA))), boxes2: ref([N, 4], round(Float64Array.from(boxesB))) },
      attrs: { eps: 1e-6 },
      run: (t, o) => E.giouLoss(t.boxes1, t.boxes2, o),
      diff: ['boxes1', 'boxes2'],
      rows: N,
    },
    {
      id: 'iou_loss',
      inputs: { boxes1: ref([N, 4], round(Float64Array.from(boxesA))), boxes2: ref([N, 4], round(Float64Array.from(boxesB))) },
      attrs: { eps: 1e-6 },
      run: (t, o) => E.iouLoss(t.boxes1, t.boxes2, o),
      diff: ['boxes1', 'boxes2'],
      rows: N,
    },
  ];
}

const upload = (c: RefCase): Record<string, Tensor> =>
  Object.fromEntries(
    Object.entries(c.inputs).map(([name, t]) => {
      const isLabel = c.id === 'quality_focal_loss' && name === 'label';
      const x = E.tensor(isLabel ? Int32Array.from(t.data) : f32(t.data), t.shape, isLabel ? 'int32' : 'float32');
      if (c.diff.includes(name)) E.requireGrad(x);
      return [name, x];
    }),
  );

describe('against the float64 reference: weight, reduction and avg_factor', () => {
  const rng = new Rng(20251128);
  for (const c of refCases(rng)) {
    it(`${c.id}: weighted mean over avg_factor, forward and every gradient`, async () => {
      const op = R[c.id];
      const elems = op.forward(c.inputs, c.attrs).loss;
      const w = rng.uniform(c.rows, 0, 2).map(Math.fround);
      const perRow = elems.data.length / c.rows;
      const avg = 37.5;
      // reference: Σ w_i·l_i / (avg + eps), and its vjp with upstream w_i/(avg + eps)
      let want = 0;
      elems.data.forEach((l, i) => (want += w[Math.floor(i / perRow)] * l));
      want /= avg + EPS;
      const up = elems.data.map((_, i) => w[Math.floor(i / perRow)] / (avg + EPS));
      const grads = op.vjp(c.inputs, c.attrs, { loss: ref(elems.shape, up) });

      const t = upload(c);
      const loss = c.run(t, { weight: E.tensor(w, [c.rows]), avgFactor: avg });
      expect(loss.shape).toEqual([]);
      expectRel(await values(loss), [want], 1e-5, `${c.id} loss`);
      E.backward(loss);
      for (const name of c.diff) expectRel(await values(t[name].grad!), grads[name]!.data, 2e-5, `${c.id} d${name}`);
    });
  }

  it('mean without avg_factor divides by the element count; sum adds; none keeps the weighted elements', async () => {
    const rng2 = new Rng(5);
    const x = rng2.normal(24, 0, 2);
    const tg = rng2.int(24, 0, 2);
    const w = [0.5, 2, 0, 1];
    const elems = R.sigmoid_focal_loss.forward({ logits: ref([4, 6], x), targets: ref([4, 6], tg) }, {}).loss.data;
    const weighted = Array.from(elems, (l, i) => l * w[Math.floor(i / 6)]);
    const total = weighted.reduce((a, b) => a + b, 0);
    const logits = E.tensor(x, [4, 6]);
    const targets = E.tensor(tg, [4, 6]);
    const weight = E.tensor(w, [4]);
    expectRel(await values(E.sigmoidFocalLoss(logits, targets, { weight, reduction: 'none' })), weighted, 1e-6, 'none');
    expectRel(await values(E.sigmoidFocalLoss(logits, targets, { weight, reduction: 'sum' })), [total], 1e-6, 'sum');
    expectRel(await values(E.sigmoidFocalLoss(logits, targets, { weight, reduction: 'mean' })), [total / 24], 1e-6, 'mean');
    expectRel(await values(E.sigmoidFocalLoss(logits, targets, { weight })), [total / 24], 1e-6, 'default mean');
    // a per-element weight works the same
    const full = E.tensor(
      Array.from({ length: 24 }, (_, i) => w[Math.floor(i / 6)]),
      [4, 6],
    );
    expectRel(await values(E.sigmoidFocalLoss(logits, targets, { weight: full, reduction: 'sum' })), [total], 1e-6, 'full weight');
  });

  it('avg_factor as a GPU tensor gives the number path’s loss and gradient, with no readback', async () => {
    const x = new Rng(9).normal(40 * 17, 0, 2);
    const y = new Rng(10).uniform(40, 0, 15.9);
    const run = async (avg: number | Tensor) => {
      const pred = E.requireGrad(E.tensor(x, [40, 17]));
      const loss = E.distributionFocalLoss(pred, E.tensor(y, [40]), { avgFactor: avg });
      const before = E.runtime().stats.readbacks;
      E.backward(loss);
      expect(E.runtime().stats.readbacks).toBe(before);
      return { loss: await values(loss), grad: await values(pred.grad!) };
    };
    const byNumber = await run(12.25);
    // the factor computed on the GPU, as a detector's N_pos would be
    const byTensor = await run(E.sum(E.tensor([6, 6.25])));
    expectRel(byTensor.loss, byNumber.loss, 1e-7, 'loss');
    expectRel(byTensor.grad, byNumber.grad, 1e-7, 'grad');
  });

  it('differentiates a weight and an avg_factor that require grad (composed path)', async () => {
    const x = [-1, 0.5, 2, 3, -2, 0.25];
    const labels = [1, 2];
    const scores = [0.7, 0.4];
    const rows = R.quality_focal_loss.forward({ pred: ref([2, 3], x), label: ref([2], labels), score: ref([2], scores) }, { beta: 2 }).loss.data;
    const w = [0.5, 1.5];
    const avg = 3;
    const total = rows[0] * w[0] + rows[1] * w[1];
    const pred = E.requireGrad(E.tensor(x, [2, 3]));
    const weight = E.requireGrad(E.tensor(w));
    const avgT = E.requireGrad(E.tensor([avg], []));
    const loss = E.qualityFocalLoss(pred, E.tensor(labels, [2], 'int32'), E.tensor(scores), { weight, avgFactor: avgT });
    expectRel(await values(loss), [total / (avg + EPS)], 1e-6, 'loss');
    E.backward(loss);
    // d/dw_i = l_i/(avg + eps); d/davg = −Σ w·l/(avg + eps)²
    expectRel(await values(weight.grad!), [rows[0] / (avg + EPS), rows[1] / (avg + EPS)], 1e-6, 'dweight');
    expectRel(await values(avgT.grad!), [-total / (avg + EPS) ** 2], 1e-6, 'davg');
    expect(pred.grad).not.toBeNull();
  });
});

// ------------------------------------------------------------------ extreme inputs

describe('stability', () => {
  const extremes = [30, -30, 100, -100, 0, 1e-3, -1e-3, 15, -15, 88, -88, 30];

  it('focal, QFL and KD-QFL stay finite for logits ±30 (and ±100) with targets exactly 0 and 1', async () => {
    const n = extremes.length;
    const logits = E.requireGrad(E.tensor(extremes, [n / 4, 4]));
    const targets = E.tensor(
      extremes.map((_, i) => i % 2),
      [n / 4, 4],
    );
    const focal = E.sigmoidFocalLoss(logits, targets, { reduction: 'none' });
    E.backward(
      focal,
      E.tensor(
        extremes.map(() => 1),
        [n / 4, 4],
      ),
    );
    const fl = await values(focal);
    expect(allFinite(fl) && allFinite(await values(logits.grad!))).toBe(true);
    // the reference agrees element by element, up to float32's smallest numbers
    const want = R.sigmoid_focal_loss.forward(
      {
        logits: ref([n / 4, 4], extremes),
        targets: ref(
          [n / 4, 4],
          extremes.map((_, i) => i % 2),
        ),
      },
      {},
    ).loss.data;
    expectRel(fl, want, 1e-6, 'focal at extremes');

    const qpred = E.requireGrad(E.tensor(extremes, [3, 4]));
    const q = E.qualityFocalLoss(qpred, E.tensor([0, 4, 1], [3], 'int32'), E.tensor([1, 0, 0]), { reduction: 'sum' });
    E.backward(q);
    expect(allFinite(await values(q)) && allFinite(await values(qpred.grad!))).toBe(true);

    const kpred = E.requireGrad(E.tensor(extremes, [3, 4]));
    const kd = E.kdQualityFocalLoss(
      kpred,
      E.tensor(
        extremes.map((_, i) => [0, 1, 0.5][i % 3]),
        [3, 4],
      ),
      { reduction: 'sum' },
    );
    E.backward(kd);
    expect(allFinite(await values(kd)) && allFinite(await values(kpred.grad!))).toBe(true);
  });

  it('at x = 30, t = 1 the BCE keeps its tiny log term (no cancellation to 0)', async () => {
    // BCE(30, 1) = log1p(e^-30) ≈ 9.357623e-14; the focal weight (1-p)^2 ≈ e^-60
    const loss = await values(E.kdQualityFocalLoss(E.tensor([30], [1, 1]), E.tensor([1], [1, 1]), { beta: 0, reduction: 'none' }));
    expect(loss[0] / 9.357622968840175e-14).toBeCloseTo(1, 5);
  });

  it('DFL, KL and Integral stay finite for bin logits of ±100', async () => {
    const z = Array.from({ length: 2 * 17 }, (_, i) => [100, -100, 0, 50][i % 4]);
    for (const run of [
      (p: Tensor) => E.distributionFocalLoss(p, E.tensor([0, 15.9]), { reduction: 'sum' }),
      (p: Tensor) =>
        E.kdKlDiv(
          p,
          E.tensor(
            z.map((v) => -v),
            [2, 17],
          ),
          { reduction: 'sum' },
        ),
      (p: Tensor) => E.sum(E.integral(p)),
    ]) {
      const pred = E.requireGrad(E.tensor(z, [2, 17]));
      const out = run(pred);
      E.backward(out);
      expect(allFinite(await values(out)) && allFinite(await values(pred.grad!))).toBe(true);
    }
  });

  it('GIoU and IoU-log on tiny, thin, identical and degenerate boxes: finite, and the reference’s gradient', async () => {
    const pairs = [
      [0, 0, 1e-4, 1e-4, 0, 0, 1e-4, 1e-4], // identical, area below eps
      [5, 5, 5.0001, 5.0002, 5, 5, 5.0002, 5.0001], // tiny overlapping
      [0, 0, 0.01, 10, 0.005, 0, 0.02, 10], // thin
      [3, 3, 3, 3, 3, 3, 3, 3], // zero-area points
      [0, 0, 2, 2, 10, 10, 12, 12], // disjoint
    ];
    const a = pairs.flatMap((p) => p.slice(0, 4)).map(Math.fround);
    const b = pairs.flatMap((p) => p.slice(4)).map(Math.fround);
    for (const [id, fn] of [
      ['generalized_box_iou_loss', E.giouLoss],
      ['iou_loss', E.iouLoss],
    ] as const) {
      const t1 = E.requireGrad(E.tensor(a, [5, 4]));
      const t2 = E.requireGrad(E.tensor(b, [5, 4]));
      const loss = fn(t1, t2, { reduction: 'sum' });
      E.backward(loss);
      const [g1, g2] = [await values(t1.grad!), await values(t2.grad!)];
      expect(allFinite([...(await values(loss)), ...g1, ...g2]), id).toBe(true);
      const inputs = { boxes1: ref([5, 4], a), boxes2: ref([5, 4], b) };
      const want = R[id].vjp(inputs, { reduction: 'sum' }, { loss: ref([], [1]) });
      expectRel(await values(loss), R[id].forward(inputs, { reduction: 'sum' }).loss.data, 1e-5, `${id} loss`);
      expectRel(g1, want.boxes1!.data, 1e-4, `${id} dboxes1`);
      expectRel(g2, want.boxes2!.data, 1e-4, `${id} dboxes2`);
    }
  });
});

// ------------------------------------------------------------------ the fused backward

describe('fused forward and backward', () => {
  it('forward is one kernel (plus the finish of a reduction); backward one multiply per input', () => {
    const pred = E.requireGrad(E.randNormal([64, 17], 1));
    const target = E.requireGrad(E.randUniform([64], 2, 0, 15));
    let loss!: Tensor;
    expect(dispatched(() => (loss = E.distributionFocalLoss(pred, target, { reduction: 'none' })))).toEqual(['distribution_focal_loss']);
    const up = E.randNormal([64], 3);
    // besides what backward() itself may do with the upstream gradient (a copy), the rule
    // is one multiply per input that requires grad, and nothing recomputes the loss
    const names = dispatched(() => E.backward(loss, up));
    expect(names.filter((k) => k.startsWith('loss'))).toEqual(['loss_grad', 'loss_grad']);
    expect(names.length).toBeLessThanOrEqual(3);
    let scalar!: Tensor;
    expect(dispatched(() => (scalar = E.distributionFocalLoss(pred, target, { avgFactor: 3 })))).toEqual(['distribution_focal_loss', 'loss_finish']);
    expect(dispatched(() => E.backward(scalar)).filter((k) => k.startsWith('loss'))).toEqual(['loss_grad', 'loss_grad']);
  });

  it('no gradient is written when nothing requires grad or under noGrad', async () => {
    const x = E.randNormal([32, 80], 1);
    const label = E.tensor(
      Array.from({ length: 32 }, (_, i) => i % 81),
      [32],
      'int32',
    );
    const score = E.randUniform([32], 2);
    const live = E.memory().liveTensors;
    const a = E.qualityFocalLoss(x, label, score);
    expect(a.requiresGrad).toBe(false);
    expect(E.memory().liveTensors).toBe(live + 1); // only the loss: no saved gradient
    const xg = E.requireGrad(E.randNormal([32, 80], 1));
    const b = E.noGrad(() => E.qualityFocalLoss(xg, label, score));
    expect(b.requiresGrad).toBe(false);
    expect(E.memory().liveTensors).toBe(live + 3);
    expectRel(await values(b), await values(a), 0, 'same loss');
  });

  it('QFL’s score gets a gradient only when it requires grad', async () => {
    const pred = E.requireGrad(E.randNormal([16, 5], 4));
    const label = E.tensor([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 5], [16], 'int32');
    const detached = E.randUniform([16], 5);
    E.backward(E.qualityFocalLoss(pred, label, detached));
    expect(detached.grad).toBeNull();
    const live = E.requireGrad(E.randUniform([16], 5));
    E.backward(E.qualityFocalLoss(pred, label, live));
    const g = await values(live.grad!);
    // background rows (label 5) have no positive class: zero score gradient
    [5, 11, 15].forEach((i) => expect(g[i]).toBe(0));
    expect(g.some((v) => v !== 0)).toBe(true);
  });

  it('kdKlDiv never gives the teacher a gradient', () => {
    const pred = E.requireGrad(E.randNormal([8, 17], 1));
    const teacher = E.requireGrad(E.randNormal([8, 17], 2));
    E.backward(E.kdKlDiv(pred, teacher));
    expect(pred.grad).not.toBeNull();
    expect(teacher.grad).toBeNull();
  });

  it('saved gradients outlive the scope that made the loss, serve a retained second backward, and go with the loss', async () => {
    const before = E.memory().liveTensors;
    const b1 = E.requireGrad(E.tensor([0, 0, 10, 10], [1, 4]));
    const b2 = E.tensor([5, 5, 15, 20], [1, 4]);
    const loss = E.scope(() => E.giouLoss(b1, b2, { reduction: 'sum' }));
    E.backward(loss, undefined, { retainGraph: true });
    const once = await values(b1.grad!);
    E.backward(loss);
    expectRel(
      await values(b1.grad!),
      once.map((v) => 2 * v),
      1e-7,
      'accumulated twice',
    );
    loss.dispose();
    b1.dispose();
    b2.dispose();
    expect(E.memory().liveTensors).toBe(before);
  });

  it('a loss computed with grad but never differentiated frees its saved gradient with its scope', () => {
    const x = E.requireGrad(E.randNormal([100, 17], 1));
    const before = E.memory().liveTensors;
    E.scope(() => {
      E.kdKlDiv(x, E.randNormal([100, 17], 2), { avgFactor: 4 });
    });
    expect(E.memory().liveTensors).toBe(before);
    x.dispose();
  });
});

// ------------------------------------------------------------------ bad inputs

describe('bad inputs', () => {
  const x = () => E.randNormal([4, 3], 1);

  it('shape and dtype mismatches are immediate errors naming the op and argument', () => {
    expect(() => E.sigmoidFocalLoss(x(), E.randNormal([4, 4], 2))).toThrow(/sigmoidFocalLoss: targets must have shape \[4,3\].*got \[4,4\]/);
    expect(() => E.qualityFocalLoss(x(), E.tensor([0, 1, 2, 3]), E.randUniform([4], 2))).toThrow(/qualityFocalLoss: label must have dtype int32/);
    expect(() => E.qualityFocalLoss(x(), E.tensor([0, 1, 2], [3], 'int32'), E.randUniform([4], 2))).toThrow(/label must have shape \[4\]/);
    expect(() => E.qualityFocalLoss(x(), E.tensor([0, 1, 2, 3], [4], 'int32'), E.randUniform([4], 2), { numClasses: 5 })).toThrow(
      /numClasses must equal pred.shape\[1\] = 3/,
    );
    expect(() => E.kdKlDiv(x(), E.randNormal([4, 5], 2))).toThrow(/kdKlDiv: softLabel must have shape \[4,3\]/);
    expect(() => E.giouLoss(E.randNormal([4, 3], 1), E.randNormal([4, 3], 2))).toThrow(/giouLoss: boxes1 must have shape \[N,4\]/);
    expect(() => E.distance2bbox(E.randNormal([4, 3], 1), E.randNormal([4, 4], 2))).toThrow(/distance2bbox: points must have shape \[N,2\]/);
  });

  it('reg_max must match the bin count', () => {
    expect(() => E.distributionFocalLoss(E.randNormal([4, 17], 1), E.randUniform([4], 2), { regMax: 7 })).toThrow(
      /distributionFocalLoss: pred must have regMax \+ 1 = 8 bins per row, got shape \[4,17\]/,
    );
    expect(() => E.integral(E.randNormal([4, 16], 1), { regMax: 16 })).toThrow(/integral: pred must have regMax \+ 1 = 17 bins/);
  });

  it('reduction options are checked', () => {
    const t = E.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], [4, 3]);
    expect(() => E.sigmoidFocalLoss(x(), t, { reduction: 'max' as 'sum' })).toThrow(/reduction must be one of 'none', 'sum', 'mean'/);
    expect(() => E.sigmoidFocalLoss(x(), t, { reduction: 'sum', avgFactor: 2 })).toThrow(/avgFactor applies only with reduction 'mean'/);
    expect(() => E.sigmoidFocalLoss(x(), t, { weight: E.randNormal([3], 2) })).toThrow(/weight must have the loss shape \[4,3\] or a prefix/);
    expect(() => E.sigmoidFocalLoss(x(), t, { avgFactor: E.randNormal([2], 2) })).toThrow(/avgFactor must be a number or a one-element tensor/);
    expect(() => E.sigmoidFocalLoss(x(), t, { gamma: -1 })).toThrow(/gamma must be a non-negative number/);
    expect(() => E.kdKlDiv(x(), x(), { T: 0 })).toThrow(/T must be a positive temperature/);
  });

  it('labels outside [0, C]: validateLabels names them; on the GPU the row’s loss is NaN, the others intact', async () => {
    expect(() => E.validateLabels([0, 3, 4], 3)).toThrow(/labels\[2\] = 4 is not an integer in \[0, 3\] \(3 = background\)/);
    expect(() => E.validateLabels([0, -1], 3)).toThrow(/labels\[1\] = -1/);
    expect(() => E.validateLabels([0, 1, 2, 3], 3)).not.toThrow();
    const pred = E.requireGrad(E.randNormal([3, 3], 1));
    const loss = E.qualityFocalLoss(pred, E.tensor([0, 7, 3], [3], 'int32'), E.randUniform([3], 2), { reduction: 'none' });
    E.backward(loss, E.tensor([1, 1, 1]));
    const l = await values(loss);
    expect(Number.isFinite(l[0]) && Number.isNaN(l[1]) && Number.isFinite(l[2])).toBe(true);
    const g = await values(pred.grad!);
    expect(g.slice(3, 6).every(Number.isNaN)).toBe(true);
    expect(allFinite([...g.slice(0, 3), ...g.slice(6)])).toBe(true);
  });

  it('DFL targets outside [0, reg_max): validateDflTargets names them; on the GPU the row’s loss is NaN', async () => {
    expect(() => E.validateDflTargets([0, 15.9, 16], 16)).toThrow(/target\[2\] = 16 is outside \[0, 16\)/);
    const loss = await values(E.distributionFocalLoss(E.randNormal([3, 17], 1), E.tensor([3, 16, -0.5]), { reduction: 'none' }));
    expect(Number.isFinite(loss[0]) && Number.isNaN(loss[1]) && Number.isNaN(loss[2])).toBe(true);
  });

  it('boxes with x2 < x1 held on the CPU: validateBoxes names them', () => {
    expect(() => E.validateBoxes([0, 0, 1, 1, 5, 0, 4, 1])).toThrow(/boxes\[1\] = \[5, 0, 4, 1\] needs finite values with x2 ≥ x1/);
    expect(() => E.validateBoxes([0, 0, 1])).toThrow(/4 values per box/);
    expect(() => E.validateBoxes([0, 0, 1, 1, 2, 2, 2, 2])).not.toThrow();
  });
});
