/**
 * OpSpecs of the core ops: elementwise (unary, binary, clamp, where), reductions and
 * movement. Op ids, input and attribute names are those of test/opcases/README.md.
 *
 * Gradcheck inputs stay away from the points where an op is not differentiable (kinks,
 * ties, bounds, domain edges), so that central differences and the analytic gradient
 * agree; the parity files cover the tie conventions.
 *
 * Tolerances compare max|gpu − ref| with tol · max|ref| (ref in float64, inputs exactly
 * float32). Unit roundoff of float32 is u = 2^-24 ≈ 6e-8.
 */
import * as E from '../../index.ts';
import type { Rng } from '../../random.ts';
import { referenceOps } from '../../reference/index.ts';
import type { Tensor } from '../../tensor.ts';
import type { Attrs, GradcheckCase, OpSpec, Tolerance } from '../spec.ts';

// ------------------------------------------------------------------ value generators

type Gen = (rng: Rng, n: number) => Float64Array;

/** ±[lo, hi]: magnitudes uniform in [lo, hi], random sign (keeps away from 0). */
const awayFromZero =
  (lo: number, hi: number): Gen =>
  (rng, n) => {
    const mag = rng.uniform(n, lo, hi);
    const sign = rng.uniform(n);
    return mag.map((m, i) => (sign[i] < 0.5 ? -m : m));
  };

/** Multiples of `step` in [lo·step, hi·step) shifted by `offset`·step: two such grids with
 * offsets 0 and 0.5 never meet, so maximum/minimum/clamp inputs are never tied. */
const grid =
  (lo: number, hi: number, step: number, offset = 0): Gen =>
  (rng, n) =>
    rng.int(n, lo, hi).map((k) => (k + offset) * step);

/** n distinct values (a shuffled grid of spacing `step`, centred on 0): max has no ties. */
const distinct =
  (step: number): Gen =>
  (rng, n) => {
    const v = Float64Array.from({ length: n }, (_, i) => (i - Math.floor(n / 2)) * step);
    const r = rng.uniform(n);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r[i] * (i + 1));
      [v[i], v[j]] = [v[j], v[i]];
    }
    return v.map(Math.fround);
  };

/** 0/1 conditions. */
const bits: Gen = (rng, n) => rng.int(n, 0, 2);

// ------------------------------------------------------------------ run helpers

function need(op: string, inputs: Record<string, Tensor>, name: string): Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`${op}: input '${name}' is missing`);
  return t;
}

const nullableNumber = (v: unknown): number | null => (v === undefined || v === null ? null : (v as number));
const axesAttr = (v: unknown): number[] | null => (v === undefined || v === null ? null : (v as number[]));

function ref(id: string) {
  const op = referenceOps[id];
  if (!op) throw new Error(`core specs: no reference op '${id}'`);
  return op;
}

// ------------------------------------------------------------------ tolerances

const EXACT: Tolerance = {
  fwd: 0,
  bwd: 0,
  why: 'pure data movement or sign/selection of float32 values: forward and backward copy values, so the GPU must match exactly',
};
const ONE_ROUNDING_BCAST: Tolerance = {
  fwd: 1e-6,
  bwd: 1e-5,
  why:
    'forward: one correctly rounded (or ≤2.5 ulp, div) float32 op per element, ≤ 2.5u ≈ 1.5e-7 of max|ref|; ' +
    'backward: a few products per element, then broadcast axes summed over R ≤ 24 terms, ~sqrt(R)·u relative to max|ref| with cancellation: 1e-5',
};
const SELECT_BCAST: Tolerance = {
  fwd: 0,
  bwd: 1e-5,
  why:
    'forward selects one of the float32 inputs (exact); backward multiplies the upstream by 1 or 0 (exact), ' +
    'then sums broadcast axes over R ≤ 24 terms, ~sqrt(R)·u of max|ref|: 1e-5',
};
const TRANSCENDENTAL: Tolerance = {
  fwd: 1e-5,
  bwd: 1e-5,
  why:
    'WGSL exp/log/sqrt/pow are accurate to a few ulp (exp: 3+2|x| ulp, log: 3 ulp or 2^-21 absolute near 1, ' +
    'sqrt 2.5 ulp); forward and backward chain 2-3 of them: ≤ ~30u ≈ 2e-6 of max|ref|, so 1e-5',
};
const POW: Tolerance = {
  fwd: 2e-5,
  bwd: 2e-5,
  why:
    'pow(a, b) is exp2(b·log2 a) in WGSL: its error grows with |b·log2 a| (≤ ~4 here, ~(3+2·4) ulp), and d/db multiplies ' +
    'by ln a; plus broadcast sums of ≤ 24 terms: 2e-5',
};
const SUM: Tolerance = {
  fwd: 1e-5,
  bwd: 1e-6,
  why:
    'forward: a float32 tree sum over R ≤ 4096 terms has error ~sqrt(R)·u·max|x| (≤ 64u ≈ 4e-6 for R = 4096) relative to ' +
    'max|ref|; backward broadcasts g (times 1/R for mean: one rounding): 1e-6',
};
const MAX: Tolerance = {
  fwd: 0,
  bwd: 1e-6,
  why: 'forward selects the largest float32 value (exact); backward is g/count with count = 1 without ties (one rounding at most)',
};
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

// ------------------------------------------------------------------ case helpers

const c = (name: string, inputs: GradcheckCase['inputs'], attrs: Attrs = {}): GradcheckCase => ({ name, attrs, inputs });

// ------------------------------------------------------------------ unary

function unarySpec(id: string, fn: (x: Tensor) => Tensor, cases: GradcheckCase[], tol: Tolerance): OpSpec {
  return {
    id,
    inputs: ['x'],
    attributes: [],
    run: (inputs) => ({ out: fn(need(id, inputs, 'x')) }),
    reference: ref(id),
    cases,
    tol,
  };
}

const unarySpecs: OpSpec[] = [
  unarySpec('neg', E.neg, [c('normal_3x4', { x: { shape: [3, 4] } }), c('scalar', { x: { shape: [] } })], EXACT),
  unarySpec('exp', E.exp, [c('normal_2x3x4', { x: { shape: [2, 3, 4] } }), c('uniform_m4_4_257', { x: { shape: [257], values: [-4, 4] } })], TRANSCENDENTAL),
  unarySpec(
    'log',
    E.log,
    [c('half_to_two_3x5', { x: { shape: [3, 5], values: [0.5, 2] } }), c('wide_0.05_to_50_257', { x: { shape: [257], values: [0.05, 50] } })],
    TRANSCENDENTAL,
  ),
  unarySpec(
    'sqrt',
    E.sqrt,
    [c('half_to_two_3x5', { x: { shape: [3, 5], values: [0.5, 2] } }), c('wide_0.05_to_50_257', { x: { shape: [257], values: [0.05, 50] } })],
    TRANSCENDENTAL,
  ),
  unarySpec(
    'abs',
    E.abs,
    [
      c('away_from_0_4x5', { x: { shape: [4, 5], values: awayFromZero(0.1, 2) } }),
      c('away_from_0_2x3x7', { x: { shape: [2, 3, 7], values: awayFromZero(0.01, 5) } }),
    ],
    EXACT,
  ),
  unarySpec('sigmoid', E.sigmoid, [c('normal_3x4', { x: { shape: [3, 4] } }), c('wide_m8_8_2x33', { x: { shape: [2, 33], values: [-8, 8] } })], {
    fwd: 1e-5,
    bwd: 1e-5,
    why:
      'σ = 1/(1+exp(-x)): exp (3+2|x| ulp) then a division; σ(1−σ) loses relative precision where σ ≈ 1, but its absolute ' +
      'error stays ~u·|g| against max|ref| ≈ 0.25·max|g|: 1e-5',
  }),
  unarySpec(
    'relu',
    E.relu,
    [
      c('away_from_0_4x5', { x: { shape: [4, 5], values: awayFromZero(0.1, 2) } }),
      c('away_from_0_1000', { x: { shape: [1000], values: awayFromZero(0.01, 3) } }),
    ],
    EXACT,
  ),
];

// ------------------------------------------------------------------ clamp, where

const clampSpec: OpSpec = {
  id: 'clamp',
  inputs: ['x'],
  attributes: ['min', 'max'],
  run: (inputs, attrs) => ({ out: E.clamp(need('clamp', inputs, 'x'), nullableNumber(attrs.min), nullableNumber(attrs.max)) }),
  reference: ref('clamp'),
  // x on odd multiples of 1/8, bounds on multiples of 1/4: never at a bound
  cases: [
    c('both_4x5', { x: { shape: [4, 5], values: grid(-12, 12, 0.125, 0.5) } }, { min: -0.5, max: 0.75 }),
    c('min_only_3x7', { x: { shape: [3, 7], values: grid(-12, 12, 0.125, 0.5) } }, { min: 0.25, max: null }),
    c('max_only_3x7', { x: { shape: [3, 7], values: grid(-12, 12, 0.125, 0.5) } }, { min: null, max: -0.25 }),
  ],
  tol: { ...EXACT, why: 'forward is max/min against constants (exact); backward passes or zeroes the upstream (exact)' },
};

const whereSpec: OpSpec = {
  id: 'where',
  inputs: ['cond', 'a', 'b'],
  attributes: [],
  run: (inputs) => ({ out: E.where(need('where', inputs, 'cond'), need('where', inputs, 'a'), need('where', inputs, 'b')) }),
  reference: ref('where'),
  noGrad: ['cond'],
  cases: [
    c('3x4_3x4_3x4', { cond: { shape: [3, 4], values: bits }, a: { shape: [3, 4] }, b: { shape: [3, 4] } }),
    c('bcast_3x1_3x4_4', { cond: { shape: [3, 1], values: bits }, a: { shape: [3, 4] }, b: { shape: [4] } }),
    c('bcast_2x3x4_scalar_3x4', { cond: { shape: [2, 3, 4], values: bits }, a: { shape: [] }, b: { shape: [3, 4] } }),
  ],
  tol: SELECT_BCAST,
};

// ------------------------------------------------------------------ binary

type BinaryGen = Partial<Record<'a' | 'b', GradcheckCase['inputs'][string]['values']>>;

/** The broadcasting patterns every binary op is checked on. */
function binaryCases(gen: BinaryGen = {}): GradcheckCase[] {
  const io = (a: number[], b: number[]) => ({ a: { shape: a, values: gen.a }, b: { shape: b, values: gen.b } });
  return [
    c('3x4_3x4', io([3, 4], [3, 4])),
    c('bcast_2x3x4_4', io([2, 3, 4], [4])),
    c('bcast_2x1x4_3x1', io([2, 1, 4], [3, 1])),
    c('bcast_scalar_2x3', io([], [2, 3])),
  ];
}

function binarySpec(id: string, fn: (a: Tensor, b: Tensor) => Tensor, cases: GradcheckCase[], tol: Tolerance): OpSpec {
  return {
    id,
    inputs: ['a', 'b'],
    attributes: [],
    run: (inputs) => ({ out: fn(need(id, inputs, 'a'), need(id, inputs, 'b')) }),
    reference: ref(id),
    cases,
    tol,
  };
}

// maximum/minimum: a on odd multiples of 1/8, b on multiples of 1/4 — never tied
const apart: BinaryGen = { a: grid(-12, 12, 0.125, 0.5), b: grid(-6, 6, 0.25) };

const binarySpecs: OpSpec[] = [
  binarySpec('add', E.add, binaryCases(), ONE_ROUNDING_BCAST),
  binarySpec('sub', E.sub, binaryCases(), ONE_ROUNDING_BCAST),
  binarySpec('mul', E.mul, binaryCases(), ONE_ROUNDING_BCAST),
  // divisor kept in ±[0.5, 2]
  binarySpec('div', E.div, binaryCases({ b: awayFromZero(0.5, 2) }), ONE_ROUNDING_BCAST),
  binarySpec('maximum', E.maximum, binaryCases(apart), SELECT_BCAST),
  binarySpec('minimum', E.minimum, binaryCases(apart), SELECT_BCAST),
  binarySpec(
    'pow',
    E.pow,
    [
      c('positive_base_3x4', { a: { shape: [3, 4], values: [0.5, 2] }, b: { shape: [3, 4], values: [-2, 2] } }),
      c('positive_base_2x3x4_scalar_exp', { a: { shape: [2, 3, 4], values: [0.5, 2] }, b: { shape: [], values: [-2, 2] } }),
      c('positive_base_bcast_2x1x4_3x1', { a: { shape: [2, 1, 4], values: [0.5, 2] }, b: { shape: [3, 1], values: [-2, 2] } }),
      // a^b is not differentiable in b for a < 0: b is an integer constant here
      c('negative_base_integer_exp_3x4', {
        a: { shape: [3, 4], values: awayFromZero(0.5, 2) },
        b: { shape: [3, 4], values: (rng, n) => rng.int(n, -3, 4), grad: false },
      }),
    ],
    POW,
  ),
];

// ------------------------------------------------------------------ reductions

function reduceSpec(id: 'sum' | 'mean' | 'max', cases: GradcheckCase[], tol: Tolerance): OpSpec {
  const fn = { sum: E.sum, mean: E.mean, max: E.max }[id];
  return {
    id,
    inputs: ['x'],
    attributes: ['axes', 'keepdim'],
    run: (inputs, attrs) => ({ out: fn(need(id, inputs, 'x'), axesAttr(attrs.axes), attrs.keepdim === true) }),
    reference: ref(id),
    cases,
    tol,
  };
}

function reduceCases(values?: GradcheckCase['inputs'][string]['values']): GradcheckCase[] {
  return [
    c('axis1_3x4x5', { x: { shape: [3, 4, 5], values } }, { axes: [1], keepdim: false }),
    c('neg_axes_keepdim_2x3x4x5', { x: { shape: [2, 3, 4, 5], values } }, { axes: [-3, -1], keepdim: true }),
    c('all_3x4x5', { x: { shape: [3, 4, 5], values } }, { axes: null, keepdim: false }),
    // over 64 terms per output: the workgroup-tree kernel
    c('long_axis_2x2000', { x: { shape: [2, 2000], values } }, { axes: [-1], keepdim: false }),
  ];
}

const reduceSpecs: OpSpec[] = [
  reduceSpec('sum', reduceCases(), SUM),
  reduceSpec('mean', reduceCases(), SUM),
  // distinct values 1/64 apart: no tied maxima
  reduceSpec('max', reduceCases(distinct(1 / 64)), MAX),
];

// ------------------------------------------------------------------ movement

function movementSpec(id: string, attributes: string[], fn: (x: Tensor, attrs: Attrs) => Tensor, cases: GradcheckCase[], tol: Tolerance = EXACT): OpSpec {
  return {
    id,
    inputs: ['x'],
    attributes,
    run: (inputs, attrs) => ({ out: fn(need(id, inputs, 'x'), attrs) }),
    reference: ref(id),
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
  cases: [
    c('3_inputs_axis1', { x0: { shape: [2, 3, 4] }, x1: { shape: [2, 1, 4] }, x2: { shape: [2, 5, 4] } }, { axis: 1 }),
    c('2_inputs_neg_axis', { x0: { shape: [2, 3, 2] }, x1: { shape: [2, 3, 5] } }, { axis: -1 }),
    c('3_inputs_axis0', { x0: { shape: [1, 4] }, x1: { shape: [3, 4] }, x2: { shape: [2, 4] } }, { axis: 0 }),
  ],
  tol: EXACT,
};

const movementSpecs: OpSpec[] = [
  movementSpec('reshape', ['shape'], (x, a) => E.reshape(x, a.shape as number[]), [
    c('2x3x4_to_4xm1', { x: { shape: [2, 3, 4] } }, { shape: [4, -1] }),
    c('24_to_2xm1x3', { x: { shape: [24] } }, { shape: [2, -1, 3] }),
    c('2x3x4_to_6x1x4', { x: { shape: [2, 3, 4] } }, { shape: [6, 1, 4] }),
  ]),
  movementSpec('permute', ['dims'], (x, a) => E.permute(x, a.dims as number[]), [
    c('2x3x4x5_3102', { x: { shape: [2, 3, 4, 5] } }, { dims: [3, 1, 0, 2] }),
    c('2x3x4_neg_dims', { x: { shape: [2, 3, 4] } }, { dims: [-1, 0, -2] }),
    c('3x4_10', { x: { shape: [3, 4] } }, { dims: [1, 0] }),
  ]),
  movementSpec('transpose', ['dim0', 'dim1'], (x, a) => E.transpose(x, a.dim0 as number, a.dim1 as number), [
    c('2x3x4_0_2', { x: { shape: [2, 3, 4] } }, { dim0: 0, dim1: 2 }),
    c('2x3x4x5_neg_1_m1', { x: { shape: [2, 3, 4, 5] } }, { dim0: 1, dim1: -1 }),
  ]),
  movementSpec('slice', ['starts', 'ends'], (x, a) => E.slice(x, a.starts as number[], a.ends as number[]), [
    c('3x5x6', { x: { shape: [3, 5, 6] } }, { starts: [1, 0, 2], ends: [3, 4, 5] }),
    c('4x7_tail', { x: { shape: [4, 7] } }, { starts: [0, 3], ends: [4, 7] }),
    c('2x3x4x5_full_and_one', { x: { shape: [2, 3, 4, 5] } }, { starts: [0, 1, 0, 4], ends: [2, 2, 4, 5] }),
  ]),
  concatSpec,
  movementSpec('pad', ['pads'], (x, a) => E.pad(x, a.pads as [number, number][]), [
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
    (x) => E.upsampleNearest2x(x),
    [c('1x1x2x3', { x: { shape: [1, 1, 2, 3] } }), c('2x3x4x5', { x: { shape: [2, 3, 4, 5] } })],
    UPSAMPLE,
  ),
  movementSpec(
    'max_pool2d',
    ['kernel_size', 'stride', 'padding'],
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

export const coreSpecs: OpSpec[] = [...binarySpecs, ...unarySpecs, clampSpec, whereSpec, ...reduceSpecs, ...movementSpecs];
