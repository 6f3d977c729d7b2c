/**
 * The float64 softmax and log_softmax: hand-worked values, stability, central differences, argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { t, randn, fwd, vjp, arr, expectTensor, checkGrads } from './helpers.ts';

describe('softmax / log_softmax', () => {
  it('forward on hand-worked values', () => {
    // exp(0) : exp(ln 3) = 1 : 3.
    expectTensor(fwd('softmax', { x: t([2], [0, Math.log(3)]) }, { axis: 0 }), [2], [0.25, 0.75]);
    expectTensor(fwd('log_softmax', { x: t([2], [0, Math.log(3)]) }, { axis: -1 }), [2], [Math.log(0.25), Math.log(0.75)]);
    // Along axis 0 of a [2,2]: columns are normalised; huge logits do not overflow.
    expectTensor(fwd('softmax', { x: t([2, 2], [1000, 0, 1000, Math.log(3)]) }, { axis: 0 }), [2, 2], [0.5, 0.25, 0.5, 0.75]);
    expectTensor(fwd('log_softmax', { x: t([2], [1000, 1000]) }, { axis: 0 }), [2], [-Math.LN2, -Math.LN2]);
  });
  it('vjp: a constant upstream gives zero gradient for softmax (outputs sum to 1)', () => {
    const g = vjp('softmax', { x: t([3], [0.1, -2, 1]) }, { axis: 0 });
    arr(g.x).forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-15));
    // log_softmax with upstream e_0: d out_0 / dx = e_0 - softmax(x).
    const g2 = vjp('log_softmax', { x: t([2], [0, Math.log(3)]) }, { axis: 0 }, [1, 0]);
    expectTensor(g2.x, [2], [0.75, -0.75]);
  });
  for (const id of ['softmax', 'log_softmax']) {
    it(`${id}: finite differences along various axes`, () => {
      const rng = new Rng(61);
      checkGrads(id, { x: randn(rng, [3, 5], 3) }, { axis: -1 });
      checkGrads(id, { x: randn(rng, [3, 5], 3) }, { axis: 0 });
      checkGrads(id, { x: randn(rng, [2, 3, 4], 3) }, { axis: 1 });
      checkGrads(id, { x: randn(rng, [2, 3, 4], 3) }, { axis: -3 });
      checkGrads(id, { x: randn(rng, [6], 3) }, { axis: 0 });
    });
  }
  it('errors for a missing or out-of-range axis', () => {
    const x = t([2, 2], [1, 2, 3, 4]);
    expect(() => fwd('softmax', { x })).toThrow("softmax: attribute 'axis' is missing");
    expect(() => fwd('log_softmax', { x }, { axis: 2 })).toThrow("log_softmax: attribute 'axis' must be an integer axis in [-2, 1] for rank 2, got 2");
  });
});
