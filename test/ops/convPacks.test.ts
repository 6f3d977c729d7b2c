/**
 * Shared conv weight packs (engine/ops/convPacks.ts): convolutions of one weight inside
 * sharingConvWeights pack it once per direction, give bit-identical outputs and gradients,
 * and leave no tensor behind — after a full backward, after a backward that skipped some of
 * them (freed by the next sharing pass), and through a retained graph run twice.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { dispatched } from '../helpers/dispatched.ts';

beforeAll(async () => {
  await E.init();
});

/** A head-like use: one weight and bias over three "levels" of other sizes; the middle input is frozen. */
function levels() {
  const weight = E.requireGrad(E.randNormal([12, 8, 3, 3], 11));
  const bias = E.requireGrad(E.randNormal([12], 12));
  const xs = [E.requireGrad(E.randNormal([2, 8, 16, 16], 13)), E.randNormal([2, 8, 8, 8], 14), E.requireGrad(E.randNormal([2, 8, 3, 5], 15))];
  const ups = xs.map((x, k) => E.randNormal([2, 12, x.shape[2], x.shape[3]], 20 + k));
  return { weight, bias, xs, ups };
}

type Case = ReturnType<typeof levels>;

/** Outputs, then a backward through the levels in `use` (default all), as arrays. */
async function run(c: Case, shared: boolean, use = [0, 1, 2], backwards = 1): Promise<{ outs: number[][]; grads: number[][]; kernels: string[] }> {
  let outs: Tensor[] = [];
  const kernels = dispatched(() => {
    // the scope frees the loss and its intermediates; the outputs are returned from it
    outs = E.scope(() => {
      const forward = () => c.xs.map((x) => E.conv2d(x, c.weight, c.bias, { padding: 1 }));
      const o = shared ? E.sharingConvWeights(forward) : forward();
      const loss = use.map((k) => E.sum(E.mul(o[k], c.ups[k]))).reduce((a, b) => E.add(a, b));
      for (let i = 0; i < backwards; i++) E.backward(loss, undefined, { retainGraph: i < backwards - 1 });
      return o;
    });
  });
  const grads = [c.weight, c.bias, c.xs[0], c.xs[2]].map((t) => t.grad);
  const result = {
    outs: await Promise.all(outs.map(async (o) => Array.from(await o.data()))),
    grads: await Promise.all(grads.map(async (g) => (g ? Array.from(await g.data()) : []))),
    kernels,
  };
  for (const o of outs) o.dispose();
  for (const t of [c.weight, c.bias, ...c.xs]) {
    t.grad?.dispose();
    t.grad = null;
  }
  return result;
}

const count = (names: string[], kernel: string) => names.filter((n) => n === kernel).length;

describe('sharingConvWeights', () => {
  it('packs a shared weight once per direction, with bit-identical outputs and gradients', async () => {
    const c = levels();
    const own = await run(c, false);
    const shared = await run(c, true);
    expect(shared.outs).toEqual(own.outs);
    expect(shared.grads).toEqual(own.grads);
    // three forward packs and two input-gradient packs (the frozen level needs no dx) become one each
    expect([count(own.kernels, 'conv2d_pack'), count(shared.kernels, 'conv2d_pack')]).toEqual([5, 2]);
  });

  it('leaves no tensor behind after a full backward', async () => {
    const c = levels();
    await run(c, true); // warm-up: pipelines, pools
    const before = E.memory().liveTensors;
    await run(c, true);
    expect(E.memory().liveTensors).toBe(before);
  });

  it('frees the pack a partial backward left at the next sharing pass, and a later backward still works', async () => {
    const c = levels();
    const before = E.memory().liveTensors;
    const partial = await run(c, true, [0]); // level 2 reserved the dx pack and never ran its backward
    expect(E.memory().liveTensors).toBe(before + 1);
    E.sharingConvWeights(() => {});
    expect(E.memory().liveTensors).toBe(before);
    expect(partial.grads).toEqual((await run(c, false, [0])).grads);
  });

  it('runs a retained graph twice with the gradients of unshared calls', async () => {
    const c = levels();
    const own = await run(c, false, [0, 1, 2], 2);
    const before = E.memory().liveTensors;
    const shared = await run(c, true, [0, 1, 2], 2);
    expect(shared.grads).toEqual(own.grads);
    expect(E.memory().liveTensors).toBe(before);
  });
});
