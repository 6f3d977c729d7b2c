/**
 * Data-movement reference ops. All but concat are "gathers": each output element copies
 * one input element (or is a zero, for pad), so one map from output position to input
 * position gives both the forward (read through it) and the vjp (scatter-add back
 * through it, which accumulates repeated reads such as the four copies made by
 * upsampling). index_select and index_add (gather.ts) are built on the same machinery.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { checkNames, describe, fmtShape, getInput, getUpstream, intAttr, intListAttr, normalizeAxes, normalizeAxis, size, stridesOf } from './shape.ts';

// ---------------------------------------------------------------------------------------
// The gather machinery
// ---------------------------------------------------------------------------------------

interface GatherPlan {
  /** The differentiable input the data comes from. */
  x: RefTensor;
  outShape: number[];
  /** Flat input position read by each flat output position; -1 writes a zero. */
  source: Int32Array;
  /** Other inputs (integer indices) that get a null gradient. */
  nonDifferentiable?: string[];
}

/** Fills a gather map by calling `src` with every output multi-index in row-major order. */
export function buildSource(outShape: readonly number[], src: (o: readonly number[]) => number): Int32Array {
  const n = size(outShape);
  const map = new Int32Array(n);
  const o = new Array<number>(outShape.length).fill(0);
  for (let i = 0; i < n; i++) {
    map[i] = src(o);
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++o[d] < outShape[d]) break;
      o[d] = 0;
    }
  }
  return map;
}

export type Planner = (inputs: Record<string, RefTensor>, attrs: RefAttrs) => GatherPlan;

export function gatherOp(op: string, plan: Planner): RefOp {
  return {
    forward(inputs, attrs) {
      const { x, outShape, source } = plan(inputs, attrs);
      const out = Float64Array.from(source, (s) => (s < 0 ? 0 : x.data[s]));
      return { out: { shape: outShape, data: out } };
    },
    vjp(inputs, attrs, upstream) {
      const { x, outShape, source, nonDifferentiable = [] } = plan(inputs, attrs);
      const g = getUpstream(op, upstream, 'out', outShape);
      const gx = new Float64Array(x.data.length);
      for (let i = 0; i < source.length; i++) if (source[i] >= 0) gx[source[i]] += g.data[i];
      const grads: Record<string, RefTensor | null> = { x: { shape: [...x.shape], data: gx } };
      for (const name of nonDifferentiable) grads[name] = null;
      return grads;
    },
  };
}

/** Checks the op's input/attribute names and returns its single input x. */
function single(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs, attrNames: string[]): RefTensor {
  checkNames(op, 'input', inputs, ['x']);
  checkNames(op, 'attribute', attrs, attrNames);
  return getInput(op, inputs, 'x');
}

// ---------------------------------------------------------------------------------------
// Gathers
// ---------------------------------------------------------------------------------------

const planReshape: Planner = (inputs, attrs) => {
  const op = 'reshape';
  const x = single(op, inputs, attrs, ['shape']);
  const want = intListAttr(op, attrs, 'shape');
  const inferred = want.indexOf(-1);
  want.forEach((d, i) => {
    if (d < -1) throw new Error(`${op}: shape[${i}] must be ≥ 0 or -1 (inferred), got ${d}`);
    if (d === -1 && i !== inferred) throw new Error(`${op}: only one entry of shape may be -1, got ${fmtShape(want)}`);
  });
  const known = want.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const total = size(x.shape);
  const outShape = [...want];
  if (inferred >= 0) {
    // With a zero among the known sizes any value would fit: PyTorch refuses, so do we.
    if (known === 0 || total % known !== 0) {
      throw new Error(`${op}: cannot infer the -1 in shape ${fmtShape(want)} for x.shape ${fmtShape(x.shape)} (${total} elements)`);
    }
    outShape[inferred] = total / known;
  } else if (known !== total) {
    throw new Error(`${op}: shape ${fmtShape(want)} has ${known} elements, x.shape ${fmtShape(x.shape)} has ${total}`);
  }
  // Row-major data is unchanged by a reshape: the identity map.
  return { x, outShape, source: Int32Array.from({ length: total }, (_, i) => i) };
};

/** out[o] = x[o permuted back]: output dim i is input dim dims[i]. */
function permutePlan(x: RefTensor, dims: number[]): GatherPlan {
  const outShape = dims.map((d) => x.shape[d]);
  const inStrides = stridesOf(x.shape);
  const step = dims.map((d) => inStrides[d]);
  const source = buildSource(outShape, (o) => o.reduce((s, oi, i) => s + oi * step[i], 0));
  return { x, outShape, source };
}

const planPermute: Planner = (inputs, attrs) => {
  const op = 'permute';
  const x = single(op, inputs, attrs, ['dims']);
  const dims = intListAttr(op, attrs, 'dims');
  const rank = x.shape.length;
  if (dims.length !== rank) {
    throw new Error(`${op}: dims must list each of the ${rank} axes of x.shape ${fmtShape(x.shape)} once, got ${describe(dims)}`);
  }
  return permutePlan(x, normalizeAxes(dims, rank, `${op}: dims`));
};

const planTranspose: Planner = (inputs, attrs) => {
  const op = 'transpose';
  const x = single(op, inputs, attrs, ['dim0', 'dim1']);
  const rank = x.shape.length;
  const d0 = normalizeAxis(intAttr(op, attrs, 'dim0'), rank, `${op}: attribute 'dim0'`);
  const d1 = normalizeAxis(intAttr(op, attrs, 'dim1'), rank, `${op}: attribute 'dim1'`);
  const dims = x.shape.map((_, d) => (d === d0 ? d1 : d === d1 ? d0 : d));
  return permutePlan(x, dims);
};

const planSlice: Planner = (inputs, attrs) => {
  const op = 'slice';
  const x = single(op, inputs, attrs, ['starts', 'ends']);
  const rank = x.shape.length;
  const starts = intListAttr(op, attrs, 'starts');
  const ends = intListAttr(op, attrs, 'ends');
  for (const [name, list] of [
    ['starts', starts],
    ['ends', ends],
  ] as const) {
    if (list.length !== rank) {
      throw new Error(`${op}: ${name} must have one entry per dim of x.shape ${fmtShape(x.shape)} (${rank}), got ${list.length}`);
    }
  }
  for (let d = 0; d < rank; d++) {
    if (starts[d] < 0 || starts[d] > x.shape[d]) {
      throw new Error(`${op}: starts[${d}] must be in [0, x.shape[${d}] (${x.shape[d]})], got ${starts[d]}`);
    }
    if (ends[d] < starts[d] || ends[d] > x.shape[d]) {
      throw new Error(`${op}: ends[${d}] must be in [starts[${d}] (${starts[d]}), x.shape[${d}] (${x.shape[d]})], got ${ends[d]}`);
    }
  }
  const outShape = starts.map((s, d) => ends[d] - s);
  const inStrides = stridesOf(x.shape);
  const base = starts.reduce((s, st, d) => s + st * inStrides[d], 0);
  const source = buildSource(outShape, (o) => o.reduce((s, oi, d) => s + oi * inStrides[d], base));
  return { x, outShape, source };
};

const planPad: Planner = (inputs, attrs) => {
  const op = 'pad';
  const x = single(op, inputs, attrs, ['pads']);
  const rank = x.shape.length;
  const pads = attrs.pads;
  const isPair = (p: unknown): p is [number, number] =>
    Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0);
  if (!Array.isArray(pads) || pads.length !== rank || !pads.every(isPair)) {
    throw new Error(
      `${op}: attribute 'pads' must be ${rank} pairs [before, after] of non-negative integers ` +
        `(one per dim of x.shape ${fmtShape(x.shape)}), got ${describe(pads)}`,
    );
  }
  const outShape = x.shape.map((n, d) => pads[d][0] + n + pads[d][1]);
  const inStrides = stridesOf(x.shape);
  const source = buildSource(outShape, (o) => {
    let s = 0;
    for (let d = 0; d < rank; d++) {
      const i = o[d] - pads[d][0];
      if (i < 0 || i >= x.shape[d]) return -1; // in the zero border
      s += i * inStrides[d];
    }
    return s;
  });
  return { x, outShape, source };
};

const planUpsample: Planner = (inputs, attrs) => {
  const op = 'upsample_nearest2x';
  const x = single(op, inputs, attrs, []);
  if (x.shape.length !== 4) throw new Error(`${op}: x must be [N, C, H, W] (rank 4), got shape ${fmtShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const outShape = [n, c, 2 * h, 2 * w];
  // Output pixel (i, j) copies input pixel (floor(i/2), floor(j/2)).
  const source = buildSource(outShape, (o) => ((o[0] * c + o[1]) * h + (o[2] >> 1)) * w + (o[3] >> 1));
  return { x, outShape, source };
};

/**
 * max_pool2d (torch.nn.functional.max_pool2d, dilation 1, floor mode): each output reads
 * the first maximum of its window in row-major order (NaN wins, as PyTorch's CPU kernel);
 * padding positions are −∞, never read. The vjp sends each output's gradient to that
 * input, summing where windows overlap.
 */
const planMaxPool: Planner = (inputs, attrs) => {
  const op = 'max_pool2d';
  const x = single(op, inputs, attrs, ['kernel_size', 'stride', 'padding']);
  if (x.shape.length !== 4) throw new Error(`${op}: x must be [N, C, H, W] (rank 4), got shape ${fmtShape(x.shape)}`);
  const pair = (name: string, dflt: number[]) => {
    const v = attrs[name] === undefined ? dflt : intListAttr(op, attrs, name);
    if (v.length !== 2) throw new Error(`${op}: attribute '${name}' must be [h, w], got ${describe(v)}`);
    return v;
  };
  const [kh, kw] = pair('kernel_size', []);
  const [sh, sw] = pair('stride', [kh, kw]);
  const [ph, pw] = pair('padding', [0, 0]);
  const [n, c, h, w] = x.shape;
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1) throw new Error(`${op}: kernel_size and stride must be ≥ 1, got [${kh}, ${kw}] and [${sh}, ${sw}]`);
  if (ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
    throw new Error(`${op}: padding must be in [0, kernel_size / 2], got [${ph}, ${pw}] for kernel [${kh}, ${kw}]`);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh < 1 || ow < 1) throw new Error(`${op}: output size ${oh}×${ow} is too small for input ${h}×${w} (kernel [${kh}, ${kw}], padding [${ph}, ${pw}])`);
  const source = buildSource([n, c, oh, ow], ([b, ch, oy, ox]) => {
    const plane = (b * c + ch) * h * w;
    const y0 = Math.max(oy * sh - ph, 0);
    const x0 = Math.max(ox * sw - pw, 0);
    let best = -Infinity;
    let at = plane + y0 * w + x0;
    for (let y = y0; y < Math.min(oy * sh - ph + kh, h); y++)
      for (let xx = x0; xx < Math.min(ox * sw - pw + kw, w); xx++) {
        const v = x.data[plane + y * w + xx];
        if (v > best || Number.isNaN(v)) [best, at] = [v, plane + y * w + xx];
      }
    return at;
  });
  return { x, outShape: [n, c, oh, ow], source };
};

// ---------------------------------------------------------------------------------------
// concat (several data inputs, so not a single-input gather)
// ---------------------------------------------------------------------------------------

interface ConcatPlan {
  parts: RefTensor[];
  axis: number;
  outShape: number[];
  /** Product of dims before / after the axis: each part is [outer, len_i, inner]. */
  outer: number;
  inner: number;
}

function planConcat(inputs: Record<string, RefTensor>, attrs: RefAttrs): ConcatPlan {
  const op = 'concat';
  checkNames(op, 'attribute', attrs, ['axis']);
  const count = Object.keys(inputs).length;
  if (count === 0) throw new Error(`${op}: needs at least one input (x0, x1, ...), got none`);
  // Inputs are positional: exactly x0 .. x{count-1}, so a gap or a stray name is an error.
  const names = Array.from({ length: count }, (_, i) => `x${i}`);
  checkNames(op, 'input', inputs, names);
  const parts = names.map((name) => getInput(op, inputs, name));
  const first = parts[0].shape;
  const axis = normalizeAxis(intAttr(op, attrs, 'axis'), first.length, `${op}: attribute 'axis'`);
  parts.forEach((p, i) => {
    const ok = p.shape.length === first.length && p.shape.every((n, d) => d === axis || n === first[d]);
    if (!ok) {
      throw new Error(`${op}: x${i}.shape must match x0.shape ${fmtShape(first)} except at axis ${axis}, got ${fmtShape(p.shape)}`);
    }
  });
  const outShape = [...first];
  outShape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  return { parts, axis, outShape, outer: size(first.slice(0, axis)), inner: size(first.slice(axis + 1)) };
}

const concatOp: RefOp = {
  forward(inputs, attrs) {
    const { parts, axis, outShape, outer, inner } = planConcat(inputs, attrs);
    const out = new Float64Array(size(outShape));
    const rowOut = outShape[axis] * inner;
    let offset = 0; // start of the current part within an output row
    for (const p of parts) {
      const rowIn = p.shape[axis] * inner;
      for (let o = 0; o < outer; o++) out.set(p.data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + offset);
      offset += rowIn;
    }
    return { out: { shape: outShape, data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const { parts, axis, outShape, outer, inner } = planConcat(inputs, attrs);
    const g = getUpstream('concat', upstream, 'out', outShape).data;
    const rowOut = outShape[axis] * inner;
    const grads: Record<string, RefTensor> = {};
    let offset = 0;
    parts.forEach((p, i) => {
      const rowIn = p.shape[axis] * inner;
      const gp = new Float64Array(p.data.length);
      for (let o = 0; o < outer; o++) gp.set(g.subarray(o * rowOut + offset, o * rowOut + offset + rowIn), o * rowIn);
      grads[`x${i}`] = { shape: [...p.shape], data: gp };
      offset += rowIn;
    });
    return grads;
  },
};

export const movementReferenceOps: Record<string, RefOp> = {
  reshape: gatherOp('reshape', planReshape),
  permute: gatherOp('permute', planPermute),
  transpose: gatherOp('transpose', planTranspose),
  slice: gatherOp('slice', planSlice),
  concat: concatOp,
  pad: gatherOp('pad', planPad),
  upsample_nearest2x: gatherOp('upsample_nearest2x', planUpsample),
  max_pool2d: gatherOp('max_pool2d', planMaxPool),
};
