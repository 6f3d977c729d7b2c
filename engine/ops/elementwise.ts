/**
 * Elementwise ops (kernels/unary.wgsl, binary.wgsl, where.wgsl). Each forward sits next
 * to its backward rule. Binary ops broadcast like NumPy; their gradients are summed
 * back to each input's shape.
 */
import { record } from '../autograd.ts';
import { runtime } from '../runtime.ts';
import { broadcastShapes, broadcastStrides, coalesceStrides, sameShape, stridesOf } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { full } from './creation.ts';
import { sumTo } from './reduce.ts';
import { elementwiseGroups, expectDtype, expectMaxRank } from './util.ts';

// ------------------------------------------------------------------ unary

const UNARY_OP = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  abs: 4,
  sigmoid: 5,
  relu: 6,
  clamp: 7,
  copy: 8,
  step: 9,
  inRange: 10,
  sign: 11,
  affine: 12,
  powScalar: 13,
} as const;

function unary(op: keyof typeof UNARY_OP, x: Tensor, a = 0, b = 0): Tensor {
  expectDtype(op, 'x', x, 'float32');
  const out = empty(x.shape);
  if (x.size > 0)
    runtime().dispatch({
      op,
      kernel: 'unary',
      constants: { OP: UNARY_OP[op] },
      uniforms: { n: x.size, a, b },
      buffers: { x: x.buffer, out: out.buffer },
      workgroups: elementwiseGroups(x.size),
    });
  return out;
}

export const neg = (x: Tensor): Tensor => record('neg', [x], unary('neg', x), (g) => [neg(g)]);

export function exp(x: Tensor): Tensor {
  const out = unary('exp', x);
  return record('exp', [x], out, (g) => [mul(g, out)]);
}

export const log = (x: Tensor): Tensor => record('log', [x], unary('log', x), (g) => [div(g, x)]);

export function sqrt(x: Tensor): Tensor {
  const out = unary('sqrt', x);
  return record('sqrt', [x], out, (g) => [div(g, scale(out, 2))]);
}

export const abs = (x: Tensor): Tensor => record('abs', [x], unary('abs', x), (g) => [mul(g, unary('sign', x))]);

export function sigmoid(x: Tensor): Tensor {
  const out = unary('sigmoid', x);
  // σ' = σ(1 - σ)
  return record('sigmoid', [x], out, (g) => [mul(g, mul(out, affine(out, -1, 1)))]);
}

export const relu = (x: Tensor): Tensor => record('relu', [x], unary('relu', x), (g) => [mul(g, unary('step', x))]);

/** Clamp to [min, max] (either may be null). The gradient passes where min ≤ x ≤ max. */
export function clamp(x: Tensor, min: number | null, max: number | null): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) throw new Error(`clamp: min (${min}) must be ≤ max (${max})`);
  const f32max = 3.4028234663852886e38;
  const [a, b] = [Math.max(lo, -f32max), Math.min(hi, f32max)];
  return record('clamp', [x], unary('clamp', x, a, b), (g) => [mul(g, unary('inRange', x, a, b))]);
}

/** a·x + b with scalars a, b. */
export const affine = (x: Tensor, a: number, b: number): Tensor => record('affine', [x], unary('affine', x, a, b), (g) => [unary('affine', g, a, 0)]);

export const scale = (x: Tensor, s: number): Tensor => affine(x, s, 0);

/** A new tensor with the same values (no autograd link to x when grad is off). */
export const copy = (x: Tensor): Tensor => record('copy', [x], unary('copy', x), (g) => [g]);

/** x^e for a scalar exponent; defined for negative x when e is an integer. */
export function powScalar(x: Tensor, e: number): Tensor {
  return record('pow', [x], unary('powScalar', x, e), (g) => [mul(g, scale(unary('powScalar', x, e - 1), e))]);
}

// ------------------------------------------------------------------ binary

const BINARY_OP = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, pow: 6, equal: 7, greater: 8, maxShare: 9, powDexp: 10 } as const;

const asTensor = (v: Tensor | number): Tensor => (typeof v === 'number' ? full([], v) : v);

function binary(op: keyof typeof BINARY_OP, a: Tensor, b: Tensor): Tensor {
  expectDtype(op, 'a', a, 'float32');
  expectDtype(op, 'b', b, 'float32');
  const shape = broadcastShapes(op, a.shape, b.shape);
  expectMaxRank(op, 'output', shape);
  const out = empty(shape);
  if (out.size > 0) {
    const same = sameShape(a.shape, b.shape);
    const walk = broadcastWalk(shape, [a.shape, b.shape]);
    runtime().dispatch({
      op,
      kernel: 'binary',
      constants: { OP: BINARY_OP[op], SAME_SHAPE: same },
      uniforms: { n: out.size, rank: walk.rank, shape: walk.shape, a_strides: walk.strides[0], b_strides: walk.strides[1] },
      buffers: { a: a.buffer, b: b.buffer, out: out.buffer },
      workgroups: elementwiseGroups(out.size),
    });
  }
  return out;
}

/**
 * How a kernel walks broadcast operands over a contiguous output of `shape`: the coalesced
 * output shape and each operand's strides in it (the output's own strides take part in the
 * merge, so merged dimensions keep its order).
 */
function broadcastWalk(shape: readonly number[], operands: readonly (readonly number[])[]): { rank: number; shape: number[]; strides: number[][] } {
  const c = coalesceStrides(shape, [stridesOf(shape), ...operands.map((s) => broadcastStrides(s, shape))]);
  return { rank: c.shape.length, shape: c.shape, strides: c.strides.slice(1) };
}

/** A tensor, or a number used as a scalar. */
export type Operand = Tensor | number;

export function add(x: Operand, y: Operand): Tensor {
  if (typeof y === 'number' && typeof x !== 'number') return affine(x, 1, y);
  if (typeof x === 'number' && typeof y !== 'number') return affine(y, 1, x);
  const [a, b] = [asTensor(x), asTensor(y)];
  return record('add', [a, b], binary('add', a, b), (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(x: Operand, y: Operand): Tensor {
  if (typeof y === 'number' && typeof x !== 'number') return affine(x, 1, -y);
  if (typeof x === 'number' && typeof y !== 'number') return affine(y, -1, x);
  const [a, b] = [asTensor(x), asTensor(y)];
  return record('sub', [a, b], binary('sub', a, b), (g, needs) => [needs[0] ? sumTo(g, a.shape) : null, needs[1] ? sumTo(neg(g), b.shape) : null]);
}

export function mul(x: Operand, y: Operand): Tensor {
  if (typeof y === 'number' && typeof x !== 'number') return scale(x, y);
  if (typeof x === 'number' && typeof y !== 'number') return scale(y, x);
  const [a, b] = [asTensor(x), asTensor(y)];
  return record('mul', [a, b], binary('mul', a, b), (g, needs) => [
    needs[0] ? sumTo(binary('mul', g, b), a.shape) : null,
    needs[1] ? sumTo(binary('mul', g, a), b.shape) : null,
  ]);
}

export function div(x: Operand, y: Operand): Tensor {
  if (typeof y === 'number' && typeof x !== 'number') return scale(x, 1 / y);
  const [a, b] = [asTensor(x), asTensor(y)];
  const out = binary('div', a, b);
  // d/da = g / b; d/db = -g · out / b
  return record('div', [a, b], out, (g, needs) => [
    needs[0] ? sumTo(binary('div', g, b), a.shape) : null,
    needs[1] ? sumTo(neg(binary('div', binary('mul', g, out), b)), b.shape) : null,
  ]);
}

function extremum(op: 'maximum' | 'minimum', x: Operand, y: Operand): Tensor {
  const [a, b] = [asTensor(x), asTensor(y)];
  // maxShare(a, b) = 1 where a wins, 0.5 on ties, 0 where b wins; minimum swaps roles
  const shareA = () => (op === 'maximum' ? binary('maxShare', a, b) : binary('maxShare', b, a));
  return record(op, [a, b], binary(op, a, b), (g, needs) => {
    const sa = shareA();
    return [needs[0] ? sumTo(binary('mul', g, sa), a.shape) : null, needs[1] ? sumTo(binary('mul', g, affine(sa, -1, 1)), b.shape) : null];
  });
}

export const maximum = (a: Operand, b: Operand): Tensor => extremum('maximum', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => extremum('minimum', a, b);

/** a^b elementwise; negative bases are defined for integer exponents. */
export function pow(x: Operand, y: Operand): Tensor {
  if (typeof y === 'number' && typeof x !== 'number') return powScalar(x, y);
  const [a, b] = [asTensor(x), asTensor(y)];
  return record('pow', [a, b], binary('pow', a, b), (g, needs) => [
    needs[0] ? sumTo(binary('mul', g, binary('mul', b, binary('pow', a, affine(b, 1, -1)))), a.shape) : null,
    needs[1] ? sumTo(binary('mul', g, binary('powDexp', a, b)), b.shape) : null,
  ]);
}

/** A 0/1 comparison: no tape record, so it closes its op for anomaly mode itself. */
function comparison(op: 'equal' | 'greater', a: Operand, b: Operand): Tensor {
  const out = binary(op, asTensor(a), asTensor(b));
  runtime().opDone(op, [out]);
  return out;
}

/** 1 where a == b else 0 (no gradient). */
export const equal = (a: Operand, b: Operand): Tensor => comparison('equal', a, b);
/** 1 where a > b else 0 (no gradient). */
export const greater = (a: Operand, b: Operand): Tensor => comparison('greater', a, b);

// ------------------------------------------------------------------ where

/** cond != 0 ? a : b, broadcasting all three. cond gets no gradient. */
export function where(cond: Tensor, x: Operand, y: Operand): Tensor {
  const [a, b] = [asTensor(x), asTensor(y)];
  expectDtype('where', 'cond', cond, 'float32');
  expectDtype('where', 'a', a, 'float32');
  expectDtype('where', 'b', b, 'float32');
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  expectMaxRank('where', 'output', shape);
  const out = empty(shape);
  if (out.size > 0) {
    const walk = broadcastWalk(shape, [cond.shape, a.shape, b.shape]);
    runtime().dispatch({
      op: 'where',
      kernel: 'where',
      uniforms: { n: out.size, rank: walk.rank, shape: walk.shape, c_strides: walk.strides[0], a_strides: walk.strides[1], b_strides: walk.strides[2] },
      buffers: { cond: cond.buffer, a: a.buffer, b: b.buffer, out: out.buffer },
      workgroups: elementwiseGroups(out.size),
    });
  }
  return record('where', [cond, a, b], out, (g, needs) => {
    const zero = full([], 0);
    return [null, needs[1] ? sumTo(where(cond, g, zero), a.shape) : null, needs[2] ? sumTo(where(cond, zero, g), b.shape) : null];
  });
}
