/**
 * Softmax and log-softmax along one axis (kernels/softmax*.wgsl), each with a fused
 * backward kernel (one dispatch per direction).
 *
 * The tensor is viewed as (outer, len, inner) with the axis in the middle. Short axes
 * (the 17 bins of a distribution head, 80 classes) run one invocation per row, so
 * hundreds of thousands of rows cost no barriers; long axes run a workgroup tree per row.
 * Both subtract the row's max before exp, and log-softmax is x - max - log Σ exp(x - max),
 * so logits of any finite size give finite results.
 */
import { record } from '../autograd.ts';
import { grid, runtime } from '../runtime.ts';
import { normAxis } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { elementwiseGroups, expectDtype } from './util.ts';

/**
 * Rows at most this long run one invocation each (softmax_rows.wgsl); longer ones a
 * 256-wide workgroup tree (softmax.wgsl). A tree leaves most of its invocations idle on a
 * short row and pays ~20 barriers per row: on lavapipe, per-row was 100× faster at
 * 400 000 × 17, 70× at 50 000 × 80 and still 5× at 2048 × 1024; the tree only pays off
 * for a few long rows (8 × 4096), which is where it is used.
 */
export const SOFTMAX_ROW_MAX_LEN = 1024;

interface RowPlan {
  rows: number;
  len: number;
  inner: number;
}

function planRows(op: string, x: Tensor, axis: number): RowPlan {
  expectDtype(op, 'x', x, 'float32');
  // a scalar is one row of length 1 (normAxis accepts axis 0 or -1 for it)
  const shape = x.rank === 0 ? [1] : x.shape;
  const ax = normAxis(op, 'axis', axis, shape.length);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  return { rows: outer * inner, len: shape[ax], inner };
}

/** A direction's two kernels: one invocation per row, and one workgroup per row. */
interface RowKernels {
  perRow: string;
  perWorkgroup: string;
}

const FORWARD: RowKernels = { perRow: 'softmax_rows', perWorkgroup: 'softmax' };
const BACKWARD: RowKernels = { perRow: 'softmax_grad_rows', perWorkgroup: 'softmax_grad' };

function dispatchRows(op: string, kernels: RowKernels, p: RowPlan, log: boolean, buffers: Record<string, GPUBuffer>): void {
  if (p.rows === 0 || p.len === 0) return;
  const perRow = p.len <= SOFTMAX_ROW_MAX_LEN;
  runtime().dispatch({
    op,
    kernel: perRow ? kernels.perRow : kernels.perWorkgroup,
    constants: { LOG: log },
    uniforms: { rows: p.rows, len: p.len, inner: p.inner },
    buffers,
    workgroups: perRow ? elementwiseGroups(p.rows) : grid(p.rows),
  });
}

function forward(op: string, x: Tensor, axis: number, log: boolean): Tensor {
  const p = planRows(op, x, axis);
  const out = empty(x.shape);
  dispatchRows(op, FORWARD, p, log, { x: x.buffer, out: out.buffer });
  // g is the gradient of out; the kernel needs only g and out (y), not x
  return record(op, [x], out, (g) => {
    const dx = empty(x.shape);
    dispatchRows(`${op} backward`, BACKWARD, p, log, { g: g.buffer, y: out.buffer, dx: dx.buffer });
    return [dx];
  });
}

/** exp(x - max) / Σ exp(x - max) along `axis` (negative counts from the end). */
export function softmax(x: Tensor, axis: number): Tensor {
  return forward('softmax', x, axis, false);
}

/** (x - max) - log Σ exp(x - max) along `axis` (negative counts from the end). */
export function logSoftmax(x: Tensor, axis: number): Tensor {
  return forward('logSoftmax', x, axis, true);
}
