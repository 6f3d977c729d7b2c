/**
 * Batched matrix product a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast
 * (NumPy/PyTorch matmul restricted to rank ≥ 2 operands: no implicit vector promotion).
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { broadcastShapes, broadcastSourceIndex, checkNames, fmtShape, getInput, getUpstream } from './shape.ts';

interface MatmulPlan {
  a: RefTensor;
  b: RefTensor;
  m: number;
  k: number;
  n: number;
  outShape: number[];
  /** For each output batch (flat), the batch of a and of b it reads. */
  batchA: Int32Array;
  batchB: Int32Array;
}

function planMatmul(inputs: Record<string, RefTensor>, attrs: RefAttrs): MatmulPlan {
  const op = 'matmul';
  checkNames(op, 'input', inputs, ['a', 'b']);
  checkNames(op, 'attribute', attrs, []);
  const a = getInput(op, inputs, 'a');
  const b = getInput(op, inputs, 'b');
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (t.shape.length < 2) {
      throw new Error(`${op}: ${name} must have rank ≥ 2 ([..., rows, cols]), got shape ${fmtShape(t.shape)}`);
    }
  }
  const [m, k] = a.shape.slice(-2);
  const [kb, n] = b.shape.slice(-2);
  if (kb !== k) throw new Error(`${op}: b.shape[-2] must equal a.shape[-1] (${k}), got ${kb}`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch], `${op} (batch dims of a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)})`);
  return {
    a,
    b,
    m,
    k,
    n,
    outShape: [...batch, m, n],
    batchA: broadcastSourceIndex(aBatch, batch),
    batchB: broadcastSourceIndex(bBatch, batch),
  };
}

const matmulOp: RefOp = {
  forward(inputs, attrs) {
    const { a, b, m, k, n, outShape, batchA, batchB } = planMatmul(inputs, attrs);
    const out = new Float64Array(batchA.length * m * n);
    for (let bi = 0; bi < batchA.length; bi++) {
      const ao = batchA[bi] * m * k;
      const bo = batchB[bi] * k * n;
      const oo = bi * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a.data[ao + i * k + p] * b.data[bo + p * n + j];
          out[oo + i * n + j] = s;
        }
      }
    }
    return { out: { shape: outShape, data: out } };
  },
  vjp(inputs, attrs, upstream) {
    const { a, b, m, k, n, outShape, batchA, batchB } = planMatmul(inputs, attrs);
    const g = getUpstream('matmul', upstream, 'out', outShape).data;
    // da = g @ b^T and db = a^T @ g per output batch, accumulated into the (possibly
    // broadcast) source batch, which sums over the broadcast batch dims.
    const ga = new Float64Array(a.data.length);
    const gb = new Float64Array(b.data.length);
    for (let bi = 0; bi < batchA.length; bi++) {
      const ao = batchA[bi] * m * k;
      const bo = batchB[bi] * k * n;
      const go = bi * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const gij = g[go + i * n + j];
          for (let p = 0; p < k; p++) {
            ga[ao + i * k + p] += gij * b.data[bo + p * n + j];
            gb[bo + p * n + j] += a.data[ao + i * k + p] * gij;
          }
        }
      }
    }
    return { a: { shape: [...a.shape], data: ga }, b: { shape: [...b.shape], data: gb } };
  },
};

export const matmulReferenceOps: Record<string, RefOp> = { matmul: matmulOp };
