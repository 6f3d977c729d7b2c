import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { gatherSpecs } from '../../engine/checks/specs/gather.ts';
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

const tol = gatherSpecs[0].tol;
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Forward and backward (random upstream) against the float64 reference. */
async function checkAgainstReference(shape: number[], axis: number, index: number[]) {
  const rng = new Rng(17);
  const xv = rng.normal(size(shape));
  const x = E.requireGrad(E.tensor(Float32Array.from(xv), shape));
  const idx = E.tensor(index, [index.length], 'int32');
  const y = E.indexSelect(x, axis, idx);
  const ref = referenceOps.index_select;
  const inputs = { x: { shape, data: xv }, index: { shape: [index.length], data: Float64Array.from(index) } };
  const want = ref.forward(inputs, { axis }).out;
  expect(y.shape).toEqual(want.shape);
  const gv = rng.normal(want.data.length);
  const upstream = E.tensor(Float32Array.from(gv), want.shape);
  E.backward(y, upstream);
  const grads = ref.vjp(inputs, { axis }, { out: { shape: want.shape, data: gv } });
  expect(grads.index).toBeNull();
  expect(relErr(await y.data(), want.data)).toBeLessThanOrEqual(tol.fwd);
  const gotGrad = await x.grad!.data();
  expect(relErr(gotGrad, grads.x!.data)).toBeLessThanOrEqual(tol.bwd);
  for (const t of [x, idx, y, upstream]) t.dispose();
  return gotGrad;
}

describe('indexSelect', () => {
  it.each([
    ['axis 0, repeated', [5, 3], 0, [2, 0, 2, 2, 1, 4]],
    ['middle axis, repeated', [2, 4, 3], 1, [3, 3, 0, 1, 3]],
    ['last axis (negative)', [2, 3, 7], -1, [6, 0, 3, 3, 5, 1, 2, 0, 4, 6]],
    ['an index repeated at both ends (widest span)', [6, 2], 0, [0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0]],
    ['all K the same row', [4, 3], 0, Array(50).fill(2)],
  ])('%s: %j at axis %i matches the float64 reference', async (_, shape, axis, index) => {
    await checkAgainstReference(shape, axis, index);
  });

  it('gathers a few rows out of many (the positive-anchor pattern)', async () => {
    const rng = new Rng(4);
    const index = Array.from(rng.int(600, 0, 20000));
    await checkAgainstReference([20000, 4], 0, index);
  });

  it('repeated indices accumulate their gradients', async () => {
    const x = E.requireGrad(E.tensor([10, 20, 30], [3]));
    const y = E.indexSelect(x, 0, E.tensor([1, 1, 0, 1], [4], 'int32'));
    expect(Array.from(await y.data())).toEqual([20, 20, 10, 20]);
    E.backward(y, E.tensor([1, 2, 4, 8], [4]));
    expect(Array.from(await x.grad!.data())).toEqual([4, 11, 0]);
  });

  it('the backward is deterministic: the same bits on every run', async () => {
    const rng = new Rng(8);
    const index = E.tensor(Array.from(rng.int(3000, 0, 7)), [3000], 'int32');
    const g = E.tensor(Float32Array.from(rng.normal(3000 * 5, 0, 1e3)), [3000, 5]);
    const grads: Float32Array[] = [];
    for (let run = 0; run < 3; run++) {
      const x = E.requireGrad(E.zeros([7, 5]));
      E.backward(E.indexSelect(x, 0, index), g);
      grads.push((await x.grad!.data()) as Float32Array);
      x.dispose();
    }
    expect(grads[1]).toEqual(grads[0]);
    expect(grads[2]).toEqual(grads[0]);
  });

  it('an out-of-range index writes NaN in its slice and passes no gradient', async () => {
    const x = E.requireGrad(E.tensor([1, 2, 3, 4, 5, 6], [3, 2]));
    const y = E.indexSelect(x, 0, E.tensor([2, 3, -1, 0], [4], 'int32'));
    const out = Array.from(await y.data());
    expect(out.slice(0, 2)).toEqual([5, 6]);
    expect(out.slice(2, 6).every(Number.isNaN)).toBe(true);
    expect(out.slice(6)).toEqual([1, 2]);
    E.backward(y, E.ones([4, 2]));
    expect(Array.from(await x.grad!.data())).toEqual([1, 1, 0, 0, 1, 1]);
  });

  it('an empty index gives an empty output and a zero gradient', async () => {
    const x = E.requireGrad(E.ones([3, 2]));
    const y = E.indexSelect(x, 1, E.tensor([], [0], 'int32'));
    expect(y.shape).toEqual([3, 0]);
    E.backward(y, E.empty([3, 0]));
    expect(Array.from(await x.grad!.data())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('uses one dispatch forward and three (clear, span, sum) backward', () => {
    const names: string[] = [];
    const rt = E.runtime();
    const real = rt.dispatch.bind(rt);
    vi.spyOn(rt, 'dispatch').mockImplementation((args) => {
      names.push(args.kernel);
      real(args);
    });
    const x = E.requireGrad(E.ones([4, 3]));
    const upstream = E.ones([2, 3]);
    names.length = 0;
    const y = E.indexSelect(x, 0, E.tensor([3, 1], [2], 'int32'));
    expect(names).toEqual(['index_select']);
    names.length = 0;
    E.backward(y, upstream);
    // backward() first copies the upstream gradient (a 'unary' copy)
    expect(names.filter((k) => k !== 'unary')).toEqual(['index_select_grad', 'index_select_grad', 'index_select_grad']);
  });

  it('rejects bad arguments, naming the op, the argument and what it got', () => {
    const x = E.zeros([3, 4]);
    const index = E.tensor([0, 1], [2], 'int32');
    expect(() => E.indexSelect(x, 2, index)).toThrow('indexSelect: axis must be an integer in [-2, 1], got 2');
    expect(() => E.indexSelect(x, -3, index)).toThrow('indexSelect: axis must be an integer in [-2, 1], got -3');
    expect(() => E.indexSelect(x, 0, E.tensor([0, 1], [2]))).toThrow('indexSelect: index must have dtype int32, got float32');
    expect(() => E.indexSelect(x, 0, E.tensor([0, 1], [1, 2], 'int32'))).toThrow('indexSelect: index must have rank 1, got shape [1,2]');
    expect(() => E.indexSelect(E.tensor([1, 2], [2], 'int32'), 0, index)).toThrow('indexSelect: x must have dtype float32, got int32');
    expect(() => E.indexSelect(E.scalar(1), 0, index)).toThrow('indexSelect: x must have rank ≥ 1');
  });
});
