/**
 * The elementwise float64 reference ops (unary, clamp, binary, where): hand-worked forward values, tie/bound conventions, central differences of every vjp, argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { getReferenceOp } from '../../engine/reference/index.ts';
import { size } from '../../engine/reference/shape.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { t, randn, uniform, awayFromZero, awayFrom, fwd, vjp, arr, expectTensor, checkGrads } from './helpers.ts';

describe('unary ops', () => {
  it('forward on hand-worked values', () => {
    const x = t([4], [-2, -0.5, 0, 3]);
    expectTensor(fwd('neg', { x }), [4], [2, 0.5, -0, -3]);
    expectTensor(fwd('abs', { x }), [4], [2, 0.5, 0, 3]);
    expectTensor(fwd('relu', { x }), [4], [0, 0, 0, 3]);
    expectTensor(fwd('exp', { x: t([2], [0, 1]) }), [2], [1, Math.E]);
    expectTensor(fwd('log', { x: t([3], [1, Math.E, -1]) }), [3], [0, 1, NaN]);
    expectTensor(fwd('sqrt', { x: t([2], [4, 2.25]) }), [2], [2, 1.5]);
    // sigmoid(0) = 1/2; sigmoid(ln 3) = 3/4; the extremes saturate without NaN.
    expectTensor(fwd('sigmoid', { x: t([5], [0, Math.log(3), -Math.log(3), 1000, -1000]) }), [5], [0.5, 0.75, 0.25, 1, 0]);
  });
  it('gradient conventions at the kinks: relu and abs give 0 at 0', () => {
    expect(arr(vjp('relu', { x: t([3], [-1, 0, 2]) }).x)).toEqual([0, 0, 1]);
    expect(arr(vjp('abs', { x: t([3], [-1, 0, 2]) }).x)).toEqual([-1, 0, 1]);
    // d sigmoid at 0 is 1/4; d sqrt at 4 is 1/4; d log at 2 is 1/2.
    expectTensor(vjp('sigmoid', { x: t([1], [0]) }).x, [1], [0.25]);
    expectTensor(vjp('sqrt', { x: t([1], [4]) }).x, [1], [0.25]);
    expectTensor(vjp('log', { x: t([1], [2]) }).x, [1], [0.5]);
  });
  it('sigmoid gradient stays finite far out', () => {
    const g = arr(vjp('sigmoid', { x: t([2], [-800, 800]) }).x);
    expect(g.every(Number.isFinite)).toBe(true);
  });
  const shapes = [[], [5], [2, 3, 4]];
  for (const id of ['neg', 'exp', 'sigmoid']) {
    it(`${id}: finite differences`, () => {
      const rng = new Rng(11);
      for (const s of shapes) checkGrads(id, { x: randn(rng, s, 2) });
    });
  }
  for (const id of ['log', 'sqrt']) {
    it(`${id}: finite differences (positive inputs)`, () => {
      const rng = new Rng(12);
      for (const s of shapes) checkGrads(id, { x: uniform(rng, s, 0.3, 4) });
    });
  }
  for (const id of ['abs', 'relu']) {
    it(`${id}: finite differences (away from 0)`, () => {
      const rng = new Rng(13);
      for (const s of shapes) checkGrads(id, { x: awayFromZero(rng, s) });
    });
  }
  it('errors name the op and the argument', () => {
    expect(() => fwd('exp', {})).toThrow("exp: input 'x' is missing");
    expect(() => fwd('exp', { x: t([2, 2], [1, 2, 3]) })).toThrow("exp: input 'x' has 3 values but shape [2, 2] needs 4");
    expect(() => fwd('exp', { x: t([1], [1]), y: t([1], [1]) })).toThrow("exp: unexpected input 'y' (expected x)");
    expect(() => fwd('relu', { x: t([1], [1]) }, { alpha: 0.1 })).toThrow("relu: unexpected attribute 'alpha' (expected none)");
    expect(() => fwd('neg', { x: { shape: [2], data: [1, 2] } as unknown as RefTensor })).toThrow(
      /neg: input 'x' must be a tensor \{ shape: number\[\], data: Float64Array \}/,
    );
    expect(() => getReferenceOp('exp').vjp({ x: t([2], [1, 2]) }, {}, { out: t([3], [1, 1, 1]) })).toThrow(
      "exp: upstream 'out' must have the output's shape [2], got [3]",
    );
    expect(() => getReferenceOp('exp').vjp({ x: t([2], [1, 2]) }, {}, {})).toThrow("exp: upstream gradient for output 'out' is missing");
  });
});

describe('clamp', () => {
  it('forward and the inclusive-bounds gradient', () => {
    const x = t([5], [-1, 0, 0.5, 1, 2]);
    expectTensor(fwd('clamp', { x }, { min: 0, max: 1 }), [5], [0, 0, 0.5, 1, 1]);
    // The gradient passes at x == min and x == max.
    expect(arr(vjp('clamp', { x }, { min: 0, max: 1 }).x)).toEqual([0, 1, 1, 1, 0]);
    // One-sided bounds (null = unbounded).
    expectTensor(fwd('clamp', { x }, { min: 0.5, max: null }), [5], [0.5, 0.5, 0.5, 1, 2]);
    expectTensor(fwd('clamp', { x }, { max: 0 }), [5], [-1, 0, 0, 0, 0]);
  });
  it('finite differences away from the bounds', () => {
    const rng = new Rng(21);
    checkGrads('clamp', { x: awayFrom(rng, [3, 4], -2, 2, [-0.5, 0.7]) }, { min: -0.5, max: 0.7 });
    checkGrads('clamp', { x: awayFrom(rng, [7], -2, 2, [0.25]) }, { min: 0.25, max: null });
    checkGrads('clamp', { x: awayFrom(rng, [2, 5], -2, 2, [-1]) }, { min: null, max: -1 });
  });
  it('rejects a clamp without bounds and non-numeric bounds', () => {
    const x = t([1], [0]);
    expect(() => fwd('clamp', { x }, { min: null, max: null })).toThrow(/clamp: at least one of attributes 'min' and 'max'/);
    expect(() => fwd('clamp', { x }, { min: '0' })).toThrow(`clamp: attribute 'min' must be a number or null, got "0"`);
    expect(() => fwd('clamp', { x }, { min: NaN })).toThrow(/clamp: attribute 'min' must be a number or null/);
  });
});

describe('binary ops', () => {
  it('broadcast forward on hand-worked values', () => {
    const a = t([2, 3], [1, 2, 3, 4, 5, 6]);
    expectTensor(fwd('add', { a, b: t([3], [10, 20, 30]) }), [2, 3], [11, 22, 33, 14, 25, 36]);
    expectTensor(fwd('sub', { a, b: t([], [1]) }), [2, 3], [0, 1, 2, 3, 4, 5]);
    expectTensor(fwd('mul', { a: t([2, 1], [2, 3]), b: t([1, 2], [10, 100]) }), [2, 2], [20, 200, 30, 300]);
    expectTensor(fwd('div', { a: t([2], [1, 2]), b: t([2, 1], [4, 8]) }), [2, 2], [0.25, 0.5, 0.125, 0.25]);
    expectTensor(fwd('maximum', { a: t([3], [1, 5, -2]), b: t([3], [4, 2, -2]) }), [3], [4, 5, -2]);
    expectTensor(fwd('minimum', { a: t([3], [1, 5, -2]), b: t([3], [4, 2, -2]) }), [3], [1, 2, -2]);
  });
  it('broadcast vjp sums over the broadcast dims', () => {
    // out[i,j] = a[i,j] * b[j]: da = b (per row), db[j] = sum_i a[i,j].
    const g = vjp('mul', { a: t([2, 3], [1, 2, 3, 4, 5, 6]), b: t([3], [10, 20, 30]) });
    expectTensor(g.a, [2, 3], [10, 20, 30, 10, 20, 30]);
    expectTensor(g.b, [3], [5, 7, 9]);
    // a scalar added to a [2,2] receives the sum of the four upstream values.
    const g2 = vjp('add', { a: t([], [1]), b: t([2, 2], [0, 0, 0, 0]) }, {}, [1, 2, 3, 4]);
    expectTensor(g2.a, [], [10]);
    expectTensor(g2.b, [2, 2], [1, 2, 3, 4]);
  });
  it('maximum/minimum split ties 0.5/0.5', () => {
    const a = t([3], [1, 2, 5]);
    const b = t([3], [1, 3, 4]);
    const gmax = vjp('maximum', { a, b });
    expect(arr(gmax.a)).toEqual([0.5, 0, 1]);
    expect(arr(gmax.b)).toEqual([0.5, 1, 0]);
    const gmin = vjp('minimum', { a, b });
    expect(arr(gmin.a)).toEqual([0.5, 1, 0]);
    expect(arr(gmin.b)).toEqual([0.5, 0, 1]);
  });
  it('pow: negative bases, zero and its gradients', () => {
    const a = t([6], [-2, -2, -8, 2, 0, 9]);
    const b = t([6], [3, 2, 1 / 3, -1, 0, 0.5]);
    // (-2)^3 = -8, (-2)^2 = 4, (-8)^(1/3) is not real, 2^-1 = 1/2, 0^0 = 1, 9^0.5 = 3.
    expectTensor(fwd('pow', { a, b }), [6], [-8, 4, NaN, 0.5, 1, 3]);
    const g = vjp('pow', { a: t([4], [2, -2, 0, 0]), b: t([4], [3, 3, 2, 0]) });
    // d/da a^b = b a^(b-1): 3*4 = 12, 3*4 = 12, 2*0 = 0, and 0 where b == 0.
    expectTensor(g.a, [4], [12, 12, 0, 0]);
    // d/db a^b = a^b ln a: 8 ln 2; NaN for a < 0; 0 at a == 0 with b >= 0.
    expectTensor(g.b, [4], [8 * Math.log(2), NaN, 0, 0]);
    // C semantics where JS Math.pow differs: 1^NaN = 1 and (-1)^Infinity = 1.
    expectTensor(fwd('pow', { a: t([2], [1, -1]), b: t([2], [NaN, Infinity]) }), [2], [1, 1]);
  });

  const shapePairs: [number[], number[]][] = [
    [
      [2, 3],
      [2, 3],
    ],
    [[2, 3], [3]],
    [
      [4, 1, 3],
      [2, 1],
    ],
    [[], [2, 2]],
    [
      [2, 1, 4],
      [1, 3, 1],
    ],
  ];
  for (const id of ['add', 'sub', 'mul', 'maximum', 'minimum']) {
    it(`${id}: finite differences with broadcasting`, () => {
      const rng = new Rng(31);
      for (const [sa, sb] of shapePairs) checkGrads(id, { a: randn(rng, sa), b: randn(rng, sb) });
    });
  }
  it('div: finite differences with broadcasting (b away from 0)', () => {
    const rng = new Rng(32);
    for (const [sa, sb] of shapePairs) checkGrads('div', { a: randn(rng, sa), b: awayFromZero(rng, sb, 0.5, 2) });
  });
  it('pow: finite differences for positive bases, and integer exponents of negative bases', () => {
    const rng = new Rng(33);
    for (const [sa, sb] of shapePairs) checkGrads('pow', { a: uniform(rng, sa, 0.5, 2), b: uniform(rng, sb, -2, 2) });
    // Negative bases with integer exponents: only a is differentiable (a^b is NaN for
    // non-integer b nearby, and the b gradient is NaN, checked by hand above).
    const b = { shape: [2, 3], data: rng.int(6, -3, 4) };
    checkGrads('pow', { a: uniform(rng, [2, 3], -2, -0.5), b }, {}, ['b'], []);
    checkGrads('pow', { a: uniform(rng, [3, 1], -2, -0.5), b: t([4], [2, 3, -1, 0]) }, {}, ['b'], []);
  });
  it('errors name the op and both shapes', () => {
    expect(() => fwd('add', { a: t([2, 3], [1, 2, 3, 4, 5, 6]), b: t([4], [1, 2, 3, 4]) })).toThrow(
      'add: cannot broadcast shapes [2, 3] and [4]: at dim -1 the sizes 3 and 4 differ and neither is 1',
    );
    expect(() => fwd('pow', { a: t([1], [1]) })).toThrow("pow: input 'b' is missing");
  });
});

describe('where', () => {
  it('forward and vjp on hand-worked values', () => {
    const inputs = { cond: t([3], [1, 0, -2]), a: t([3], [1, 2, 3]), b: t([3], [4, 5, 6]) };
    expectTensor(fwd('where', inputs), [3], [1, 5, 3]);
    const g = vjp('where', inputs, {}, [10, 20, 30]);
    expect(g.cond).toBeNull();
    expect(arr(g.a)).toEqual([10, 0, 30]);
    expect(arr(g.b)).toEqual([0, 20, 0]);
    // b broadcast as a scalar collects every unselected upstream value.
    const g2 = vjp('where', { cond: t([2, 2], [1, 0, 0, 1]), a: t([2, 2], [0, 0, 0, 0]), b: t([], [7]) }, {}, [1, 2, 3, 4]);
    expectTensor(g2.b, [], [5]);
  });
  it('finite differences with three-way broadcasting (no grad for cond)', () => {
    const rng = new Rng(41);
    const cases: [number[], number[], number[]][] = [
      [
        [2, 3],
        [2, 3],
        [2, 3],
      ],
      [[2, 1, 3], [4, 3], [1]],
      [[3], [2, 1], []],
    ];
    for (const [sc, sa, sb] of cases) {
      const cond = { shape: sc, data: rng.int(size(sc), 0, 2) };
      checkGrads('where', { cond, a: randn(rng, sa), b: randn(rng, sb) }, {}, ['cond']);
    }
  });
  it('names all three shapes when they do not broadcast', () => {
    expect(() => fwd('where', { cond: t([2], [1, 0]), a: t([3], [1, 2, 3]), b: t([1], [0]) })).toThrow(
      /where: cannot broadcast shapes \[2\] and \[3\] and \[1\]/,
    );
  });
});
