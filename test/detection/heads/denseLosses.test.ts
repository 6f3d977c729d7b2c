/**
 * The detection losses of the ATSS, RetinaNet and FCOS heads (mmdetection's terms and
 * normalisers) against the same formulas composed in float64 from the reference ops and
 * written-out box codings: every term's value, and the gradient of the total with respect
 * to the class, regression and centerness maps by central differences.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../../engine/index.ts';
import { InitSeeds } from '../../../engine/nn/index.ts';
import { Rng } from '../../../engine/random.ts';
import { ATSSHead } from '../../../detection/heads/atss.ts';
import { RetinaHead } from '../../../detection/heads/retina.ts';
import { FCOSHead } from '../../../detection/heads/fcos.ts';
import type { DenseHead, HeadOutputs } from '../../../detection/heads/dense.ts';
import type { DenseTargets } from '../../../detection/heads/gflTargets.ts';
import {
  GRID,
  anchorAt,
  bce,
  boxLossRows,
  decodeDelta,
  decodeDistance,
  fdRelativeError,
  focalElems,
  gridTargets,
  pointAt,
  rowsOf,
  type HeadKind,
} from './headReference.ts';

beforeAll(async () => {
  await E.init();
});

const C = 3;
const { N, H, W } = GRID;
const EPS = 1.1920929e-7;
const cfg = { numClasses: C, inChannels: 4, featChannels: 4, stackedConvs: 1, numLevels: 1 };

interface Case {
  head: DenseHead;
  targets: DenseTargets;
  /** the float64 terms from the row-major leaves */
  reference: (cls: Float64Array, reg: Float64Array, ctr: Float64Array) => Record<string, number>;
  /** maps of positive regression values (FCOS distances) */
  positiveReg?: boolean;
}

const sumBy = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i)).reduce((a, b) => a + b, 0);

function focalTerm(cls: Float64Array, t: DenseTargets, withWeights: boolean): number {
  const onehot = new Float64Array(cls.length);
  t.labels.forEach((l, r) => l < C && (onehot[r * C + l] = 1));
  const elems = focalElems(cls, onehot);
  return sumBy(elems.length, (i) => (withWeights ? t.labelWeights[Math.floor(i / C)] : 1) * elems[i]) / (t.avgFactor + EPS);
}

const CASES: Record<HeadKind, () => Case> = {
  atss: () => {
    const targets = gridTargets(
      C,
      1,
      4,
      [
        { row: 1, prior: anchorAt(1), gt: [-2, -6, 20, 11], label: 0 },
        { row: 4, prior: anchorAt(4), gt: [1, 3, 15, 14], label: 2 },
        { row: 8, prior: anchorAt(2), gt: [10, -3, 22, 6], label: 1 },
      ],
      [10],
      3,
    );
    const stds = [0.1, 0.1, 0.2, 0.2];
    return {
      head: new ATSSHead({ ...cfg, gnGroups: 2 }, new InitSeeds(1)),
      targets,
      reference: (cls, reg, ctr) => {
        const P = targets.numPos;
        const boxes = Array.from({ length: P }, (_, i) => decodeDelta(targets.posPriors.subarray(4 * i), reg.subarray(4 * targets.posIndex[i]), stds));
        const gts = Array.from({ length: P }, (_, i) => Array.from(targets.posGtBoxes.subarray(4 * i, 4 * i + 4)));
        const ct = Array.from(targets.posCenterness);
        const giouRows = boxLossRows(boxes, gts, false);
        const focal = focalTerm(cls, targets, true);
        const giou =
          sumBy(P, (i) => ct[i] * giouRows[i]) /
          (1 + EPS) /
          Math.max(
            ct.reduce((a, b) => a + b, 0),
            1,
          );
        const cent = sumBy(P, (i) => bce(ctr[targets.posIndex[i]], ct[i])) / (targets.avgFactor + EPS);
        return { focal, giou, centerness: cent, total: focal + 2 * giou + cent };
      },
    };
  },
  retina: () => {
    // anchor k·9 + a: location k, the a-th of the 9 (only the positives' boxes matter here)
    const targets = gridTargets(
      C,
      9,
      4,
      [
        { row: 1 * 9 + 4, prior: anchorAt(1, 32, 32), gt: [-2, -6, 20, 11], label: 0 },
        { row: 4 * 9 + 0, prior: anchorAt(4, 45, 23), gt: [1, 3, 15, 14], label: 2 },
        { row: 6 * 9 + 8, prior: anchorAt(0, 36, 72), gt: [-10, -20, 12, 30], label: 1 },
      ],
      [5, 60],
      3,
    );
    return {
      head: new RetinaHead(cfg, new InitSeeds(1)),
      targets,
      reference: (cls, reg) => {
        const P = targets.numPos;
        let l1 = 0;
        for (let i = 0; i < P; i++) {
          const [a, g] = [targets.posPriors.subarray(4 * i), targets.posGtBoxes.subarray(4 * i)];
          const [pw, ph, gw, gh] = [a[2] - a[0], a[3] - a[1], g[2] - g[0], g[3] - g[1]];
          const target = [(g[0] + gw / 2 - (a[0] + pw / 2)) / pw, (g[1] + gh / 2 - (a[1] + ph / 2)) / ph, Math.log(gw / pw), Math.log(gh / ph)];
          for (let k = 0; k < 4; k++) l1 += Math.abs(reg[4 * targets.posIndex[i] + k] - target[k]);
        }
        const focal = focalTerm(cls, targets, true);
        l1 /= targets.avgFactor + EPS;
        return { focal, l1, total: focal + l1 };
      },
    };
  },
  fcos: () => {
    const targets = gridTargets(
      C,
      1,
      2,
      [
        { row: 1, prior: pointAt(1), gt: [2, -6, 20, 11], label: 0 },
        { row: 4, prior: pointAt(4), gt: [1, 3, 15, 14], label: 2 },
        { row: 8, prior: pointAt(2), gt: [10, -3, 22, 6], label: 1 },
      ],
      [],
      3,
    );
    return {
      head: new FCOSHead({ ...cfg, gnGroups: 2 }, new InitSeeds(1)),
      targets,
      positiveReg: true,
      reference: (cls, reg, ctr) => {
        const P = targets.numPos;
        const boxes = Array.from({ length: P }, (_, i) => decodeDistance(targets.posPriors.subarray(2 * i), reg.subarray(4 * targets.posIndex[i])));
        const gts = Array.from({ length: P }, (_, i) => Array.from(targets.posGtBoxes.subarray(4 * i, 4 * i + 4)));
        const ct = Array.from(targets.posCenterness);
        const iouRows = boxLossRows(boxes, gts, true);
        const focal = focalTerm(cls, targets, false);
        const denom = Math.max(
          ct.reduce((a, b) => a + b, 0),
          1e-6,
        );
        const iou = sumBy(P, (i) => ct[i] * iouRows[i]) / (denom + EPS);
        const cent = sumBy(P, (i) => bce(ctr[targets.posIndex[i]], ct[i])) / (targets.avgFactor + EPS);
        return { focal, iou, centerness: cent, total: focal + iou + cent };
      },
    };
  },
};

describe.each(['atss', 'retina', 'fcos'] as const)('%s loss', (kind) => {
  it('matches the float64 composition in every term and in the gradients', async () => {
    const { head, targets, reference, positiveReg } = CASES[kind]();
    const A = head.priorsPerLocation;
    const rng = new Rng(5);
    const leaf = (ch: number, values: Float64Array) => E.requireGrad(E.tensor(Float32Array.from(values), [N, ch, H, W]));
    const cls = leaf(A * C, rng.normal(N * A * C * H * W, 0, 2));
    // FCOS distances in pixels (after exp), around the boxes' sizes
    const regValues = positiveReg ? rng.normal(N * 4 * H * W, 2, 0.4).map(Math.exp) : rng.normal(N * A * 4 * H * W, 0, 0.5);
    const reg = leaf(A * 4, regValues);
    const ctr = kind === 'retina' ? null : leaf(1, rng.normal(N * H * W, 0, 1.5));
    const outputs: HeadOutputs = { cls: [cls], reg: [reg], ...(ctr ? { centerness: [ctr] } : {}) };
    const losses = head.loss(outputs, targets);
    E.backward(losses.total);

    const rows = async (t: E.Tensor, K: number) => rowsOf([{ shape: [...t.shape], data: Float64Array.from(await t.data()) }], K);
    const [clsRows, regRows, ctrRows] = [await rows(cls, C), await rows(reg, 4), ctr ? await rows(ctr, 1) : new Float64Array(0)];
    const ref = reference(clsRows, regRows, ctrRows);
    expect(Object.keys(losses).sort()).toEqual(Object.keys(ref).sort());
    for (const [term, value] of Object.entries(ref)) expect(await losses[term].item(), term).toBeCloseTo(value, 5);

    // gradients: the leaves in NCHW order vs central differences of the float64 total
    const total = (c: Float64Array, r: Float64Array, z: Float64Array) => reference(c, r, z).total;
    const asRows = (values: Float64Array, K: number, ch: number) => rowsOf([{ shape: [N, ch, H, W], data: values }], K);
    const clsData = Float64Array.from(await cls.data());
    const regData = Float64Array.from(await reg.data());
    const ctrData = ctr ? Float64Array.from(await ctr.data()) : new Float64Array(0);
    const f = () => total(asRows(clsData, C, A * C), asRows(regData, 4, A * 4), ctr ? asRows(ctrData, 1, 1) : ctrData);
    expect(await fdRelativeError(f, cls.grad!, clsData), 'd total / d cls').toBeLessThan(1e-4);
    expect(await fdRelativeError(f, reg.grad!, regData), 'd total / d reg').toBeLessThan(1e-4);
    if (ctr) expect(await fdRelativeError(f, ctr.grad!, ctrData), 'd total / d centerness').toBeLessThan(1e-4);
  });

  it('is the classification term alone when a batch has no positives', async () => {
    const { head, targets } = CASES[kind]();
    const empty: DenseTargets = {
      ...targets,
      labels: new Int32Array(targets.labels.length).fill(C),
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
    const A = head.priorsPerLocation;
    const outputs: HeadOutputs = {
      cls: [E.requireGrad(E.randNormal([N, A * C, H, W], 3))],
      reg: [E.requireGrad(E.randNormal([N, A * 4, H, W], 4))],
      ...(A === 1 ? { centerness: [E.requireGrad(E.randNormal([N, 1, H, W], 6))] } : {}),
    };
    const l = head.loss(outputs, empty);
    for (const [term, t] of Object.entries(l)) if (term !== 'focal' && term !== 'total') expect(await t.item(), term).toBe(0);
    expect(await l.total.item()).toBeCloseTo(await l.focal.item(), 6);
  });
});
