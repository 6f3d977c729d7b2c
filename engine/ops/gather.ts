/**
 * index_select (kernels/index_select.wgsl) and its adjoint index_add, the scatter-add
 * (kernels/index_select_grad.wgsl: deterministic, no float atomics, no sort). Each is
 * the other's backward.
 */
import { record } from '../autograd.ts';
import { runtime } from '../runtime.ts';
import { normAxis } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { elementwiseGroups, expectDtype, expectRank } from './util.ts';

/**
 * out = x with `axis` replaced by the rows index[0], index[1], … (repeats allowed), like
 * torch.index_select. `index` is an int32 tensor of shape [K]; out has x's shape with
 * K at `axis`. The gradient of x adds up the gradients of repeated rows.
 *
 * The index values live on the GPU, so they are not checked here: an index outside
 * [0, x.shape[axis]) (negative ones included) makes its output slice NaN, and passes no
 * gradient to x.
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const op = 'indexSelect';
  expectDtype(op, 'x', x, 'float32');
  expectDtype(op, 'index', index, 'int32');
  expectRank(op, 'index', index, 1);
  if (x.rank === 0) throw new Error(`${op}: x must have rank ≥ 1, got a scalar (${x})`);
  const ax = normAxis(op, 'axis', axis, x.rank);
  const len = x.shape[ax];
  const k = index.size;
  const inner = x.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const out = empty(x.shape.map((d, i) => (i === ax ? k : d)));
  const uniforms = { len, k, inner };
  if (out.size > 0)
    runtime().dispatch({
      op,
      kernel: 'index_select',
      uniforms: { n: out.size, ...uniforms },
      buffers: { x: x.buffer, index: index.buffer, out: out.buffer },
      workgroups: elementwiseGroups(out.size),
    });
  return record('indexSelect', [x, index], out, (g) => [indexAdd(g, ax, index, len), null]);
}

/**
 * The adjoint of indexSelect (torch's index_add into zeros): out has `values`' shape
 * with `size` at `axis`, and out[..., d, ...] = Σ over k with index[k] == d of
 * values[..., k, ...]. Deterministic: each output element adds its k in ascending order.
 * Out-of-range indices contribute nothing.
 */
export function indexAdd(values: Tensor, axis: number, index: Tensor, size: number): Tensor {
  const op = 'indexAdd';
  expectDtype(op, 'values', values, 'float32');
  expectDtype(op, 'index', index, 'int32');
  expectRank(op, 'index', index, 1);
  if (values.rank === 0) throw new Error(`${op}: values must have rank ≥ 1, got a scalar (${values})`);
  const ax = normAxis(op, 'axis', axis, values.rank);
  if (values.shape[ax] !== index.size) throw new Error(`${op}: values.shape[${ax}] must equal the index length (${index.size}), got ${values.shape[ax]}`);
  if (!Number.isInteger(size) || size < 0) throw new Error(`${op}: size must be a non-negative integer, got ${size}`);
  const k = index.size;
  const inner = values.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const out = empty(values.shape.map((d, i) => (i === ax ? size : d)));
  if (out.size > 0) {
    // (first, end) of the k that name each row d; u32 words used as atomics by the kernel
    const span = empty([2 * size], 'uint32');
    const buffers = { g: values.buffer, index: index.buffer, span: span.buffer, dx: out.buffer };
    const uniforms = { n: out.size, len: size, k, inner };
    const stages: [number, number][] = [
      [0, size],
      [1, k],
      [2, out.size],
    ];
    for (const [stage, n] of stages)
      if (n > 0)
        runtime().dispatch({
          op,
          kernel: 'index_select_grad',
          constants: { STAGE: stage },
          uniforms,
          buffers,
          workgroups: elementwiseGroups(n),
        });
    span.dispose();
  }
  return record('indexAdd', [values, index], out, (g) => [indexSelect(g, ax, index), null]);
}
