import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  IOU_THRESHOLDS,
  RECALL_THRESHOLDS,
  detectionsToCoco,
  evaluateCoco,
  formatCocoSummary,
  type CocoDataset,
  type CocoDetection,
} from '../../detection/eval/coco.ts';

interface FixtureCase {
  name: string;
  description: string;
  gt: CocoDataset;
  detections: CocoDetection[];
  expected: { stats: number[]; per_class: Record<string, number> };
}
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/coco_eval_cases.json', import.meta.url), 'utf8')) as {
  pycocotools: string;
  iouThrs: number[];
  recThrs: number[];
  cases: FixtureCase[];
};

describe('COCO eval against pycocotools (scripts/gen_coco_fixtures.py)', () => {
  it('uses the same IoU and recall thresholds, bit for bit', () => {
    expect([...IOU_THRESHOLDS]).toEqual(fixtures.iouThrs);
    expect([...RECALL_THRESHOLDS]).toEqual(fixtures.recThrs);
  });

  for (const c of fixtures.cases) {
    it(`${c.name}: ${c.description}`, () => {
      const got = evaluateCoco(c.gt, c.detections);
      got.stats.forEach((v, i) => expect(Math.abs(v - c.expected.stats[i]), `stats[${i}]: ${v} vs ${c.expected.stats[i]}`).toBeLessThan(1e-9));
      expect(Object.keys(got.per_class)).toEqual(Object.keys(c.expected.per_class));
      for (const [name, ap] of Object.entries(c.expected.per_class)) {
        expect(Math.abs(got.per_class[name] - ap), `per_class ${name}`).toBeLessThan(1e-9);
      }
    });
  }
});

// ───────────────────────────── hand-worked cases ─────────────────────────────

let nextAnnId = 1;
const gtAnn = (image_id: number, category_id: number, bbox: number[], iscrowd = 0) => ({
  id: nextAnnId++,
  image_id,
  category_id,
  bbox,
  area: bbox[2] * bbox[3],
  iscrowd,
});
const det = (image_id: number, category_id: number, bbox: number[], score: number): CocoDetection => ({ image_id, category_id, bbox, score });
const dataset = (numImages: number, catNames: string[], annotations: ReturnType<typeof gtAnn>[]): CocoDataset => ({
  images: Array.from({ length: numImages }, (_, i) => ({ id: i + 1 })),
  categories: catNames.map((name, i) => ({ id: i + 1, name })),
  annotations,
});

describe('COCO eval, hand-worked cases', () => {
  it('one of two objects found: AP = 51/101 at every IoU threshold', () => {
    // Two 50×50 gts (area 2500: medium), one exact detection. Along the ranked list recall
    // is [0.5] with precision [1]. The 101 recall points 0, 0.01, …, 0.50 (51 of them) reach
    // precision 1; the 50 points above 0.5 are never reached and count 0. The detection is
    // exact, so every threshold gives the same: AP = 51/101 ≈ 0.50495. Recall is 0.5.
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [0, 0, 50, 50]), gtAnn(1, 1, [100, 100, 50, 50])]);
    const r = evaluateCoco(gt, [det(1, 1, [0, 0, 50, 50], 0.9)]);
    for (const v of [r.mAP, r.mAP50, r.mAP75, r.mAP_m]) expect(v).toBeCloseTo(51 / 101, 12);
    expect(r.mAP_s).toBe(-1); // no small or large gts: absent, not 0
    expect(r.mAP_l).toBe(-1);
    expect(r.AR1).toBeCloseTo(0.5, 12);
    expect(r.AR100).toBeCloseTo(0.5, 12);
    expect(r.per_class).toEqual({ a: r.mAP });
  });

  it('a duplicate below the match costs nothing; a false positive above it halves AP', () => {
    // TP 0.9 then duplicate 0.8 (the gt is taken → FP): precision [1, 0.5] at recall [1, 1];
    // every recall point is first reached at the TP → AP 1.
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [10, 10, 50, 50])]);
    const dup = evaluateCoco(gt, [det(1, 1, [10, 10, 50, 50], 0.9), det(1, 1, [11, 10, 50, 50], 0.8)]);
    expect(dup.mAP).toBeCloseTo(1, 12);
    // FP 0.95 first: recall [0, 1], precision [0, 0.5] → made non-increasing from the right
    // [0.5, 0.5] → every recall point reads 0.5 → AP 0.5.
    const fpFirst = evaluateCoco(gt, [det(1, 1, [300, 300, 20, 20], 0.95), det(1, 1, [10, 10, 50, 50], 0.9)]);
    expect(fpFirst.mAP).toBeCloseTo(0.5, 12);
    // A detection in an image without gts counts as that false positive just the same.
    const gt2 = dataset(2, ['a'], [gtAnn(1, 1, [10, 10, 50, 50])]);
    const other = evaluateCoco(gt2, [det(2, 1, [10, 10, 50, 50], 0.95), det(1, 1, [10, 10, 50, 50], 0.9)]);
    expect(other.mAP).toBeCloseTo(0.5, 12);
  });

  it('a wrong class scores 0 for the true class; a class without gts is -1 and left out', () => {
    // Gt of class 'a', detection on the same box as class 'b': 'a' has a gt and no
    // detection → AP 0; 'b' has no gt → -1, excluded from the mean → mAP 0.
    const gt = dataset(1, ['a', 'b'], [gtAnn(1, 1, [10, 10, 50, 50])]);
    const r = evaluateCoco(gt, [det(1, 2, [10, 10, 50, 50], 0.9)]);
    expect(r.per_class).toEqual({ a: 0, b: -1 });
    expect(r.mAP).toBe(0);
    // With a correct 'a' detection added, mAP is 'a' alone: 1.
    const r2 = evaluateCoco(gt, [det(1, 2, [10, 10, 50, 50], 0.9), det(1, 1, [10, 10, 50, 50], 0.5)]);
    // (precision is tp / (tp + fp + 2^-52) as in pycocotools, so "1" is 1 - 1e-16)
    expect(r2.per_class.a).toBeCloseTo(1, 12);
    expect(r2.per_class.b).toBe(-1);
    expect(r2.mAP).toBeCloseTo(1, 12);
  });

  it('a box with IoU 0.7 counts at the thresholds 0.50 … 0.70 only', () => {
    // gt [0,0,100,100], detection [0,0,100,70]: IoU 7000/10000 = 0.7, a match at
    // t ∈ {0.50, 0.55, 0.60, 0.65, 0.70} (≥ t) and a miss at the other five:
    // mAP = 5/10 = 0.5, AP50 = 1, AP75 = 0. Area 10000 > 96²: large.
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [0, 0, 100, 100])]);
    const r = evaluateCoco(gt, [det(1, 1, [0, 0, 100, 70], 0.9)]);
    expect(r.mAP).toBeCloseTo(0.5, 12);
    expect(r.mAP50).toBeCloseTo(1, 12);
    expect(r.mAP75).toBe(0);
    expect(r.mAP_l).toBeCloseTo(0.5, 12);
    expect(r.AR100).toBeCloseTo(0.5, 12);
  });

  it('detections inside a crowd region are ignored, not false positives', () => {
    // Crowd gt [100,100,200,200] (x 100..300) and a regular gt [0,0,50,50]. The 0.9
    // detection [110,110,40,40] lies wholly in the crowd: IoU = 1600 / its own area 1600 = 1
    // → matched to the crowd → ignored. The list is then [ignored, TP]: precision at the TP
    // is 1/1 → AP 1. (Counted as a false positive it would be 0.5.)
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [100, 100, 200, 200], 1), gtAnn(1, 1, [0, 0, 50, 50])]);
    const r = evaluateCoco(gt, [det(1, 1, [110, 110, 40, 40], 0.9), det(1, 1, [0, 0, 50, 50], 0.8)]);
    expect(r.mAP).toBeCloseTo(1, 12);
    expect(r.AR100).toBeCloseTo(1, 12); // the crowd is not an object to recall
  });

  it("area ranges: each range ignores the others' gts and unmatched detections", () => {
    // Small gt 20×20 (400) found exactly; large gt 100×100 (10000) missed.
    // all: 1 of 2 → 51/101. small: the large gt is ignored → 1 of 1 → 1.
    // large: the small gt is ignored, the detection matches it and is ignored too; the large
    // gt is missed → 0. medium: no gt in range → -1.
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [0, 0, 20, 20]), gtAnn(1, 1, [200, 200, 100, 100])]);
    const r = evaluateCoco(gt, [det(1, 1, [0, 0, 20, 20], 0.9)]);
    expect(r.mAP).toBeCloseTo(51 / 101, 12);
    expect(r.mAP_s).toBeCloseTo(1, 12);
    expect(r.mAP_m).toBe(-1);
    expect(r.mAP_l).toBe(0);
    expect(r.AR_s).toBeCloseTo(1, 12);
    expect(r.AR_l).toBe(0);
  });

  it('AR@1 sees only the best detection per image', () => {
    // Two gts in one image, both found (0.9 and 0.8): AR@1 = 1/2, AR@10 = AR@100 = 1.
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [0, 0, 40, 40]), gtAnn(1, 1, [100, 0, 40, 40])]);
    const r = evaluateCoco(gt, [det(1, 1, [0, 0, 40, 40], 0.9), det(1, 1, [100, 0, 40, 40], 0.8)]);
    expect(r.AR1).toBeCloseTo(0.5, 12);
    expect(r.AR10).toBeCloseTo(1, 12);
    expect(r.AR100).toBeCloseTo(1, 12);
  });

  it('no detections at all: 0 for every class with gts', () => {
    const gt = dataset(2, ['a', 'b'], [gtAnn(1, 1, [0, 0, 40, 40])]);
    const r = evaluateCoco(gt, []);
    expect(r.mAP).toBe(0);
    expect(r.AR100).toBe(0);
    expect(r.per_class).toEqual({ a: 0, b: -1 });
  });

  it('rejects malformed input with the offending item named', () => {
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [0, 0, 40, 40])]);
    expect(() => evaluateCoco(gt, [det(9, 1, [0, 0, 1, 1], 0.5)])).toThrow('detection #0: unknown image_id 9');
    expect(() => evaluateCoco(gt, [det(1, 7, [0, 0, 1, 1], 0.5)])).toThrow('detection #0: unknown category_id 7');
    expect(() => evaluateCoco(gt, [det(1, 1, [0, 0, -1, 1], 0.5)])).toThrow(/negative width or height/);
    expect(() => evaluateCoco(gt, [det(1, 1, [0, 0, 1, 1], NaN)])).toThrow(/score NaN/);
    const dupIds = { ...gt, annotations: [{ ...gt.annotations[0] }, { ...gt.annotations[0] }] };
    expect(() => evaluateCoco(dupIds, [])).toThrow(/duplicate annotation id/);
    const badCat = { ...gt, annotations: [{ ...gt.annotations[0], category_id: 3 }] };
    expect(() => evaluateCoco(badCat, [])).toThrow(/annotation .* unknown category_id 3/);
  });

  it('formats the pycocotools summary and converts head outputs to COCO results', () => {
    const gt = dataset(1, ['a'], [gtAnn(1, 1, [0, 0, 50, 50]), gtAnn(1, 1, [100, 100, 50, 50])]);
    const text = formatCocoSummary(evaluateCoco(gt, [det(1, 1, [0, 0, 50, 50], 0.9)]));
    expect(text).toContain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505');
    expect(text).toContain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000');
    expect(text).toContain(' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.500');
    // Label c → categoryIds[c]; (x1,y1,x2,y2) → [x, y, w, h].
    const coco = detectionsToCoco(4, { bboxes: Float64Array.from([1, 2, 11, 22]), scores: Float64Array.from([0.7]), labels: Int32Array.from([1]) }, [3, 8]);
    expect(coco).toEqual([{ image_id: 4, category_id: 8, bbox: [1, 2, 10, 20], score: 0.7 }]);
  });
});
