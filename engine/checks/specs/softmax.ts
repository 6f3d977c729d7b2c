/**
 * OpSpecs of softmax and log_softmax along one axis (engine/ops/softmax.ts). Op ids and
 * the `axis` attribute are those of test/opcases/README.md.
 *
 * Cases cover both kernels: rows of length ≤ SOFTMAX_ROW_MAX_LEN (1024) run one
 * invocation per row, longer ones a workgroup tree per row. Tolerances compare
 * max|gpu − ref| with tol · max|ref|; float32 unit roundoff u = 2^-24 ≈ 6e-8.
 */
import * as E from '../../index.ts';
import { referenceOps } from '../../reference/index.ts';
import type { Tensor } from '../../tensor.ts';
import type { Attrs, GradcheckCase, OpSpec, Tolerance } from '../spec.ts';

function axisAttr(op: string, attrs: Attrs): number {
  const a = attrs.axis;
  if (typeof a !== 'number' || !Number.isInteger(a)) throw new Error(`${op}: attribute 'axis' must be an integer, got ${JSON.stringify(a)}`);
  return a;
}

function input(op: string, inputs: Record<string, Tensor>, name: string): Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`${op}: input '${name}' is missing`);
  return t;
}

const c = (name: string, shape: number[], axis: number, values?: [number, number]): GradcheckCase => ({
  name,
  attrs: { axis },
  inputs: { x: { shape, values } },
});

const cases: GradcheckCase[] = [
  c('last_4x17', [4, 17], -1), // distribution-head bins
  c('classes_3x80', [3, 80], 1),
  c('middle_2x17x3', [2, 17, 3], 1),
  c('first_5x4', [5, 4], 0),
  c('logits_pm30_3x17', [3, 17], -1, [-30, 30]),
  // longer than 1024: the workgroup-tree kernels
  c('long_2x1100', [2, 1100], -1),
  c('long_middle_2x1030x2', [2, 1030, 2], 1),
];

const SOFTMAX_TOL: Tolerance = {
  fwd: 2e-6,
  bwd: 1e-5,
  why:
    'forward: exp of x − max ≤ 0 (WGSL: 3+2|z| ulp, which weighs e^z·(3+2|z|)u ≤ 3u against max|ref|), a Kahan sum and ' +
    'one division (2.5 ulp): ≲ 8u ≈ 5e-7 of max|ref|, 2e-6 leaves room for other adapters (lavapipe measured ≤ 3e-7). ' +
    'Backward: y·((g − g_argmax) + Σ y·(g_argmax − g)) has no cancellation at the dominant entry, but g_i − Σ g·y does ' +
    'cancel genuinely for some i: a few u of max|y·g|, which can be ~10× max|dx|; measured ≤ 6e-7, tolerance 1e-5',
};

const LOG_SOFTMAX_TOL: Tolerance = {
  fwd: 2e-6,
  bwd: 1e-5,
  why:
    'forward: (x − max) − log Σ exp(x − max): one subtraction, a Kahan sum of exps and a log (3 ulp, or 2^-21 absolute ' +
    'for a sum near 1, ≤ 7e-7 of max|ref| ≥ log 2): 2e-6 (lavapipe measured ≤ 1e-7). Backward: g − exp(y)·Σ g, one exp ' +
    '(y ≤ 0: ≤ 3u weighted) and a sum over the row of ~sqrt(L)·u·Σ|g| that can exceed max|dx|: 1e-5 (measured ≤ 3e-7)',
};

export const softmaxSpecs: OpSpec[] = [
  {
    id: 'softmax',
    inputs: ['x'],
    attributes: ['axis'],
    run: (inputs, attrs) => ({ out: E.softmax(input('softmax', inputs, 'x'), axisAttr('softmax', attrs)) }),
    reference: referenceOps.softmax,
    kernels: ['softmax_rows', 'softmax', 'softmax_grad_rows', 'softmax_grad'],
    cases,
    tol: SOFTMAX_TOL,
  },
  {
    id: 'log_softmax',
    inputs: ['x'],
    attributes: ['axis'],
    run: (inputs, attrs) => ({ out: E.logSoftmax(input('log_softmax', inputs, 'x'), axisAttr('log_softmax', attrs)) }),
    reference: referenceOps.log_softmax,
    kernels: ['softmax_rows', 'softmax', 'softmax_grad_rows', 'softmax_grad'],
    cases,
    tol: LOG_SOFTMAX_TOL,
  },
];
