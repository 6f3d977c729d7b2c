import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dispatched } from '../helpers/dispatched.ts';
import { softmaxSpecs } from '../../engine/checks/specs/softmax.ts';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/random.ts';
import { referenceOps } from '../../engine/reference/index.ts';
import { diff } from '../../engine/checks/compare.ts';

/** max|got − ref| / max|ref| (the measure of gradcheck and parity) */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

beforeAll(async () => {
  await E.init();
});

afterEach(() => {
  vi.restoreAllMocks();
});

type Id = 'softmax' | 'log_softmax';
const ops: Record<Id, (x: E.Tensor, axis: number) => E.Tensor> = { softmax: E.softmax, log_softmax: E.logSoftmax };
const specTol = (id: Id) => {
  const spec = softmaxSpecs.find((s) => s.id === id);
  if (!spec) throw new Error(`no OpSpec '${id}'`);
  return spec.tol;
};
const tol = { softmax: specTol('softmax'), log_softmax: specTol('log_softmax') };

const allFinite = (v: ArrayLike<number>) => Array.from(v).every(Number.isFinite);

/**
 * Runs the op forward and backward (random upstream) on x, compares both with the
 * float64 reference, and returns the kernels each direction dispatched.
 */
async function checkAgainstReference(id: Id, shape: number[], axis: number, xv: Float64Array, seed = 3) {
  const n = xv.length;
  const gv = new Rng(seed).normal(n);
  const x = E.requireGrad(E.tensor(Float32Array.from(xv), shape));
  let y!: E.Tensor;
  const fwd = dispatched(() => {
    y = ops[id](x, axis);
  });
  const upstream = E.tensor(Float32Array.from(gv), shape);
  const bwd = dispatched(() => E.backward(y, upstream));
  const got = await y.data();
  const gotGrad = await x.grad!.data();
  const ref = referenceOps[id];
  const inputs = { x: { shape, data: xv } };
  const want = ref.forward(inputs, { axis }).out.data;
  const wantGrad = ref.vjp(inputs, { axis }, { out: { shape, data: gv } }).x!.data;
  expect(allFinite(got)).toBe(true);
  expect(allFinite(gotGrad)).toBe(true);
  expect(relErr(got, want)).toBeLessThanOrEqual(tol[id].fwd);
  expect(relErr(gotGrad, wantGrad)).toBeLessThanOrEqual(tol[id].bwd);
  for (const t of [x, y, upstream]) t.dispose();
  return { fwd, bwd };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe.each(['softmax', 'log_softmax'] as Id[])('%s', (id) => {
  const cases: [string, number[], number, string][] = [
    ['distribution bins, last axis', [64, 17], -1, 'softmax_rows'],
    ['80 classes', [3, 5, 80], 2, 'softmax_rows'],
    ['middle axis, short', [2, 17, 5], 1, 'softmax_rows'],
    ['first axis', [6, 4], 0, 'softmax_rows'],
    ['1024, the longest per-row axis', [3, 1024], -1, 'softmax_rows'],
    ['1025, the shortest tree axis', [2, 1025], 1, 'softmax'],
    ['long last axis', [3, 3000], -1, 'softmax'],
    ['long middle axis', [2, 1500, 3], -2, 'softmax'],
  ];
  it.each(cases)('%s %j axis %i matches the float64 reference, one fused dispatch each way', async (_, shape, axis, kernel) => {
    const { fwd, bwd } = await checkAgainstReference(id, shape, axis, new Rng(11).normal(size(shape), 0, 3));
    expect(fwd).toEqual([kernel]);
    // backward() first copies the upstream gradient (a 'unary' copy); the op's rule is one kernel
    expect(bwd.filter((k) => k !== 'unary')).toEqual([kernel.replace('softmax', 'softmax_grad')]);
  });

  it.each([
    ['short', [8, 17]],
    ['long', [3, 2000]],
  ])('logits of ±30 (%s rows) match the reference', async (_, shape) => {
    await checkAgainstReference(id, shape, -1, new Rng(5).uniform(size(shape), -30, 30));
  });

  it.each([
    ['short', [8, 17]],
    ['long', [3, 2000]],
  ])('logits of ±1000 (%s rows) give finite outputs and gradients that match the reference', async (_, shape) => {
    // random ±1000, plus a row of equal logits and a row with a single ±1000 gap
    const xv = new Rng(9).uniform(size(shape), -1000, 1000);
    const len = shape[1];
    xv.fill(1000, 0, len);
    xv.fill(-1000, len, 2 * len);
    xv[len + 3] = 1000;
    await checkAgainstReference(id, shape, -1, xv);
  });

  it('a row of equal ±1000 logits is uniform, one dominant logit is one-hot', async () => {
    const y = await ops[id](E.tensor([1000, 1000, 1000, 1000, -1000, 1000, -1000, -1000], [2, 4]), 1).data();
    const [uniform, oneHot] = id === 'softmax' ? [0.25, [0, 1, 0, 0]] : [-Math.log(4), [-2000, 0, -2000, -2000]];
    for (let k = 0; k < 4; k++) expect(y[k]).toBeCloseTo(uniform, 6);
    expect(Array.from(y.slice(4))).toEqual(oneHot);
  });

  it('more than 65535·256 rows fold into a 2-D grid and every row is written, forward and backward', async () => {
    // An axis of length 1 (softmax 1, log-softmax 0, gradient 0) keeps the tensors under
    // the 128 MiB binding limit. To see an unwritten element, the outputs must land in
    // buffers pre-filled with NaN: the pool hands back the last released buffer first.
    const rows = 65535 * 256 + 1000;
    const x = E.requireGrad(E.randNormal([rows, 1], 1));
    const upstream = E.randNormal([rows, 1], 2);
    const poison = (count: number) => {
      const ts = Array.from({ length: count }, () => E.full([rows, 1], NaN));
      const buffers = ts.map((t) => t.buffer);
      for (const t of ts) t.dispose();
      E.runtime().flush(); // a released buffer is reusable once its commands are submitted
      return buffers;
    };
    const yBuffers = poison(1);
    const y = ops[id](x, 1);
    expect(yBuffers).toContain(y.buffer);
    const gradBuffers = poison(2); // backward copies the upstream, then allocates dx
    E.backward(y, upstream);
    expect(gradBuffers).toContain(x.grad!.buffer);
    expect((await y.data()).every((v) => v === (id === 'softmax' ? 1 : 0))).toBe(true);
    expect((await x.grad!.data()).every((v) => v === 0)).toBe(true);
    for (const t of [x, y, upstream]) t.dispose();
  });

  it('a scalar is one row of length 1', async () => {
    expect(await ops[id](E.scalar(3.5), 0).item()).toBe(id === 'softmax' ? 1 : 0);
  });

  it('empty tensors give empty outputs', async () => {
    for (const shape of [
      [0, 5],
      [3, 0],
    ]) {
      const y = ops[id](E.empty(shape), -1);
      expect(y.shape).toEqual(shape);
      expect((await y.data()).length).toBe(0);
    }
  });

  it('rejects a bad axis and a non-float input, naming the op and the argument', () => {
    const name = id === 'softmax' ? 'softmax' : 'logSoftmax';
    const x = E.zeros([2, 3]);
    expect(() => ops[id](x, 2)).toThrow(`${name}: axis must be an integer in [-2, 1], got 2`);
    expect(() => ops[id](x, -3)).toThrow(`${name}: axis must be an integer in [-2, 1], got -3`);
    expect(() => ops[id](x, 0.5)).toThrow(`${name}: axis must be an integer`);
    expect(() => ops[id](E.tensor([1, 2], [2], 'int32'), 0)).toThrow(`${name}: x must have dtype float32, got int32`);
  });
});

it('the per-row and tree kernels agree on the same row', async () => {
  // A 1024-long row runs per-row; padded to 1100 with logits of -1e30 (exp gives exactly 0)
  // it runs on the tree kernel and must give the same probabilities and zeros.
  const row = new Rng(2).normal(1024, 0, 2);
  const padded = new Float64Array(1100).fill(-1e30);
  padded.set(row);
  const short = await E.softmax(E.tensor(Float32Array.from(row), [1, 1024]), -1).data();
  const long = await E.softmax(E.tensor(Float32Array.from(padded), [1, 1100]), -1).data();
  expect(relErr(long.slice(0, 1024), short)).toBeLessThanOrEqual(tol.softmax.fwd);
  expect(Array.from(long.slice(1024)).every((v) => v === 0)).toBe(true);
});
