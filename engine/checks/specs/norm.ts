/**
 * OpSpecs of the normalisations (engine/ops/norm.ts): group_norm, batch_norm and the
 * running-statistics update of batch norm's training mode (batch_norm_running_stats, the
 * ids of engine/reference/norm.ts). Group norm's op id, inputs and attributes are
 * those of docs/op-cases.md (`group_norm`: x [N,C,...], weight [C], bias [C];
 * num_groups, eps), plus `relu` for the fused ReLU of conv → GN → ReLU head blocks.
 *
 * Cases cover both kernel layouts (four floats a unit when the spatial size is a multiple
 * of 4, one otherwise), teams of several channels per round (small spatial sizes), 1 to 32
 * groups, ranks 2 to 5, the closed-form backward of two-element groups, the fused ReLU,
 * and an ill-conditioned input. Tolerances compare max|gpu − ref| with tol · max|ref|;
 * float32 unit roundoff u = 2^-24 ≈ 6e-8.
 */
import * as E from '../../index.ts';
import { referenceOps } from '../../reference/index.ts';
import { normReferenceOps } from '../../reference/norm.ts';
import type { Tensor } from '../../tensor.ts';
import type { Attrs, GradcheckCase, InputGen, OpSpec } from '../spec.ts';

function run(inputs: Record<string, Tensor>, attrs: Attrs): Record<string, Tensor> {
  const x = inputs.x;
  if (!x) throw new Error("group_norm: input 'x' is missing");
  const groups = attrs.num_groups;
  if (typeof groups !== 'number') throw new Error(`group_norm: attribute 'num_groups' must be a number, got ${JSON.stringify(groups)}`);
  const eps = attrs.eps ?? 1e-5;
  if (typeof eps !== 'number') throw new Error(`group_norm: attribute 'eps' must be a number, got ${JSON.stringify(eps)}`);
  const relu = attrs.relu ?? false;
  if (typeof relu !== 'boolean') throw new Error(`group_norm: attribute 'relu' must be a boolean, got ${JSON.stringify(relu)}`);
  return { out: E.groupNorm(x, groups, inputs.weight ?? null, inputs.bias ?? null, { eps, relu }) };
}

/** γ around 1 and β around 0, as after training; never exactly 0 (γ = 0 hides dx). */
const params = (c: number): Record<string, InputGen> => ({
  weight: { shape: [c], values: (rng, n) => rng.normal(n, 1, 0.5) },
  bias: { shape: [c], values: (rng, n) => rng.normal(n, 0, 0.5) },
});

function gn(name: string, shape: number[], numGroups: number, extra: Partial<{ relu: boolean; x: InputGen }> = {}): GradcheckCase {
  const attrs: Attrs = { num_groups: numGroups, eps: 1e-5 };
  if (extra.relu !== undefined) attrs.relu = extra.relu;
  return { name, attrs, inputs: { x: extra.x ?? { shape }, ...params(shape[1]) } };
}

const cases: GradcheckCase[] = [
  gn('g1_c8_3x3', [2, 8, 3, 3], 1), // one group; S = 9: one float a unit
  gn('g2_c8_4x5', [2, 8, 4, 5], 2), // S = 20: four floats a unit, 5 units a channel
  gn('g4_c16_8x8', [2, 16, 8, 8], 4),
  gn('g32_c64_4x4', [2, 64, 4, 4], 32), // the detector setting; two channels a round
  gn('g32_c32_7x7', [2, 32, 7, 7], 32), // one channel a group, odd spatial size
  gn('g3_rank2_4x12', [4, 12], 3), // spatial extent 1
  gn('g2_rank5_2x4x2x3x4', [2, 4, 2, 3, 4], 2),
  // Groups of two elements: across two channels (1×1 maps) and inside one channel. The
  // variance of two values is where E[x²] − E[x]² fails; the backward uses a closed form.
  gn('two_elements_2ch_g2_c4_1x1', [3, 4, 1, 1], 2),
  gn('two_elements_1ch_g4_c4_2', [2, 4, 2], 4),
  // mean 1000, std 0.01: x is not differentiated here, because central differences step
  // by 1e-6·|x| = 1e-3 = σ/10 and their truncation error, ~(h/σ)² ≈ 1e-2, is far above
  // FD_TOL; test/ops/norm.test.ts checks dx on these inputs against the reference vjp, and
  // the parity file checks it against PyTorch. The forward and dγ, dβ are checked here.
  gn('ill_conditioned_mean1000_std0.01_g2_c8_4x4', [2, 8, 4, 4], 2, {
    x: { shape: [2, 8, 4, 4], values: (rng, n) => rng.normal(n, 1000, 0.01), grad: false },
  }),
  gn('relu_g4_c8_5x5', [2, 8, 5, 5], 4, { relu: true }),
  gn('relu_g2_c8_4x4', [2, 8, 4, 4], 2, { relu: true }),
];

export const groupNormSpec: OpSpec = {
  id: 'group_norm',
  inputs: ['x', 'weight', 'bias'],
  attributes: ['num_groups', 'eps', 'relu'],
  run,
  reference: referenceOps.group_norm,
  kernels: ['group_norm_fwd', 'group_norm_bwd', 'group_norm_param_grad'],
  cases,
  tol: {
    fwd: 2e-6,
    bwd: 1e-5,
    why:
      'forward: x − shift is one rounding of the deviation itself (exact by Sterbenz when the data lie within a ' +
      'factor 2, as at mean 1000 std 0.01), so the statistics carry no |mean|/std amplification: chunked Welford and ' +
      'Chan merges (no difference of large sums, a few u), one sqrt and division (≤ 2.5 ulp), then normalise and affine ' +
      '(3 roundings) give ≲ 10u ≈ 6e-7 ' +
      'of max|ref|; 2e-6 leaves room for other adapters (lavapipe measured ≤ 3e-7 on every case, the ill-conditioned ' +
      'one included, where float32 PyTorch, whose mean is rounded to float32, errs by 5e-3). Backward: dx = rstd·(ĝ − ' +
      'mean ĝ − x̂·mean ĝx̂) cancels genuinely, a few u of rstd·max|ĝ|, which can be ~10× max|dx|; dγ, dβ are sums over ' +
      'N·S terms of either sign, ~sqrt(N·S)·u of Σ|g x̂| against max|dγ|: 1e-5 (measured ≤ 3e-7). Two-element groups ' +
      'would lose eps/var of their digits to that cancellation (6e-4 measured with the textbook formula) and use the ' +
      'exact closed form (ĝ₁ − ĝ₂)/2·eps·rstd³ instead',
  },
};

// ───────────────────────────────── batch_norm ─────────────────────────────────

function attr<T extends 'number' | 'boolean'>(op: string, attrs: Attrs, name: string, type: T, dflt: T extends 'number' ? number : boolean) {
  const v = attrs[name] ?? dflt;
  if (typeof v !== type) throw new Error(`${op}: attribute '${name}' must be a ${type}, got ${JSON.stringify(v)}`);
  return v as T extends 'number' ? number : boolean;
}

function bnOptions(op: string, attrs: Attrs) {
  return {
    training: attr(op, attrs, 'training', 'boolean', false),
    momentum: attr(op, attrs, 'momentum', 'number', 0.1),
    eps: attr(op, attrs, 'eps', 'number', 1e-5),
    relu: attr(op, attrs, 'relu', 'boolean', false),
  };
}

function runBatchNorm(inputs: Record<string, Tensor>, attrs: Attrs): Record<string, Tensor> {
  const x = inputs.x;
  if (!x) throw new Error("batch_norm: input 'x' is missing");
  const opts = bnOptions('batch_norm', attrs);
  return { out: E.batchNorm(x, inputs.running_mean ?? null, inputs.running_var ?? null, inputs.weight ?? null, inputs.bias ?? null, opts) };
}

/** Running statistics as after some training: means near 0, variances in [0.5, 2]. */
const running = (c: number): Record<string, InputGen> => ({
  running_mean: { shape: [c], values: (rng, n) => rng.normal(n, 0, 0.5) },
  running_var: { shape: [c], values: [0.5, 2] },
});

function bn(
  name: string,
  shape: number[],
  training: boolean,
  extra: Partial<{ relu: boolean; x: InputGen; affine: boolean; running: boolean }> = {},
): GradcheckCase {
  const attrs: Attrs = { training, momentum: 0.1, eps: 1e-5 };
  if (extra.relu !== undefined) attrs.relu = extra.relu;
  return {
    name,
    attrs,
    inputs: { x: extra.x ?? { shape }, ...(extra.affine === false ? {} : params(shape[1])), ...(extra.running === false ? {} : running(shape[1])) },
  };
}

const bnCases: GradcheckCase[] = [
  bn('train_c8_4x4', [2, 8, 4, 4], true), // four floats a unit
  bn('train_c6_3x3', [3, 6, 3, 3], true), // one float a unit
  bn('train_c64_8x8', [2, 64, 8, 8], true), // a ResNet stage width
  bn('train_rank2_5x7', [5, 7], true), // spatial extent 1 (BatchNorm1d's layout)
  bn('train_rank5_2x3x2x2x3', [2, 3, 2, 2, 3], true),
  bn('train_no_running_stats', [2, 4, 3, 3], true, { running: false }), // PyTorch's track_running_stats = False
  bn('train_no_affine', [2, 4, 4, 4], true, { affine: false }),
  // Two values a channel, across the batch and inside one sample: the closed-form dx.
  bn('train_two_values_batch_2x3', [2, 3], true),
  bn('train_two_values_plane_1x4x2', [1, 4, 2], true),
  bn('train_relu_c8_5x5', [2, 8, 5, 5], true, { relu: true }),
  bn('train_relu_c8_4x4', [2, 8, 4, 4], true, { relu: true }),
  // mean 1000, std 0.01: x is not differentiated (central differences step by σ/10; see
  // group norm's case); test/ops/norm.test.ts checks dx here against the reference vjp.
  bn('train_ill_conditioned_mean1000_std0.01', [4, 4, 4, 4], true, {
    x: { shape: [4, 4, 4, 4], values: (rng, n) => rng.normal(n, 1000, 0.01), grad: false },
  }),
  bn('eval_c8_4x4', [2, 8, 4, 4], false),
  bn('eval_c6_3x3', [3, 6, 3, 3], false),
  bn('eval_relu_c8_5x5', [2, 8, 5, 5], false, { relu: true }),
  bn('eval_rank2_1x5', [1, 5], false), // one value a channel is fine on running statistics
  bn('eval_no_affine', [2, 4, 4, 4], false, { affine: false }),
];

export const batchNormSpec: OpSpec = {
  id: 'batch_norm',
  inputs: ['x', 'weight', 'bias', 'running_mean', 'running_var'],
  attributes: ['training', 'momentum', 'eps', 'relu'],
  run: runBatchNorm,
  reference: normReferenceOps.batch_norm,
  kernels: ['batch_norm_stats', 'batch_norm_fwd', 'batch_norm_grad_stats', 'batch_norm_bwd'],
  cases: bnCases,
  noGrad: ['running_mean', 'running_var'],
  tol: {
    fwd: 2e-6,
    bwd: 1e-5,
    why:
      "training mode's statistics are group norm's (shifted data, chunked Welford and Chan merges over the N·S values " +
      'of a channel: a few u, no |mean|/std amplification), then normalise and affine: ≲ 10u of max|ref|; eval mode is ' +
      'one sqrt, one division and the affine. Backward: dx = rstd·γ·(g − Σg/M − x̂·Σgx̂/M) cancels genuinely (a few u of ' +
      'rstd·max|γg|, which can be ~10× max|dx|) and dγ, dβ are sums of N·S terms of either sign (~sqrt(N·S)·u of ' +
      "Σ|g x̂|): 1e-5, as group norm's. Two values a channel use the exact closed form rstd³·eps·γ·(g − Σg/2)",
  },
};

function runRunningStats(inputs: Record<string, Tensor>, attrs: Attrs): Record<string, Tensor> {
  const op = 'batch_norm_running_stats';
  const { x, running_mean: rm, running_var: rv } = inputs;
  if (!x || !rm || !rv) throw new Error(`${op}: inputs 'x', 'running_mean' and 'running_var' are required`);
  // a training-mode forward updates them in place; return copies, the inputs are the caller's
  const [mean, variance] = [E.mul(rm, 1), E.mul(rv, 1)];
  E.batchNorm(x, mean, variance, null, null, { training: true, momentum: attr(op, attrs, 'momentum', 'number', 0.1) }).dispose();
  return { running_mean: mean, running_var: variance };
}

export const batchNormRunningStatsSpec: OpSpec = {
  id: 'batch_norm_running_stats',
  inputs: ['x', 'running_mean', 'running_var'],
  attributes: ['momentum'],
  run: runRunningStats,
  reference: normReferenceOps.batch_norm_running_stats,
  kernels: ['batch_norm_stats', 'batch_norm_fwd'],
  cases: [
    { name: 'c8_4x4_momentum0.1', attrs: { momentum: 0.1 }, inputs: { x: { shape: [2, 8, 4, 4] }, ...running(8) } },
    { name: 'c6_3x3_momentum0.3', attrs: { momentum: 0.3 }, inputs: { x: { shape: [3, 6, 3, 3] }, ...running(6) } },
    { name: 'rank2_two_values_momentum1', attrs: { momentum: 1 }, inputs: { x: { shape: [2, 5] }, ...running(5) } },
    { name: 'momentum0_keeps_running', attrs: { momentum: 0 }, inputs: { x: { shape: [2, 4, 2, 2] }, ...running(4) } },
    {
      name: 'ill_conditioned_mean1000_std0.01',
      attrs: { momentum: 0.1 },
      inputs: { x: { shape: [4, 4, 4, 4], values: (rng, n) => rng.normal(n, 1000, 0.01) }, ...running(4) },
    },
  ],
  noGrad: ['x', 'running_mean', 'running_var'],
  tol: {
    fwd: 2e-6,
    bwd: 0,
    why:
      "the batch mean and variance are batch_norm's own (a few u), the unbiased factor M/(M − 1) one more rounding, " +
      'and the blend (1 − k)·r + k·s of two positive terms two more: ≲ 10u of max|ref|. Nothing is differentiable',
  },
};

export const normSpecs: OpSpec[] = [groupNormSpec, batchNormSpec, batchNormRunningStatsSpec];
