/**
 * OpSpecs of the elementwise ops: unary (neg … relu), clamp, where and the broadcasting
 * binary ops. Op ids, input and attribute names are those of docs/op-cases.md; the
 * conventions of the generators and tolerances are in ../specHelpers.ts.
 */
import * as E from '../../index.ts';
import type { Tensor } from '../../tensor.ts';
import { awayFromZero, bits, c, EXACT, grid, need, ref } from '../specHelpers.ts';
import type { GradcheckCase, OpSpec, Tolerance } from '../spec.ts';

const nullableNumber = (v: unknown): number | null => (v === undefined || v === null ? null : (v as number));

// ------------------------------------------------------------------ tolerances

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

// ------------------------------------------------------------------ unary

function unarySpec(id: string, fn: (x: Tensor) => Tensor, cases: GradcheckCase[], tol: Tolerance): OpSpec {
  return {
    id,
    inputs: ['x'],
    attributes: [],
    run: (inputs) => ({ out: fn(need(id, inputs, 'x')) }),
    reference: ref(id),
    kernels: ['unary'],
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
  kernels: ['unary'],
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
  kernels: ['where'],
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
    kernels: ['binary'],
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

export const elementwiseSpecs: OpSpec[] = [...binarySpecs, ...unarySpecs, clampSpec, whereSpec];
