import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';

let rt: E.Runtime;
beforeAll(async () => {
  rt = await E.init();
});

const values = async (t: E.Tensor | null) => Array.from(await t!.data());

describe('autograd', () => {
  it('accumulates the gradient of a tensor used twice', async () => {
    // y = sum(x * x + 3x) → dy/dx = 2x + 3
    const x = E.requireGrad(E.tensor([1, -2, 0.5]));
    E.backward(E.sum(E.add(E.mul(x, x), E.scale(x, 3))));
    expect(await values(x.grad)).toEqual([5, -1, 4]);
  });

  it('passes one gradient tensor to two inputs when the first already holds a gradient', async () => {
    // out = [c − h, c + h] with c = 2x, h = 3y: d Σ w·out / dx = 2·(w1 + w2), / dy = 3·(w2 − w1).
    // add's rule returns the same tensor for c and h; c's gradient from sub arrives first
    // and is summed with it, which must not dispose the tensor h still needs.
    const x = E.requireGrad(E.tensor([1, -2]));
    const y = E.requireGrad(E.tensor([0.5, 4]));
    const c = E.scale(x, 2);
    const h = E.scale(y, 3);
    const out = E.concat([E.sub(c, h), E.add(c, h)], 0);
    E.backward(out, E.tensor([1, 2, 3, 4]));
    expect(await values(x.grad)).toEqual([8, 12]);
    expect(await values(y.grad)).toEqual([6, 6]);
  });

  it('accumulates into .grad across backward calls', async () => {
    const x = E.requireGrad(E.tensor([1, 2]));
    E.backward(E.sum(E.scale(x, 2)));
    E.backward(E.sum(E.scale(x, 3)));
    expect(await values(x.grad)).toEqual([5, 5]);
  });

  it('takes an upstream gradient for a non-scalar output', async () => {
    const x = E.requireGrad(E.tensor([1, 2, 3]));
    E.backward(E.mul(x, x), E.tensor([1, 0, -1]));
    expect(await values(x.grad)).toEqual([2, 0, -6]);
  });

  it('records nothing under noGrad and cuts the tape at detach', async () => {
    const x = E.requireGrad(E.tensor([1, 2]));
    const y = E.noGrad(() => E.mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const d = E.detach(x);
    expect(d.requiresGrad).toBe(false);
    // z depends on x only through the detached copy: no gradient reaches x
    const z = E.sum(E.add(E.mul(d, d), x));
    E.backward(z);
    expect(await values(x.grad)).toEqual([1, 1]);
  });

  it('launches no kernel for an input that does not require grad', async () => {
    // mul's backward for b needs a multiply and (here) a broadcast reduction: with b
    // frozen, only a's gradient kernels run.
    const a = E.requireGrad(E.randNormal([64, 8], 1));
    const bFrozen = E.randNormal([8], 2);
    const bLive = E.requireGrad(E.randNormal([8], 2));
    await rt.sync();
    const count = (b: E.Tensor) => {
      const loss = E.sum(E.mul(a, b));
      const before = rt.stats.dispatches;
      E.backward(loss);
      return rt.stats.dispatches - before;
    };
    const frozen = count(bFrozen);
    const live = count(bLive);
    expect(bFrozen.grad).toBeNull();
    expect(bLive.grad).not.toBeNull();
    expect(live).toBeGreaterThan(frozen);
    // and the input gradient is still right
    const ga = await a.grad!.data();
    const b = await bFrozen.data();
    // a.grad accumulated twice (frozen run + live run) = 2·b broadcast
    for (let i = 0; i < 64 * 8; i++) expect(ga[i]).toBeCloseTo(2 * b[i % 8], 5);
  });

  it('frees the graph after backward unless retainGraph is set', () => {
    const x = E.requireGrad(E.tensor([1, 2]));
    const y = E.sum(E.mul(x, x));
    E.backward(y, undefined, { retainGraph: true });
    E.backward(y); // allowed: the graph was retained
    expect(() => E.backward(y)).toThrow(/freed by an earlier backward\(\).*retainGraph/);
  });

  it('explains backward on a non-scalar without an upstream gradient', () => {
    const x = E.requireGrad(E.tensor([1, 2]));
    expect(() => E.backward(E.mul(x, x))).toThrow(/not a scalar; pass an upstream gradient of shape \[2\]/);
  });

  it('explains backward on a tensor that does not require grad', () => {
    expect(() => E.backward(E.sum(E.tensor([1, 2])))).toThrow(/does not require grad/);
  });

  it('rejects an upstream gradient of the wrong shape', () => {
    const x = E.requireGrad(E.tensor([1, 2]));
    expect(() => E.backward(E.mul(x, x), E.tensor([1, 2, 3]))).toThrow(/upstream gradient must have shape \[2\], got \[3\]/);
  });

  it('names the saved tensor when it was disposed before backward', () => {
    const x = E.requireGrad(E.tensor([1, 2]));
    const h = E.exp(x); // exp's backward reads its output h
    const y = E.sum(E.mul(h, h));
    h.dispose();
    expect(() => E.backward(y)).toThrow(/backward of '.*' .*was disposed/);
  });
});
