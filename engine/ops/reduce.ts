/**
 * Reductions over axes (kernels/reduce.wgsl, reduce_rows.wgsl): sum, mean, max, keepdim.
 * Short reductions (≤ 64 terms) run one invocation per output; long ones a workgroup
 * tree per output, in chunks of 8192 terms with a second pass when there are several.
 */
import { record } from '../autograd.ts';
import { runtime, grid } from '../runtime.ts';
import { coalesceStrides, fmt, normAxis, sameShape, stridesOf } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { div, equal, mul, scale } from './elementwise.ts';
import { expand, reshape } from './movement.ts';
import { elementwiseGroups, expectDtype } from './util.ts';

/** Sorted unique axes; null or undefined means all. */
export function normAxes(op: string, axes: number | readonly number[] | null | undefined, rank: number): number[] {
  if (axes === null || axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, 'axes', a, rank)))].sort((a, b) => a - b);
  if (out.length !== list.length) throw new Error(`${op}: axes ${JSON.stringify(list)} name an axis twice`);
  return out;
}

function keptShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** Chunk of the reduced range one workgroup handles: ≤ 32 serial terms per invocation. */
const CHUNK = 8192;

interface ReduceLaunch {
  nOut: number;
  nRed: number;
  outShape: number[];
  outStrides: number[];
  redShape: number[];
  redStrides: number[];
  scale: number;
}

function launchReduce(op: 'sum' | 'max', x: Tensor, out: Tensor, l: ReduceLaunch, finish = true): void {
  const perThread = l.nRed <= 64;
  const nChunks = perThread ? 1 : Math.ceil(l.nRed / CHUNK);
  // the same walks over fewer dimensions (same order, so the same sums bit for bit)
  const kept = coalesceStrides(l.outShape, [l.outStrides]);
  const red = coalesceStrides(l.redShape, [l.redStrides]);
  runtime().dispatch({
    op,
    kernel: perThread ? 'reduce_rows' : 'reduce',
    constants: { OP: op === 'max' ? 1 : 0, FINISH: finish },
    uniforms: {
      n_out: l.nOut,
      n_red: l.nRed,
      out_rank: kept.shape.length,
      red_rank: red.shape.length,
      scale: l.scale,
      chunk_len: CHUNK,
      n_chunks: nChunks,
      out_shape: kept.shape,
      out_strides: kept.strides[0],
      red_shape: red.shape,
      red_strides: red.strides[0],
    },
    buffers: { x: x.buffer, out: out.buffer },
    workgroups: perThread ? elementwiseGroups(l.nOut) : grid(l.nOut * nChunks),
  });
}

function reduceKernel(op: 'sum' | 'mean' | 'max', x: Tensor, axes: number[], keepdim: boolean): Tensor {
  expectDtype(op, 'x', x, 'float32');
  const strides = stridesOf(x.shape);
  const outDims = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const nRed = axes.reduce((n, a) => n * x.shape[a], 1);
  if (op === 'max' && nRed === 0) throw new Error(`max: cannot reduce over empty axes of ${x}`);
  const out = empty(keptShape(x.shape, axes, keepdim));
  if (out.size === 0) return out;
  const kernelOp = op === 'max' ? 'max' : 'sum';
  const launch: ReduceLaunch = {
    nOut: out.size,
    nRed,
    outShape: outDims.map((i) => x.shape[i]),
    outStrides: outDims.map((i) => strides[i]),
    redShape: axes.map((i) => x.shape[i]),
    redStrides: axes.map((i) => strides[i]),
    scale: op === 'mean' ? 1 / nRed : 1,
  };
  const nChunks = nRed <= 64 ? 1 : Math.ceil(nRed / CHUNK);
  if (nChunks === 1) {
    launchReduce(kernelOp, x, out, launch);
    return out;
  }
  // Two passes: partial results [nOut, nChunks] (workgroups spread over every core),
  // then one reduction of each row of partials, which applies the mean's scale.
  const partials = empty([out.size, nChunks]);
  launchReduce(kernelOp, x, partials, launch, false);
  launchReduce(kernelOp, partials, out, {
    nOut: out.size,
    nRed: nChunks,
    outShape: [out.size],
    outStrides: [nChunks],
    redShape: [nChunks],
    redStrides: [1],
    scale: launch.scale,
  });
  partials.dispose();
  return out;
}

export type Axes = number | readonly number[] | null;

export function sum(x: Tensor, axes: Axes = null, keepdim = false): Tensor {
  const ax = normAxes('sum', axes, x.rank);
  return record('sum', [x], reduceKernel('sum', x, ax, keepdim), (g) => [expand(reshape(g, keptShape(x.shape, ax, true)), x.shape)]);
}

export function mean(x: Tensor, axes: Axes = null, keepdim = false): Tensor {
  const ax = normAxes('mean', axes, x.rank);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return record('mean', [x], reduceKernel('mean', x, ax, keepdim), (g) => [expand(reshape(scale(g, 1 / n), keptShape(x.shape, ax, true)), x.shape)]);
}

/** Max over axes; the gradient is split equally between tied maxima (as amax). */
export function max(x: Tensor, axes: Axes = null, keepdim = false): Tensor {
  const ax = normAxes('max', axes, x.rank);
  const out = reduceKernel('max', x, ax, keepdim);
  return record('max', [x], out, (g) => {
    const kept = keptShape(x.shape, ax, true);
    const isMax = equal(x, reshape(out, kept));
    const count = reduceKernel('sum', isMax, ax, true);
    return [mul(isMax, div(reshape(g, kept), count))];
  });
}

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${fmt(g.shape)} to the larger rank ${fmt(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return reshape(reduceKernel('sum', g, axes, false), shape);
}
