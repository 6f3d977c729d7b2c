/**
 * softmax and log_softmax along one axis.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { checkNames, getInput, getUpstream, normalizeAxis, size } from './shape.ts';

// ---------------------------------------------------------------------------------------
// softmax / log_softmax along one axis
// ---------------------------------------------------------------------------------------

/** The tensor seen as [outer, n, inner] with the softmax axis in the middle. */
interface AxisPlan {
  x: RefTensor;
  outer: number;
  n: number;
  inner: number;
}

function planAxis(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs): AxisPlan {
  checkNames(op, 'input', inputs, ['x']);
  checkNames(op, 'attribute', attrs, ['axis']);
  const x = getInput(op, inputs, 'x');
  if (!('axis' in attrs)) throw new Error(`${op}: attribute 'axis' is missing`);
  const axis = normalizeAxis(attrs.axis, x.shape.length, `${op}: attribute 'axis'`);
  return {
    x,
    outer: size(x.shape.slice(0, axis)),
    n: x.shape[axis],
    inner: size(x.shape.slice(axis + 1)),
  };
}

/**
 * Calls `row(offset, stride)` for every 1-D line along the axis: its elements are at
 * offset + k * stride for k < n.
 */
function forEachLine(p: AxisPlan, row: (offset: number, stride: number) => void): void {
  for (let o = 0; o < p.outer; o++) {
    for (let i = 0; i < p.inner; i++) row(o * p.n * p.inner + i, p.inner);
  }
}

/** Writes softmax (or log_softmax) of x into out, line by line. Subtracting the max keeps exp ≤ 1. */
function softmaxInto(p: AxisPlan, out: Float64Array, log: boolean): void {
  const x = p.x.data;
  forEachLine(p, (off, st) => {
    let m = -Infinity;
    for (let k = 0; k < p.n; k++) m = Math.max(m, x[off + k * st]);
    let s = 0;
    for (let k = 0; k < p.n; k++) s += Math.exp(x[off + k * st] - m);
    const logS = Math.log(s);
    for (let k = 0; k < p.n; k++) {
      const z = x[off + k * st] - m;
      out[off + k * st] = log ? z - logS : Math.exp(z) / s;
    }
  });
}

const softmaxOp: RefOp = {
  forward(inputs, attrs) {
    const p = planAxis('softmax', inputs, attrs);
    const out = new Float64Array(p.x.data.length);
    softmaxInto(p, out, false);
    return { out: { shape: [...p.x.shape], data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const p = planAxis('softmax', inputs, attrs);
    const g = getUpstream('softmax', upstream, 'out', p.x.shape).data;
    const y = new Float64Array(p.x.data.length);
    softmaxInto(p, y, false);
    // dx = y * (g - <g, y>) along each line.
    const gx = new Float64Array(y.length);
    forEachLine(p, (off, st) => {
      let dot = 0;
      for (let k = 0; k < p.n; k++) dot += g[off + k * st] * y[off + k * st];
      for (let k = 0; k < p.n; k++) gx[off + k * st] = y[off + k * st] * (g[off + k * st] - dot);
    });
    return { x: { shape: [...p.x.shape], data: gx } };
  },
};

const logSoftmaxOp: RefOp = {
  forward(inputs, attrs) {
    const p = planAxis('log_softmax', inputs, attrs);
    const out = new Float64Array(p.x.data.length);
    softmaxInto(p, out, true);
    return { out: { shape: [...p.x.shape], data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const p = planAxis('log_softmax', inputs, attrs);
    const g = getUpstream('log_softmax', upstream, 'out', p.x.shape).data;
    const y = new Float64Array(p.x.data.length);
    softmaxInto(p, y, false);
    // dx = g - softmax(x) * sum(g) along each line.
    const gx = new Float64Array(y.length);
    forEachLine(p, (off, st) => {
      let total = 0;
      for (let k = 0; k < p.n; k++) total += g[off + k * st];
      for (let k = 0; k < p.n; k++) gx[off + k * st] = g[off + k * st] - y[off + k * st] * total;
    });
    return { x: { shape: [...p.x.shape], data: gx } };
  },
};

export const softmaxReferenceOps: Record<string, RefOp> = {
  softmax: softmaxOp,
  log_softmax: logSoftmaxOp,
};
