/**
 * The float64 matmul: hand-worked values, batching and broadcasting, central differences, argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { t, randn, fwd, vjp, expectTensor, checkGrads } from './helpers.ts';

describe('matmul', () => {
  it('forward and vjp on hand-worked values', () => {
    const a = t([2, 2], [1, 2, 3, 4]);
    const b = t([2, 2], [5, 6, 7, 8]);
    expectTensor(fwd('matmul', { a, b }), [2, 2], [19, 22, 43, 50]);
    // With upstream ones: da = 1 @ b^T (row sums of b per row), db = a^T @ 1 (column sums of a).
    const g = vjp('matmul', { a, b });
    expectTensor(g.a, [2, 2], [11, 15, 11, 15]);
    expectTensor(g.b, [2, 2], [4, 4, 6, 6]);
    // A [1,2] row times a batch of two [2,1] columns broadcasts to [2,1,1].
    expectTensor(fwd('matmul', { a: t([1, 2], [1, 2]), b: t([2, 2, 1], [3, 4, 5, 6]) }), [2, 1, 1], [11, 17]);
  });
  it('finite differences with broadcast batch dims', () => {
    const rng = new Rng(71);
    const cases: [number[], number[]][] = [
      [
        [2, 3],
        [3, 4],
      ],
      [
        [2, 2, 3],
        [3, 4],
      ],
      [
        [3, 1, 2, 3],
        [2, 3, 5],
      ],
      [
        [1, 2, 3],
        [4, 3, 2],
      ],
      [
        [2, 1, 4],
        [2, 4, 1],
      ],
    ];
    for (const [sa, sb] of cases) checkGrads('matmul', { a: randn(rng, sa), b: randn(rng, sb) });
  });
  it('errors name the mismatched dims', () => {
    const rng = new Rng(72);
    expect(() => fwd('matmul', { a: randn(rng, [3, 5]), b: randn(rng, [6, 2]) })).toThrow('matmul: b.shape[-2] must equal a.shape[-1] (5), got 6');
    expect(() => fwd('matmul', { a: randn(rng, [3]), b: randn(rng, [3, 2]) })).toThrow('matmul: a must have rank ≥ 2 ([..., rows, cols]), got shape [3]');
    expect(() => fwd('matmul', { a: randn(rng, [2, 3, 4]), b: randn(rng, [3, 4, 5]) })).toThrow(
      /matmul \(batch dims of a \[2, 3, 4\] and b \[3, 4, 5\]\): cannot broadcast shapes \[2\] and \[3\]/,
    );
  });
});
