/**
 * The float64 index_select (and index_add, checked with it by the parity files): hand-worked values, accumulation of repeated indices, central differences, argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { t, randn, fwd, vjp, expectTensor, checkGrads } from './helpers.ts';

describe('index_select', () => {
  it('forward and accumulating vjp on hand-worked values', () => {
    const x = t([3], [10, 20, 30]);
    const index = t([3], [2, 0, 2]);
    expectTensor(fwd('index_select', { x, index }, { axis: 0 }), [3], [30, 10, 30]);
    const g = vjp('index_select', { x, index }, { axis: 0 }, [1, 2, 3]);
    expect(g.index).toBeNull();
    expectTensor(g.x, [3], [2, 0, 4]); // index 2 picked twice: 1 + 3
    // Columns of a [2,3]: pick columns 1 and 1 again.
    expectTensor(fwd('index_select', { x: t([2, 3], [1, 2, 3, 4, 5, 6]), index: t([2], [1, 1]) }, { axis: -1 }), [2, 2], [2, 2, 5, 5]);
  });
  it('finite differences', () => {
    const rng = new Rng(101);
    checkGrads('index_select', { x: randn(rng, [4, 3]), index: t([4], [3, 0, 3, 1]) }, { axis: 0 }, ['index']);
    checkGrads('index_select', { x: randn(rng, [2, 3, 2]), index: t([2], [2, 2]) }, { axis: -2 }, ['index']);
    checkGrads('index_select', { x: randn(rng, [5]), index: t([0], []) }, { axis: 0 }, ['index']);
  });
  it('errors', () => {
    const x = t([3], [10, 20, 30]);
    expect(() => fwd('index_select', { x, index: t([2], [0, 3]) }, { axis: 0 })).toThrow(
      'index_select: index[1] must be an integer in [0, x.shape[0] (3)), got 3',
    );
    expect(() => fwd('index_select', { x, index: t([1], [0.5]) }, { axis: 0 })).toThrow(
      'index_select: index[0] must be an integer in [0, x.shape[0] (3)), got 0.5',
    );
    expect(() => fwd('index_select', { x, index: t([1, 1], [0]) }, { axis: 0 })).toThrow('index_select: index must have rank 1 ([K]), got shape [1, 1]');
    expect(() => fwd('index_select', { x }, { axis: 0 })).toThrow("index_select: input 'index' is missing");
  });
});
