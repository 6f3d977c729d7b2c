/**
 * The GFL loss assembly (QFL + 2·GIoU + 0.25·DFL with mmdetection's normalisers) against
 * the same formula composed in float64 from the reference ops, value and gradients with
 * respect to the class and distribution logits.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../../engine/index.ts';
import { InitSeeds } from '../../../engine/nn/index.ts';
import { Rng } from '../../../engine/random.ts';
import { referenceOps as R } from '../../../engine/reference/index.ts';
import type { RefTensor } from '../../../engine/reference/types.ts';
import { GFLHead } from '../../../detection/heads/gfl.ts';
import type { DenseTargets } from '../../../detection/heads/gflTargets.ts';
import { dflTargets } from '../../../detection/heads/gflTargets.ts';
import { diff } from '../../../engine/checks/compare.ts';

/** max|got − ref| / max|ref| (the measure of gradcheck and parity) */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

beforeAll(async () => {
  await E.init();
});

const C = 3;
const regMax = 4;
const bins = regMax + 1;
const N = 2;
const H = 2;
const W = 3; // one level, P = 6 priors per image

/** Two images; positives at rows 1, 4 (image 0) and 8 (image 1); row 10 is ignored (padding). */
function targets(): DenseTargets {
  const NP = N * H * W;
  const labels = new Int32Array(NP).fill(C);
  const labelWeights = new Float32Array(NP).fill(1);
  labels[1] = 0;
  labels[4] = 2;
  labels[8] = 1;
  labelWeights[10] = 0;
  return {
    numImages: N,
    numPriors: H * W,
    labels,
    labelWeights,
    posIndex: Int32Array.of(1, 4, 8),
    posCenters: Float32Array.of(1, 0, 1, 1, 2, 0),
    posBoxTargets: Float32Array.of(-0.5, -1, 2.5, 1.25, 0, -0.25, 3, 2, 0.5, -1.5, 3.25, 1),
    posStrides: Float32Array.of(8, 8, 8),
    posGtIndex: Int32Array.of(0, 1, 0),
    // pixels and centerness are not read by the GFL loss
    priorDim: 4,
    posPriors: new Float32Array(12),
    posGtBoxes: new Float32Array(12),
    posCenterness: new Float32Array(3),
    avgFactor: 3,
    numPos: 3,
  };
}

const rowsOf = (t: RefTensor, rows: Int32Array, width: number): RefTensor => {
  const data = new Float64Array(rows.length * width);
  rows.forEach((r, i) => data.set(t.data.subarray(r * width, (r + 1) * width), i * width));
  return { shape: [rows.length, width], data };
};

function alignedIou(a: Float64Array, b: Float64Array, i: number): number {
  const [ax1, ay1, ax2, ay2] = a.subarray(4 * i, 4 * i + 4);
  const [bx1, by1, bx2, by2] = b.subarray(4 * i, 4 * i + 4);
  const ov = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1)) * Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const union = Math.max((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - ov, 1e-6);
  return ov / union;
}

/** The loss in float64 from reference ops, and its gradients w.r.t. cls [NP,C] and reg [NP,4·bins]. */
function referenceLoss(cls: RefTensor, reg: RefTensor, t: DenseTargets) {
  const NP = cls.shape[0];
  const P = t.numPos;
  const posReg = rowsOf(reg, t.posIndex, 4 * bins);
  const sides = { shape: [P * 4, bins], data: posReg.data };
  const corners = R.integral.forward({ pred: sides }, { reg_max: regMax }).out;
  const points = { shape: [P, 2], data: Float64Array.from(t.posCenters) };
  const dist = { shape: [P, 4], data: corners.data };
  const boxes = R.distance2bbox.forward({ points, distance: dist }, {}).out;
  const tgt = { shape: [P, 4], data: Float64Array.from(t.posBoxTargets) };
  const score = new Float64Array(NP);
  t.posIndex.forEach((r, i) => (score[r] = alignedIou(boxes.data, tgt.data, i)));
  const w = Array.from(t.posIndex, (r) => Math.max(...Array.from({ length: C }, (_, c) => 1 / (1 + Math.exp(-cls.data[r * C + c])))));
  const denom = Math.max(
    w.reduce((a, b) => a + b, 0),
    1,
  );
  const eps = 1.1920929e-7;
  // QFL
  const qflIn = { pred: cls, label: { shape: [NP], data: Float64Array.from(t.labels) }, score: { shape: [NP], data: score } };
  const qflAttrs = { beta: 2, num_classes: C };
  const qflRows = R.quality_focal_loss.forward(qflIn, qflAttrs).loss.data;
  const qfl = qflRows.reduce((acc, v, i) => acc + t.labelWeights[i] * v, 0) / (t.avgFactor + eps);
  // GIoU
  const giouIn = { boxes1: boxes, boxes2: tgt };
  const giouAttrs = { eps: 1e-6, reduction: 'none' };
  const giouRows = R.generalized_box_iou_loss.forward(giouIn, giouAttrs).loss.data;
  const giou = giouRows.reduce((acc, v, i) => acc + w[i] * v, 0) / denom;
  // DFL
  const dflIn = { pred: sides, target: { shape: [P * 4], data: Float64Array.from(dflTargets(t, regMax)) } };
  const dflRows = R.distribution_focal_loss.forward(dflIn, { reg_max: regMax }).loss.data;
  const dfl = (0.25 * dflRows.reduce((acc, v, i) => acc + w[Math.floor(i / 4)] * v, 0)) / denom;
  const total = qfl + 2 * giou + 0.25 * dfl;

  // gradients (score and weights are detached, as in mmdetection)
  const dCls = R.quality_focal_loss.vjp(qflIn, qflAttrs, {
    loss: { shape: [NP], data: Float64Array.from(t.labelWeights, (lw) => lw / (t.avgFactor + eps)) },
  }).pred!;
  const dBoxes = R.generalized_box_iou_loss.vjp(giouIn, giouAttrs, { loss: { shape: [P], data: Float64Array.from(w, (wi) => (2 * wi) / denom) } }).boxes1!;
  const dDist = R.distance2bbox.vjp({ points, distance: dist }, {}, { out: dBoxes }).distance!;
  const dSidesFromBox = R.integral.vjp({ pred: sides }, { reg_max: regMax }, { out: { shape: [P * 4], data: dDist.data } }).pred!;
  const dSidesFromDfl = R.distribution_focal_loss.vjp(
    dflIn,
    { reg_max: regMax },
    {
      loss: { shape: [P * 4], data: Float64Array.from({ length: P * 4 }, (_, i) => (0.25 * 0.25 * w[Math.floor(i / 4)]) / denom) },
    },
  ).pred!;
  const dReg = new Float64Array(reg.data.length);
  t.posIndex.forEach((r, i) => {
    for (let k = 0; k < 4 * bins; k++) dReg[r * 4 * bins + k] = dSidesFromBox.data[i * 4 * bins + k] + dSidesFromDfl.data[i * 4 * bins + k];
  });
  return { qfl, giou, dfl, total, dCls: dCls.data, dReg };
}

describe('GFL loss', () => {
  it('matches the float64 composition in value and gradients', async () => {
    const head = new GFLHead({ numClasses: C, inChannels: 4, featChannels: 4, stackedConvs: 1, gnGroups: 2, regMax, numLevels: 1 }, new InitSeeds(1));
    const rng = new Rng(5);
    // head outputs as leaves [N, C, H, W] and [N, 4·bins, H, W]
    const clsMap = E.requireGrad(E.tensor(rng.normal(N * C * H * W, 0, 2), [N, C, H, W]));
    const regMap = E.requireGrad(E.tensor(rng.normal(N * 4 * bins * H * W, 0, 1.5), [N, 4 * bins, H, W]));
    const t = targets();
    const losses = head.loss({ cls: [clsMap], reg: [regMap] }, t);
    E.backward(losses.total);
    // the same data in the [N·P, ·] layout of the reference
    const toRows = async (m: E.Tensor, ch: number): Promise<RefTensor> => {
      const d = await m.data();
      const out = new Float64Array(N * H * W * ch);
      for (let n = 0; n < N; n++) for (let c = 0; c < ch; c++) for (let p = 0; p < H * W; p++) out[(n * H * W + p) * ch + c] = d[(n * ch + c) * H * W + p];
      return { shape: [N * H * W, ch], data: out };
    };
    const ref = referenceLoss(await toRows(clsMap, C), await toRows(regMap, 4 * bins), t);
    expect(await losses.qfl.item()).toBeCloseTo(ref.qfl, 5);
    expect(await losses.giou.item()).toBeCloseTo(ref.giou, 5);
    expect(await losses.dfl.item()).toBeCloseTo(ref.dfl, 5);
    expect(await losses.total.item()).toBeCloseTo(ref.total, 5);
    expect(relErr((await toRows(clsMap.grad!, C)).data, ref.dCls)).toBeLessThan(1e-5);
    expect(relErr((await toRows(regMap.grad!, 4 * bins)).data, ref.dReg)).toBeLessThan(1e-5);
  });

  it('is QFL alone when a batch has no positives', async () => {
    const head = new GFLHead({ numClasses: C, inChannels: 4, featChannels: 4, stackedConvs: 1, gnGroups: 2, regMax, numLevels: 1 }, new InitSeeds(1));
    const t = targets();
    const empty: DenseTargets = {
      ...t,
      labels: new Int32Array(t.labels.length).fill(C),
      posIndex: new Int32Array(0),
      posCenters: new Float32Array(0),
      posBoxTargets: new Float32Array(0),
      posStrides: new Float32Array(0),
      posGtIndex: new Int32Array(0),
      posPriors: new Float32Array(0),
      posGtBoxes: new Float32Array(0),
      posCenterness: new Float32Array(0),
      numPos: 0,
      avgFactor: 2,
    };
    const cls = E.requireGrad(E.randNormal([N, C, H, W], 3));
    const reg = E.requireGrad(E.randNormal([N, 4 * bins, H, W], 4));
    const l = head.loss({ cls: [cls], reg: [reg] }, empty);
    expect(await l.giou.item()).toBe(0);
    expect(await l.dfl.item()).toBe(0);
    expect(await l.total.item()).toBeCloseTo(await l.qfl.item(), 6);
    E.backward(l.total);
    expect(cls.grad).not.toBeNull();
  });
});
