/**
 * The float64 movement ops (reshape, permute, transpose, slice, pad, concat, upsample_nearest2x, max_pool2d): hand-worked values, central differences, argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { t, randn, fwd, vjp, expectTensor, checkGrads } from './helpers.ts';

describe('reshape / permute / transpose', () => {
  const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
  it('forward on hand-worked values', () => {
    expectTensor(fwd('reshape', { x }, { shape: [3, -1] }), [3, 2], [1, 2, 3, 4, 5, 6]);
    expectTensor(fwd('reshape', { x: t([], [7]) }, { shape: [1, 1] }), [1, 1], [7]);
    expectTensor(fwd('permute', { x }, { dims: [1, 0] }), [3, 2], [1, 4, 2, 5, 3, 6]);
    expectTensor(fwd('transpose', { x }, { dim0: -1, dim1: 0 }), [3, 2], [1, 4, 2, 5, 3, 6]);
    // [2,1,2] -> dims [2,0,1]: out[k,i,j] = x[i,j,k].
    expectTensor(fwd('permute', { x: t([2, 1, 2], [1, 2, 3, 4]) }, { dims: [2, 0, 1] }), [2, 2, 1], [1, 3, 2, 4]);
  });
  it('finite differences', () => {
    const rng = new Rng(81);
    checkGrads('reshape', { x: randn(rng, [2, 3, 4]) }, { shape: [4, -1] });
    checkGrads('reshape', { x: randn(rng, [6]) }, { shape: [1, 2, 3, 1] });
    checkGrads('reshape', { x: randn(rng, []) }, { shape: [-1] });
    checkGrads('permute', { x: randn(rng, [2, 3, 4]) }, { dims: [2, 0, 1] });
    checkGrads('permute', { x: randn(rng, [2, 3, 4]) }, { dims: [-1, 0, -2] });
    checkGrads('transpose', { x: randn(rng, [2, 3, 4]) }, { dim0: 0, dim1: -1 });
    checkGrads('transpose', { x: randn(rng, [3, 4]) }, { dim0: 1, dim1: 1 });
  });
  it('errors', () => {
    expect(() => fwd('reshape', { x }, { shape: [4, 2] })).toThrow('reshape: shape [4, 2] has 8 elements, x.shape [2, 3] has 6');
    expect(() => fwd('reshape', { x }, { shape: [-1, -1] })).toThrow('reshape: only one entry of shape may be -1, got [-1, -1]');
    expect(() => fwd('reshape', { x }, { shape: [4, -1] })).toThrow('reshape: cannot infer the -1 in shape [4, -1] for x.shape [2, 3] (6 elements)');
    expect(() => fwd('reshape', { x }, { shape: [-2, -3] })).toThrow('reshape: shape[0] must be ≥ 0 or -1 (inferred), got -2');
    expect(() => fwd('reshape', { x }, {})).toThrow("reshape: attribute 'shape' must be a list of integers, got nothing");
    expect(() => fwd('permute', { x }, { dims: [0] })).toThrow('permute: dims must list each of the 2 axes of x.shape [2, 3] once, got [0]');
    expect(() => fwd('permute', { x }, { dims: [0, -2] })).toThrow(/permute: dims must not repeat an axis, got \[0, -2\]/);
    expect(() => fwd('transpose', { x }, { dim0: 0, dim1: 2 })).toThrow("transpose: attribute 'dim1' must be an integer axis in [-2, 1] for rank 2, got 2");
    expect(() => fwd('transpose', { x }, { dim0: 0 })).toThrow("transpose: attribute 'dim1' must be an integer, got nothing");
  });
});

describe('slice / pad / concat', () => {
  const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
  it('forward on hand-worked values', () => {
    expectTensor(fwd('slice', { x }, { starts: [0, 1], ends: [2, 3] }), [2, 2], [2, 3, 5, 6]);
    expectTensor(fwd('slice', { x }, { starts: [1, 0], ends: [2, 1] }), [1, 1], [4]);
    expectTensor(fwd('pad', { x: t([2], [1, 2]) }, { pads: [[1, 2]] }), [5], [0, 1, 2, 0, 0]);
    expectTensor(
      fwd(
        'pad',
        { x },
        {
          pads: [
            [0, 1],
            [1, 0],
          ],
        },
      ),
      [3, 4],
      [0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0],
    );
    expectTensor(fwd('concat', { x0: t([1, 2], [1, 2]), x1: t([2, 2], [3, 4, 5, 6]) }, { axis: 0 }), [3, 2], [1, 2, 3, 4, 5, 6]);
    expectTensor(fwd('concat', { x0: x, x1: t([2, 1], [7, 8]) }, { axis: -1 }), [2, 4], [1, 2, 3, 7, 4, 5, 6, 8]);
  });
  it('vjp routes upstream back to the right places', () => {
    expectTensor(vjp('slice', { x }, { starts: [0, 1], ends: [2, 3] }, [1, 2, 3, 4]).x, [2, 3], [0, 1, 2, 0, 3, 4]);
    expectTensor(vjp('pad', { x: t([2], [1, 2]) }, { pads: [[1, 2]] }, [9, 1, 2, 9, 9]).x, [2], [1, 2]);
    const g = vjp('concat', { x0: t([2, 1], [0, 0]), x1: t([2, 2], [0, 0, 0, 0]) }, { axis: 1 }, [1, 2, 3, 4, 5, 6]);
    expectTensor(g.x0, [2, 1], [1, 4]);
    expectTensor(g.x1, [2, 2], [2, 3, 5, 6]);
  });
  it('finite differences', () => {
    const rng = new Rng(91);
    checkGrads('slice', { x: randn(rng, [4, 5]) }, { starts: [1, 0], ends: [3, 5] });
    checkGrads('slice', { x: randn(rng, [2, 3, 4]) }, { starts: [0, 1, 1], ends: [2, 3, 4] });
    checkGrads('slice', { x: randn(rng, [2, 3]) }, { starts: [0, 2], ends: [2, 2] }); // empty result
    checkGrads(
      'pad',
      { x: randn(rng, [2, 3]) },
      {
        pads: [
          [1, 0],
          [2, 1],
        ],
      },
    );
    checkGrads(
      'pad',
      { x: randn(rng, [1, 2, 2, 2]) },
      {
        pads: [
          [0, 0],
          [0, 0],
          [1, 1],
          [1, 1],
        ],
      },
    );
    checkGrads('concat', { x0: randn(rng, [2, 3]), x1: randn(rng, [2, 1]), x2: randn(rng, [2, 2]) }, { axis: -1 });
    checkGrads('concat', { x0: randn(rng, [1, 3]), x1: randn(rng, [2, 3]) }, { axis: 0 });
    checkGrads('concat', { x0: randn(rng, [2, 1, 2]), x1: randn(rng, [2, 3, 2]) }, { axis: 1 });
    checkGrads('concat', { x0: randn(rng, [3]) }, { axis: 0 });
  });
  it('errors', () => {
    expect(() => fwd('slice', { x }, { starts: [0, 1], ends: [2, 4] })).toThrow('slice: ends[1] must be in [starts[1] (1), x.shape[1] (3)], got 4');
    expect(() => fwd('slice', { x }, { starts: [-1, 0], ends: [2, 3] })).toThrow('slice: starts[0] must be in [0, x.shape[0] (2)], got -1');
    expect(() => fwd('slice', { x }, { starts: [0], ends: [2, 3] })).toThrow('slice: starts must have one entry per dim of x.shape [2, 3] (2), got 1');
    expect(() => fwd('pad', { x }, { pads: [[1, 1]] })).toThrow(
      "pad: attribute 'pads' must be 2 pairs [before, after] of non-negative integers (one per dim of x.shape [2, 3]), got [[1,1]]",
    );
    expect(() =>
      fwd(
        'pad',
        { x },
        {
          pads: [
            [1, 1],
            [0, -1],
          ],
        },
      ),
    ).toThrow(/pad: attribute 'pads' must be 2 pairs.*got \[\[1,1\],\[0,-1\]\]/);
    expect(() => fwd('concat', { x0: x, x1: t([3, 1], [1, 2, 3]) }, { axis: 1 })).toThrow(
      'concat: x1.shape must match x0.shape [2, 3] except at axis 1, got [3, 1]',
    );
    expect(() => fwd('concat', { x0: x, x2: x }, { axis: 0 })).toThrow("concat: unexpected input 'x2' (expected x0, x1)");
    expect(() => fwd('concat', {}, { axis: 0 })).toThrow('concat: needs at least one input (x0, x1, ...), got none');
    expect(() => fwd('concat', { x0: x }, { axis: 2 })).toThrow("concat: attribute 'axis' must be an integer axis in [-2, 1] for rank 2, got 2");
  });
});

describe('upsample_nearest2x', () => {
  it('forward and vjp on hand-worked values', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    expectTensor(fwd('upsample_nearest2x', { x }), [1, 1, 4, 4], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    // Each input pixel collects its 2x2 block of upstream values.
    const up = Array.from({ length: 16 }, (_, i) => i);
    expectTensor(vjp('upsample_nearest2x', { x }, {}, up).x, [1, 1, 2, 2], [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
  });
  it('finite differences', () => {
    const rng = new Rng(101);
    checkGrads('upsample_nearest2x', { x: randn(rng, [1, 2, 3, 3]) });
    checkGrads('upsample_nearest2x', { x: randn(rng, [2, 1, 2, 1]) });
  });
  it('errors', () => {
    expect(() => fwd('upsample_nearest2x', { x: t([1, 2, 2], [1, 2, 3, 4]) })).toThrow(
      'upsample_nearest2x: x must be [N, C, H, W] (rank 4), got shape [1, 2, 2]',
    );
  });
});

describe('max_pool2d', () => {
  it('forward and vjp on hand-worked values: 2×2 windows, first maximum on ties', () => {
    // [[1, 5, 2, 0], [3, 5, 4, 4], [0, 1, 9, 8], [2, 2, 7, 9]]
    const x = t([1, 1, 4, 4], [1, 5, 2, 0, 3, 5, 4, 4, 0, 1, 9, 8, 2, 2, 7, 9]);
    expectTensor(fwd('max_pool2d', { x }, { kernel_size: [2, 2] }), [1, 1, 2, 2], [5, 4, 2, 9]);
    // ties go to the first in row-major order: 5 at (0,1), not (1,1); 4 at (1,2); 2 at (3,0); 9 at (2,2)
    expectTensor(vjp('max_pool2d', { x }, { kernel_size: [2, 2] }, [10, 20, 30, 40]).x, [1, 1, 4, 4], [0, 10, 0, 0, 0, 0, 20, 0, 0, 0, 40, 0, 30, 0, 0, 0]);
  });
  it('padding is never selected, overlapping windows sum their gradients, NaN propagates', () => {
    const x = t([1, 1, 3, 3], [-5, -1, -7, -2, -8, -3, -9, -6, -4]);
    // 3×3, stride 2, padding 1: four windows over the corners, all padded; each holds -1, -2 or -3
    expectTensor(fwd('max_pool2d', { x }, { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] }), [1, 1, 2, 2], [-1, -1, -2, -3]);
    expectTensor(vjp('max_pool2d', { x }, { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] }, [1, 2, 3, 4]).x, [1, 1, 3, 3], [0, 3, 0, 3, 0, 4, 0, 0, 0]);
    const withNan = fwd('max_pool2d', { x: t([1, 1, 2, 2], [1, NaN, 3, 2]) }, { kernel_size: [2, 2] });
    expect(Number.isNaN(withNan.data[0])).toBe(true);
  });
  it('finite differences', () => {
    const rng = new Rng(202);
    checkGrads('max_pool2d', { x: randn(rng, [1, 2, 5, 5]) }, { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] });
    checkGrads('max_pool2d', { x: randn(rng, [2, 1, 4, 6]) }, { kernel_size: [2, 3], stride: [1, 2] });
  });
  it('errors name the attribute, the expected and the actual', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    expect(() => fwd('max_pool2d', { x: t([1, 2, 2], [1, 2, 3, 4]) }, { kernel_size: [2, 2] })).toThrow(
      'max_pool2d: x must be [N, C, H, W] (rank 4), got shape [1, 2, 2]',
    );
    expect(() => fwd('max_pool2d', { x }, { kernel_size: [3, 3], padding: [2, 2] })).toThrow(
      'max_pool2d: padding must be in [0, kernel_size / 2], got [2, 2] for kernel [3, 3]',
    );
    expect(() => fwd('max_pool2d', { x }, { kernel_size: [3, 3] })).toThrow(
      'max_pool2d: output size 0×0 is too small for input 2×2 (kernel [3, 3], padding [0, 0])',
    );
    expect(() => fwd('max_pool2d', { x }, { kernel_size: 2 })).toThrow("max_pool2d: attribute 'kernel_size' must be a list of integers, got 2");
  });
});
