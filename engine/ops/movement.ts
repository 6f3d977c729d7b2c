/**
 * Shape and movement ops. reshape is a view (shared buffer); the others are one strided
 * copy (kernels/copy_strided.wgsl) each, so their backward rules are strided copies too.
 */
import { record } from '../autograd.ts';
import { runtime } from '../runtime.ts';
import { broadcastShapes, broadcastStrides, coalesceStrides, fmt, normAxis, sameShape, sizeOf, stridesOf } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { zeros } from './creation.ts';
import { sum } from './reduce.ts';
import { indexAdd } from './gather.ts';
import { elementwiseGroups, expectInt, expectMaxRank } from './util.ts';

/** out[outOffset + idx·outStrides] = x[xOffset + idx·xStrides] for idx over `shape`. */
export function stridedCopy(
  op: string,
  x: Tensor,
  out: Tensor,
  shape: readonly number[],
  xStrides: readonly number[],
  outStrides: readonly number[],
  xOffset = 0,
  outOffset = 0,
): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const c = coalesceStrides(shape, [xStrides, outStrides]);
  runtime().dispatch({
    op,
    kernel: 'copy_strided',
    uniforms: {
      n,
      rank: c.shape.length,
      x_offset: xOffset,
      out_offset: outOffset,
      shape: c.shape,
      x_strides: c.strides[0],
      out_strides: c.strides[1],
    },
    buffers: { x: x.buffer, out: out.buffer },
    // one invocation per run of COPY_PER_INVOCATION along the innermost dimension
    workgroups: elementwiseGroups((n / c.shape[c.shape.length - 1]) * Math.ceil(c.shape[c.shape.length - 1] / COPY_PER_INVOCATION)),
  });
}

/** Elements each copy_strided invocation moves, at most (PER in the kernel). */
const COPY_PER_INVOCATION = 8;

/** Same data, new shape (one entry may be -1). Shares the buffer. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  const free = shape.length - known.length;
  if (free > 1) throw new Error(`reshape: at most one -1 in shape ${fmt(shape)}`);
  for (const d of known) if (!Number.isInteger(d) || d < 0) throw new Error(`reshape: shape ${fmt(shape)} must hold non-negative integers or -1`);
  const knownSize = sizeOf(known);
  const target = shape.map((d) => (d === -1 ? (knownSize === 0 ? 0 : x.size / knownSize) : d));
  if (sizeOf(target) !== x.size || !target.every(Number.isInteger)) throw new Error(`reshape: cannot reshape ${x} (${x.size} elements) to ${fmt(shape)}`);
  expectMaxRank('reshape', 'shape', target);
  return record('reshape', [x], x.view(target), (g) => [g.view(x.shape)]);
}

/** Broadcasts x to `shape` (NumPy rules), materialised. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`expand: cannot expand ${x} to ${fmt(shape)}`);
  expectMaxRank('expand', 'shape', shape);
  const out = empty(shape, x.dtype);
  stridedCopy('expand', x, out, shape, broadcastStrides(x.shape, shape), stridesOf(shape));
  return record('expand', [x], out, (g) => [sumToShape(g, x.shape)]);
}

// sum over broadcast axes, local to avoid an import cycle at module load
function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return axes.length ? reshape(sum(g, axes), shape) : g;
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const rank = x.rank;
  const d = dims.map((a) => normAxis('permute', 'dims', a, rank));
  if (d.length !== rank || new Set(d).size !== rank) throw new Error(`permute: dims must be a permutation of 0..${rank - 1}, got ${JSON.stringify(dims)}`);
  const shape = d.map((a) => x.shape[a]);
  const xs = stridesOf(x.shape);
  const out = empty(shape, x.dtype);
  stridedCopy(
    'permute',
    x,
    out,
    shape,
    d.map((a) => xs[a]),
    stridesOf(shape),
  );
  const inverse = d.map((_, i) => d.indexOf(i));
  return record('permute', [x], out, (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normAxis('transpose', 'dim0', dim0, x.rank);
  const b = normAxis('transpose', 'dim1', dim1, x.rank);
  const dims = [...Array(x.rank).keys()];
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}

/** x[starts[0]:ends[0], starts[1]:ends[1], ...] (one entry per dim, end exclusive). */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  if (starts.length !== x.rank || ends.length !== x.rank)
    throw new Error(`slice: starts and ends need ${x.rank} entries for ${x}, got ${starts.length} and ${ends.length}`);
  x.shape.forEach((dim, i) => {
    const s = expectInt('slice', `starts[${i}]`, starts[i], 0);
    const e = expectInt('slice', `ends[${i}]`, ends[i], 0);
    if (s > e || e > dim) throw new Error(`slice: dim ${i} needs 0 ≤ start ≤ end ≤ ${dim}, got [${s}, ${e})`);
  });
  const shape = x.shape.map((_, i) => ends[i] - starts[i]);
  const xs = stridesOf(x.shape);
  const offset = starts.reduce((acc, s, i) => acc + s * xs[i], 0);
  const out = empty(shape, x.dtype);
  stridedCopy('slice', x, out, shape, xs, stridesOf(shape), offset, 0);
  return record('slice', [x], out, (g) => [padInto('slice backward', g, x.shape, starts)]);
}

/** A zero tensor of `shape` with g written at `starts` (the adjoint of slice). */
function padInto(op: string, g: Tensor, shape: readonly number[], starts: readonly number[]): Tensor {
  const out = zeros(shape);
  const os = stridesOf(shape);
  stridedCopy(
    op,
    g,
    out,
    g.shape,
    stridesOf(g.shape),
    os,
    0,
    starts.reduce((acc, s, i) => acc + s * os[i], 0),
  );
  return out;
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat: needs at least one tensor');
  const first = xs[0];
  const ax = normAxis('concat', 'axis', axis, first.rank);
  xs.forEach((t, k) => {
    if (t.dtype !== first.dtype) throw new Error(`concat: tensor ${k} has dtype ${t.dtype}, expected ${first.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i]))
      throw new Error(`concat: tensor ${k} has shape ${fmt(t.shape)}, expected ${fmt(first.shape)} except along axis ${ax}`);
  });
  const shape = [...first.shape];
  shape[ax] = xs.reduce((n, t) => n + t.shape[ax], 0);
  const out = empty(shape, first.dtype);
  const os = stridesOf(shape);
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    starts.push(at);
    stridedCopy('concat', t, out, t.shape, stridesOf(t.shape), os, 0, at * os[ax]);
    at += t.shape[ax];
  }
  return record('concat', xs, out, (g, needs) =>
    xs.map((t, k) => {
      if (!needs[k]) return null;
      const s = shape.map(() => 0);
      const e = [...shape];
      s[ax] = starts[k];
      e[ax] = starts[k] + t.shape[ax];
      return slice(g, s, e);
    }),
  );
}

/** Zero padding: pads[i] = [before, after] for dim i. */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[]): Tensor {
  if (pads.length !== x.rank) throw new Error(`pad: pads needs ${x.rank} [before, after] pairs for ${x}, got ${pads.length}`);
  pads.forEach(([b, a], i) => {
    expectInt('pad', `pads[${i}][0]`, b, 0);
    expectInt('pad', `pads[${i}][1]`, a, 0);
  });
  const shape = x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const starts = pads.map((p) => p[0]);
  const out = padInto('pad', x, shape, starts);
  return record('pad', [x], out, (g) => [
    slice(
      g,
      starts,
      x.shape.map((d, i) => starts[i] + d),
    ),
  ]);
}

/** Nearest-neighbour ×2 upsampling of [N,C,H,W] (FPN top-down path). */
export function upsampleNearest2x(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`upsampleNearest2x: x must be [N,C,H,W], got ${fmt(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const out = empty([n, c, 2 * h, 2 * w], x.dtype);
  const rows = n * c * 2 * h;
  if (out.size > 0)
    runtime().dispatch({
      op: 'upsampleNearest2x',
      kernel: 'upsample_nearest2x',
      uniforms: { rows, h, w },
      buffers: { x: x.buffer, out: out.buffer },
      workgroups: elementwiseGroups(rows * Math.ceil((2 * w) / COPY_PER_INVOCATION)),
    });
  // the backward sums each 2×2 block: out viewed as [N,C,H,2,W,2], summed over the "2" axes
  const viewShape = [n, c, h, 2, w, 2];
  return record('upsampleNearest2x', [x], out, (g) => [reshape(sum(reshape(g, viewShape), [3, 5]), x.shape)]);
}

export interface MaxPool2dOptions {
  /** window [h, w] (a number: square) */
  kernelSize: number | readonly [number, number];
  /** default: the kernel size (torch's default) */
  stride?: number | readonly [number, number];
  /** −∞ padding each side, at most half the kernel; default 0 */
  padding?: number | readonly [number, number];
}

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/**
 * Max pooling of [N,C,H,W] as torch.nn.functional.max_pool2d (dilation 1, floor mode): the
 * first maximum of each window in row-major order, NaN propagating. The backward sends
 * each output's gradient to the input it came from (index_add over the saved argmax, so
 * overlapping windows sum, deterministically).
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  const op = 'maxPool2d';
  if (x.rank !== 4) throw new Error(`${op}: x must be [N,C,H,W], got ${fmt(x.shape)}`);
  if (x.dtype !== 'float32') throw new Error(`${op}: x must be float32, got ${x.dtype}`);
  const [kh, kw] = pair(opts.kernelSize);
  const [sh, sw] = pair(opts.stride ?? opts.kernelSize);
  const [ph, pw] = pair(opts.padding ?? 0);
  for (const [name, v, min] of [
    ['kernelSize', [kh, kw], 1],
    ['stride', [sh, sw], 1],
    ['padding', [ph, pw], 0],
  ] as const)
    if (!v.every((d) => Number.isInteger(d) && d >= min)) throw new Error(`${op}: ${name} must be integers ≥ ${min}, got [${v}]`);
  if (2 * ph > kh || 2 * pw > kw) throw new Error(`${op}: padding must be at most half the kernel size, got padding [${ph}, ${pw}] for kernel [${kh}, ${kw}]`);
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh < 1 || ow < 1) throw new Error(`${op}: output size ${oh}×${ow} is too small for input ${h}×${w} (kernel [${kh}, ${kw}], padding [${ph}, ${pw}])`);
  if (x.size >= 2 ** 31) throw new Error(`${op}: ${x.size} elements exceed the int32 argmax index`);
  const out = empty([n, c, oh, ow]);
  const argmax = empty([out.size], 'int32');
  if (out.size > 0)
    runtime().dispatch({
      op,
      kernel: 'max_pool2d',
      uniforms: { total: out.size, h, w, oh, ow, kh, kw, sh, sw, ph, pw },
      buffers: { x: x.buffer, out: out.buffer, argmax: argmax.buffer },
      workgroups: elementwiseGroups(out.size),
    });
  const result = record(op, [x], out, (g) => [reshape(indexAdd(reshape(g, [out.size]), 0, argmax, x.size), x.shape)]);
  if (!result.gradFn) argmax.dispose();
  return result;
}
