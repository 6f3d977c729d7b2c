/**
 * Gradient routing of the CrossKD path (issue 5): with the CrossKD loss alone,
 * - teacher parameters get no gradient and no weight-gradient kernel runs;
 * - the student's head blocks after the tap (and its predictors) get no gradient;
 * - the student's input feature and its blocks before the tap get the gradient of a
 *   float64 reference of the whole cross-head path, differentiated by central finite
 *   differences.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { Rng } from '../../engine/random.ts';
import { detectionReferenceOps as R } from '../../engine/reference/detection.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { GFLHead, type GflHeadConfig } from '../../detection/heads/gfl.ts';
import { crossHeadForward, checkCrossHeadCompatible } from '../../crosskd/crossHead.ts';
import { gflKdLosses } from '../../crosskd/losses.ts';

beforeAll(async () => {
  await E.init();
});

const cfg: GflHeadConfig = { numClasses: 3, inChannels: 4, featChannels: 4, stackedConvs: 2, gnGroups: 2, regMax: 3, numLevels: 1 };
const TAP = 1;
const N = 2;
const H = 3;
const W = 3;
const bins = cfg.regMax + 1;

type Params = Map<string, RefTensor>;
const CONV = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
const GN = { num_groups: cfg.gnGroups, eps: 1e-5, relu: true };

function block(x: RefTensor, p: Params, tower: string, i: number): RefTensor {
  const c = R.conv2d.forward({ x, weight: p.get(`${tower}.${i}.conv.weight`)! }, CONV).out;
  return R.group_norm.forward({ x: c, weight: p.get(`${tower}.${i}.gn.weight`)!, bias: p.get(`${tower}.${i}.gn.bias`)! }, GN).out;
}
const predictor = (x: RefTensor, p: Params, name: string) =>
  R.conv2d.forward({ x, weight: p.get(`${name}.weight`)!, bias: p.get(`${name}.bias`)! }, CONV).out;

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

/** The whole CrossKD loss in float64 as a function of the student's input and parameters. */
function referenceLoss(x: RefTensor, student: Params, teacher: Params, teacherIn: RefTensor, avgFactor: number, scale: number): number {
  // tapped features
  let s = x;
  let t = teacherIn;
  const taps: { s: RefTensor; t: RefTensor }[] = [];
  for (const tower of ['cls_convs', 'reg_convs']) {
    s = x;
    t = teacherIn;
    for (let i = 0; i < TAP; i++) {
      s = block(s, student, tower, i);
      t = block(t, teacher, tower, i);
    }
    taps.push({ s, t });
  }
  // teacher's own predictions
  let tc = teacherIn;
  let tr = teacherIn;
  for (let i = 0; i < cfg.stackedConvs; i++) {
    tc = block(tc, teacher, 'cls_convs', i);
    tr = block(tr, teacher, 'reg_convs', i);
  }
  const tCls = rows(predictor(tc, teacher, 'gfl_cls'));
  const tReg = rows(predictor(tr, teacher, 'gfl_reg')).map((v) => v * scale);
  // cross-head predictions
  let hc = relu(align(taps[0].s, taps[0].t));
  let hr = relu(align(taps[1].s, taps[1].t));
  for (let i = TAP; i < cfg.stackedConvs; i++) {
    hc = block(hc, teacher, 'cls_convs', i);
    hr = block(hr, teacher, 'reg_convs', i);
  }
  const cCls = rows(predictor(hc, teacher, 'gfl_cls'));
  const cReg = rows(predictor(hr, teacher, 'gfl_reg')).map((v) => v * scale);
  const P = N * H * W;
  const C = cfg.numClasses;
  // KD-QFL β1 over every prior and class / (N_pos + eps)
  const kdCls = R.kd_quality_focal_loss.forward(
    { pred: { shape: [P, C], data: cCls }, soft_target: { shape: [P, C], data: tCls.map(sigmoid) } },
    { beta: 1, class_reduction: 'sum' },
  ).loss.data.reduce((a, v) => a + v, 0) / (avgFactor + 1.1920929e-7);
  // KL (T 1, sum over bins) per side, weighted by the teacher's max class probability
  const wr = Array.from({ length: P }, (_, p) => Math.max(...Array.from({ length: C }, (_, c) => sigmoid(tCls[p * C + c]))));
  const kl = R.kd_kl_div.forward(
    { pred: { shape: [P * 4, bins], data: cReg }, soft_label: { shape: [P * 4, bins], data: tReg } },
    { T: 1, bin_reduction: 'sum' },
  ).loss.data;
  const klSum = kl.reduce((a, v, i) => a + wr[Math.floor(i / 4)] * v, 0);
  const kdReg = (0.25 * klSum) / Math.max(wr.reduce((a, v) => a + v, 0), 1e-6);
  return 1.0 * kdCls + 4.0 * kdReg;
}

async function paramsOf(head: GFLHead): Promise<Params> {
  const out: Params = new Map();
  for (const [name, p] of head.namedParameters()) out.set(name, { shape: [...p.shape], data: Float64Array.from(await p.data()) });
  return out;
}

function randomizeHead(head: GFLHead, seed: number) {
  const rng = new Rng(seed);
  for (const [name, p] of head.namedParameters()) {
    const data = name.includes('gn.weight') || name.startsWith('scales') ? rng.normal(p.size, 1, 0.2) : rng.normal(p.size, 0, 0.4);
    E.runtime().flush();
    E.runtime().write(p.buffer, Float32Array.from(data));
  }
}

describe('CrossKD gradient routing', () => {
  it('reaches only the student before the tap, equal to a float64 finite-difference reference', async () => {
    const student = new GFLHead(cfg, new InitSeeds(1));
    const teacher = new GFLHead(cfg, new InitSeeds(2));
    randomizeHead(student, 3);
    randomizeHead(teacher, 4);
    teacher.freeze();
    const rng = new Rng(9);
    const xData = rng.normal(N * cfg.inChannels * H * W);
    const tData = rng.normal(N * cfg.inChannels * H * W, 0.2, 1.3);
    const x = E.requireGrad(E.tensor(xData, [N, cfg.inChannels, H, W]));
    const teacherIn = E.tensor(tData, [N, cfg.inChannels, H, W]);
    const avgFactor = 3;
    const labelWeights = new Float32Array(N * H * W).fill(1);

    const s = student.forward([x], { keepFeats: true });
    const t = E.noGrad(() => teacher.forward([teacherIn], { keepFeats: true }));
    const cross = crossHeadForward(s, t, teacher, TAP);
    const { kdCls, kdReg } = gflKdLosses({ cls: cross.cls, reg: cross.reg, teacherCls: t.cls, teacherReg: t.reg, labelWeights, avgFactor, regMax: cfg.regMax });
    const loss = E.add(kdCls, kdReg);
    await E.runtime().sync();
    const dwBefore = E.runtime().stats.byKernel.get('conv2d_dw') ?? 0;
    E.backward(loss);
    await E.runtime().sync();
    // the student's blocks before the tap do get weight gradients (one conv per tower) ...
    const dwDispatches = (E.runtime().stats.byKernel.get('conv2d_dw') ?? 0) - dwBefore;
    // ... and nothing else: TAP convs in each of the 2 towers, none of the teacher's
    expect(dwDispatches).toBe(2 * TAP);

    for (const [name, p] of teacher.namedParameters()) expect(p.grad, `teacher ${name}`).toBeNull();
    for (const [name, p] of student.namedParameters()) {
      const before = name.startsWith('cls_convs.0.') || name.startsWith('reg_convs.0.');
      if (before) expect(p.grad, `student ${name} (before the tap)`).not.toBeNull();
      else expect(p.grad, `student ${name} (after the tap)`).toBeNull();
    }

    // float64 reference and central differences
    const sp = await paramsOf(student);
    const tp = await paramsOf(teacher);
    const scale = tp.get('scales.0.scale')!.data[0];
    const xRef: RefTensor = { shape: [N, cfg.inChannels, H, W], data: Float64Array.from(await x.data()) };
    const tRef: RefTensor = { shape: [N, cfg.inChannels, H, W], data: Float64Array.from(await teacherIn.data()) };
    const f = () => referenceLoss(xRef, sp, tp, tRef, avgFactor, scale);
    expect(await loss.item()).toBeCloseTo(f(), 4);
    const fd = (arr: Float64Array, i: number) => {
      const v = arr[i];
      const h = 1e-5 * Math.max(1, Math.abs(v));
      arr[i] = v + h;
      const up = f();
      arr[i] = v - h;
      const down = f();
      arr[i] = v;
      return (up - down) / (2 * h);
    };
    const compare = async (label: string, got: E.Tensor, ref: Float64Array) => {
      const g = await got.data();
      const numeric = Float64Array.from(ref, (_, i) => fd(ref, i));
      const maxRef = Math.max(...numeric.map(Math.abs));
      const maxDiff = Math.max(...Array.from(numeric, (v, i) => Math.abs(v - g[i])));
      expect(maxDiff / maxRef, `${label}: max|gpu − fd| / max|fd|`).toBeLessThan(1e-4); // measured ≤ 1e-5: float32 through six conv/GN layers vs float64 central differences
    };
    await compare('input feature', x.grad!, xRef.data);
    for (const name of ['cls_convs.0.conv.weight', 'reg_convs.0.gn.weight', 'cls_convs.0.gn.bias'])
      await compare(name, student.stateDict().get(name)!.grad!, sp.get(name)!.data);
  });

  it('rejects a tap outside the head and heads of different widths', () => {
    const a = new GFLHead(cfg, new InitSeeds(1));
    const b = new GFLHead({ ...cfg, featChannels: 8, gnGroups: 2 }, new InitSeeds(1));
    expect(() => checkCrossHeadCompatible(a, a, 3)).toThrow(/tap index must be an integer in \[0, 2\] \(0 = FPN output\), got 3/);
    expect(() => checkCrossHeadCompatible(a, b, 1)).toThrow(/student's feature at tap 1 has 4 channels, the teacher's blocks expect 8/);
    // at tap 0 both read the FPN output (4 channels): compatible
    expect(() => checkCrossHeadCompatible(a, b, 0)).not.toThrow();
  });
});
