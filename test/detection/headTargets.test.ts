/**
 * Priors, target assignment and box coding of the ATSS, RetinaNet and FCOS heads, on worked
 * examples: FCOS's regress ranges (inclusive ends, smallest box wins), its batch-wide
 * N_pos and centerness targets; RetinaNet's nine anchors and MaxIoU bands; the delta
 * coding and its clamp; decoding for inference with the centerness score factors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { bboxOverlaps } from '../../detection/boxes.ts';
import { Detector, type DetectorConfig } from '../../detection/detector.ts';
import { FcosAssigner, defaultRegressRanges } from '../../detection/assigners/fcos.ts';
import { ATSSHead } from '../../detection/heads/atss.ts';
import { FCOSHead } from '../../detection/heads/fcos.ts';
import { ATSS_DELTA_STDS, RETINA_DELTA_STDS, decodeDeltas, encodeDeltas } from '../../detection/heads/deltaCoder.ts';
import { centernessTarget } from '../../detection/heads/gflTargets.ts';
import { PointGenerator } from '../../detection/priors.ts';

beforeAll(async () => {
  await E.init();
});

/** level 0: stride 8, 2×2 points (4,4) (12,4) (4,12) (12,12); level 1: stride 16, the point (8,8) */
const points = new PointGenerator([8, 16], 0.5).gridPriors([
  [2, 2],
  [1, 1],
]);
// A = [0,0,10,10] (area 100, label 1), B = [2,2,30,30] (area 784, label 2)
const gtBoxes = [0, 0, 10, 10, 2, 2, 30, 30];
const gtLabels = [1, 2];
const ranges: [number, number][] = [
  [-1, 8],
  [8, 1e8],
];

describe('FCOS assignment', () => {
  it('assigns by regress range, inclusive at the ends, the smallest box among candidates', () => {
    const r = new FcosAssigner(ranges).assign({ points: points.priors, numLevelPoints: points.numLevelPriors, gtBoxes, gtLabels, numClasses: 3 });
    // (4,4): in A with reach max(4,4,6,6) = 6 ≤ 8; B's reach 26 is beyond level 0's range.
    // (12,4), (4,12), (12,12): outside A; B's reaches 26, 26, 18 > 8: background.
    // (8,8) at level 1: A's reach max(8,8,2,2) = 8 ≥ 8 (inclusive), B's 22: both, A is smaller.
    expect(Array.from(r.gtIndex)).toEqual([0, -1, -1, -1, 0]);
    expect(Array.from(r.labels)).toEqual([1, 3, 3, 3, 1]);
  });

  it('gives batch-wide N_pos and centerness targets through the head', () => {
    const head = new FCOSHead(
      { numClasses: 3, inChannels: 4, featChannels: 4, stackedConvs: 1, gnGroups: 2, numLevels: 2, regressRanges: ranges },
      new InitSeeds(1),
    );
    const flags = new Uint8Array(5).fill(1);
    const t = head.buildTargets(
      points,
      [8, 16],
      [
        { gtBoxes, gtLabels, validFlags: flags },
        { gtBoxes: [], gtLabels: [], validFlags: flags },
      ],
    );
    expect(Array.from(t.posIndex)).toEqual([0, 4]);
    // max(2 positives in the batch, 1) — per image it would be 2 + max(0, 1) = 3
    expect(t.avgFactor).toBe(2);
    expect(Array.from(t.labelWeights)).toEqual(new Array(10).fill(1));
    // (4,4) in A: sqrt(4/6 · 4/6) = 0.666667; (8,8) in A: sqrt(2/8 · 2/8) = 0.25
    expect(t.posCenterness[0]).toBeCloseTo(0.666667, 6);
    expect(t.posCenterness[1]).toBeCloseTo(0.25, 6);
    expect(Array.from(t.posPriors)).toEqual([4, 4, 8, 8]);
    expect(Array.from(t.posGtBoxes)).toEqual([0, 0, 10, 10, 0, 0, 10, 10]);
  });

  it("defaults to mmdetection's ranges, the last level open", () => {
    expect(defaultRegressRanges(4)).toEqual([
      [-1, 64],
      [64, 128],
      [128, 256],
      [256, 1e8],
    ]);
    expect(() => defaultRegressRanges(6)).toThrow(/numLevels must be an integer in \[1, 5\], got 6/);
  });

  it('centerness of a point, worked', () => {
    expect(centernessTarget(4, 4, [0, 0, 10, 10])).toBeCloseTo(Math.sqrt((4 / 6) * (4 / 6)), 12);
    expect(centernessTarget(5, 5, [0, 0, 10, 10])).toBe(1);
  });
});

const tinyModel = {
  backbone: {
    type: 'resnet' as const,
    stemChannels: 8,
    stageChannels: [8, 8, 8, 8] as [number, number, number, number],
    depths: [1, 1, 1, 1] as [number, number, number, number],
    gnGroups: 2,
  },
  neck: { outChannels: 8, numOuts: 4 },
};

describe('RetinaNet priors and targets', () => {
  const cfg: DetectorConfig = {
    numClasses: 3,
    seed: 0,
    ...tinyModel,
    head: { type: 'retina', featChannels: 8, stackedConvs: 1 },
    anchors: { octaveBaseScale: 2 },
  };

  it('has 9 anchors per location: 3 ratios × 3 octave scales', () => {
    const d = new Detector(cfg);
    const p = d.priors(64, 64);
    expect(p.numLevelPriors).toEqual([8 * 8 * 9, 4 * 4 * 9, 2 * 2 * 9, 1 * 9]);
    // location (0,0) of stride 8: ratio 0.5 first, scale 2·8 = 16: w = 16/√0.5, h = 16·√0.5
    const [w, h] = [16 / Math.SQRT1_2, 16 * Math.SQRT1_2];
    expect(Array.from(p.priors.subarray(0, 4))).toEqual([-w / 2, -h / 2, w / 2, h / 2].map((v) => expect.closeTo(v, 10)));
    // the 9th: ratio 2, scale 16·2^(2/3)
    const s = 16 * 2 ** (2 / 3);
    expect(Array.from(p.priors.subarray(32, 36))).toEqual(
      [(-s * Math.SQRT1_2) / 2, (-s * Math.SQRT2) / 2, (s * Math.SQRT1_2) / 2, (s * Math.SQRT2) / 2].map((v) => expect.closeTo(v, 10)),
    );
    expect(d.bboxHead.priorsPerLocation).toBe(9);
    d.dispose();
  });

  it('labels anchors by MaxIoU: positive ≥ 0.5, ignored in [0.4, 0.5), every gt keeps its best', () => {
    const d = new Detector(cfg);
    const gt = Float64Array.of(8, 8, 24, 24, 30, 2, 60, 50);
    const t = d.buildTargets({ padSize: [64, 64], imageSizes: [[64, 64]], gtBoxes: [gt], gtLabels: [Int32Array.of(0, 2)] });
    const anchors = d.priors(64, 64).priors;
    const ious = bboxOverlaps(anchors, gt); // anchors × 2
    const P = anchors.length / 4;
    const best = Array.from({ length: P }, (_, p) => Math.max(ious[2 * p], ious[2 * p + 1]));
    expect(best.filter((v) => v >= 0.4 && v < 0.5).length, 'anchors in the ignored band').toBeGreaterThan(0);
    for (let p = 0; p < P; p++) {
      const positive = t.labels[p] < 3;
      if (best[p] >= 0.5) expect(positive, `anchor ${p}, IoU ${best[p]}`).toBe(true);
      else if (best[p] >= 0.4) expect(t.labelWeights[p], `anchor ${p} in the ignored band`).toBe(positive ? 1 : 0);
      else if (!positive) expect(t.labelWeights[p]).toBe(1);
    }
    // [8,8,24,24] is exactly the ratio-1, scale-1 anchor of location (2,2): IoU 1, label 0
    const exact = (2 * 8 + 2) * 9 + 3;
    expect(Array.from(anchors.subarray(4 * exact, 4 * exact + 4))).toEqual([8, 8, 24, 24]);
    expect(t.labels[exact]).toBe(0);
    // both gts have positives (the second through its best anchors at least)
    expect(new Set(Array.from(t.posGtIndex))).toEqual(new Set([0, 1]));
    expect(t.avgFactor).toBe(t.numPos);
    d.dispose();
  });
});

describe('delta coding', () => {
  it('encodes and decodes, worked', async () => {
    // anchor [0,0,10,10], gt [5,5,15,20]: centre shift (5, 7.5)/10, size ratio (1, 1.5)
    const deltas = encodeDeltas([0, 0, 10, 10], [5, 5, 15, 20], ATSS_DELTA_STDS);
    expect(Array.from(deltas)).toEqual([0.5 / 0.1, 0.75 / 0.1, 0, Math.log(1.5) / 0.2].map((v) => expect.closeTo(v, 5)));
    const boxes = decodeDeltas(E.tensor([0, 0, 10, 10], [1, 4]), E.tensor(deltas, [1, 4]), ATSS_DELTA_STDS);
    expect(Array.from(await boxes.data())).toEqual([5, 5, 15, 20].map((v) => expect.closeTo(v, 4)));
  });

  it('clamps the log size ratio at |ln(16/1000)|', async () => {
    const boxes = decodeDeltas(E.tensor([0, 0, 10, 10], [1, 4]), E.tensor([0, 0, 100, 0], [1, 4]), RETINA_DELTA_STDS);
    // width 10·1000/16 = 625 about the centre 5
    expect(Array.from(await boxes.data())).toEqual([-307.5, 0, 317.5, 10].map((v) => expect.closeTo(v, 2)));
  });
});

describe('decoding for inference', () => {
  it('scores σ(cls), score factors σ(centerness), boxes from the priors', async () => {
    const atss = new ATSSHead({ numClasses: 2, inChannels: 4, featChannels: 4, stackedConvs: 1, gnGroups: 2, numLevels: 1 }, new InitSeeds(1));
    const fcos = new FCOSHead({ numClasses: 2, inChannels: 4, featChannels: 4, stackedConvs: 1, gnGroups: 2, numLevels: 1 }, new InitSeeds(1));
    // one image, one location
    const priors = { priors: E.tensor([0, 0, 16, 16], [1, 4]), centers: E.tensor([8, 8], [1, 2]), strides: E.tensor([8], [1, 1]) };
    const cls = E.tensor([0, 2], [1, 2, 1, 1]);
    const ctr = E.tensor([-1], [1, 1, 1, 1]);
    const a = atss.decode({ cls: [cls], reg: [E.tensor([0, 0, 0, 0], [1, 4, 1, 1])], centerness: [ctr] }, priors);
    expect(Array.from(await a.scores.data())).toEqual([0.5, 1 / (1 + Math.exp(-2))].map((v) => expect.closeTo(v, 6)));
    expect(Array.from(await a.scoreFactors!.data())).toEqual([expect.closeTo(1 / (1 + Math.E), 6)]);
    expect(Array.from(await a.boxes.data())).toEqual([0, 0, 16, 16]);
    const pointPriors = { ...priors, priors: E.tensor([4, 4], [1, 2]) };
    const f = fcos.decode({ cls: [cls], reg: [E.tensor([1, 2, 3, 4], [1, 4, 1, 1])], centerness: [ctr] }, pointPriors);
    expect(Array.from(await f.boxes.data())).toEqual([3, 2, 7, 8]);
    expect(fcos.testConfig).toEqual({ iouThreshold: 0.5 });
    expect(atss.testConfig).toEqual({});
  });
});
