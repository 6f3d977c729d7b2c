/**
 * A float64 reference of the whole CrossKD loss on GFL heads (docs/crosskd.md §2 and §4), built
 * from the engine's reference ops, as a function of the student's input feature and
 * parameters — for finite-difference checks of the GPU path (crossHead.test.ts,
 * adapter.test.ts).
 */
import * as E from '../../engine/index.ts';
import { fdRelativeError as fdWithStep } from '../detection/heads/headReference.ts';
import { Rng } from '../../engine/random.ts';
import { referenceOps as R } from '../../engine/reference/index.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import type { GFLHead, GflHeadConfig } from '../../detection/heads/gfl.ts';

export type Params = Map<string, RefTensor>;

const CONV3 = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
const CONV1 = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };

function block(x: RefTensor, p: Params, tower: string, i: number, gnGroups: number): RefTensor {
  const c = R.conv2d.forward({ x, weight: p.get(`${tower}.${i}.conv.weight`)! }, CONV3).out;
  return R.group_norm.forward(
    { x: c, weight: p.get(`${tower}.${i}.gn.weight`)!, bias: p.get(`${tower}.${i}.gn.bias`)! },
    { num_groups: gnGroups, eps: 1e-5, relu: true },
  ).out;
}
const predictor = (x: RefTensor, p: Params, name: string) => R.conv2d.forward({ x, weight: p.get(`${name}.weight`)!, bias: p.get(`${name}.bias`)! }, CONV3).out;

/** float64 align_scale: per channel over N·H·W, unbiased std, +1e-6, teacher stats as constants. */
function align(s: RefTensor, t: RefTensor): RefTensor {
  const [n, c, h, w] = s.shape;
  const stats = (x: RefTensor, ch: number) => {
    const vals: number[] = [];
    for (let b = 0; b < n; b++) for (let k = 0; k < h * w; k++) vals.push(x.data[(b * c + ch) * h * w + k]);
    const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / (vals.length - 1));
    return { mean, std };
  };
  const out = new Float64Array(s.data.length);
  for (let ch = 0; ch < c; ch++) {
    const ss = stats(s, ch);
    const ts = stats(t, ch);
    for (let b = 0; b < n; b++)
      for (let k = 0; k < h * w; k++) {
        const i = (b * c + ch) * h * w + k;
        out[i] = ((s.data[i] - ss.mean) / (ss.std + 1e-6)) * ts.std + ts.mean;
      }
  }
  return { shape: s.shape, data: out };
}
const relu = (x: RefTensor): RefTensor => ({ shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) });

/** [N, Ch, H, W] → rows [N·H·W, Ch] */
function rows(x: RefTensor): Float64Array {
  const [n, ch, h, w] = x.shape;
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++) for (let c = 0; c < ch; c++) for (let k = 0; k < h * w; k++) out[(b * h * w + k) * ch + c] = x.data[(b * ch + c) * h * w + k];
  return out;
}
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export interface ReferenceCase {
  studentCfg: GflHeadConfig;
  teacherCfg: GflHeadConfig;
  tap: number;
  /** the student's input (FPN) feature and the teacher's, [N, C, H, W], one level */
  x: RefTensor;
  teacherIn: RefTensor;
  student: Params;
  teacher: Params;
  /** the adapter's 1×1 conv weights ([teacher ch, student ch, 1, 1]) per tower, if any */
  adapter?: { cls: RefTensor; reg: RefTensor };
  avgFactor: number;
}

/** The whole CrossKD loss (1.0·KD-QFL + 4.0·KL) in float64, every prior valid. */
export function referenceLoss(c: ReferenceCase): number {
  const { studentCfg, teacherCfg, tap, student, teacher } = c;
  const scale = teacher.get('scales.0.scale')!.data[0];
  // tapped features per tower
  const taps: { s: RefTensor; t: RefTensor }[] = [];
  for (const [k, tower] of ['cls_convs', 'reg_convs'].entries()) {
    let s = c.x;
    let t = c.teacherIn;
    for (let i = 0; i < tap; i++) {
      s = block(s, student, tower, i, studentCfg.gnGroups);
      t = block(t, teacher, tower, i, teacherCfg.gnGroups);
    }
    if (c.adapter) s = R.conv2d.forward({ x: s, weight: k === 0 ? c.adapter.cls : c.adapter.reg }, CONV1).out;
    taps.push({ s, t });
  }
  // the teacher's own predictions
  let tc = c.teacherIn;
  let tr = c.teacherIn;
  for (let i = 0; i < teacherCfg.stackedConvs; i++) {
    tc = block(tc, teacher, 'cls_convs', i, teacherCfg.gnGroups);
    tr = block(tr, teacher, 'reg_convs', i, teacherCfg.gnGroups);
  }
  const tCls = rows(predictor(tc, teacher, 'gfl_cls'));
  const tReg = rows(predictor(tr, teacher, 'gfl_reg')).map((v) => v * scale);
  // cross-head predictions
  const enter = (x: RefTensor, t: RefTensor) => (tap > 0 ? relu(align(x, t)) : align(x, t));
  let hc = enter(taps[0].s, taps[0].t);
  let hr = enter(taps[1].s, taps[1].t);
  for (let i = tap; i < teacherCfg.stackedConvs; i++) {
    hc = block(hc, teacher, 'cls_convs', i, teacherCfg.gnGroups);
    hr = block(hr, teacher, 'reg_convs', i, teacherCfg.gnGroups);
  }
  const cCls = rows(predictor(hc, teacher, 'gfl_cls'));
  const cReg = rows(predictor(hr, teacher, 'gfl_reg')).map((v) => v * scale);
  const [N, , H, W] = c.x.shape;
  const P = N * H * W;
  const C = teacherCfg.numClasses;
  const bins = teacherCfg.regMax + 1;
  // KD-QFL β1 over every prior and class / (N_pos + eps)
  const kdCls =
    R.kd_quality_focal_loss
      .forward({ pred: { shape: [P, C], data: cCls }, soft_target: { shape: [P, C], data: tCls.map(sigmoid) } }, { beta: 1, class_reduction: 'sum' })
      .loss.data.reduce((a, v) => a + v, 0) /
    (c.avgFactor + 1.1920929e-7);
  // KL (T 1, sum over bins) per side, weighted by the teacher's max class probability
  const wr = Array.from({ length: P }, (_, p) => Math.max(...Array.from({ length: C }, (_, k) => sigmoid(tCls[p * C + k]))));
  const kl = R.kd_kl_div.forward(
    { pred: { shape: [P * 4, bins], data: cReg }, soft_label: { shape: [P * 4, bins], data: tReg } },
    { T: 1, bin_reduction: 'sum' },
  ).loss.data;
  const klSum = kl.reduce((a, v, i) => a + wr[Math.floor(i / 4)] * v, 0);
  const kdReg =
    (0.25 * klSum) /
    Math.max(
      wr.reduce((a, v) => a + v, 0),
      1e-6,
    );
  return 1.0 * kdCls + 4.0 * kdReg;
}

/** float64 copies of a module's parameters, by name. */
export async function paramsOf(module: { namedParameters(): [string, E.Tensor][] }): Promise<Params> {
  const out: Params = new Map();
  for (const [name, p] of module.namedParameters()) out.set(name, { shape: [...p.shape], data: Float64Array.from(await p.data()) });
  return out;
}

/** Away from the init (whose tiny weights make every path nearly linear): GN gains and Scales near 1, the rest N(0, 0.4²). */
export function randomizeHead(head: GFLHead, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, p] of head.namedParameters()) {
    const data = name.includes('gn.weight') || name.startsWith('scales') ? rng.normal(p.size, 1, 0.2) : rng.normal(p.size, 0, 0.4);
    E.runtime().flush();
    E.runtime().write(p.buffer, Float32Array.from(data));
  }
}

/**
 * headReference's finite-difference comparison with a relative step of 1e-5, the step
 * these cross-head checks were calibrated with.
 */
export const fdRelativeError = (f: () => number, got: E.Tensor, ref: Float64Array): Promise<number> => fdWithStep(f, got, ref, 1e-5);
