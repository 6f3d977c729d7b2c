/**
 * The core float64 reference ops: hand-worked forward examples, tie/bound conventions,
 * central-difference checks of every vjp, and argument errors.
 */
import { describe, it, expect } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { finiteDiffCheck } from '../../engine/reference/finiteDiff.ts';
import { boxReferenceOps, convReferenceOps, getReferenceOp, lossReferenceOps, normReferenceOps, referenceOps } from '../../engine/reference/index.ts';
import { broadcastShapes, broadcastSourceIndex, normalizeAxes, normalizeAxis, size, stridesOf, unravel } from '../../engine/reference/shape.ts';
import type { RefAttrs, RefTensor } from '../../engine/reference/types.ts';

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

type Inputs = Record<string, RefTensor>;

const t = (shape: number[], data: number[]): RefTensor => ({ shape, data: Float64Array.from(data) });

const randn = (rng: Rng, shape: number[], std = 1): RefTensor => ({ shape, data: rng.normal(size(shape), 0, std) });
const uniform = (rng: Rng, shape: number[], lo: number, hi: number): RefTensor => ({
  shape,
  data: rng.uniform(size(shape), lo, hi),
});
/** Random sign, magnitude in [lo, hi]: keeps abs/relu/div away from their kink or pole at 0. */
const awayFromZero = (rng: Rng, shape: number[], lo = 0.2, hi = 2): RefTensor => {
  const mag = rng.uniform(size(shape), lo, hi);
  const sign = rng.uniform(size(shape));
  return { shape, data: mag.map((m, i) => (sign[i] < 0.5 ? -m : m)) };
};
/** Values in [lo, hi) that stay `margin` away from every point in `avoid` (kinks of clamp). */
const awayFrom = (rng: Rng, shape: number[], lo: number, hi: number, avoid: number[], margin = 0.05): RefTensor => {
  const x = uniform(rng, shape, lo, hi);
  x.data = x.data.map((v) => {
    for (const p of avoid) if (Math.abs(v - p) < margin) return v < p ? p - 2 * margin : p + 2 * margin;
    return v;
  });
  return x;
};

const fwd = (id: string, inputs: Inputs, attrs: RefAttrs = {}): RefTensor => getReferenceOp(id).forward(inputs, attrs).out;

/** The vjp with upstream `g` (default: all ones, i.e. the gradient of sum(out)). */
const vjp = (id: string, inputs: Inputs, attrs: RefAttrs = {}, g?: number[]) => {
  const out = fwd(id, inputs, attrs);
  const up = t(out.shape, g ?? new Array<number>(out.data.length).fill(1));
  return getReferenceOp(id).vjp(inputs, attrs, { out: up });
};

const arr = (x: RefTensor | null | undefined): number[] => {
  if (!x) throw new Error('expected a tensor, got null');
  return Array.from(x.data);
};

/** Elementwise closeness for hand-worked values (which involve a few float64 roundings). */
function expectClose(got: RefTensor | null | undefined, shape: number[], want: number[], tol = 1e-12): void {
  if (!got) throw new Error('expected a tensor, got null');
  expect(got.shape).toEqual(shape);
  expect(got.data.length).toBe(want.length);
  want.forEach((w, i) => {
    if (Number.isNaN(w)) expect(got.data[i], `element ${i}`).toBeNaN();
    else expect(Math.abs(got.data[i] - w), `element ${i}: got ${got.data[i]}, want ${w}`).toBeLessThanOrEqual(tol);
  });
}

/**
 * Central differences on every input not in `skip`, with a random upstream gradient for
 * every output; also checks that each gradient has its input's shape and that the inputs
 * in `nullGrads` (non-differentiable ones: conditions, indices) get null.
 */
function checkGrads(id: string, inputs: Inputs, attrs: RefAttrs = {}, skip: string[] = [], nullGrads = skip, seed = 1234): void {
  const op = getReferenceOp(id);
  const outs = op.forward(inputs, attrs);
  const rng = new Rng(seed);
  const upstream = Object.fromEntries(Object.entries(outs).map(([k, o]) => [k, randn(rng, o.shape)]));
  const grads = op.vjp(inputs, attrs, upstream);
  for (const [name, x] of Object.entries(inputs)) {
    if (nullGrads.includes(name)) {
      expect(grads[name], `${id}: grad of ${name}`).toBeNull();
    } else {
      expect(grads[name]?.shape, `${id}: grad shape of ${name}`).toEqual(x.shape);
    }
  }
  const r = finiteDiffCheck(op, inputs, attrs, upstream, skip);
  expect(Object.keys(r.perInput).sort()).toEqual(
    Object.keys(inputs)
      .filter((k) => !skip.includes(k))
      .sort(),
  );
  expect(r.worstRelErr, `${id} ${JSON.stringify(attrs)}: ${JSON.stringify(r.perInput)}`).toBeLessThan(1e-6);
}

// ---------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------

const CORE_IDS = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'pow',
  'neg',
  'exp',
  'log',
  'sqrt',
  'abs',
  'sigmoid',
  'relu',
  'clamp',
  'where',
  'sum',
  'mean',
  'max',
  'softmax',
  'log_softmax',
  'matmul',
  'reshape',
  'permute',
  'transpose',
  'slice',
  'concat',
  'pad',
  'index_select',
  'index_add',
  'upsample_nearest2x',
  'max_pool2d',
];

describe('referenceOps registry', () => {
  it('has every core op id of docs/op-cases.md', () => {
    for (const id of CORE_IDS) expect(referenceOps[id], id).toBeDefined();
    expect(Object.keys(referenceOps).sort()).toEqual(
      [
        ...CORE_IDS,
        ...Object.keys(convReferenceOps),
        ...Object.keys(lossReferenceOps),
        ...Object.keys(boxReferenceOps),
        ...Object.keys(normReferenceOps),
      ].sort(),
    );
  });
  it('names the unknown id and lists the known ones', () => {
    expect(() => getReferenceOp('matmull')).toThrow(/unknown op id 'matmull' \(known: .*matmul/);
    expect(() => getReferenceOp('toString')).toThrow(/unknown op id 'toString'/);
  });
});

// ---------------------------------------------------------------------------------------
// shape.ts
// ---------------------------------------------------------------------------------------

describe('shape helpers', () => {
  it('size, strides and unravel', () => {
    expect(size([])).toBe(1);
    expect(size([2, 0, 3])).toBe(0);
    expect(stridesOf([2, 3, 4])).toEqual([12, 4, 1]);
    expect(stridesOf([])).toEqual([]);
    expect(unravel(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravel(5, [2, 3, 4])).toEqual([0, 1, 1]);
  });
  it('broadcasts NumPy-style and names both shapes when it cannot', () => {
    expect(
      broadcastShapes([
        [4, 1, 3],
        [2, 1],
      ]),
    ).toEqual([4, 2, 3]);
    expect(broadcastShapes([[], [2, 2]])).toEqual([2, 2]);
    expect(broadcastShapes([[2, 0], [1]])).toEqual([2, 0]);
    expect(() => broadcastShapes([[2, 3], [4]], 'add')).toThrow(
      'add: cannot broadcast shapes [2, 3] and [4]: at dim -1 the sizes 3 and 4 differ and neither is 1',
    );
  });
  it('maps broadcast outputs back to their source element', () => {
    // [2,1] broadcast to [2,3]: rows repeat their single element.
    expect(Array.from(broadcastSourceIndex([2, 1], [2, 3]))).toEqual([0, 0, 0, 1, 1, 1]);
    // [3] broadcast to [2,3]: the row repeats.
    expect(Array.from(broadcastSourceIndex([3], [2, 3]))).toEqual([0, 1, 2, 0, 1, 2]);
  });
  it('normalises axes and rejects out-of-range or repeated ones', () => {
    expect(normalizeAxis(-1, 3, 'x')).toBe(2);
    expect(normalizeAxis(0, 3, 'x')).toBe(0);
    expect(() => normalizeAxis(3, 3, 'sum: axes[0]')).toThrow('sum: axes[0] must be an integer axis in [-3, 2] for rank 3, got 3');
    expect(() => normalizeAxis(-4, 3, 'op: axis')).toThrow(/got -4/);
    expect(() => normalizeAxis(1.5, 3, 'op: axis')).toThrow(/got 1.5/);
    expect(() => normalizeAxis(0, 0, 'op: axis')).toThrow(/input is a scalar/);
    expect(normalizeAxes([-1, 0], 3, 'axes')).toEqual([2, 0]);
    expect(() => normalizeAxes([1, -2], 3, 'axes')).toThrow(/must not repeat an axis, got \[1, -2\]/);
  });
});

// ---------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------

describe('unary ops', () => {
  it('forward on hand-worked values', () => {
    const x = t([4], [-2, -0.5, 0, 3]);
    expectClose(fwd('neg', { x }), [4], [2, 0.5, -0, -3]);
    expectClose(fwd('abs', { x }), [4], [2, 0.5, 0, 3]);
    expectClose(fwd('relu', { x }), [4], [0, 0, 0, 3]);
    expectClose(fwd('exp', { x: t([2], [0, 1]) }), [2], [1, Math.E]);
    expectClose(fwd('log', { x: t([3], [1, Math.E, -1]) }), [3], [0, 1, NaN]);
    expectClose(fwd('sqrt', { x: t([2], [4, 2.25]) }), [2], [2, 1.5]);
    // sigmoid(0) = 1/2; sigmoid(ln 3) = 3/4; the extremes saturate without NaN.
    expectClose(fwd('sigmoid', { x: t([5], [0, Math.log(3), -Math.log(3), 1000, -1000]) }), [5], [0.5, 0.75, 0.25, 1, 0]);
  });
  it('gradient conventions at the kinks: relu and abs give 0 at 0', () => {
    expect(arr(vjp('relu', { x: t([3], [-1, 0, 2]) }).x)).toEqual([0, 0, 1]);
    expect(arr(vjp('abs', { x: t([3], [-1, 0, 2]) }).x)).toEqual([-1, 0, 1]);
    // d sigmoid at 0 is 1/4; d sqrt at 4 is 1/4; d log at 2 is 1/2.
    expectClose(vjp('sigmoid', { x: t([1], [0]) }).x, [1], [0.25]);
    expectClose(vjp('sqrt', { x: t([1], [4]) }).x, [1], [0.25]);
    expectClose(vjp('log', { x: t([1], [2]) }).x, [1], [0.5]);
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
    expectClose(fwd('clamp', { x }, { min: 0, max: 1 }), [5], [0, 0, 0.5, 1, 1]);
    // The gradient passes at x == min and x == max.
    expect(arr(vjp('clamp', { x }, { min: 0, max: 1 }).x)).toEqual([0, 1, 1, 1, 0]);
    // One-sided bounds (null = unbounded).
    expectClose(fwd('clamp', { x }, { min: 0.5, max: null }), [5], [0.5, 0.5, 0.5, 1, 2]);
    expectClose(fwd('clamp', { x }, { max: 0 }), [5], [-1, 0, 0, 0, 0]);
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
    expectClose(fwd('add', { a, b: t([3], [10, 20, 30]) }), [2, 3], [11, 22, 33, 14, 25, 36]);
    expectClose(fwd('sub', { a, b: t([], [1]) }), [2, 3], [0, 1, 2, 3, 4, 5]);
    expectClose(fwd('mul', { a: t([2, 1], [2, 3]), b: t([1, 2], [10, 100]) }), [2, 2], [20, 200, 30, 300]);
    expectClose(fwd('div', { a: t([2], [1, 2]), b: t([2, 1], [4, 8]) }), [2, 2], [0.25, 0.5, 0.125, 0.25]);
    expectClose(fwd('maximum', { a: t([3], [1, 5, -2]), b: t([3], [4, 2, -2]) }), [3], [4, 5, -2]);
    expectClose(fwd('minimum', { a: t([3], [1, 5, -2]), b: t([3], [4, 2, -2]) }), [3], [1, 2, -2]);
  });
  it('broadcast vjp sums over the broadcast dims', () => {
    // out[i,j] = a[i,j] * b[j]: da = b (per row), db[j] = sum_i a[i,j].
    const g = vjp('mul', { a: t([2, 3], [1, 2, 3, 4, 5, 6]), b: t([3], [10, 20, 30]) });
    expectClose(g.a, [2, 3], [10, 20, 30, 10, 20, 30]);
    expectClose(g.b, [3], [5, 7, 9]);
    // a scalar added to a [2,2] receives the sum of the four upstream values.
    const g2 = vjp('add', { a: t([], [1]), b: t([2, 2], [0, 0, 0, 0]) }, {}, [1, 2, 3, 4]);
    expectClose(g2.a, [], [10]);
    expectClose(g2.b, [2, 2], [1, 2, 3, 4]);
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
    expectClose(fwd('pow', { a, b }), [6], [-8, 4, NaN, 0.5, 1, 3]);
    const g = vjp('pow', { a: t([4], [2, -2, 0, 0]), b: t([4], [3, 3, 2, 0]) });
    // d/da a^b = b a^(b-1): 3*4 = 12, 3*4 = 12, 2*0 = 0, and 0 where b == 0.
    expectClose(g.a, [4], [12, 12, 0, 0]);
    // d/db a^b = a^b ln a: 8 ln 2; NaN for a < 0; 0 at a == 0 with b >= 0.
    expectClose(g.b, [4], [8 * Math.log(2), NaN, 0, 0]);
    // C semantics where JS Math.pow differs: 1^NaN = 1 and (-1)^Infinity = 1.
    expectClose(fwd('pow', { a: t([2], [1, -1]), b: t([2], [NaN, Infinity]) }), [2], [1, 1]);
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
    expectClose(fwd('where', inputs), [3], [1, 5, 3]);
    const g = vjp('where', inputs, {}, [10, 20, 30]);
    expect(g.cond).toBeNull();
    expect(arr(g.a)).toEqual([10, 0, 30]);
    expect(arr(g.b)).toEqual([0, 20, 0]);
    // b broadcast as a scalar collects every unselected upstream value.
    const g2 = vjp('where', { cond: t([2, 2], [1, 0, 0, 1]), a: t([2, 2], [0, 0, 0, 0]), b: t([], [7]) }, {}, [1, 2, 3, 4]);
    expectClose(g2.b, [], [5]);
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

// ---------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------

describe('sum / mean / max', () => {
  const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
  it('forward on hand-worked values', () => {
    expectClose(fwd('sum', { x }, { axes: [0] }), [3], [5, 7, 9]);
    expectClose(fwd('sum', { x }, { axes: [-1], keepdim: true }), [2, 1], [6, 15]);
    expectClose(fwd('sum', { x }, { axes: null }), [], [21]);
    expectClose(fwd('sum', { x }, {}), [], [21]);
    expectClose(fwd('sum', { x }, { axes: null, keepdim: true }), [1, 1], [21]);
    expectClose(fwd('mean', { x }, { axes: [1] }), [2], [2, 5]);
    expectClose(fwd('mean', { x }, { axes: [0, 1] }), [], [3.5]);
    expectClose(fwd('max', { x }, { axes: [0] }), [3], [4, 5, 6]);
    expectClose(fwd('max', { x: t([2, 2], [-3, -1, -7, -5]) }, { axes: [-1], keepdim: true }), [2, 1], [-1, -5]);
  });
  it('vjp on hand-worked values', () => {
    expectClose(vjp('sum', { x }, { axes: [1] }, [10, 20]).x, [2, 3], [10, 10, 10, 20, 20, 20]);
    expectClose(vjp('mean', { x }, { axes: [0] }, [2, 4, 6]).x, [2, 3], [1, 2, 3, 1, 2, 3]);
  });
  it('max splits the gradient equally among tied maxima', () => {
    expect(arr(vjp('max', { x: t([4], [3, 1, 3, 3]) }, { axes: null }, [6]).x)).toEqual([2, 0, 2, 2]);
    expect(arr(vjp('max', { x: t([2, 2], [5, 5, 1, 2]) }, { axes: [1] }).x)).toEqual([0.5, 0.5, 0, 1]);
  });
  it('max propagates NaN', () => {
    expectClose(fwd('max', { x: t([3], [1, NaN, 2]) }), [], [NaN]);
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

describe('softmax / log_softmax', () => {
  it('forward on hand-worked values', () => {
    // exp(0) : exp(ln 3) = 1 : 3.
    expectClose(fwd('softmax', { x: t([2], [0, Math.log(3)]) }, { axis: 0 }), [2], [0.25, 0.75]);
    expectClose(fwd('log_softmax', { x: t([2], [0, Math.log(3)]) }, { axis: -1 }), [2], [Math.log(0.25), Math.log(0.75)]);
    // Along axis 0 of a [2,2]: columns are normalised; huge logits do not overflow.
    expectClose(fwd('softmax', { x: t([2, 2], [1000, 0, 1000, Math.log(3)]) }, { axis: 0 }), [2, 2], [0.5, 0.25, 0.5, 0.75]);
    expectClose(fwd('log_softmax', { x: t([2], [1000, 1000]) }, { axis: 0 }), [2], [-Math.LN2, -Math.LN2]);
  });
  it('vjp: a constant upstream gives zero gradient for softmax (outputs sum to 1)', () => {
    const g = vjp('softmax', { x: t([3], [0.1, -2, 1]) }, { axis: 0 });
    arr(g.x).forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-15));
    // log_softmax with upstream e_0: d out_0 / dx = e_0 - softmax(x).
    const g2 = vjp('log_softmax', { x: t([2], [0, Math.log(3)]) }, { axis: 0 }, [1, 0]);
    expectClose(g2.x, [2], [0.75, -0.75]);
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

// ---------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------

describe('matmul', () => {
  it('forward and vjp on hand-worked values', () => {
    const a = t([2, 2], [1, 2, 3, 4]);
    const b = t([2, 2], [5, 6, 7, 8]);
    expectClose(fwd('matmul', { a, b }), [2, 2], [19, 22, 43, 50]);
    // With upstream ones: da = 1 @ b^T (row sums of b per row), db = a^T @ 1 (column sums of a).
    const g = vjp('matmul', { a, b });
    expectClose(g.a, [2, 2], [11, 15, 11, 15]);
    expectClose(g.b, [2, 2], [4, 4, 6, 6]);
    // A [1,2] row times a batch of two [2,1] columns broadcasts to [2,1,1].
    expectClose(fwd('matmul', { a: t([1, 2], [1, 2]), b: t([2, 2, 1], [3, 4, 5, 6]) }), [2, 1, 1], [11, 17]);
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

// ---------------------------------------------------------------------------------------
// Movement
// ---------------------------------------------------------------------------------------

describe('reshape / permute / transpose', () => {
  const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
  it('forward on hand-worked values', () => {
    expectClose(fwd('reshape', { x }, { shape: [3, -1] }), [3, 2], [1, 2, 3, 4, 5, 6]);
    expectClose(fwd('reshape', { x: t([], [7]) }, { shape: [1, 1] }), [1, 1], [7]);
    expectClose(fwd('permute', { x }, { dims: [1, 0] }), [3, 2], [1, 4, 2, 5, 3, 6]);
    expectClose(fwd('transpose', { x }, { dim0: -1, dim1: 0 }), [3, 2], [1, 4, 2, 5, 3, 6]);
    // [2,1,2] -> dims [2,0,1]: out[k,i,j] = x[i,j,k].
    expectClose(fwd('permute', { x: t([2, 1, 2], [1, 2, 3, 4]) }, { dims: [2, 0, 1] }), [2, 2, 1], [1, 3, 2, 4]);
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
    expectClose(fwd('slice', { x }, { starts: [0, 1], ends: [2, 3] }), [2, 2], [2, 3, 5, 6]);
    expectClose(fwd('slice', { x }, { starts: [1, 0], ends: [2, 1] }), [1, 1], [4]);
    expectClose(fwd('pad', { x: t([2], [1, 2]) }, { pads: [[1, 2]] }), [5], [0, 1, 2, 0, 0]);
    expectClose(
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
    expectClose(fwd('concat', { x0: t([1, 2], [1, 2]), x1: t([2, 2], [3, 4, 5, 6]) }, { axis: 0 }), [3, 2], [1, 2, 3, 4, 5, 6]);
    expectClose(fwd('concat', { x0: x, x1: t([2, 1], [7, 8]) }, { axis: -1 }), [2, 4], [1, 2, 3, 7, 4, 5, 6, 8]);
  });
  it('vjp routes upstream back to the right places', () => {
    expectClose(vjp('slice', { x }, { starts: [0, 1], ends: [2, 3] }, [1, 2, 3, 4]).x, [2, 3], [0, 1, 2, 0, 3, 4]);
    expectClose(vjp('pad', { x: t([2], [1, 2]) }, { pads: [[1, 2]] }, [9, 1, 2, 9, 9]).x, [2], [1, 2]);
    const g = vjp('concat', { x0: t([2, 1], [0, 0]), x1: t([2, 2], [0, 0, 0, 0]) }, { axis: 1 }, [1, 2, 3, 4, 5, 6]);
    expectClose(g.x0, [2, 1], [1, 4]);
    expectClose(g.x1, [2, 2], [2, 3, 5, 6]);
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

describe('index_select / upsample_nearest2x', () => {
  it('index_select forward and accumulating vjp on hand-worked values', () => {
    const x = t([3], [10, 20, 30]);
    const index = t([3], [2, 0, 2]);
    expectClose(fwd('index_select', { x, index }, { axis: 0 }), [3], [30, 10, 30]);
    const g = vjp('index_select', { x, index }, { axis: 0 }, [1, 2, 3]);
    expect(g.index).toBeNull();
    expectClose(g.x, [3], [2, 0, 4]); // index 2 picked twice: 1 + 3
    // Columns of a [2,3]: pick columns 1 and 1 again.
    expectClose(fwd('index_select', { x: t([2, 3], [1, 2, 3, 4, 5, 6]), index: t([2], [1, 1]) }, { axis: -1 }), [2, 2], [2, 2, 5, 5]);
  });
  it('upsample_nearest2x forward and vjp on hand-worked values', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    expectClose(fwd('upsample_nearest2x', { x }), [1, 1, 4, 4], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    // Each input pixel collects its 2x2 block of upstream values.
    const up = Array.from({ length: 16 }, (_, i) => i);
    expectClose(vjp('upsample_nearest2x', { x }, {}, up).x, [1, 1, 2, 2], [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
  });
  it('finite differences', () => {
    const rng = new Rng(101);
    checkGrads('index_select', { x: randn(rng, [4, 3]), index: t([4], [3, 0, 3, 1]) }, { axis: 0 }, ['index']);
    checkGrads('index_select', { x: randn(rng, [2, 3, 2]), index: t([2], [2, 2]) }, { axis: -2 }, ['index']);
    checkGrads('index_select', { x: randn(rng, [5]), index: t([0], []) }, { axis: 0 }, ['index']);
    checkGrads('upsample_nearest2x', { x: randn(rng, [1, 2, 3, 3]) });
    checkGrads('upsample_nearest2x', { x: randn(rng, [2, 1, 2, 1]) });
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
    expect(() => fwd('upsample_nearest2x', { x: t([1, 2, 2], [1, 2, 3, 4]) })).toThrow(
      'upsample_nearest2x: x must be [N, C, H, W] (rank 4), got shape [1, 2, 2]',
    );
  });
});

describe('max_pool2d', () => {
  it('forward and vjp on hand-worked values: 2×2 windows, first maximum on ties', () => {
    // [[1, 5, 2, 0], [3, 5, 4, 4], [0, 1, 9, 8], [2, 2, 7, 9]]
    const x = t([1, 1, 4, 4], [1, 5, 2, 0, 3, 5, 4, 4, 0, 1, 9, 8, 2, 2, 7, 9]);
    expectClose(fwd('max_pool2d', { x }, { kernel_size: [2, 2] }), [1, 1, 2, 2], [5, 4, 2, 9]);
    // ties go to the first in row-major order: 5 at (0,1), not (1,1); 4 at (1,2); 2 at (3,0); 9 at (2,2)
    expectClose(vjp('max_pool2d', { x }, { kernel_size: [2, 2] }, [10, 20, 30, 40]).x, [1, 1, 4, 4], [0, 10, 0, 0, 0, 0, 20, 0, 0, 0, 40, 0, 30, 0, 0, 0]);
  });
  it('padding is never selected, overlapping windows sum their gradients, NaN propagates', () => {
    const x = t([1, 1, 3, 3], [-5, -1, -7, -2, -8, -3, -9, -6, -4]);
    // 3×3, stride 2, padding 1: four windows over the corners, all padded; each holds -1, -2 or -3
    expectClose(fwd('max_pool2d', { x }, { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] }), [1, 1, 2, 2], [-1, -1, -2, -3]);
    expectClose(vjp('max_pool2d', { x }, { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] }, [1, 2, 3, 4]).x, [1, 1, 3, 3], [0, 3, 0, 3, 0, 4, 0, 0, 0]);
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
