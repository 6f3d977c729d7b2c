/**
 * Group norm and batch norm on the GPU (engine/ops/norm.ts) against the float64 reference.
 * Group norm: forward and
 * backward over both kernel layouts, fused ReLU, absent parameters; the ill-conditioned
 * input (mean 1000, std 0.01), where a float32 mean would already cost 3 digits; frozen
 * parameters launching no parameter-gradient kernel; memory; and argument errors. Batch
 * norm: training and eval mode the same way, the running-statistics update over several
 * steps, eval's statistics snapshot, which kernels a frozen backward launches.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { batchNormSpec, groupNormSpec } from '../../engine/checks/specs/norm.ts';
import { Rng } from '../../engine/random.ts';
import { referenceOps } from '../../engine/reference/index.ts';
import { normReferenceOps } from '../../engine/reference/norm.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { diff } from '../../engine/checks/compare.ts';

/** max|got − ref| / max|ref| (the measure of gradcheck and parity) */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

const ref = referenceOps.group_norm;
const TOL = groupNormSpec.tol;

beforeAll(async () => {
  await E.init();
});

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface Setup {
  shape: number[];
  groups: number;
  relu?: boolean;
  affine?: boolean;
  mean?: number;
  std?: number;
  seed?: number;
}

/** Runs forward and backward on the GPU and in the reference; returns each array's error. */
async function compare({ shape, groups, relu = false, affine = true, mean = 0.5, std = 2, seed = 1 }: Setup) {
  const rng = new Rng(seed);
  const c = shape[1];
  const xv = rng.normal(numel(shape), mean, std);
  const wv = rng.normal(c, 1, 0.5);
  const bv = rng.normal(c, 0, 0.5);
  const gv = rng.normal(numel(shape));
  const attrs = { num_groups: groups, eps: 1e-5, relu };
  const refIn: Record<string, RefTensor> = { x: { shape, data: xv } };
  if (affine) {
    refIn.weight = { shape: [c], data: wv };
    refIn.bias = { shape: [c], data: bv };
  }
  const want = ref.forward(refIn, attrs).out;
  const wantGrads = ref.vjp(refIn, attrs, { out: { shape, data: gv } });

  const got = await (async () => {
    const x = E.requireGrad(E.tensor(Float32Array.from(xv), shape));
    const w = affine ? E.requireGrad(E.tensor(Float32Array.from(wv), [c])) : null;
    const b = affine ? E.requireGrad(E.tensor(Float32Array.from(bv), [c])) : null;
    const up = E.tensor(Float32Array.from(gv), shape);
    const y = E.groupNorm(x, groups, w, b, { relu });
    E.backward(y, up);
    const res = {
      out: await y.data(),
      x: await x.grad!.data(),
      weight: w ? await w.grad!.data() : null,
      bias: b ? await b.grad!.data() : null,
    };
    for (const t of [x, w, b, up, y]) t?.dispose();
    return res;
  })();
  return {
    out: relErr(got.out, want.data),
    x: relErr(got.x, wantGrads.x!.data),
    weight: got.weight ? relErr(got.weight, wantGrads.weight!.data) : 0,
    bias: got.bias ? relErr(got.bias, wantGrads.bias!.data) : 0,
  };
}

function expectWithin(errs: { out: number; x: number; weight: number; bias: number }): void {
  expect(errs.out, 'forward').toBeLessThanOrEqual(TOL.fwd);
  expect(errs.x, 'dx').toBeLessThanOrEqual(TOL.bwd);
  expect(errs.weight, 'dγ').toBeLessThanOrEqual(TOL.bwd);
  expect(errs.bias, 'dβ').toBeLessThanOrEqual(TOL.bwd);
}

describe('groupNorm forward and backward vs the float64 reference', () => {
  const setups: [string, Setup][] = [
    ['32 groups on [8,64,32,32] (the benchmark shape; vec4 units)', { shape: [8, 64, 32, 32], groups: 32 }],
    ['1 group, 3×3 maps (scalar units, one team)', { shape: [2, 8, 3, 3], groups: 1 }],
    ['256 channels in one group, 9×9 (many rounds, several batches)', { shape: [2, 256, 9, 9], groups: 1 }],
    ['2 groups, 4×5 (vec4 units, 5 a channel)', { shape: [2, 8, 4, 5], groups: 2 }],
    ['32 groups of 2 channels, 4×4 (two teams a round)', { shape: [3, 64, 4, 4], groups: 32 }],
    ['rank 2', { shape: [5, 12], groups: 4 }],
    ['rank 3, odd length', { shape: [2, 6, 301], groups: 3 }],
    ['rank 5', { shape: [2, 4, 2, 3, 4], groups: 2 }],
    ['a long group (2 × 70000 elements: blocked sums)', { shape: [1, 2, 70000], groups: 1, mean: 5, std: 1 }],
    ['fused ReLU, vec4', { shape: [2, 16, 8, 8], groups: 4, relu: true }],
    ['fused ReLU, scalar', { shape: [2, 8, 5, 5], groups: 4, relu: true }],
    ['no weight and bias', { shape: [2, 8, 6, 6], groups: 4, affine: false }],
    ['two-element groups across channels', { shape: [4, 8, 1, 1], groups: 4, mean: 0, std: 1 }],
    ['two-element groups inside a channel', { shape: [3, 4, 2], groups: 4, mean: 0, std: 1 }],
  ];
  for (const [name, setup] of setups)
    it(name, async () => {
      expectWithin(await compare(setup));
    });

  it('more than 65535 groups (folded launch grid)', async () => {
    expectWithin(await compare({ shape: [2, 40000, 3], groups: 40000 }));
  });

  it('two-element groups keep their digits in dx (the textbook formula loses them)', async () => {
    // dx = rstd·(ĝ − mean ĝ − x̂·mean ĝx̂) is here a difference of terms that agree to
    // eps/var ≈ 1e-7 (std 10): evaluated as written in float32 it keeps no correct digit.
    const errs = await compare({ shape: [8, 16, 1, 1], groups: 8, mean: 0, std: 10, seed: 5 });
    expect(errs.x).toBeLessThan(1e-6);
  });
});

describe('ill-conditioned input: mean 1000, std 0.01', () => {
  const shape = [2, 8, 4, 4];

  it('is as accurate as a well-conditioned one, forward and backward', async () => {
    const errs = await compare({ shape, groups: 2, mean: 1000, std: 0.01, seed: 3 });
    // Inputs are exact float32 values and x − shift is exact (Sterbenz), so the conditioning
    // |mean|/std = 1e5 does not reach the result: the spec's tolerance holds unchanged.
    expectWithin(errs);
    expect(errs.out).toBeLessThan(1e-6);
    expect(errs.x).toBeLessThan(1e-6);
  });

  it('where a mean rounded to float32 would already err by more than 1e-3', () => {
    // The best a float32 mean can be is the float64 mean rounded: x̂ computed from it is
    // off by up to ulp(1000)/2 / std = 3e-3. This is what the shifted statistics avoid.
    const rng = new Rng(3);
    const xv = rng.normal(numel(shape), 1000, 0.01);
    const m = 4 * 4 * 4; // elements a group
    let worst = 0;
    for (let g = 0; g < xv.length / m; g++) {
      const grp = xv.subarray(g * m, (g + 1) * m);
      const mean = grp.reduce((a, b) => a + b, 0) / m;
      const std = Math.sqrt(grp.reduce((a, b) => a + (b - mean) ** 2, 0) / m);
      worst = Math.max(worst, Math.abs(Math.fround(mean) - mean) / std);
    }
    expect(worst).toBeGreaterThan(1e-3);
  });
});

describe('frozen parameters', () => {
  // The proof counts dispatches: a frozen backward against a trainable one, same inputs.
  async function backwardDispatches(trainW: boolean, trainB: boolean) {
    const shape = [2, 8, 4, 4];
    const x = E.requireGrad(E.randNormal(shape, 1));
    const w = E.requireGrad(E.randNormal([8], 2, 1, 0.5), trainW);
    const b = E.requireGrad(E.randNormal([8], 3), trainB);
    const up = E.randNormal(shape, 4);
    const y = E.groupNorm(x, 4, w, b);
    await E.runtime().sync();
    const before = E.runtime().stats.dispatches;
    E.backward(y, up);
    const dispatched = E.runtime().stats.dispatches - before;
    const grads = { x: x.grad, w: w.grad, b: b.grad };
    const dx = await x.grad!.data();
    for (const t of [x, w, b, up, y]) t.dispose();
    return { dispatched, grads, dx };
  }

  it('launch no parameter-gradient kernel, and dx is still computed', async () => {
    const frozen = await backwardDispatches(false, false);
    const trained = await backwardDispatches(true, true);
    expect(frozen.grads.w).toBeNull();
    expect(frozen.grads.b).toBeNull();
    // the frozen backward is the trainable one less exactly the dγ/dβ kernel
    expect(trained.dispatched - frozen.dispatched).toBe(1);
    expect(frozen.dx.length).toBe(2 * 8 * 4 * 4);
    expect(Array.from(frozen.dx)).toEqual(Array.from(trained.dx));
  });

  it('a trainable γ beside a frozen β gets its gradient, β none', async () => {
    const r = await backwardDispatches(true, false);
    expect(r.grads.w).not.toBeNull();
    expect(r.grads.b).toBeNull();
  });

  it('without any parameter, a frozen-teacher style dx matches the reference', async () => {
    expectWithin(await compare({ shape: [2, 8, 4, 4], groups: 2, affine: false }));
  });
});

describe('memory', () => {
  it('keeps nothing beyond the output when no gradient is recorded', async () => {
    const x = E.randNormal([2, 8, 4, 4], 1);
    const w = E.randNormal([8], 2);
    const live = E.memory().liveTensors;
    const y = E.groupNorm(x, 2, w, null); // absent bias: an internal zero tensor, freed too
    expect(E.memory().liveTensors).toBe(live + 1);
    for (const t of [x, w, y]) t.dispose();
  });

  it('frees the saved statistics with the scope of a training step', async () => {
    const x = E.requireGrad(E.randNormal([2, 8, 4, 4], 1));
    const live = E.memory().liveTensors;
    E.scope(() => {
      E.backward(E.sum(E.groupNorm(x, 2, null, null, { relu: true })));
    });
    expect(E.memory().liveTensors).toBe(live + 1); // x.grad
    x.dispose();
  });
});

describe('bad arguments', () => {
  const x = () => E.randNormal([2, 6, 3, 3], 1);

  it('C not divisible by the number of groups', () => {
    expect(() => E.groupNorm(x(), 4)).toThrow(/C = 6 .* not divisible by numGroups = 4/);
  });
  it('numGroups not a positive integer', () => {
    expect(() => E.groupNorm(x(), 0)).toThrow(/numGroups must be an integer ≥ 1/);
    expect(() => E.groupNorm(x(), 1.5)).toThrow(/numGroups must be an integer ≥ 1/);
  });
  it('weight or bias of the wrong shape', () => {
    expect(() => E.groupNorm(x(), 3, E.randNormal([3], 2))).toThrow(/weight must have shape \[6\].*got \[3\]/);
    expect(() => E.groupNorm(x(), 3, null, E.randNormal([6, 1], 2))).toThrow(/bias must have shape \[6\].*got \[6,1\]/);
  });
  it('dtype', () => {
    expect(() => E.groupNorm(E.tensor([1, 2, 3, 4], [1, 4], 'int32'), 2)).toThrow(/x must have dtype float32/);
    expect(() => E.groupNorm(E.randNormal([1, 4], 1), 2, E.tensor([1, 1, 1, 1], [4], 'int32'))).toThrow(/weight must have dtype float32/);
  });
  it('rank < 2', () => {
    expect(() => E.groupNorm(E.randNormal([6], 1), 3)).toThrow(/x must have rank ≥ 2 \[N, C, \.\.\.\], got shape \[6\]/);
  });
  it('negative eps', () => {
    expect(() => E.groupNorm(x(), 3, null, null, { eps: -1 })).toThrow(/eps must be a finite number ≥ 0/);
  });
});

// ───────────────────────────────── batch norm ─────────────────────────────────

const bnRef = normReferenceOps.batch_norm;
const BN_TOL = batchNormSpec.tol;

interface BnSetup {
  shape: number[];
  training: boolean;
  relu?: boolean;
  affine?: boolean;
  mean?: number;
  std?: number;
  seed?: number;
}

/** batchNorm forward and backward on the GPU against the reference: each array's error. */
async function compareBatchNorm({ shape, training, relu = false, affine = true, mean = 0.5, std = 2, seed = 1 }: BnSetup) {
  const rng = new Rng(seed);
  const c = shape[1];
  const f32 = (a: Float64Array) => a.map(Math.fround);
  const xv = f32(rng.normal(numel(shape), mean, std));
  const wv = f32(rng.normal(c, 1, 0.5));
  const bv = f32(rng.normal(c, 0, 0.5));
  const rmv = f32(rng.normal(c, mean, 0.5));
  const rvv = f32(rng.uniform(c, 0.5, 2).map((v) => v * std * std));
  const gv = f32(rng.normal(numel(shape)));
  const attrs = { training, momentum: 0.1, eps: 1e-5, relu };
  const refIn: Record<string, RefTensor> = { x: { shape, data: xv }, running_mean: { shape: [c], data: rmv }, running_var: { shape: [c], data: rvv } };
  if (affine) {
    refIn.weight = { shape: [c], data: wv };
    refIn.bias = { shape: [c], data: bv };
  }
  const want = bnRef.forward(refIn, attrs).out;
  const wantGrads = bnRef.vjp(refIn, attrs, { out: { shape, data: gv } });

  const x = E.requireGrad(E.tensor(Float32Array.from(xv), shape));
  const w = affine ? E.requireGrad(E.tensor(Float32Array.from(wv), [c])) : null;
  const b = affine ? E.requireGrad(E.tensor(Float32Array.from(bv), [c])) : null;
  const rm = E.tensor(Float32Array.from(rmv), [c]);
  const rv = E.tensor(Float32Array.from(rvv), [c]);
  const up = E.tensor(Float32Array.from(gv), shape);
  const y = E.batchNorm(x, rm, rv, w, b, { training, relu });
  E.backward(y, up);
  const errs = {
    out: relErr(await y.data(), want.data),
    x: relErr(await x.grad!.data(), wantGrads.x!.data),
    weight: w ? relErr(await w.grad!.data(), wantGrads.weight!.data) : 0,
    bias: b ? relErr(await b.grad!.data(), wantGrads.bias!.data) : 0,
  };
  for (const t of [x, w, b, rm, rv, up, y]) t?.dispose();
  return errs;
}

function expectBnWithin(errs: { out: number; x: number; weight: number; bias: number }): void {
  expect(errs.out, 'forward').toBeLessThanOrEqual(BN_TOL.fwd);
  expect(errs.x, 'dx').toBeLessThanOrEqual(BN_TOL.bwd);
  expect(errs.weight, 'dγ').toBeLessThanOrEqual(BN_TOL.bwd);
  expect(errs.bias, 'dβ').toBeLessThanOrEqual(BN_TOL.bwd);
}

describe('batchNorm forward and backward vs the float64 reference', () => {
  const setups: [string, BnSetup][] = [
    ['training, [8,64,32,32] (a ResNet stage; vec4 units)', { shape: [8, 64, 32, 32], training: true }],
    ['training, 7×7 maps (scalar units)', { shape: [4, 16, 7, 7], training: true }],
    ['training, a long channel (2 × 70000 values: blocked sums)', { shape: [2, 3, 70000], training: true, mean: 5, std: 1 }],
    ['training, rank 2 (one value a sample and channel)', { shape: [37, 12], training: true }],
    ['training, rank 5', { shape: [2, 4, 2, 3, 4], training: true }],
    ['training, fused ReLU', { shape: [2, 16, 8, 8], training: true, relu: true }],
    ['training, no weight and bias', { shape: [2, 8, 6, 6], training: true, affine: false }],
    ['training, more than 65535 channels (folded launch grid)', { shape: [2, 70000, 1], training: true }],
    ['eval, [8,64,32,32]', { shape: [8, 64, 32, 32], training: false }],
    ['eval, scalar units and fused ReLU', { shape: [3, 8, 5, 5], training: false, relu: true }],
    ['eval, one value a channel', { shape: [1, 6], training: false }],
  ];
  for (const [name, setup] of setups)
    it(name, async () => {
      expectBnWithin(await compareBatchNorm(setup));
    });

  it('two values a channel keep their digits in dx (the closed form)', async () => {
    // std 10: the general formula's terms agree to eps/var ≈ 1e-7 and cancel to nothing.
    const errs = await compareBatchNorm({ shape: [2, 16], training: true, mean: 0, std: 10, seed: 5 });
    expect(errs.x).toBeLessThan(1e-6);
  });

  it('an ill-conditioned batch (mean 1000, std 0.01) is as accurate as a well-conditioned one', async () => {
    const errs = await compareBatchNorm({ shape: [4, 8, 4, 4], training: true, mean: 1000, std: 0.01, seed: 3 });
    expectBnWithin(errs);
    expect(errs.out).toBeLessThan(1e-6);
    expect(errs.x).toBeLessThan(1e-6);
  });
});

describe('batchNorm running statistics', () => {
  const shape = [4, 6, 5, 5];
  const c = shape[1];
  const update = normReferenceOps.batch_norm_running_stats;

  it('move toward each training batch, PyTorch rule, step after step', async () => {
    const rng = new Rng(11);
    let mean: Float64Array = new Float64Array(c); // PyTorch's initial buffers: zeros and ones
    let variance: Float64Array = new Float64Array(c).fill(1);
    const rm = E.zeros([c]);
    const rv = E.full([c], 1);
    for (let step = 0; step < 3; step++) {
      const xv = rng.normal(numel(shape), step, 1 + step).map(Math.fround);
      const want = update.forward(
        { x: { shape, data: xv }, running_mean: { shape: [c], data: mean }, running_var: { shape: [c], data: variance } },
        { momentum: 0.2 },
      );
      const x = E.tensor(Float32Array.from(xv), shape);
      E.batchNorm(x, rm, rv, null, null, { training: true, momentum: 0.2 }).dispose();
      x.dispose();
      expect(relErr(await rm.data(), want.running_mean.data)).toBeLessThan(BN_TOL.fwd);
      expect(relErr(await rv.data(), want.running_var.data)).toBeLessThan(BN_TOL.fwd);
      ({
        running_mean: { data: mean },
        running_var: { data: variance },
      } = want);
    }
    rm.dispose();
    rv.dispose();
  });

  it('count the training batches that update them (num_batches_tracked)', async () => {
    const rm = E.zeros([c]);
    const rv = E.full([c], 1);
    const count = E.tensor(Int32Array.from([41]), [], 'int32');
    const x = E.randNormal(shape, 9);
    for (let k = 0; k < 3; k++) E.batchNorm(x, rm, rv, null, null, { training: true, numBatchesTracked: count }).dispose();
    E.batchNorm(x, rm, rv, null, null, { training: false, numBatchesTracked: count }).dispose(); // eval: no update
    expect(Array.from(await count.data())).toEqual([44]);
    expect(() => E.batchNorm(x, rm, rv, null, null, { training: true, numBatchesTracked: rm })).toThrow(
      /numBatchesTracked must be an int32 scalar, got float32 \[6\]/,
    );
    expect(() => E.batchNorm(x, null, null, null, null, { training: true, numBatchesTracked: count })).toThrow(/needs runningMean and runningVar/);
    for (const t of [rm, rv, count, x]) t.dispose();
  });

  it('are read, never written, in eval mode; training without them writes nothing', async () => {
    const rm = E.randNormal([c], 1);
    const rv = E.randUniform([c], 2, 0.5, 2);
    const before = [Array.from(await rm.data()), Array.from(await rv.data())];
    const x = E.randNormal(shape, 3);
    E.batchNorm(x, rm, rv, null, null, { training: false }).dispose();
    E.batchNorm(x, null, null, null, null, { training: true }).dispose();
    expect([Array.from(await rm.data()), Array.from(await rv.data())]).toEqual(before);
    for (const t of [rm, rv, x]) t.dispose();
  });

  it('eval normalises with the running statistics snapshot taken at the forward', async () => {
    // the backward of an eval forward uses the statistics of that forward, even if a
    // training forward moves the running buffers in between (a teacher and a student
    // sharing a backbone would do this)
    const x = E.requireGrad(E.randNormal(shape, 4));
    const rm = E.randNormal([c], 5);
    const rv = E.randUniform([c], 6, 0.5, 2);
    const up = E.randNormal(shape, 7);
    const rvv = await rv.data();
    const yEval = E.batchNorm(x, rm, rv, null, null, { training: false });
    E.batchNorm(E.randNormal(shape, 8), rm, rv, null, null, { training: true, momentum: 1 }).dispose();
    E.backward(yEval, up);
    const dx = await x.grad!.data();
    const g = await up.data();
    const s = numel(shape.slice(2));
    const want = Float64Array.from(g, (v, i) => v / Math.sqrt(rvv[Math.floor(i / s) % c] + 1e-5));
    expect(relErr(dx, want)).toBeLessThan(BN_TOL.bwd);
    for (const t of [x, rm, rv, up, yEval]) t.dispose();
  });
});

describe('batchNorm frozen parameters and memory', () => {
  async function backwardKernels(training: boolean, trainParams: boolean) {
    const shape = [2, 8, 4, 4];
    const x = E.requireGrad(E.randNormal(shape, 1));
    const w = E.requireGrad(E.randNormal([8], 2, 1, 0.5), trainParams);
    const b = E.requireGrad(E.randNormal([8], 3), trainParams);
    const rm = E.zeros([8]);
    const rv = E.full([8], 1);
    const up = E.randNormal(shape, 4);
    const y = E.batchNorm(x, rm, rv, w, b, { training });
    await E.runtime().sync();
    const before = new Map(E.runtime().stats.byKernel);
    E.backward(y, up);
    const ran = (k: string) => (E.runtime().stats.byKernel.get(k) ?? 0) - (before.get(k) ?? 0);
    const out = { gradStats: ran('batch_norm_grad_stats'), dx: ran('batch_norm_bwd'), w: w.grad !== null, b: b.grad !== null };
    for (const t of [x, w, b, rm, rv, up, y]) t.dispose();
    return out;
  }

  it('eval mode with frozen γ, β (norm_eval with frozen stages): dx alone, one kernel', async () => {
    expect(await backwardKernels(false, false)).toEqual({ gradStats: 0, dx: 1, w: false, b: false });
    expect(await backwardKernels(false, true)).toEqual({ gradStats: 1, dx: 1, w: true, b: true });
  });

  it('training mode always needs the channel sums (dx subtracts their means)', async () => {
    expect(await backwardKernels(true, false)).toEqual({ gradStats: 1, dx: 1, w: false, b: false });
  });

  it('keeps nothing beyond the output without a tape, and frees its statistics with the step scope', async () => {
    const x = E.randNormal([2, 8, 4, 4], 1);
    const rm = E.zeros([8]);
    const rv = E.full([8], 1);
    const live = E.memory().liveTensors;
    const y = E.batchNorm(x, null, null, null, null, { training: true }); // scratch running statistics freed
    expect(E.memory().liveTensors).toBe(live + 1);
    y.dispose();
    const xg = E.requireGrad(E.randNormal([2, 8, 4, 4], 2));
    const live2 = E.memory().liveTensors;
    E.scope(() => {
      E.backward(E.sum(E.batchNorm(xg, rm, rv, null, null, { training: true, relu: true })));
    });
    expect(E.memory().liveTensors).toBe(live2 + 1); // xg.grad
    for (const t of [x, rm, rv, xg]) t.dispose();
  });
});

describe('batchNorm bad arguments', () => {
  const x = () => E.randNormal([2, 6, 3, 3], 1);
  const stats = (c = 6) => [E.zeros([c]), E.full([c], 1)] as const;

  it('eval mode without running statistics', () => {
    expect(() => E.batchNorm(x(), null, null)).toThrow(/eval mode \(training = false\) needs runningMean and runningVar/);
  });
  it('one running statistic without the other', () => {
    expect(() => E.batchNorm(x(), stats()[0], null, null, null, { training: true })).toThrow(/runningMean and runningVar go together, got runningMean alone/);
  });
  it('training on one value a channel', () => {
    expect(() => E.batchNorm(E.randNormal([1, 4, 1, 1], 1), null, null, null, null, { training: true })).toThrow(
      /training mode needs more than one value per channel, x has shape \[1,4,1,1\]/,
    );
  });
  it('per-channel tensors of the wrong shape', () => {
    expect(() => E.batchNorm(x(), ...stats(4))).toThrow(/runningMean must have shape \[6\].*got \[4\]/);
    expect(() => E.batchNorm(x(), ...stats(), E.randNormal([3], 2))).toThrow(/weight must have shape \[6\].*got \[3\]/);
  });
  it('running statistics that require grad', () => {
    const [m, v] = stats();
    expect(() => E.batchNorm(x(), E.requireGrad(m), v)).toThrow(/runningMean is running state updated in place and must not require grad/);
  });
  it('momentum and eps out of range, rank < 2', () => {
    expect(() => E.batchNorm(x(), ...stats(), null, null, { momentum: 1.5 })).toThrow(/momentum must be a number in \[0, 1\], got 1.5/);
    expect(() => E.batchNorm(x(), ...stats(), null, null, { eps: -1 })).toThrow(/eps must be a finite number ≥ 0, got -1/);
    expect(() => E.batchNorm(E.randNormal([6], 1), null, null)).toThrow(/x must have rank ≥ 2/);
  });
});
