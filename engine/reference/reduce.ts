/**
 * Reductions: sum, mean, max over axes (softmax and log_softmax: softmax.ts).
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { boolAttr, broadcastSourceIndex, checkNames, describe, fmtShape, getInput, getUpstream, normalizeAxes, size } from './shape.ts';

// ---------------------------------------------------------------------------------------
// sum / mean / max over axes
// ---------------------------------------------------------------------------------------

interface ReducePlan {
  x: RefTensor;
  /** Output shape as returned (reduced dims dropped unless keepdim). */
  outShape: number[];
  /** For each flat input position, the flat output position it reduces into. */
  target: Int32Array;
  /** Elements per output (the product of the reduced dims). */
  count: number;
}

function planReduce(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs): ReducePlan {
  checkNames(op, 'input', inputs, ['x']);
  checkNames(op, 'attribute', attrs, ['axes', 'keepdim']);
  const x = getInput(op, inputs, 'x');
  const rank = x.shape.length;
  const keepdim = boolAttr(op, attrs, 'keepdim', false);
  const raw = attrs.axes;
  let axes: number[];
  if (raw === null || raw === undefined) {
    axes = x.shape.map((_, d) => d);
  } else if (!Array.isArray(raw)) {
    throw new Error(`${op}: attribute 'axes' must be a list of integers or null (all axes), got ${describe(raw)}`);
  } else if (raw.length === 0) {
    // PyTorch reads dim=[] as "all dims" and NumPy as "no dims"; refuse rather than pick one.
    throw new Error(`${op}: attribute 'axes' must be null (all axes) or a non-empty list, got []`);
  } else {
    axes = normalizeAxes(raw, rank, `${op}: attribute 'axes'`);
  }
  const reduced = x.shape.map((_, d) => axes.includes(d));
  // With reduced dims set to 1 the output has the same flat layout with or without keepdim,
  // and mapping an input position to its output is "broadcast the output back to the input".
  const keepShape = x.shape.map((n, d) => (reduced[d] ? 1 : n));
  const outShape = keepdim ? keepShape : x.shape.filter((_, d) => !reduced[d]);
  const count = x.shape.reduce((p, n, d) => (reduced[d] ? p * n : p), 1);
  return { x, outShape, target: broadcastSourceIndex(keepShape, x.shape), count };
}

const sumOp: RefOp = {
  forward(inputs, attrs) {
    const { x, outShape, target } = planReduce('sum', inputs, attrs);
    const out = new Float64Array(size(outShape));
    for (let i = 0; i < target.length; i++) out[target[i]] += x.data[i];
    return { out: { shape: outShape, data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const { x, outShape, target } = planReduce('sum', inputs, attrs);
    const g = getUpstream('sum', upstream, 'out', outShape);
    return { x: { shape: [...x.shape], data: Float64Array.from(target, (t) => g.data[t]) } };
  },
};

const meanOp: RefOp = {
  forward(inputs, attrs) {
    const { x, outShape, target, count } = planReduce('mean', inputs, attrs);
    const out = new Float64Array(size(outShape));
    for (let i = 0; i < target.length; i++) out[target[i]] += x.data[i];
    // count == 0 gives NaN (0/0), as PyTorch's mean over an empty axis.
    for (let j = 0; j < out.length; j++) out[j] /= count;
    return { out: { shape: outShape, data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const { x, outShape, target, count } = planReduce('mean', inputs, attrs);
    const g = getUpstream('mean', upstream, 'out', outShape);
    return { x: { shape: [...x.shape], data: Float64Array.from(target, (t) => g.data[t] / count) } };
  },
};

function maxForward(plan: ReducePlan): Float64Array {
  const { x, outShape, target, count } = plan;
  // PyTorch's amax refuses to reduce an empty axis: there is no identity for max to return.
  if (count === 0 && size(outShape) > 0) {
    throw new Error(`max: cannot reduce over an axis of size 0, got x.shape ${fmtShape(x.shape)}`);
  }
  const out = new Float64Array(size(outShape)).fill(-Infinity);
  for (let i = 0; i < target.length; i++) {
    const v = x.data[i];
    // NaN wins, as in PyTorch (a plain `v > out` comparison would skip it).
    if (v > out[target[i]] || Number.isNaN(v)) out[target[i]] = v;
  }
  return out;
}

const maxOp: RefOp = {
  forward(inputs, attrs) {
    const plan = planReduce('max', inputs, attrs);
    return { out: { shape: plan.outShape, data: maxForward(plan) } };
  },
  vjp(inputs, attrs, upstream) {
    const plan = planReduce('max', inputs, attrs);
    const { x, outShape, target } = plan;
    const g = getUpstream('max', upstream, 'out', outShape);
    const out = maxForward(plan);
    // Split equally among tied maxima (PyTorch's amax): count the ties of each output first.
    const ties = new Float64Array(out.length);
    for (let i = 0; i < target.length; i++) if (x.data[i] === out[target[i]]) ties[target[i]]++;
    const gx = new Float64Array(x.data.length);
    for (let i = 0; i < target.length; i++) {
      const t = target[i];
      if (x.data[i] === out[t]) gx[i] = g.data[t] / ties[t];
    }
    return { x: { shape: [...x.shape], data: gx } };
  },
};

export const reduceReferenceOps: Record<string, RefOp> = {
  sum: sumOp,
  mean: meanOp,
  max: maxOp,
};
