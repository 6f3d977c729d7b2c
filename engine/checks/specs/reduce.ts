/**
 * OpSpecs of the reductions sum, mean and max (short rows: one invocation per output;
 * long: a workgroup tree). Op ids, input and attribute names are those of
 * docs/op-cases.md; the conventions of the generators and tolerances are in
 * ../specHelpers.ts.
 */
import * as E from '../../index.ts';
import { c, distinct, need, ref } from '../specHelpers.ts';
import type { GradcheckCase, OpSpec, Tolerance } from '../spec.ts';

const axesAttr = (v: unknown): number[] | null => (v === undefined || v === null ? null : (v as number[]));

// ------------------------------------------------------------------ tolerances

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

// ------------------------------------------------------------------ reductions

function reduceSpec(id: 'sum' | 'mean' | 'max', cases: GradcheckCase[], tol: Tolerance): OpSpec {
  const fn = { sum: E.sum, mean: E.mean, max: E.max }[id];
  return {
    id,
    inputs: ['x'],
    attributes: ['axes', 'keepdim'],
    run: (inputs, attrs) => ({ out: fn(need(id, inputs, 'x'), axesAttr(attrs.axes), attrs.keepdim === true) }),
    reference: ref(id),
    kernels: ['reduce_rows', 'reduce'],
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

export const reduceSpecs: OpSpec[] = [
  reduceSpec('sum', reduceCases(), SUM),
  reduceSpec('mean', reduceCases(), SUM),
  // distinct values 1/64 apart: no tied maxima
  reduceSpec('max', reduceCases(distinct(1 / 64)), MAX),
];
