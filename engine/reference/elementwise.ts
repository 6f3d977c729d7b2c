/**
 * Elementwise reference ops: unary maths, clamp, broadcasting binary ops and where.
 * Gradients follow PyTorch's formulas, including its choices at special points
 * (ties, bounds, zeros), so parity files generated with PyTorch match exactly.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { broadcastShapes, broadcastSourceIndex, checkNames, getInput, getUpstream, nullableNumberAttr } from './shape.ts';

// ---------------------------------------------------------------------------------------
// Unary
// ---------------------------------------------------------------------------------------

/** A unary op: y = f(x), dy/dx = df(x, y) (given y too, since exp/sqrt/sigmoid reuse it). */
interface UnaryRule {
  f(x: number): number;
  df(x: number, y: number): number;
}

/** Logistic function without overflow: exp of a non-positive number only. */
export function stableSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

const unaryRules: Record<string, UnaryRule> = {
  neg: { f: (x) => -x, df: () => -1 },
  exp: { f: Math.exp, df: (_x, y) => y },
  log: { f: Math.log, df: (x) => 1 / x },
  sqrt: { f: Math.sqrt, df: (_x, y) => 1 / (2 * y) },
  // sign(0) = 0, as PyTorch's abs backward.
  abs: { f: Math.abs, df: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0) },
  sigmoid: { f: stableSigmoid, df: (_x, y) => y * (1 - y) },
  // NaN propagates and the gradient at x == 0 is 0, both as in PyTorch.
  relu: { f: (x) => (x > 0 || Number.isNaN(x) ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
};

function unaryInput(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs): RefTensor {
  checkNames(op, 'input', inputs, ['x']);
  checkNames(op, 'attribute', attrs, []);
  return getInput(op, inputs, 'x');
}

function unaryOp(op: string, rule: UnaryRule): RefOp {
  return {
    forward(inputs, attrs) {
      const x = unaryInput(op, inputs, attrs);
      return { out: { shape: [...x.shape], data: x.data.map(rule.f) } };
    },
    vjp(inputs, attrs, upstream) {
      const x = unaryInput(op, inputs, attrs);
      const g = getUpstream(op, upstream, 'out', x.shape);
      const gx = new Float64Array(x.data.length);
      for (let i = 0; i < gx.length; i++) {
        const xi = x.data[i];
        gx[i] = g.data[i] * rule.df(xi, rule.f(xi));
      }
      return { x: { shape: [...x.shape], data: gx } };
    },
  };
}

// ---------------------------------------------------------------------------------------
// clamp
// ---------------------------------------------------------------------------------------

function clampArgs(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'clamp';
  checkNames(op, 'input', inputs, ['x']);
  checkNames(op, 'attribute', attrs, ['min', 'max']);
  const x = getInput(op, inputs, 'x');
  const lo = nullableNumberAttr(op, attrs, 'min');
  const hi = nullableNumberAttr(op, attrs, 'max');
  // PyTorch refuses a clamp with neither bound; a silent identity would hide a missing attribute.
  if (lo === null && hi === null) throw new Error(`clamp: at least one of attributes 'min' and 'max' must be a number, got both null`);
  return { x, lo: lo ?? -Infinity, hi: hi ?? Infinity };
}

const clampOp: RefOp = {
  forward(inputs, attrs) {
    const { x, lo, hi } = clampArgs(inputs, attrs);
    // max first, then min: with lo > hi every value becomes hi, as in PyTorch. NaN propagates.
    const data = x.data.map((v) => Math.min(Math.max(v, lo), hi));
    return { out: { shape: [...x.shape], data } };
  },
  vjp(inputs, attrs, upstream) {
    const { x, lo, hi } = clampArgs(inputs, attrs);
    const g = getUpstream('clamp', upstream, 'out', x.shape);
    // Inclusive at both bounds: the gradient passes at x == min and x == max (PyTorch).
    const gx = x.data.map((v, i) => (v >= lo && v <= hi ? g.data[i] : 0));
    return { x: { shape: [...x.shape], data: gx } };
  },
};

// ---------------------------------------------------------------------------------------
// Binary with broadcasting
// ---------------------------------------------------------------------------------------

/** y = f(a, b) with local partials; the vjp multiplies them by the upstream gradient. */
interface BinaryRule {
  f(a: number, b: number): number;
  da(a: number, b: number, y: number): number;
  db(a: number, b: number, y: number): number;
}

/**
 * Power with C/PyTorch semantics. JS Math.pow already gives real results for a negative
 * base with an integer exponent (sign by parity) and NaN for a non-integer one, but it
 * differs from C's pow in two places that PyTorch inherits: pow(1, NaN) = 1 and
 * pow(-1, ±Infinity) = 1 (JS gives NaN for both).
 */
export function powC(a: number, b: number): number {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return a ** b;
}

const binaryRules: Record<string, BinaryRule> = {
  add: { f: (a, b) => a + b, da: () => 1, db: () => 1 },
  sub: { f: (a, b) => a - b, da: () => 1, db: () => -1 },
  mul: { f: (a, b) => a * b, da: (_a, b) => b, db: (a) => a },
  div: { f: (a, b) => a / b, da: (_a, b) => 1 / b, db: (a, b) => -a / (b * b) },
  // Ties split the gradient 0.5/0.5. Written as PyTorch writes it (tie test first, then
  // "the other is larger gets 0"), which also fixes what happens with NaN operands.
  maximum: {
    f: (a, b) => Math.max(a, b),
    da: (a, b) => (a === b ? 0.5 : a < b ? 0 : 1),
    db: (a, b) => (a === b ? 0.5 : a > b ? 0 : 1),
  },
  minimum: {
    f: (a, b) => Math.min(a, b),
    da: (a, b) => (a === b ? 0.5 : a > b ? 0 : 1),
    db: (a, b) => (a === b ? 0.5 : a < b ? 0 : 1),
  },
  pow: {
    f: powC,
    // PyTorch: zero where the exponent is 0 (avoids 0 * 0^-1 = NaN at a == 0).
    da: (a, b) => (b === 0 ? 0 : b * powC(a, b - 1)),
    // PyTorch: zero where a == 0 and b >= 0 (the limit from a > 0), else y * ln(a), which is
    // NaN for a < 0 (a^b is not differentiable in b there) and -Infinity for a == 0, b < 0.
    db: (a, b, y) => (a === 0 && b >= 0 ? 0 : y * Math.log(a)),
  },
};

function binaryArgs(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  checkNames(op, 'input', inputs, ['a', 'b']);
  checkNames(op, 'attribute', attrs, []);
  const a = getInput(op, inputs, 'a');
  const b = getInput(op, inputs, 'b');
  const shape = broadcastShapes([a.shape, b.shape], op);
  return { a, b, shape, ia: broadcastSourceIndex(a.shape, shape), ib: broadcastSourceIndex(b.shape, shape) };
}

function binaryOp(op: string, rule: BinaryRule): RefOp {
  return {
    forward(inputs, attrs) {
      const { a, b, shape, ia, ib } = binaryArgs(op, inputs, attrs);
      const out = new Float64Array(ia.length);
      for (let i = 0; i < out.length; i++) out[i] = rule.f(a.data[ia[i]], b.data[ib[i]]);
      return { out: { shape, data: out } };
    },
    vjp(inputs, attrs, upstream) {
      const { a, b, shape, ia, ib } = binaryArgs(op, inputs, attrs);
      const g = getUpstream(op, upstream, 'out', shape);
      // Accumulating through the broadcast maps sums over the broadcast dims.
      const ga = new Float64Array(a.data.length);
      const gb = new Float64Array(b.data.length);
      for (let i = 0; i < ia.length; i++) {
        const av = a.data[ia[i]];
        const bv = b.data[ib[i]];
        const y = rule.f(av, bv);
        ga[ia[i]] += g.data[i] * rule.da(av, bv, y);
        gb[ib[i]] += g.data[i] * rule.db(av, bv, y);
      }
      return { a: { shape: [...a.shape], data: ga }, b: { shape: [...b.shape], data: gb } };
    },
  };
}

// ---------------------------------------------------------------------------------------
// where
// ---------------------------------------------------------------------------------------

function whereArgs(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'where';
  checkNames(op, 'input', inputs, ['cond', 'a', 'b']);
  checkNames(op, 'attribute', attrs, []);
  const cond = getInput(op, inputs, 'cond');
  const a = getInput(op, inputs, 'a');
  const b = getInput(op, inputs, 'b');
  const shape = broadcastShapes([cond.shape, a.shape, b.shape], op);
  return {
    cond,
    a,
    b,
    shape,
    ic: broadcastSourceIndex(cond.shape, shape),
    ia: broadcastSourceIndex(a.shape, shape),
    ib: broadcastSourceIndex(b.shape, shape),
  };
}

/** Nonzero is true; NaN counts as true, as bool(NaN) does in PyTorch. */
const truthy = (c: number): boolean => c !== 0;

const whereOp: RefOp = {
  forward(inputs, attrs) {
    const { cond, a, b, shape, ic, ia, ib } = whereArgs(inputs, attrs);
    const out = new Float64Array(ic.length);
    for (let i = 0; i < out.length; i++) out[i] = truthy(cond.data[ic[i]]) ? a.data[ia[i]] : b.data[ib[i]];
    return { out: { shape, data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const { cond, a, b, shape, ic, ia, ib } = whereArgs(inputs, attrs);
    const g = getUpstream('where', upstream, 'out', shape);
    const ga = new Float64Array(a.data.length);
    const gb = new Float64Array(b.data.length);
    for (let i = 0; i < ic.length; i++) {
      if (truthy(cond.data[ic[i]])) ga[ia[i]] += g.data[i];
      else gb[ib[i]] += g.data[i];
    }
    // The condition selects; it has no gradient.
    return { cond: null, a: { shape: [...a.shape], data: ga }, b: { shape: [...b.shape], data: gb } };
  },
};

// ---------------------------------------------------------------------------------------

export const elementwiseReferenceOps: Record<string, RefOp> = {
  ...Object.fromEntries(Object.entries(unaryRules).map(([id, rule]) => [id, unaryOp(id, rule)])),
  clamp: clampOp,
  ...Object.fromEntries(Object.entries(binaryRules).map(([id, rule]) => [id, binaryOp(id, rule)])),
  where: whereOp,
};
