/**
 * Shape arithmetic and argument checking shared by the float64 reference ops.
 *
 * Every error thrown here starts with the op name (or a caller-given label such as
 * "sum: axes[1]") and states what was expected and what was given, because these
 * messages are what a failing parity case or test shows first.
 */
import type { RefAttrs, RefTensor } from './types.ts';

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

/** `[2, 3]` — the one format used in every message. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Number of elements; 1 for a scalar (shape []). */
export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-order) strides in elements: the last axis is contiguous. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** The multi-index of row-major flat position `flat` in `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * NumPy broadcasting of any number of shapes: align on the right, and in each position
 * every size must be 1 or equal to the others'. `what` prefixes the error (the op name).
 */
export function broadcastShapes(shapes: readonly (readonly number[])[], what = 'broadcastShapes'): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (let k = 1; k <= rank; k++) {
    for (const s of shapes) {
      const d = s.length - k < 0 ? 1 : s[s.length - k];
      if (d === 1) continue;
      const cur = out[rank - k];
      if (cur !== 1 && cur !== d) {
        throw new Error(
          `${what}: cannot broadcast shapes ${shapes.map(fmtShape).join(' and ')}: ` + `at dim -${k} the sizes ${cur} and ${d} differ and neither is 1`,
        );
      }
      out[rank - k] = d;
    }
  }
  return out;
}

/**
 * For a tensor of shape `inShape` broadcast to `outShape` (already known compatible),
 * the flat input position read by each flat output position. Summing a gradient through
 * this map (g_in[map[i]] += g_out[i]) is exactly the reduction over broadcast dims.
 */
export function broadcastSourceIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const rank = outShape.length;
  const offset = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  // Stride 0 along dims that are new or of size 1: every output position reads the same input.
  const step = outShape.map((_, d) => {
    const di = d - offset;
    return di < 0 || inShape[di] === 1 ? 0 : inStrides[di];
  });
  const n = size(outShape);
  const map = new Int32Array(n);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < n; i++) {
    map[i] = src;
    // Odometer increment of the output multi-index, keeping `src` in step.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      src += step[d];
      if (index[d] < outShape[d]) break;
      src -= step[d] * index[d];
      index[d] = 0;
    }
  }
  return map;
}

/**
 * An axis in [-rank, rank) mapped to [0, rank). `what` names the argument, e.g.
 * "softmax: axis" or "sum: axes[1]".
 */
export function normalizeAxis(axis: unknown, rank: number, what: string): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -rank || axis >= rank) {
    const range = rank === 0 ? 'none: the input is a scalar' : `[${-rank}, ${rank - 1}]`;
    throw new Error(`${what} must be an integer axis in ${range} for rank ${rank}, got ${String(axis)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** A list of distinct axes, each normalised; duplicates (after normalising) are an error. */
export function normalizeAxes(axes: readonly unknown[], rank: number, what: string): number[] {
  const out = axes.map((a, i) => normalizeAxis(a, rank, `${what}[${i}]`));
  for (let i = 0; i < out.length; i++) {
    const j = out.indexOf(out[i]);
    if (j !== i) {
      throw new Error(`${what} must not repeat an axis, got ${fmtList(axes)} (entries ${j} and ${i} are both axis ${out[i]})`);
    }
  }
  return out;
}

function fmtList(v: readonly unknown[]): string {
  return `[${v.map(String).join(', ')}]`;
}

// ---------------------------------------------------------------------------------------
// Argument checking: inputs, upstream gradients, attributes
// ---------------------------------------------------------------------------------------

/** Rejects names outside `allowed` so a typo ("axis" for "axes") is an error, not a default. */
export function checkNames(op: string, kind: 'input' | 'attribute', given: object, allowed: readonly string[]): void {
  for (const name of Object.keys(given)) {
    if (!allowed.includes(name)) {
      const expected = allowed.length ? allowed.join(', ') : 'none';
      throw new Error(`${op}: unexpected ${kind} '${name}' (expected ${expected})`);
    }
  }
}

/** Checks that `t` is a well-formed tensor: a shape of non-negative integers and matching data. */
export function checkTensor(op: string, label: string, t: unknown): RefTensor {
  const v = t as Partial<RefTensor> | null | undefined;
  if (!v || !Array.isArray(v.shape) || !(v.data instanceof Float64Array)) {
    throw new Error(`${op}: ${label} must be a tensor { shape: number[], data: Float64Array }, got ${describe(t)}`);
  }
  for (const d of v.shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: ${label}.shape must hold non-negative integers, got ${fmtList(v.shape)}`);
    }
  }
  if (v.data.length !== size(v.shape)) {
    throw new Error(`${op}: ${label} has ${v.data.length} values but shape ${fmtShape(v.shape)} needs ${size(v.shape)}`);
  }
  return v as RefTensor;
}

/** The named input, present and well formed. */
export function getInput(op: string, inputs: Record<string, RefTensor>, name: string): RefTensor {
  if (!(name in inputs)) throw new Error(`${op}: input '${name}' is missing`);
  return checkTensor(op, `input '${name}'`, inputs[name]);
}

/** The upstream gradient for output `name`, which must have the output's shape. */
export function getUpstream(op: string, upstream: Record<string, RefTensor>, name: string, shape: readonly number[]): RefTensor {
  if (!(name in upstream)) throw new Error(`${op}: upstream gradient for output '${name}' is missing`);
  const g = checkTensor(op, `upstream '${name}'`, upstream[name]);
  if (!shapesEqual(g.shape, shape)) {
    throw new Error(`${op}: upstream '${name}' must have the output's shape ${fmtShape(shape)}, got ${fmtShape(g.shape)}`);
  }
  return g;
}

/** An integer attribute (required). */
export function intAttr(op: string, attrs: RefAttrs, name: string): number {
  const v = attrs[name];
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new Error(`${op}: attribute '${name}' must be an integer, got ${describe(v)}`);
  }
  return v;
}

/** A list of integers (required). */
export function intListAttr(op: string, attrs: RefAttrs, name: string): number[] {
  const v = attrs[name];
  if (!Array.isArray(v) || !v.every((e) => typeof e === 'number' && Number.isInteger(e))) {
    throw new Error(`${op}: attribute '${name}' must be a list of integers, got ${describe(v)}`);
  }
  return v as number[];
}

/** A boolean attribute; absent means `dflt` (PyTorch's default for the same argument). */
export function boolAttr(op: string, attrs: RefAttrs, name: string, dflt: boolean): boolean {
  const v = attrs[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new Error(`${op}: attribute '${name}' must be a boolean, got ${describe(v)}`);
  return v;
}

/** A finite-or-infinite number, or null/absent for "none". NaN is refused: it would poison every output. */
export function nullableNumberAttr(op: string, attrs: RefAttrs, name: string): number | null {
  const v = attrs[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new Error(`${op}: attribute '${name}' must be a number or null, got ${describe(v)}`);
  }
  return v;
}

/** A short, readable description of any value for error messages. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v instanceof Float64Array) return `Float64Array(${v.length})`;
  try {
    const s = JSON.stringify(v);
    if (s !== undefined) return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    // fall through: cyclic or otherwise unprintable
  }
  return String(v);
}
