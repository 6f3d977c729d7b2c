/**
 * OpSpecs of the movement ops: reshape, permute, transpose, slice, concat, pad,
 * upsample_nearest2x and max_pool2d. Op ids, input and attribute names are those of
 * docs/op-cases.md; the conventions of the generators and tolerances are in
 * ../specHelpers.ts.
 */
import * as E from '../../index.ts';
import type { Tensor } from '../../tensor.ts';
import { c, EXACT, need, ref } from '../specHelpers.ts';
import type { Attrs, GradcheckCase, OpSpec, Tolerance } from '../spec.ts';

// ------------------------------------------------------------------ tolerances

const MAX_POOL: Tolerance = {
  fwd: 0,
  bwd: 1e-6,
  why: 'forward selects one float32 input per window (exact); backward sums the gradients of the windows whose maximum is the same input (a 3×3 stride-2 window overlaps ≤ 4 others: a few roundings, ≤ ~4u)',
};
const UPSAMPLE: Tolerance = {
  fwd: 0,
  bwd: 1e-6,
  why: 'forward copies (exact); backward sums the 4 copies of each pixel: 3 roundings of values ≤ max|ref|, ≤ ~4u',
};

// ------------------------------------------------------------------ movement

function movementSpec(
  id: string,
  attributes: string[],
  kernels: string[],
  fn: (x: Tensor, attrs: Attrs) => Tensor,
  cases: GradcheckCase[],
  tol: Tolerance = EXACT,
): OpSpec {
  return {
    id,
    inputs: ['x'],
    attributes,
    run: (inputs, attrs) => ({ out: fn(need(id, inputs, 'x'), attrs) }),
    reference: ref(id),
    kernels,
    cases,
    tol,
  };
}

/** concat takes x0, x1, ... in order; this many names are accepted. */
const CONCAT_MAX_INPUTS = 16;

const concatSpec: OpSpec = {
  id: 'concat',
  inputs: Array.from({ length: CONCAT_MAX_INPUTS }, (_, i) => `x${i}`),
  attributes: ['axis'],
  run: (inputs, attrs) => {
    const n = Object.keys(inputs).length;
    const xs = Array.from({ length: n }, (_, i) => {
      const t = inputs[`x${i}`];
      if (!t) throw new Error(`concat: inputs must be x0..x${n - 1} in order, '${`x${i}`}' is missing`);
      return t;
    });
    return { out: E.concat(xs, attrs.axis as number) };
  },
  reference: ref('concat'),
  kernels: ['copy_strided'],
  cases: [
    c('3_inputs_axis1', { x0: { shape: [2, 3, 4] }, x1: { shape: [2, 1, 4] }, x2: { shape: [2, 5, 4] } }, { axis: 1 }),
    c('2_inputs_neg_axis', { x0: { shape: [2, 3, 2] }, x1: { shape: [2, 3, 5] } }, { axis: -1 }),
    c('3_inputs_axis0', { x0: { shape: [1, 4] }, x1: { shape: [3, 4] }, x2: { shape: [2, 4] } }, { axis: 0 }),
  ],
  tol: EXACT,
};

export const movementSpecs: OpSpec[] = [
  movementSpec('reshape', ['shape'], [], (x, a) => E.reshape(x, a.shape as number[]), [
    c('2x3x4_to_4xm1', { x: { shape: [2, 3, 4] } }, { shape: [4, -1] }),
    c('24_to_2xm1x3', { x: { shape: [24] } }, { shape: [2, -1, 3] }),
    c('2x3x4_to_6x1x4', { x: { shape: [2, 3, 4] } }, { shape: [6, 1, 4] }),
  ]),
  movementSpec('permute', ['dims'], ['copy_strided'], (x, a) => E.permute(x, a.dims as number[]), [
    c('2x3x4x5_3102', { x: { shape: [2, 3, 4, 5] } }, { dims: [3, 1, 0, 2] }),
    c('2x3x4_neg_dims', { x: { shape: [2, 3, 4] } }, { dims: [-1, 0, -2] }),
    c('3x4_10', { x: { shape: [3, 4] } }, { dims: [1, 0] }),
  ]),
  movementSpec('transpose', ['dim0', 'dim1'], ['copy_strided'], (x, a) => E.transpose(x, a.dim0 as number, a.dim1 as number), [
    c('2x3x4_0_2', { x: { shape: [2, 3, 4] } }, { dim0: 0, dim1: 2 }),
    c('2x3x4x5_neg_1_m1', { x: { shape: [2, 3, 4, 5] } }, { dim0: 1, dim1: -1 }),
  ]),
  movementSpec('slice', ['starts', 'ends'], ['copy_strided'], (x, a) => E.slice(x, a.starts as number[], a.ends as number[]), [
    c('3x5x6', { x: { shape: [3, 5, 6] } }, { starts: [1, 0, 2], ends: [3, 4, 5] }),
    c('4x7_tail', { x: { shape: [4, 7] } }, { starts: [0, 3], ends: [4, 7] }),
    c('2x3x4x5_full_and_one', { x: { shape: [2, 3, 4, 5] } }, { starts: [0, 1, 0, 4], ends: [2, 2, 4, 5] }),
  ]),
  concatSpec,
  movementSpec('pad', ['pads'], ['copy_strided'], (x, a) => E.pad(x, a.pads as [number, number][]), [
    c(
      '2x3x4',
      { x: { shape: [2, 3, 4] } },
      {
        pads: [
          [0, 0],
          [1, 2],
          [2, 1],
        ],
      },
    ),
    c(
      'nchw_1x2x3x5',
      { x: { shape: [1, 2, 3, 5] } },
      {
        pads: [
          [0, 0],
          [0, 0],
          [1, 1],
          [1, 1],
        ],
      },
    ),
    c(
      'all_dims_3x2',
      { x: { shape: [3, 2] } },
      {
        pads: [
          [1, 0],
          [2, 3],
        ],
      },
    ),
  ]),
  movementSpec(
    'upsample_nearest2x',
    [],
    ['upsample_nearest2x'],
    (x) => E.upsampleNearest2x(x),
    [c('1x1x2x3', { x: { shape: [1, 1, 2, 3] } }), c('2x3x4x5', { x: { shape: [2, 3, 4, 5] } })],
    UPSAMPLE,
  ),
  movementSpec(
    'max_pool2d',
    ['kernel_size', 'stride', 'padding'],
    ['max_pool2d'],
    (x, a) =>
      E.maxPool2d(x, {
        kernelSize: a.kernel_size as [number, number],
        stride: a.stride as [number, number] | undefined,
        padding: a.padding as [number, number] | undefined,
      }),
    [
      c('1x1x4x4_k2', { x: { shape: [1, 1, 4, 4] } }, { kernel_size: [2, 2] }),
      // the ResNet stem's pool: 3×3, stride 2, padding 1 (overlapping windows, odd size)
      c('2x3x7x9_k3s2p1', { x: { shape: [2, 3, 7, 9] } }, { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] }),
      c('1x2x5x6_k3s1p1', { x: { shape: [1, 2, 5, 6] } }, { kernel_size: [3, 3], stride: [1, 1], padding: [1, 1] }),
      c('1x2x6x5_k2x3s1x2', { x: { shape: [1, 2, 6, 5] } }, { kernel_size: [2, 3], stride: [1, 2], padding: [1, 1] }),
    ],
    MAX_POOL,
  ),
];
