/**
 * OpSpec of conv2d (engine/ops/conv.ts). Op id, inputs and attributes are those of
 * docs/op-cases.md: x [N,Cin,H,W], weight [Cout,Cin/groups,kh,kw], bias [Cout]
 * (optional); stride [h,w], padding [h,w], dilation [h,w], groups.
 *
 * Cases cover stride 1 and 2, padding 0, 1 and 2, dilation 1 and 2, groups 1, 2, depthwise
 * and depthwise with a channel multiplier, 1×1 (the GEMM kernel) and 3×3 (the implicit
 * GEMM kernels), non-square inputs and kernels, with and without bias; channel counts
 * past one 16-channel tile; and a weight gradient split into several slices of N·Ho·Wo.
 * They stay small because the gradcheck also differentiates the float64 reference by
 * central differences, one input element at a time.
 */
import * as E from '../../index.ts';
import { referenceOps } from '../../reference/index.ts';
import type { Tensor } from '../../tensor.ts';
import type { Attrs, GradcheckCase, OpSpec } from '../spec.ts';

type PairAttr = [number, number];

function pairAttr(attrs: Attrs, name: string, dflt: number): PairAttr {
  const v = attrs[name] ?? [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  if (!Array.isArray(v) || v.length !== 2 || !v.every((e) => typeof e === 'number'))
    throw new Error(`conv2d: attribute '${name}' must be [h, w] (or one number), got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

function run(inputs: Record<string, Tensor>, attrs: Attrs): Record<string, Tensor> {
  const { x, weight, bias } = inputs;
  if (!x) throw new Error("conv2d: input 'x' is missing");
  if (!weight) throw new Error("conv2d: input 'weight' is missing");
  const groups = attrs.groups ?? 1;
  if (typeof groups !== 'number') throw new Error(`conv2d: attribute 'groups' must be a number, got ${JSON.stringify(groups)}`);
  return {
    out: E.conv2d(x, weight, bias ?? null, {
      stride: pairAttr(attrs, 'stride', 1),
      padding: pairAttr(attrs, 'padding', 0),
      dilation: pairAttr(attrs, 'dilation', 1),
      groups,
    }),
  };
}

interface ConvCase {
  x: number[];
  w: number[];
  bias?: boolean;
  stride?: PairAttr;
  padding?: PairAttr;
  dilation?: PairAttr;
  groups?: number;
}

function conv(name: string, c: ConvCase): GradcheckCase {
  const inputs: GradcheckCase['inputs'] = { x: { shape: c.x }, weight: { shape: c.w } };
  if (c.bias !== false) inputs.bias = { shape: [c.w[0]] };
  return {
    name,
    attrs: { stride: c.stride ?? [1, 1], padding: c.padding ?? [0, 0], dilation: c.dilation ?? [1, 1], groups: c.groups ?? 1 },
    inputs,
  };
}

const cases: GradcheckCase[] = [
  conv('3x3_s1_p1', { x: [2, 3, 7, 9], w: [4, 3, 3, 3], padding: [1, 1] }),
  conv('3x3_s2_p1_nobias', { x: [2, 3, 8, 9], w: [5, 3, 3, 3], stride: [2, 2], padding: [1, 1], bias: false }),
  conv('3x3_s1_p0', { x: [1, 2, 6, 5], w: [3, 2, 3, 3] }),
  conv('3x3_s2_p0_odd', { x: [2, 2, 7, 9], w: [3, 2, 3, 3], stride: [2, 2], bias: false }),
  conv('3x3_p2', { x: [2, 2, 5, 6], w: [3, 2, 3, 3], padding: [2, 2] }),
  conv('3x3_d2_p2', { x: [1, 3, 9, 8], w: [4, 3, 3, 3], padding: [2, 2], dilation: [2, 2] }),
  conv('3x3_d2_s2_p1_nobias', { x: [2, 2, 9, 9], w: [3, 2, 3, 3], stride: [2, 2], padding: [1, 1], dilation: [2, 2], bias: false }),
  conv('1x1_gemm', { x: [2, 6, 5, 7], w: [4, 6, 1, 1] }),
  conv('1x1_s2_nobias', { x: [2, 4, 7, 6], w: [5, 4, 1, 1], stride: [2, 2], bias: false }),
  conv('3x1_p1x0_nonsquare', { x: [2, 3, 7, 11], w: [4, 3, 3, 1], padding: [1, 0] }),
  conv('1x3_s1x2_p0x1_nonsquare', { x: [2, 3, 6, 11], w: [2, 3, 1, 3], stride: [1, 2], padding: [0, 1] }),
  conv('groups2_3x3', { x: [2, 4, 6, 7], w: [6, 2, 3, 3], padding: [1, 1], groups: 2 }),
  conv('groups2_s2_nobias', { x: [1, 6, 7, 8], w: [4, 3, 3, 3], stride: [2, 2], padding: [1, 1], groups: 2, bias: false }),
  conv('depthwise_3x3', { x: [2, 4, 7, 8], w: [4, 1, 3, 3], padding: [1, 1], groups: 4 }),
  conv('depthwise_mult2_s2', { x: [2, 3, 7, 6], w: [6, 1, 3, 3], stride: [2, 2], padding: [1, 1], groups: 3 }),
  // 17 channels: two 16-channel tiles on each side, the second one almost empty
  conv('17to17_3x3_two_tiles', { x: [1, 17, 3, 4], w: [17, 17, 3, 3], padding: [1, 1] }),
  // 2·16·17 = 544 positions: the weight gradient sums two slices of N·Ho·Wo
  conv('dw_two_slices', { x: [2, 2, 16, 17], w: [3, 2, 3, 3], padding: [1, 1] }),
];

export const conv2dSpec: OpSpec = {
  id: 'conv2d',
  inputs: ['x', 'weight', 'bias'],
  attributes: ['stride', 'padding', 'dilation', 'groups'],
  run,
  reference: referenceOps.conv2d,
  kernels: ['conv2d_pack', 'conv2d_fwd', 'conv2d_gemm', 'conv2d_dx', 'conv2d_dw', 'conv2d_dw_reduce'],
  cases,
  tol: {
    fwd: 5e-6,
    bwd: 1e-5,
    why:
      'float32 with fused multiply-adds, u = 2^-24 ≈ 6e-8. Forward and dx: each output is one sequential sum of ' +
      'K = Cin/groups·kh·kw (resp. Cout/groups·kh·kw) products, ≤ 153 here; random-sign terms give a rounding walk ' +
      '~sqrt(K)·u of their root-sum-square, which is ~max|out|/3: ≲ 1e-6 of max|ref|, 5e-6 for the worst case and ' +
      'other adapters (lavapipe measured ≤ 5e-7). dW and db sum N·Ho·Wo products (≤ 544 here, thousands in a ' +
      'detector): per-lane chains of N·Ho·Wo/16 terms per slice, a 16-lane tree and a slice sum, ~sqrt(chain)·u ' +
      'relative ≈ 5e-7; 1e-5 (measured ≤ 2e-7). The parity files use their own float32-derived tolerances',
  },
};

export const convSpecs: OpSpec[] = [conv2dSpec];
