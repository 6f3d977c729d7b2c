import { describe, expect, it } from 'vitest';
import { boxesFrom } from '../../detection/boxes.ts';
import { MaxIoUAssigner } from '../../detection/assigners/maxIou.ts';
import { BACKGROUND, IGNORED } from '../../detection/assigners/assignResult.ts';

// gt0 [0,0,10,10] label 2, gt1 [20,0,30,10] label 0 (both area 100).
const gts = boxesFrom([
  [0, 0, 10, 10],
  [20, 0, 30, 10],
]);
// Priors and their IoUs:
//   a0 [0,0,10,10]     gt0: 1                           → positive gt0
//   a1 [0,0,10,6]      gt0: 60/100 = 0.6                → positive gt0 (≥ 0.5)
//   a2 [0,0,10,4.5]    gt0: 45/100 = 0.45               → IGNORED (0.4 ≤ IoU < 0.5)
//   a3 [0,0,10,3]      gt0: 0.3                         → background (< 0.4)
//   a4 [24,0,34,10]    gt1: 60/(100+100-60) = 3/7≈0.43  → in the ignore band, but it is
//   a5 [16,0,26,10]    gt1: 60/140 = 3/7                  gt1's best IoU (a tie): both become
//                                                          positives for gt1 (gtMaxAssignAll)
//   a6 [100,100,110,110]  0                             → background
const priors = boxesFrom([
  [0, 0, 10, 10],
  [0, 0, 10, 6],
  [0, 0, 10, 4.5],
  [0, 0, 10, 3],
  [24, 0, 34, 10],
  [16, 0, 26, 10],
  [100, 100, 110, 110],
]);

describe('MaxIoU assigner (RetinaNet: 0.5 / 0.4, min_pos_iou 0, gt_max_assign_all)', () => {
  it('splits positives, ignored and negatives by the thresholds, then adds low-quality matches', () => {
    const r = new MaxIoUAssigner().assign({ priors, gtBoxes: gts, gtLabels: [2, 0], numClasses: 3 });
    expect([...r.gtIndex]).toEqual([0, 0, IGNORED, BACKGROUND, 1, 1, BACKGROUND]);
    expect([...r.labels]).toEqual([2, 2, 3, 3, 0, 0, 3]);
    const want = [1, 0.6, 0.45, 0.3, 3 / 7, 3 / 7, 0];
    want.forEach((v, i) => expect(r.maxOverlaps[i]).toBeCloseTo(v, 12));
  });

  it('assigns only the first best prior without gtMaxAssignAll, and none without low-quality matching', () => {
    const one = new MaxIoUAssigner({ gtMaxAssignAll: false }).assign({ priors, gtBoxes: gts, gtLabels: [2, 0], numClasses: 3 });
    expect([...one.gtIndex]).toEqual([0, 0, IGNORED, BACKGROUND, 1, IGNORED, BACKGROUND]);
    const none = new MaxIoUAssigner({ matchLowQuality: false }).assign({ priors, gtBoxes: gts, gtLabels: [2, 0], numClasses: 3 });
    expect([...none.gtIndex]).toEqual([0, 0, IGNORED, BACKGROUND, IGNORED, IGNORED, BACKGROUND]);
  });

  it('lets a gt take its best prior from a gt the prior fits better', () => {
    // gA [0,0,10,10], gB [0,0,10,8]. p [0,0,10,10]: IoU gA 1, gB 0.8. p2 [0,0,10,9]: IoU gA 0.9,
    // gB 80/90 ≈ 0.889. By IoU both go to gA; then gA claims its best (p) and gB claims its
    // best (p2), overriding p2's better IoU with gA, as mmdetection does.
    const r = new MaxIoUAssigner().assign({
      priors: boxesFrom([
        [0, 0, 10, 10],
        [0, 0, 10, 9],
      ]),
      gtBoxes: boxesFrom([
        [0, 0, 10, 10],
        [0, 0, 10, 8],
      ]),
      gtLabels: [0, 1],
      numClasses: 2,
    });
    expect([...r.gtIndex]).toEqual([0, 1]);
    expect([...r.labels]).toEqual([0, 1]);
    expect(r.maxOverlaps[1]).toBeCloseTo(0.9, 12);
  });

  it('excludes invalid priors, also from the low-quality matches', () => {
    // With a4 invalid, gt1's best valid prior is a5 alone.
    const r = new MaxIoUAssigner({ gtMaxAssignAll: false }).assign({
      priors,
      gtBoxes: gts,
      gtLabels: [2, 0],
      numClasses: 3,
      validFlags: [1, 1, 1, 1, 0, 1, 1],
    });
    expect([...r.gtIndex]).toEqual([0, 0, IGNORED, BACKGROUND, IGNORED, 1, BACKGROUND]);
    expect(r.labels[4]).toBe(3);
  });

  it('makes everything background without gts', () => {
    const r = new MaxIoUAssigner().assign({ priors, gtBoxes: new Float64Array(0), gtLabels: [], numClasses: 3 });
    expect([...r.gtIndex]).toEqual(new Array(7).fill(BACKGROUND));
    expect([...r.labels]).toEqual(new Array(7).fill(3));
  });

  it('rejects a negative threshold above the positive one', () => {
    expect(() => new MaxIoUAssigner({ negIouThr: 0.6 })).toThrow(/negIouThr/);
  });
});
