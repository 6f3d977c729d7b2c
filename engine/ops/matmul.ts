/**
 * Batched matrix product (kernels/matmul.wgsl): a [..., M, K] @ b [..., K, N] → [..., M, N],
 * batch dims broadcast as NumPy does. The backward reuses the same kernel with its
 * transpose flags (dA = g·Bᵀ, dB = Aᵀ·g), then sums over the batch dims that were broadcast.
 */
import { record } from '../autograd.ts';
import { runtime } from '../runtime.ts';
import { broadcastStrides, fmt, MAX_RANK, sizeOf } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { sumTo } from './reduce.ts';
import { expectDtype } from './util.ts';

// Tile of one workgroup (kernels/matmul.wgsl: 16 rows × 8 lanes × 8 columns).
const TILE_M = 16;
const TILE_N = 64;
const MAX_GROUPS = 65535;

interface Gemm {
  /** stored operands; op(x) is [m, k] and op(y) is [k, n] in every batch */
  x: Tensor;
  y: Tensor;
  transX: boolean;
  transY: boolean;
  m: number;
  n: number;
  k: number;
  /** output batch dims and each operand's element stride per batch dim (0: broadcast) */
  batch: readonly number[];
  xStrides: readonly number[];
  yStrides: readonly number[];
}

/** One kernel launch per ≤ 65535 workgroups in each grid dimension. */
function gemm(p: Gemm): Tensor {
  const out = empty([...p.batch, p.m, p.n]);
  if (out.size === 0) return out;
  const batches = sizeOf(p.batch);
  const rt = runtime();
  for (let z0 = 0; z0 < batches; z0 += MAX_GROUPS)
    for (let m0 = 0; m0 < p.m; m0 += MAX_GROUPS * TILE_M)
      for (let n0 = 0; n0 < p.n; n0 += MAX_GROUPS * TILE_N)
        rt.dispatch({
          op: 'matmul',
          kernel: 'matmul',
          constants: { TRANS_A: p.transX, TRANS_B: p.transY },
          uniforms: {
            M: p.m,
            N: p.n,
            K: p.k,
            z0,
            m0,
            n0,
            batch_rank: p.batch.length,
            batch_shape: p.batch,
            a_strides: p.xStrides,
            b_strides: p.yStrides,
          },
          buffers: { a: p.x.buffer, b: p.y.buffer, out: out.buffer },
          flops: 2 * Math.min(MAX_GROUPS, batches - z0) * Math.min(MAX_GROUPS * TILE_M, p.m - m0) * Math.min(MAX_GROUPS * TILE_N, p.n - n0) * p.k,
          workgroups: [
            Math.min(MAX_GROUPS, Math.ceil((p.n - n0) / TILE_N)),
            Math.min(MAX_GROUPS, Math.ceil((p.m - m0) / TILE_M)),
            Math.min(MAX_GROUPS, batches - z0),
          ],
        });
  return out;
}

/** Batch dims and per-dim element strides of `x` read as `batch` (its last two dims are the matrix). */
function batchStrides(x: Tensor, batch: readonly number[]): number[] {
  const matrix = x.shape[x.rank - 2] * x.shape[x.rank - 1];
  return broadcastStrides(x.shape.slice(0, -2), batch).map((s) => s * matrix);
}

/**
 * op(x) @ op(y) over broadcast batches, without autograd. op transposes the last two dims
 * of the stored tensor when its flag is set. When y is a single matrix and x is read
 * as stored, x's batch folds into its rows: one tall product instead of many small ones.
 */
function product(x: Tensor, y: Tensor, transX: boolean, transY: boolean): Tensor {
  const [xr, xc] = x.shape.slice(-2);
  const [yr, yc] = y.shape.slice(-2);
  const [m, k] = transX ? [xc, xr] : [xr, xc];
  const n = transY ? yr : yc;
  const xBatch = x.shape.slice(0, -2);
  if (y.rank === 2 && !transX) {
    const folded = gemm({ x, y, transX, transY, m: sizeOf(xBatch) * m, n, k, batch: [], xStrides: [], yStrides: [] });
    if (xBatch.length === 0) return folded;
    const out = folded.view([...xBatch, m, n]);
    folded.dispose(); // the view keeps the buffer
    return out;
  }
  const batch = broadcastBatch(xBatch, y.shape.slice(0, -2), x, y);
  return gemm({ x, y, transX, transY, m, n, k, batch, xStrides: batchStrides(x, batch), yStrides: batchStrides(y, batch) });
}

function broadcastBatch(xb: readonly number[], yb: readonly number[], x: Tensor, y: Tensor): number[] {
  const rank = Math.max(xb.length, yb.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const dx = xb[xb.length - rank + i] ?? 1;
    const dy = yb[yb.length - rank + i] ?? 1;
    if (dx !== dy && dx !== 1 && dy !== 1)
      throw new Error(`matmul: batch dims of a ${fmt(x.shape)} and b ${fmt(y.shape)} cannot be broadcast (batch dim ${i}: ${dx} vs ${dy})`);
    out.push(dx === 1 ? dy : dx);
  }
  return out;
}

/**
 * Matrix product of a [..., M, K] and b [..., K, N] (both rank ≥ 2: no implicit vector
 * promotion) with NumPy batch broadcasting; float32.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  expectDtype('matmul', 'a', a, 'float32');
  expectDtype('matmul', 'b', b, 'float32');
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const)
    if (t.rank < 2)
      throw new Error(
        `matmul: ${name} must have rank ≥ 2 ([..., rows, cols]), got shape ${fmt(t.shape)} ` + `(1-D operands are not promoted: reshape to [1, n] or [n, 1])`,
      );
  const k = a.shape[a.rank - 1];
  const kb = b.shape[b.rank - 2];
  if (kb !== k) throw new Error(`matmul: b.shape[-2] must equal a.shape[-1] (${k}), got ${kb}`);
  const batch = broadcastBatch(a.shape.slice(0, -2), b.shape.slice(0, -2), a, b);
  if (batch.length + 2 > MAX_RANK) throw new Error(`matmul: the output has rank ${batch.length + 2}; at most ${MAX_RANK} dims are supported`);

  const out = product(a, b, false, false);
  return record('matmul', [a, b], out, (g, needs) => {
    // dA = g · Bᵀ per output batch, summed over the batch dims a was broadcast along
    const ga = needs[0] ? sumTo(product(g, b, false, true), a.shape) : null;
    let gb: Tensor | null = null;
    if (needs[1]) {
      if (b.rank === 2 && a.rank > 2) {
        // every batch of a met the same b: the batch sum is one product over the stacked rows
        const rows = sizeOf(a.shape.slice(0, -1));
        gb = gemm({ x: a, y: g, transX: true, transY: false, m: k, n: b.shape[1], k: rows, batch: [], xStrides: [], yStrides: [] });
      } else gb = sumTo(product(a, g, true, false), b.shape);
    }
    return [ga, gb];
  });
}
