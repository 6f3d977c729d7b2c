import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { AdamW, SGD, clipGradNorm, learningRate } from '../../engine/optim/index.ts';

beforeAll(async () => {
  await E.init();
});

/** torch.optim.SGD, written out in float64 from its documented update rule. */
function sgdReference(p: number[], grads: number[][], lr: number, momentum: number, wd: number): number[] {
  const x = [...p];
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + wd * x[i]);
    buf = buf ? buf.map((b, i) => momentum * b + d[i]) : d;
    for (let i = 0; i < x.length; i++) x[i] -= lr * buf[i];
  }
  return x;
}

/** torch.optim.AdamW from its documented update rule. */
function adamwReference(p: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number, wd: number): number[] {
  const x = [...p];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < x.length; i++) {
      x[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      x[i] -= (lr * (m[i] / (1 - b1 ** t))) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
    }
  });
  return x;
}

const start = [0.5, -1.25, 2, 0.125];
const gradSeq = [
  [0.1, -0.2, 0.3, 0.05],
  [-0.4, 0.1, 0.2, -0.3],
  [0.25, 0.25, -0.5, 0.75],
];

async function runOptimizer(make: (params: [string, E.Tensor][]) => { step(s?: E.Tensor): void }, scaleBy?: number) {
  const p = E.requireGrad(E.tensor(start));
  const opt = make([['p', p]]);
  for (const g of gradSeq) {
    p.grad = E.keep(E.tensor(g));
    opt.step(scaleBy === undefined ? undefined : E.full([1], scaleBy));
    p.grad.dispose();
    p.grad = null;
  }
  return Array.from(await p.data());
}

describe('optimizers match the PyTorch update rules', () => {
  it('SGD with momentum and weight decay', async () => {
    const got = await runOptimizer((ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 }));
    const want = sgdReference(start, gradSeq, 0.1, 0.9, 1e-2);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  it('SGD applies a gradient scale (clipping factor) read from the GPU', async () => {
    const got = await runOptimizer((ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), 0.5);
    const want = sgdReference(start, gradSeq.map((g) => g.map((x) => x * 0.5)), 0.1, 0.9, 0);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  it('AdamW', async () => {
    const got = await runOptimizer((ps) => new AdamW(ps, { lr: 0.01, weightDecay: 0.05 }));
    const want = adamwReference(start, gradSeq, 0.01, 0.9, 0.999, 1e-8, 0.05);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  it('refuses frozen parameters and bad hyper-parameters', () => {
    const frozen = E.tensor([1]);
    expect(() => new SGD([['w', frozen]], { lr: 0.1 })).toThrow(/parameter 'w' is frozen/);
    const p = E.requireGrad(E.tensor([1]));
    expect(() => new SGD([['w', p]], { lr: 0.1, momentum: 1.5 })).toThrow(/momentum must be in \[0, 1\), got 1.5/);
    expect(() => new SGD([['w', p]], { lr: -1 })).toThrow(/lr must be ≥ 0/);
    expect(() => new SGD([['w', p], ['w', p]], { lr: 0.1 })).toThrow(/'w' given twice/);
  });

  it('keeps its step count and momentum in its state for checkpoints', async () => {
    const p = E.requireGrad(E.tensor(start));
    const opt = new SGD([['p', p]], { lr: 0.1, momentum: 0.9 });
    p.grad = E.keep(E.tensor(gradSeq[0]));
    opt.step();
    const state = opt.state();
    expect(state.step).toBe(1);
    expect(Array.from(await state.slots.get('p')!.get('momentum_buffer')!.data())).toEqual(gradSeq[0].map(Math.fround));
  });
});

describe('gradient-norm clipping', () => {
  it('computes the total norm and the factor on the GPU', async () => {
    const a = E.requireGrad(E.tensor([3]));
    const b = E.requireGrad(E.tensor([0, 4]));
    a.grad = E.tensor([3]);
    b.grad = E.tensor([0, 4]);
    const { norm, factor } = clipGradNorm([a, b], 1);
    expect(await norm.item()).toBeCloseTo(5, 6);
    expect(await factor.item()).toBeCloseTo(1 / (5 + 1e-6), 6);
    const loose = clipGradNorm([a, b], 10);
    expect(await loose.factor.item()).toBe(1);
  });
});

describe('learning-rate schedule', () => {
  const cfg = { baseLr: 0.01, warmupIters: 500, warmupRatio: 0.001, steps: [8000, 11000], gamma: 0.1 };
  it('warms up linearly from ratio·lr', () => {
    expect(learningRate(cfg, 0)).toBeCloseTo(0.01 * 0.001, 12);
    expect(learningRate(cfg, 250)).toBeCloseTo(0.01 * (0.001 + 0.999 * 0.5), 12);
    expect(learningRate(cfg, 500)).toBeCloseTo(0.01, 12);
  });
  it('steps down by gamma at each milestone', () => {
    expect(learningRate(cfg, 7999)).toBeCloseTo(0.01, 12);
    expect(learningRate(cfg, 8000)).toBeCloseTo(0.001, 12);
    expect(learningRate(cfg, 11000)).toBeCloseTo(0.0001, 12);
  });
});
