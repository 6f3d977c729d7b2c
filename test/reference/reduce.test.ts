/**
 * The float64 reductions sum, mean and max: hand-worked values, tie conventions, central differences, argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import type { RefAttrs } from '../../engine/reference/types.ts';
import { t, randn, fwd, vjp, arr, expectTensor, checkGrads } from './helpers.ts';

describe('sum / mean / max', () => {
  const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
  it('forward on hand-worked values', () => {
    expectTensor(fwd('sum', { x }, { axes: [0] }), [3], [5, 7, 9]);
    expectTensor(fwd('sum', { x }, { axes: [-1], keepdim: true }), [2, 1], [6, 15]);
    expectTensor(fwd('sum', { x }, { axes: null }), [], [21]);
    expectTensor(fwd('sum', { x }, {}), [], [21]);
    expectTensor(fwd('sum', { x }, { axes: null, keepdim: true }), [1, 1], [21]);
    expectTensor(fwd('mean', { x }, { axes: [1] }), [2], [2, 5]);
    expectTensor(fwd('mean', { x }, { axes: [0, 1] }), [], [3.5]);
    expectTensor(fwd('max', { x }, { axes: [0] }), [3], [4, 5, 6]);
    expectTensor(fwd('max', { x: t([2, 2], [-3, -1, -7, -5]) }, { axes: [-1], keepdim: true }), [2, 1], [-1, -5]);
  });
  it('vjp on hand-worked values', () => {
    expectTensor(vjp('sum', { x }, { axes: [1] }, [10, 20]).x, [2, 3], [10, 10, 10, 20, 20, 20]);
    expectTensor(vjp('mean', { x }, { axes: [0] }, [2, 4, 6]).x, [2, 3], [1, 2, 3, 1, 2, 3]);
  });
  it('max splits the gradient equally among tied maxima', () => {
    expect(arr(vjp('max', { x: t([4], [3, 1, 3, 3]) }, { axes: null }, [6]).x)).toEqual([2, 0, 2, 2]);
    expect(arr(vjp('max', { x: t([2, 2], [5, 5, 1, 2]) }, { axes: [1] }).x)).toEqual([0.5, 0.5, 0, 1]);
  });
  it('max propagates NaN', () => {
    expectTensor(fwd('max', { x: t([3], [1, NaN, 2]) }), [], [NaN]);
  });
  const axesCases: [RefAttrs, number[]][] = [
    [{ axes: null }, [2, 3, 4]],
    [{ axes: [0] }, [2, 3, 4]],
    [{ axes: [-1], keepdim: true }, [2, 3, 4]],
    [{ axes: [0, 2] }, [2, 3, 4]],
    [{ axes: [-3, -1], keepdim: true }, [2, 3, 4]],
    [{ axes: [1], keepdim: false }, [3, 5]],
    [{ axes: null, keepdim: true }, [5]],
    [{ axes: null }, []],
  ];
  for (const id of ['sum', 'mean', 'max']) {
    it(`${id}: finite differences over axes (negative, keepdim, all)`, () => {
      const rng = new Rng(51);
      // Normal draws: ties among maxima are vanishingly unlikely, so max is differentiable.
      for (const [attrs, shape] of axesCases) checkGrads(id, { x: randn(rng, shape) }, attrs);
    });
  }
  it('bad axes and keepdim throw informative errors', () => {
    expect(() => fwd('sum', { x }, { axes: [2] })).toThrow("sum: attribute 'axes'[0] must be an integer axis in [-2, 1] for rank 2, got 2");
    expect(() => fwd('mean', { x }, { axes: [0, -2] })).toThrow(/mean: attribute 'axes' must not repeat an axis, got \[0, -2\]/);
    expect(() => fwd('sum', { x }, { axes: [] })).toThrow("sum: attribute 'axes' must be null (all axes) or a non-empty list, got []");
    expect(() => fwd('sum', { x }, { axes: 1 })).toThrow("sum: attribute 'axes' must be a list of integers or null (all axes), got 1");
    expect(() => fwd('sum', { x }, { axis: [0] })).toThrow("sum: unexpected attribute 'axis' (expected axes, keepdim)");
    expect(() => fwd('max', { x }, { axes: [0], keepdim: 'yes' })).toThrow(`max: attribute 'keepdim' must be a boolean, got "yes"`);
    expect(() => fwd('max', { x: t([2, 0], []) }, { axes: [1] })).toThrow('max: cannot reduce over an axis of size 0, got x.shape [2, 0]');
  });
});
