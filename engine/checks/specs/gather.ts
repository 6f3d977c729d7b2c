/**
 * OpSpecs of index_select and index_add (engine/ops/gather.ts). Op id, inputs (x, index) and the `axis`
 * attribute are those of test/opcases/README.md; index is int64 in parity files and an
 * int32 tensor here, never differentiated.
 */
import * as E from '../../index.ts';
import type { Rng } from '../../random.ts';
import { referenceOps } from '../../reference/index.ts';
import type { Tensor } from '../../tensor.ts';
import type { GradcheckCase, InputGen, OpSpec } from '../spec.ts';

function input(inputs: Record<string, Tensor>, name: string): Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`index_select: input '${name}' is missing`);
  return t;
}

/** A fixed index (repeats chosen by hand). */
const fixed = (values: number[]): InputGen => ({ shape: [values.length], dtype: 'int', values: () => Float64Array.from(values) });
/** K random indices in [0, len): repeats happen. */
const random = (k: number, len: number): InputGen => ({ shape: [k], dtype: 'int', values: (rng: Rng, n: number) => rng.int(n, 0, len) });

const c = (name: string, xShape: number[], axis: number, index: InputGen): GradcheckCase => ({
  name,
  attrs: { axis },
  inputs: { x: { shape: xShape }, index },
});

export const gatherSpecs: OpSpec[] = [
  {
    id: 'index_select',
    inputs: ['x', 'index'],
    attributes: ['axis'],
    run: (inputs, attrs) => {
      const axis = attrs.axis;
      if (typeof axis !== 'number' || !Number.isInteger(axis))
        throw new Error(`index_select: attribute 'axis' must be an integer, got ${JSON.stringify(axis)}`);
      return { out: E.indexSelect(input(inputs, 'x'), axis, input(inputs, 'index')) };
    },
    reference: referenceOps.index_select,
    kernels: ['index_select', 'index_select_grad'],
    cases: [
      c('axis0_repeated', [5, 3], 0, fixed([2, 0, 2, 2, 1, 4])),
      c('middle_repeated', [2, 4, 3], 1, fixed([3, 3, 0, 1, 3])),
      c('last_random', [2, 3, 6], -1, random(8, 6)),
      // an index repeated at both ends: the widest (first, end) span of the backward
      c('rows_spread_repeats', [12, 4], 0, fixed([0, 5, 11, 3, 7, 5, 2, 0])),
      c('rows_random', [40, 3], 0, random(25, 40)),
    ],
    tol: {
      fwd: 0,
      bwd: 1e-6,
      why:
        'forward copies float32 values (exact); backward adds the upstream of each repeated index in float32: r − 1 ' +
        'roundings for r repeats (r ≤ 4 here), each ≤ u of max|ref|: ≤ 4u ≈ 2.4e-7, so 1e-6',
    },
    noGrad: ['index'],
  },
  {
    id: 'index_add',
    inputs: ['values', 'index'],
    attributes: ['axis', 'size'],
    run: (inputs, attrs) => {
      const { axis, size } = attrs;
      if (typeof axis !== 'number' || typeof size !== 'number')
        throw new Error(`index_add: attributes 'axis' and 'size' must be integers, got ${JSON.stringify(attrs)}`);
      return { out: E.indexAdd(input(inputs, 'values'), axis, input(inputs, 'index'), size) };
    },
    reference: referenceOps.index_add,
    kernels: ['index_select_grad'],
    cases: [
      { name: 'rows_repeated', attrs: { axis: 0, size: 5 }, inputs: { values: { shape: [6, 3] }, index: fixed([2, 0, 2, 2, 1, 4]) } },
      { name: 'middle_random', attrs: { axis: 1, size: 7 }, inputs: { values: { shape: [2, 9, 3] }, index: random(9, 7) } },
      // detection's use: IoU quality scores placed at the positive priors of a batch
      {
        name: 'scatter_positives',
        attrs: { axis: 0, size: 50 },
        inputs: { values: { shape: [12] }, index: fixed([3, 7, 8, 15, 16, 22, 30, 31, 32, 40, 41, 49]) },
      },
    ],
    tol: {
      fwd: 1e-6,
      bwd: 0,
      why: 'forward adds r repeated rows (r ≤ 4: ≤ 4u ≈ 2.4e-7 of max|ref|); backward is index_select, an exact copy',
    },
    noGrad: ['index'],
  },
];
