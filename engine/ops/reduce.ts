/**
 * Reductions over axes (kernels/reduce.wgsl): sum, mean, max, with keepdim.
 * Short reductions run one invocation per output; long ones a workgroup tree per output.
 */
import { record } from '../autograd.ts';
import { runtime, grid } from '../runtime.ts';
import { fmt, normAxis, sameShape, stridesOf } from '../shape.ts';
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

function reduceKernel(op: 'sum' | 'mean' | 'max', x: Tensor, axes: number[], keepdim: boolean): Tensor {
  expectDtype(op, 'x', x, 'float32');
  const strides = stridesOf(x.shape);
  const outDims = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const nRed = axes.reduce((n, a) => n * x.shape[a], 1);
  if (op === 'max' && nRed === 0) throw new Error(`max: cannot reduce over empty axes of ${x}`);
  const out = empty(keptShape(x.shape, axes, keepdim));
  if (out.size === 0) return out;
  const perThread = nRed <= 64;
  runtime().dispatch({
    kernel: perThread ? 'reduce_rows' : 'reduce',
    constants: { OP: op === 'max' ? 1 : 0 },
    uniforms: {
      n_out: out.size,
      n_red: nRed,
      out_rank: outDims.length,
      red_rank: axes.length,
      scale: op === 'mean' ? 1 / nRed : 1,
      out_shape: outDims.map((i) => x.shape[i]),
      out_strides: outDims.map((i) => strides[i]),
      red_shape: axes.map((i) => x.shape[i]),
      red_strides: axes.map((i) => strides[i]),
    },
    buffers: { x: x.buffer, out: out.buffer },
    workgroups: perThread ? elementwiseGroups(out.size) : grid(out.size),
  });
  return out;
}

export type Axes = number | readonly number[] | null;

export function sum(x: Tensor, axes: Axes = null, keepdim = false): Tensor {
  const ax = normAxes('sum', axes, x.rank);
  return record('sum', [x], reduceKernel('sum', x, ax, keepdim), (g) => [
    expand(reshape(g, keptShape(x.shape, ax, true)), x.shape),
  ]);
}

export function mean(x: Tensor, axes: Axes = null, keepdim = false): Tensor {
  const ax = normAxes('mean', axes, x.rank);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return record('mean', [x], reduceKernel('mean', x, ax, keepdim), (g) => [
    expand(reshape(scale(g, 1 / n), keptShape(x.shape, ax, true)), x.shape),
  ]);
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
