import { describe, expect, it } from 'vitest';
import { boxesFrom } from '../../detection/boxes.ts';
import { ATSSAssigner } from '../../detection/assigners/atss.ts';
import { BACKGROUND, IGNORED, positiveIndices } from '../../detection/assigners/assignResult.ts';
import { gflAnchorGenerator } from '../../detection/priors.ts';

const NUM_CLASSES = 3;

// Four 10×10 priors:          centre
//   p0 [0,0,10,10]            (5,5)
//   p1 [10,0,20,10]           (15,5)
//   p2 [0,10,10,20]           (5,15)
//   p3 [20,20,30,30]          (25,25)
// gt [0,0,16,10] (area 160, centre (8,5)), label 2.
// Centre distances: p0 3, p1 7, p2 √109 ≈ 10.44, p3 √689 ≈ 26.2.
// IoUs: p0 100/160 = 0.625; p1 60/(100+160-60) = 0.3; p2 0 (touches along y = 10); p3 0.
const priors = boxesFrom([
  [0, 0, 10, 10],
  [10, 0, 20, 10],
  [0, 10, 10, 20],
  [20, 20, 30, 30],
]);
const gt = boxesFrom([[0, 0, 16, 10]]);

describe('ATSS assigner, hand-built cases', () => {
  it('thresholds at mean + unbiased std of the nearest candidates', () => {
    // topk 3, one level: candidates p0, p1, p2 with IoUs 0.625, 0.3, 0.
    // mean 0.308333; unbiased std √(((0.316667)² + (0.008333)² + (0.308333)²)/2) = 0.312583;
    // threshold 0.620917 → only p0 (0.625) passes, and its centre (5,5) is inside the gt.
    const r = new ATSSAssigner(3).assign({ priors, numLevelPriors: [4], gtBoxes: gt, gtLabels: [2], numClasses: NUM_CLASSES });
    expect([...r.gtIndex]).toEqual([0, BACKGROUND, BACKGROUND, BACKGROUND]);
    expect([...r.labels]).toEqual([2, NUM_CLASSES, NUM_CLASSES, NUM_CLASSES]);
    expect([...r.maxOverlaps]).toEqual([0.625, 0.3, 0, 0]);
    expect(r.numGts).toBe(1);
    expect(positiveIndices(r)).toEqual([0]);
  });

  it('selects the top k per level and uses the unbiased std', () => {
    // Levels [3, 1] with topk 1: level 0's nearest is p0, level 1's only prior is p3.
    // IoUs 0.625 and 0: mean 0.3125, unbiased std 0.3125·√2 = 0.441942 → threshold 0.754442
    // > 0.625, so nothing is positive. (A biased std, 0.3125, would give 0.625 and make p0
    // positive: this case tells the two apart.)
    const r = new ATSSAssigner(1).assign({ priors, numLevelPriors: [3, 1], gtBoxes: gt, gtLabels: [2], numClasses: NUM_CLASSES });
    expect([...r.gtIndex]).toEqual([BACKGROUND, BACKGROUND, BACKGROUND, BACKGROUND]);
    // Levels [2, 2] with topk 2 take all four: IoUs 0.625, 0.3, 0, 0 → mean 0.23125,
    // std 0.298172, threshold 0.529422 → p0 only.
    const r2 = new ATSSAssigner(2).assign({ priors, numLevelPriors: [2, 2], gtBoxes: gt, gtLabels: [2], numClasses: NUM_CLASSES });
    expect([...r2.gtIndex]).toEqual([0, BACKGROUND, BACKGROUND, BACKGROUND]);
  });

  it('leaves invalid (padding) priors out of the candidates and marks them IGNORED', () => {
    // p0 invalid: candidates become p1, p2, p3 with IoUs 0.3, 0, 0: mean 0.1, std 0.173205,
    // threshold 0.273205 → p1 passes, and its centre (15,5) is inside [0,0,16,10] by 1 px.
    const r = new ATSSAssigner(3).assign({
      priors,
      numLevelPriors: [4],
      gtBoxes: gt,
      gtLabels: [2],
      numClasses: NUM_CLASSES,
      validFlags: [0, 1, 1, 1],
    });
    expect([...r.gtIndex]).toEqual([IGNORED, 0, BACKGROUND, BACKGROUND]);
    expect([...r.labels]).toEqual([NUM_CLASSES, 2, NUM_CLASSES, NUM_CLASSES]);
    expect(r.maxOverlaps[0]).toBe(0);
  });

  it('requires the prior centre inside the gt by more than 0.01', () => {
    // q0 [0,0,20,20] has centre (10,10), the gt's bottom-right corner region. The other two
    // candidates have IoU 0, so q0's IoU (≈0.25) clears mean + std (≈0.228) either way.
    const q = boxesFrom([
      [0, 0, 20, 20],
      [30, 0, 50, 20],
      [0, 30, 20, 50],
    ]);
    const assign = (x2: number) =>
      new ATSSAssigner(3).assign({ priors: q, numLevelPriors: [3], gtBoxes: boxesFrom([[0, 0, x2, x2]]), gtLabels: [0], numClasses: 1 });
    // gt to 10.005: q0's centre is 0.005 inside on the right and bottom → not > 0.01 → background.
    expect([...assign(10.005).gtIndex]).toEqual([BACKGROUND, BACKGROUND, BACKGROUND]);
    // gt to 10.02: 0.02 inside → positive.
    expect([...assign(10.02).gtIndex]).toEqual([0, BACKGROUND, BACKGROUND]);
  });

  it('gives a prior claimed by two gts to the one of higher IoU', () => {
    // r0 [0,0,10,10] is the nearest prior of both gts; the other priors are far away and have
    // IoU 0 with both. Candidates (topk 3) give IoUs (v, 0, 0) → threshold 0.9107·v < v, so
    // r0 is positive for both: for gt0 [1,0,11,10] with IoU 90/110 = 0.818, for gt1
    // [0,0,10,10] with IoU 1. It goes to gt1 although gt0 comes first.
    const r = boxesFrom([
      [0, 0, 10, 10],
      [0, 20, 10, 30],
      [0, -30, 10, -20],
      [30, 0, 40, 10],
    ]);
    const res = new ATSSAssigner(3).assign({
      priors: r,
      numLevelPriors: [4],
      gtBoxes: boxesFrom([
        [1, 0, 11, 10],
        [0, 0, 10, 10],
      ]),
      gtLabels: [0, 1],
      numClasses: 2,
    });
    expect([...res.gtIndex]).toEqual([1, BACKGROUND, BACKGROUND, BACKGROUND]);
    expect([...res.labels]).toEqual([1, 2, 2, 2]);
    // Same gts in the other order: the better one is now gt0 and keeps the prior.
    const swapped = new ATSSAssigner(3).assign({
      priors: r,
      numLevelPriors: [4],
      gtBoxes: boxesFrom([
        [0, 0, 10, 10],
        [1, 0, 11, 10],
      ]),
      gtLabels: [1, 0],
      numClasses: 2,
    });
    expect([...swapped.gtIndex]).toEqual([0, BACKGROUND, BACKGROUND, BACKGROUND]);
    expect(swapped.labels[0]).toBe(1);
  });

  it('makes every valid prior background without gts', () => {
    const r = new ATSSAssigner().assign({
      priors,
      numLevelPriors: [4],
      gtBoxes: new Float64Array(0),
      gtLabels: [],
      numClasses: NUM_CLASSES,
      validFlags: [1, 1, 0, 1],
    });
    expect([...r.gtIndex]).toEqual([BACKGROUND, BACKGROUND, IGNORED, BACKGROUND]);
    expect([...r.labels]).toEqual([3, 3, 3, 3]);
    expect([...r.maxOverlaps]).toEqual([0, 0, 0, 0]);
  });

  it('finds nothing with a single candidate (its std is NaN, as torch.std)', () => {
    const r = new ATSSAssigner().assign({ priors, numLevelPriors: [4], gtBoxes: gt, gtLabels: [0], numClasses: 1, validFlags: [1, 0, 0, 0] });
    expect([...r.gtIndex]).toEqual([BACKGROUND, IGNORED, IGNORED, IGNORED]);
  });

  it('rejects inconsistent input', () => {
    const a = new ATSSAssigner();
    expect(() => a.assign({ priors, numLevelPriors: [3], gtBoxes: gt, gtLabels: [0], numClasses: 1 })).toThrow(/add up to 3/);
    expect(() => a.assign({ priors, numLevelPriors: [4], gtBoxes: gt, gtLabels: [], numClasses: 1 })).toThrow(/0 gt labels for 1/);
    expect(() => a.assign({ priors, numLevelPriors: [4], gtBoxes: gt, gtLabels: [5], numClasses: 3 })).toThrow(/gt 0 has label 5/);
    expect(() => a.assign({ priors, numLevelPriors: [4], gtBoxes: gt, gtLabels: [0], numClasses: 1, validFlags: [1] })).toThrow(/1 valid flags/);
    expect(() => new ATSSAssigner(0)).toThrow(/topk/);
  });
});

describe('ATSS on GFL anchors', () => {
  it('picks the nine nearest stride-8 anchors for a 24×24 object', () => {
    // 64×64 image, strides 8/16/32 → 8×8, 4×4, 2×2 anchors of side 64, 128, 256.
    // gt [20,20,44,44], centre (32,32), area 576. Nearest 9 per level: stride 8 the 3×3 block
    // of centres {24,32,40}² (next ring at 16 px); stride 16 the 3×3 block {16,32,48}²;
    // stride 32 all 4. Every one of these anchors contains the gt, so IoU = 576 / anchor area:
    // 576/4096 = 0.140625 (×9), 576/16384 = 0.03515625 (×9), 576/65536 = 0.0087890625 (×4).
    // mean 1.6171875/22 = 0.0735085, unbiased std 0.0579549 → threshold 0.131463: exactly
    // the nine stride-8 candidates pass, and their centres are all inside the gt.
    const gen = gflAnchorGenerator([8, 16, 32]);
    const { priors: anchors, numLevelPriors } = gen.gridPriors([
      [8, 8],
      [4, 4],
      [2, 2],
    ]);
    const r = new ATSSAssigner(9).assign({
      priors: anchors,
      numLevelPriors,
      gtBoxes: boxesFrom([[20, 20, 44, 44]]),
      gtLabels: [4],
      numClasses: 5,
      validFlags: gen.validFlags(
        [
          [8, 8],
          [4, 4],
          [2, 2],
        ],
        [64, 64],
      ),
    });
    const expected: number[] = [];
    for (const y of [3, 4, 5]) for (const x of [3, 4, 5]) expected.push(y * 8 + x);
    expect(positiveIndices(r)).toEqual(expected);
    for (const p of expected) expect(r.labels[p]).toBe(4);
    expect(r.maxOverlaps[4 * 8 + 4]).toBe(0.140625);
  });
});
