/**
 * index_select, a gather along one axis (on movement.ts's gather machinery: its vjp
 * scatter-adds duplicates), and index_add, its adjoint.
 */
import { buildSource, gatherOp, type Planner } from './movement.ts';
import type { RefOp } from './types.ts';
import { checkNames, fmtShape, getInput, intAttr, normalizeAxis, stridesOf } from './shape.ts';

const planIndexSelect: Planner = (inputs, attrs) => {
  const op = 'index_select';
  checkNames(op, 'input', inputs, ['x', 'index']);
  checkNames(op, 'attribute', attrs, ['axis']);
  const x = getInput(op, inputs, 'x');
  const index = getInput(op, inputs, 'index');
  const axis = normalizeAxis(intAttr(op, attrs, 'axis'), x.shape.length, `${op}: attribute 'axis'`);
  if (index.shape.length !== 1) throw new Error(`${op}: index must have rank 1 ([K]), got shape ${fmtShape(index.shape)}`);
  const dim = x.shape[axis];
  index.data.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= dim) {
      throw new Error(`${op}: index[${i}] must be an integer in [0, x.shape[${axis}] (${dim})), got ${v}`);
    }
  });
  const outShape = x.shape.map((n, d) => (d === axis ? index.data.length : n));
  const inStrides = stridesOf(x.shape);
  const source = buildSource(outShape, (o) => o.reduce((s, oi, d) => s + (d === axis ? index.data[oi] : oi) * inStrides[d], 0));
  return { x, outShape, source, nonDifferentiable: ['index'] };
};

const indexSelectOp = gatherOp('index_select', planIndexSelect);

/**
 * index_add (scatter-add into zeros of `size` rows along `axis`) is exactly the adjoint
 * of index_select: its forward is index_select's vjp, its vjp is index_select.
 */
const indexAddOp: RefOp = {
  forward(inputs, attrs) {
    const { values, index } = inputs;
    if (!values || !index) throw new Error('index_add: inputs values and index are required');
    const { axis, size } = attrs as { axis: number; size: number };
    if (!Number.isInteger(size) || size < 0) throw new Error(`index_add: size must be a non-negative integer, got ${size}`);
    const ax = axis < 0 ? axis + values.shape.length : axis;
    if (values.shape[ax] !== index.data.length)
      throw new Error(`index_add: values.shape[${ax}] must equal the index length (${index.data.length}), got ${values.shape[ax]}`);
    const shape = values.shape.map((d, i) => (i === ax ? size : d));
    const zeros = { shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) };
    return { out: indexSelectOp.vjp({ x: zeros, index }, { axis }, { out: values }).x! };
  },
  vjp(inputs, attrs, upstream) {
    const out = indexSelectOp.forward({ x: upstream.out, index: inputs.index }, { axis: attrs.axis });
    return { values: out.out, index: null };
  },
};

export const gatherReferenceOps: Record<string, RefOp> = {
  index_select: indexSelectOp,
  index_add: indexAddOp,
};
