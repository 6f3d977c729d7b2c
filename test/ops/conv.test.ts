/**
 * conv2d on the GPU (engine/ops/conv.ts) against the float64 reference: forward, input,
 * weight and bias gradients on the spec's cases and on larger shapes that fill several
 * tiles and slices; the frozen-weight backward (no weight-gradient kernel, dx unchanged);
 * one pipeline per kernel variant across shapes; a deterministic sliced weight gradient;
 * memory; and argument errors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { dispatched } from '../helpers/dispatched.ts';
import * as E from '../../engine/index.ts';
import { conv2dSpec } from '../../engine/checks/specs/conv.ts';
import { conv2dGeometry, conv2dWeightGrad, dwFoldsTaps, dwSplit, type Conv2dOptions } from '../../engine/ops/conv.ts';
import { Rng } from '../../engine/random.ts';
import { referenceOps } from '../../engine/reference/index.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { diff } from '../../engine/checks/compare.ts';

/** max|got − ref| / max|ref| (the measure of gradcheck and parity) */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

const ref = referenceOps.conv2d;
const TOL = conv2dSpec.tol;

beforeAll(async () => {
  await E.init();
});

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface Setup {
  x: number[];
  w: number[];
  bias?: boolean;
  opts?: Conv2dOptions;
  seed?: number;
}

const pairOf = (v: number | readonly [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]];

/** Forward and backward on the GPU and in the reference; each array's relative error. */
async function compare({ x: xs, w: ws, bias = true, opts = {}, seed = 1 }: Setup) {
  const rng = new Rng(seed);
  const xv = rng.normal(numel(xs));
  const wv = rng.normal(numel(ws));
  const bv = rng.normal(ws[0]);
  const attrs = {
    stride: pairOf(opts.stride, 1),
    padding: pairOf(opts.padding, 0),
    dilation: pairOf(opts.dilation, 1),
    groups: opts.groups ?? 1,
  };
  const refIn: Record<string, RefTensor> = { x: { shape: xs, data: xv }, weight: { shape: ws, data: wv } };
  if (bias) refIn.bias = { shape: [ws[0]], data: bv };
  const want = ref.forward(refIn, attrs).out;
  const gv = rng.normal(want.data.length);
  const wantGrads = ref.vjp(refIn, attrs, { out: { shape: want.shape, data: gv } });

  const x = E.requireGrad(E.tensor(xv, xs));
  const w = E.requireGrad(E.tensor(wv, ws));
  const b = bias ? E.requireGrad(E.tensor(bv, [ws[0]])) : null;
  const up = E.tensor(gv, want.shape);
  const y = E.conv2d(x, w, b, opts);
  expect(y.shape).toEqual(want.shape);
  E.backward(y, up);
  const errs = {
    out: relErr(await y.data(), want.data),
    dx: relErr(await x.grad!.data(), wantGrads.x!.data),
    dw: relErr(await w.grad!.data(), wantGrads.weight!.data),
    db: b ? relErr(await b.grad!.data(), wantGrads.bias!.data) : 0,
  };
  for (const t of [x, w, b, up, y]) t?.dispose();
  return errs;
}

function expectWithin(errs: { out: number; dx: number; dw: number; db: number }) {
  expect(errs.out).toBeLessThanOrEqual(TOL.fwd);
  expect(errs.dx).toBeLessThanOrEqual(TOL.bwd);
  expect(errs.dw).toBeLessThanOrEqual(TOL.bwd);
  expect(errs.db).toBeLessThanOrEqual(TOL.bwd);
}

describe('conv2d against the float64 reference', () => {
  for (const c of conv2dSpec.cases)
    it(c.name, async () => {
      const a = c.attrs as { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number };
      expectWithin(await compare({ x: c.inputs.x.shape, w: c.inputs.weight.shape, bias: 'bias' in c.inputs, opts: a, seed: c.name.length }));
    });

  // Larger shapes: several position blocks and channel tiles, partial tiles, several
  // weight-gradient slices, residue classes of stride 3, grouped 1×1 GEMMs.
  const larger: [string, Setup][] = [
    ['33 of 20 channels, 23×19, padding 1', { x: [2, 20, 23, 19], w: [33, 20, 3, 3], opts: { padding: 1 } }],
    ['groups 2, kernel 3×2, stride [2,1]', { x: [3, 36, 17, 21], w: [20, 18, 3, 2], opts: { padding: [1, 2], stride: [2, 1], groups: 2 } }],
    ['depthwise ×2, dilation 2', { x: [2, 24, 31, 30], w: [48, 1, 3, 3], bias: false, opts: { padding: 2, dilation: 2, groups: 24 } }],
    ['1×1 GEMM, 40×41', { x: [2, 17, 40, 41], w: [19, 17, 1, 1] }],
    ['1×1 GEMM, groups 3', { x: [2, 12, 9, 10], w: [9, 4, 1, 1], opts: { groups: 3 } }],
    ['70 of 40 channels, stride 2', { x: [1, 40, 33, 35], w: [70, 40, 3, 3], opts: { stride: 2, padding: 1 } }],
    ['5×5, stride 3, dilation [1,2]', { x: [4, 8, 50, 50], w: [8, 8, 5, 5], opts: { stride: 3, padding: 2, dilation: [1, 2] } }],
    ['stride 4 larger than the kernel', { x: [1, 3, 9, 9], w: [2, 3, 3, 3], opts: { stride: 4 } }],
  ];
  for (const [name, s] of larger) it(name, async () => expectWithin(await compare(s)));

  it('the larger shapes include weight gradients split into several slices', () => {
    const g = conv2dGeometry(E.empty([2, 17, 40, 41]), E.empty([19, 17, 1, 1]), null);
    expect(dwSplit(g).splits).toBeGreaterThan(1);
  });
});

describe('weight gradient with taps folded into the columns (FOLD_TAPS)', () => {
  // few input channels: the folded tiling is chosen; it and the plain one both match the
  // float64 reference and each other
  const shapes: [string, Setup][] = [
    ['the 3-channel stem, 3×3 stride 2', { x: [2, 3, 33, 30], w: [32, 3, 3, 3], opts: { stride: 2, padding: 1 } }],
    ['5 channels, 5×5, dilation 2, groups 1', { x: [3, 5, 19, 17], w: [7, 5, 5, 5], opts: { padding: 3, dilation: 2 } }],
    ['groups 2 of 2 channels, kernel 3×2', { x: [2, 4, 15, 16], w: [6, 2, 3, 2], opts: { padding: [1, 0], groups: 2 } }],
    ['one slice (no split), 1 channel', { x: [1, 1, 6, 7], w: [3, 1, 3, 3], opts: { padding: 1 } }],
  ];
  for (const [name, s] of shapes)
    it(name, async () => {
      const rng = new Rng(7);
      const x = E.tensor(rng.normal(numel(s.x)), s.x);
      const w = E.tensor(rng.normal(numel(s.w)), s.w);
      const g = conv2dGeometry(x, w, null, s.opts);
      expect(dwFoldsTaps(g)).toBe(true);
      const dyShape = [g.n, g.cout, g.ho, g.wo];
      const dyv = rng.normal(numel(dyShape));
      const dy = E.tensor(dyv, dyShape);
      const a = s.opts ?? {};
      const attrs = { stride: pairOf(a.stride, 1), padding: pairOf(a.padding, 0), dilation: pairOf(a.dilation, 1), groups: a.groups ?? 1 };
      const f64 = async (t: E.Tensor) => Float64Array.from((await t.data()) as Float32Array);
      const refIn = {
        x: { shape: s.x, data: await f64(x) },
        weight: { shape: s.w, data: await f64(w) },
        bias: { shape: [s.w[0]], data: new Float64Array(s.w[0]) },
      };
      const want = ref.vjp(refIn, attrs, { out: { shape: dyShape, data: Float64Array.from(dyv) } });
      const [fw, fb] = conv2dWeightGrad(x, w, dy, { ...s.opts, bias: true, foldTaps: true });
      const [pw, pb] = conv2dWeightGrad(x, w, dy, { ...s.opts, bias: true, foldTaps: false });
      const [folded, plain] = [await fw.data(), await pw.data()];
      expect(relErr(folded, want.weight!.data)).toBeLessThanOrEqual(TOL.bwd);
      expect(relErr(plain, want.weight!.data)).toBeLessThanOrEqual(TOL.bwd);
      expect(relErr(folded, plain)).toBeLessThanOrEqual(TOL.bwd);
      expect(relErr(await fb!.data(), want.bias!.data)).toBeLessThanOrEqual(TOL.bwd);
      expect(Array.from(await fb!.data())).toEqual(Array.from(await pb!.data()));
      for (const t of [x, w, dy, fw, fb, pw, pb]) t?.dispose();
    });

  it('is not chosen where channels fill the tiles', () => {
    expect(dwFoldsTaps(conv2dGeometry(E.empty([1, 16, 8, 8]), E.empty([16, 16, 3, 3]), null))).toBe(false);
    expect(dwFoldsTaps(conv2dGeometry(E.empty([1, 3, 8, 8]), E.empty([16, 3, 1, 1]), null))).toBe(false);
    expect(dwFoldsTaps(conv2dGeometry(E.empty([1, 12, 8, 8]), E.empty([16, 12, 3, 3]), null))).toBe(false);
  });
});

describe('frozen weight', () => {
  async function backwardOf(trainW: boolean, trainB: boolean) {
    const x = E.requireGrad(E.randNormal([2, 12, 20, 20], 1));
    const w = E.requireGrad(E.randNormal([16, 12, 3, 3], 2), trainW);
    const b = E.requireGrad(E.randNormal([16], 3), trainB);
    const up = E.randNormal([2, 16, 20, 20], 4);
    const y = E.conv2d(x, w, b, { padding: 1 });
    const names = dispatched(() => E.backward(y, up));
    const out = {
      names,
      dx: await x.grad!.data(),
      dw: w.grad ? await w.grad.data() : null,
      db: b.grad ? await b.grad.data() : null,
    };
    for (const t of [x, w, b, up, y]) t.dispose();
    return out;
  }

  it('launches no weight-gradient kernel, and dx is the same', async () => {
    const trained = await backwardOf(true, true);
    const frozen = await backwardOf(false, false);
    expect(trained.names).toContain('conv2d_dw');
    expect(frozen.names.filter((k) => k.startsWith('conv2d_dw'))).toEqual([]);
    expect(frozen.names).toContain('conv2d_dx');
    expect(frozen.dw).toBeNull();
    expect(frozen.db).toBeNull();
    expect(Array.from(frozen.dx)).toEqual(Array.from(trained.dx));
  });

  it('a trainable bias beside a frozen weight gets its gradient without the dW kernel', async () => {
    const trained = await backwardOf(true, true);
    const biasOnly = await backwardOf(false, true);
    expect(biasOnly.names.filter((k) => k.startsWith('conv2d_dw'))).toEqual([]);
    expect(biasOnly.dw).toBeNull();
    expect(relErr(biasOnly.db!, Float64Array.from(trained.db!))).toBeLessThan(1e-6);
  });

  it('the frozen-teacher dx matches the reference', async () => {
    const rng = new Rng(9);
    const xs = [2, 6, 9, 8];
    const ws = [10, 3, 3, 3];
    const [xv, wv] = [rng.normal(numel(xs)), rng.normal(numel(ws))];
    const attrs = { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 2 };
    const refIn = { x: { shape: xs, data: xv }, weight: { shape: ws, data: wv } };
    const want = ref.forward(refIn, attrs).out;
    const gv = rng.normal(want.data.length);
    const wantDx = ref.vjp(refIn, attrs, { out: { shape: want.shape, data: gv } }).x!;
    const x = E.requireGrad(E.tensor(xv, xs));
    const w = E.tensor(wv, ws);
    const y = E.conv2d(x, w, null, { stride: 2, padding: 1, groups: 2 });
    E.backward(y, E.tensor(gv, want.shape));
    expect(w.grad).toBeNull();
    expect(relErr(await x.grad!.data(), wantDx.data)).toBeLessThanOrEqual(TOL.bwd);
  });
});

describe('pipelines', () => {
  it('compiles one pipeline per kernel variant, whatever the shape', async () => {
    const shapes: [number[], number[], Conv2dOptions][] = [
      [[1, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }],
      [[2, 5, 11, 7], [6, 5, 3, 3], { stride: 2 }],
      [[1, 8, 9, 13], [8, 4, 3, 1], { padding: [1, 0], groups: 2 }],
      [[3, 4, 10, 10], [4, 1, 5, 5], { padding: 2, dilation: [2, 1], groups: 4 }],
      [[1, 20, 6, 6], [33, 20, 2, 2], { stride: [1, 2] }],
      [[2, 6, 12, 5], [3, 6, 3, 3], { stride: 3, padding: [2, 1] }],
    ];
    const kernels = ['conv2d_fwd', 'conv2d_dx', 'conv2d_dw', 'conv2d_dw_reduce'];
    const counts: number[][] = [];
    // the first pass may compile each variant once; the second pass compiles nothing
    for (const [xs, ws, opts] of [...shapes, ...shapes]) {
      const x = E.requireGrad(E.randNormal(xs, 1));
      const w = E.requireGrad(E.randNormal(ws, 2));
      const b = E.requireGrad(E.randNormal([ws[0]], 3));
      const y = E.conv2d(x, w, b, opts);
      E.backward(y, E.randNormal(y.shape, 4));
      await x.grad!.data();
      counts.push(kernels.map((k) => E.runtime().pipelineCount(k)));
      for (const t of [x, w, b, y]) t.dispose();
    }
    // Pipelines are per variant, not per shape: the second pass over the shapes compiled nothing.
    for (const c of counts.slice(shapes.length)) expect(c).toEqual(counts[shapes.length - 1]);
    const last = counts[counts.length - 1];
    // fwd has a bias / no-bias variant, dx one, dW bias × FOLD_TAPS (few-channel shapes)
    expect(last[0]).toBeLessThanOrEqual(2);
    expect(last[1]).toBe(1);
    expect(last[2]).toBeLessThanOrEqual(4);
  });
});

describe('weight gradient', () => {
  it('is bitwise deterministic with several slices', async () => {
    const x = E.randNormal([4, 6, 24, 24], 1);
    const w = E.requireGrad(E.randNormal([5, 6, 3, 3], 2));
    const up = E.randNormal([4, 5, 24, 24], 3);
    expect(dwSplit(conv2dGeometry(x, w, null, { padding: 1 })).splits).toBeGreaterThan(1);
    const run = async () => {
      const y = E.conv2d(x, w, null, { padding: 1 });
      E.backward(y, up);
      const d = await w.grad!.data();
      w.grad!.dispose();
      w.grad = null;
      y.dispose();
      return Array.from(d);
    };
    expect(await run()).toEqual(await run());
  });
});

describe('memory', () => {
  it('frees every temporary of forward and backward', async () => {
    const x = E.requireGrad(E.randNormal([2, 4, 9, 9], 1));
    const w = E.requireGrad(E.randNormal([6, 4, 3, 3], 2));
    const b = E.requireGrad(E.randNormal([6], 3));
    const before = E.memory().liveTensors;
    E.scope(() => {
      const y = E.conv2d(x, w, b, { padding: 1 });
      E.backward(E.sum(y));
    });
    await E.runtime().sync();
    // only the three leaf gradients remain
    expect(E.memory().liveTensors - before).toBe(3);
    for (const t of [x, w, b]) t.dispose();
  });
});

describe('argument errors', () => {
  const x = () => E.randNormal([2, 6, 8, 8], 1);
  it('channel counts not divisible by groups', () => {
    expect(() => E.conv2d(x(), E.randNormal([4, 2, 3, 3], 2), null, { groups: 4 })).toThrow(
      /input channels \(6, x \[2,6,8,8\]\) are not divisible by groups = 4/,
    );
    expect(() => E.conv2d(x(), E.randNormal([5, 3, 3, 3], 2), null, { groups: 2 })).toThrow(
      /output channels \(5, weight \[5,3,3,3\]\) are not divisible by groups = 2/,
    );
  });
  it('weight shape mismatch names expected and actual', () => {
    expect(() => E.conv2d(x(), E.randNormal([4, 6, 3, 3], 2), null, { groups: 2 })).toThrow(
      /weight must have shape \[Cout, Cin\/groups, kh, kw\] = \[4, 3, 3, 3\] .*got \[4,6,3,3\]/,
    );
    expect(() => E.conv2d(x(), E.randNormal([4, 6, 3], 2))).toThrow(/weight \[Cout,Cin\/groups,kh,kw\] must have rank 4, got shape \[4,6,3\]/);
    expect(() => E.conv2d(E.randNormal([6, 8, 8], 1), E.randNormal([4, 6, 3, 3], 2))).toThrow(/x \[N,Cin,H,W\] must have rank 4/);
  });
  it('bias shape', () => {
    expect(() => E.conv2d(x(), E.randNormal([4, 6, 3, 3], 2), E.randNormal([6], 3))).toThrow(/bias must have shape \[4\].*got \[6\]/);
    expect(() => E.conv2d(x(), E.randNormal([4, 6, 3, 3], 2), E.randNormal([4, 1], 3))).toThrow(/bias must have shape \[4\].*got \[4,1\]/);
  });
  it('output size ≤ 0', () => {
    expect(() => E.conv2d(x(), E.randNormal([4, 6, 5, 5], 2), null, { dilation: 2 })).toThrow(
      /output size 0×0 is not positive: input 8×8 with padding \[0,0\] is smaller than the dilated kernel 9×9/,
    );
  });
  it('dtype', () => {
    const xi = E.tensor(new Array(2 * 6 * 8 * 8).fill(1), [2, 6, 8, 8], 'int32');
    expect(() => E.conv2d(xi, E.randNormal([4, 6, 3, 3], 2))).toThrow(/x must have dtype float32, got int32/);
    const bi = E.tensor([1, 2, 3, 4], [4], 'int32');
    expect(() => E.conv2d(x(), E.randNormal([4, 6, 3, 3], 2), bi)).toThrow(/bias must have dtype float32, got int32/);
  });
  it('stride, padding, dilation and groups values', () => {
    const w = () => E.randNormal([4, 6, 3, 3], 2);
    expect(() => E.conv2d(x(), w(), null, { stride: 0 })).toThrow(/stride\[0\] must be an integer ≥ 1, got 0/);
    expect(() => E.conv2d(x(), w(), null, { padding: [1, -1] })).toThrow(/padding\[1\] must be an integer ≥ 0, got -1/);
    expect(() => E.conv2d(x(), w(), null, { dilation: 1.5 })).toThrow(/dilation\[0\] must be an integer ≥ 1, got 1.5/);
    expect(() => E.conv2d(x(), w(), null, { groups: 0 })).toThrow(/groups must be an integer ≥ 1, got 0/);
    expect(() => E.conv2d(x(), w(), null, { stride: [1, 2, 3] as unknown as [number, number] })).toThrow(/stride must be a number or \[h, w\], got \[1,2,3\]/);
  });
});
