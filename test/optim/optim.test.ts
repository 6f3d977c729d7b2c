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
    const want = sgdReference(
      start,
      gradSeq.map((g) => g.map((x) => x * 0.5)),
      0.1,
      0.9,
      0,
    );
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
    expect(
      () =>
        new SGD(
          [
            ['w', p],
            ['w', p],
          ],
          { lr: 0.1 },
        ),
    ).toThrow(/'w' given twice/);
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

describe('multi-tensor steps', () => {
  // Parameters of different sizes (one empty), steps where some parameters have no gradient.
  const sizes = [4, 1, 300, 0, 17, 1030];
  const seeded = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.5);
  const starts = sizes.map((n, k) => seeded(n, k + 1));
  /** step s: parameter k has a gradient unless (k + s) % 3 === 2 */
  const hasGrad = (k: number, s: number) => (k + s) % 3 !== 2;
  const gradAt = (k: number, s: number) => seeded(sizes[k], 100 + 10 * s + k);
  const STEPS = 4;

  /** torch semantics per parameter: a parameter without a gradient is skipped, state and all. */
  function reference(kind: 'sgd' | 'adamw', clip: number | null): number[][] {
    return starts.map((p0, k) => {
      const x = [...p0];
      const m = x.map(() => 0);
      const v = x.map(() => 0);
      for (let s = 0; s < STEPS; s++) {
        // the global norm is over the gradients present at this step
        let scale = 1;
        if (clip !== null) {
          let sq = 0;
          for (let j = 0; j < sizes.length; j++) if (hasGrad(j, s)) for (const g of gradAt(j, s)) sq += g * g;
          scale = Math.min(1, clip / (Math.sqrt(sq) + 1e-6));
        }
        if (!hasGrad(k, s)) continue;
        const g = gradAt(k, s).map((gi) => gi * scale);
        for (let i = 0; i < x.length; i++) {
          if (kind === 'sgd') {
            const d = g[i] + 1e-2 * x[i];
            m[i] = 0.9 * m[i] + d;
            x[i] -= 0.1 * m[i];
          } else {
            // the bias correction counts the optimizer's steps (the engine's rule, before and
            // after the multi-tensor change; torch counts per parameter, which differs only
            // for a parameter that misses gradients on some steps)
            const t = s + 1;
            x[i] *= 1 - 0.01 * 0.05;
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
            x[i] -= (0.01 * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
          }
        }
      }
      return x;
    });
  }

  async function run(kind: 'sgd' | 'adamw', clip: number | null) {
    const params = starts.map((p0, k) => [`p${k}`, E.requireGrad(E.keep(E.tensor(p0, [p0.length])))] as [string, E.Tensor]);
    const opt = kind === 'sgd' ? new SGD(params, { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 }) : new AdamW(params, { lr: 0.01, weightDecay: 0.05 });
    const rt = E.runtime();
    let dispatches = 0;
    for (let s = 0; s < STEPS; s++) {
      params.forEach(([, p], k) => (p.grad = hasGrad(k, s) ? E.keep(E.tensor(gradAt(k, s), [sizes[k]])) : null));
      const d0 = rt.stats.dispatches;
      E.scope(() => {
        if (clip === null) opt.step();
        else opt.stepWithClipping(clip);
      });
      dispatches = Math.max(dispatches, rt.stats.dispatches - d0);
      opt.zeroGrad();
    }
    const got = await Promise.all(params.map(([, p]) => p.array()));
    opt.dispose();
    for (const [, p] of params) p.dispose();
    return { got, dispatches };
  }

  for (const kind of ['sgd', 'adamw'] as const)
    for (const clip of [null, 0.5]) {
      it(`${kind}${clip ? ' with clipping' : ''}: every parameter as torch would update it, in a few dispatches`, async () => {
        const { got, dispatches } = await run(kind, clip);
        const want = reference(kind, clip);
        got.forEach((g, k) => {
          expect(g.length).toBe(sizes[k]);
          g.forEach((v, i) => expect(Math.abs(v - want[k][i]), `p${k}[${i}]`).toBeLessThan(2e-6));
        });
        // one update launch per contiguous run of parameters with gradients (≤ 3 here),
        // plus the norm's reduction and factor when clipping: never one per parameter
        expect(dispatches).toBeLessThanOrEqual(clip === null ? 3 : 12);
      });
    }
});
