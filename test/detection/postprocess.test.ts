import { describe, expect, it } from 'vitest';
import { boxesFrom, boxesToRows } from '../../detection/boxes.ts';
import { batchedNms, filterScoresAndTopk, nms, postprocessImage, type LevelPredictions } from '../../detection/postprocess.ts';

// Input order deliberately not by score:
//   0: [0,0,10,6]  0.6    IoU with [0,0,10,10] = 60/100 = 0.6 exactly: not > 0.6, kept
//   1: [2,0,12,10] 0.8    IoU with index 2 = 80/120 ≈ 0.667 → suppressed by it
//   2: [0,0,10,10] 0.9    best, kept
//   3: [4,0,14,10] 0.7    IoU with index 2 = 60/140 ≈ 0.43 → kept; it overlaps index 1 by
//                         80/120 ≈ 0.667, but index 1 was suppressed and suppresses nothing
// Index 0 vs index 3: 36 / (60 + 100 - 36) ≈ 0.29.
const boxes = boxesFrom([
  [0, 0, 10, 6],
  [2, 0, 12, 10],
  [0, 0, 10, 10],
  [4, 0, 14, 10],
]);
const scores = [0.6, 0.8, 0.9, 0.7];

describe('nms', () => {
  it('keeps boxes by score, suppressing IoU > threshold only', () => {
    expect(nms(boxes, scores, 0.6)).toEqual([2, 3, 0]);
    // At threshold 0.59 the exact-0.6 box goes too.
    expect(nms(boxes, scores, 0.59)).toEqual([2, 3]);
  });

  it('does not let different classes suppress each other', () => {
    // Index 1 in its own class survives; order is by score across classes.
    expect(batchedNms(boxes, scores, [0, 1, 0, 0], 0.6)).toEqual([2, 1, 3, 0]);
    expect(batchedNms(boxes, scores, [0, 0, 0, 0], 0.6)).toEqual([2, 3, 0]);
  });

  it('handles no boxes and rejects mismatched lengths', () => {
    expect(nms(new Float64Array(0), [], 0.5)).toEqual([]);
    expect(() => nms(boxes, [1], 0.5)).toThrow(/1 scores for 4 boxes/);
    expect(() => batchedNms(boxes, scores, [0], 0.5)).toThrow(/4 boxes, 4 scores, 1 labels/);
  });
});

describe('filterScoresAndTopk', () => {
  it('ranks (prior, class) pairs above the threshold', () => {
    // 3 priors × 2 classes; 0.05 itself is not above the threshold.
    const s = [0.9, 0.05, 0.3, 0.8, 0.04, 0.2];
    const r = filterScoresAndTopk(s, 2, 0.05, 3);
    expect([...r.priorIndex]).toEqual([0, 1, 1]);
    expect([...r.labels]).toEqual([0, 1, 0]);
    expect([...r.scores]).toEqual([0.9, 0.8, 0.3]);
  });
});

describe('postprocessImage', () => {
  // Two classes, two levels.
  // Level 0:  prior  box              scores (c0, c1)
  //           p0     [0,0,10,10]      0.9, 0.05   (0.05 is not > 0.05)
  //           p1     [1,0,11,10]      0.3, 0.8
  //           p2     [50,50,60,60]    0.04, 0.2
  //           p3     [30,30,30,40]    0.5, 0      zero width: dropped by the size filter
  // Level 1:  p0     [2,0,12,10]      0.7, 0.1
  //           p1     [-5,-5,20,20]    0.06, 0     clamped to the 80×70 image: [0,0,20,20]
  const levels: LevelPredictions[] = [
    {
      scores: [0.9, 0.05, 0.3, 0.8, 0.04, 0.2, 0.5, 0],
      bboxes: boxesFrom([
        [0, 0, 10, 10],
        [1, 0, 11, 10],
        [50, 50, 60, 60],
        [30, 30, 30, 40],
      ]),
    },
    {
      scores: [0.7, 0.1, 0.06, 0],
      bboxes: boxesFrom([
        [2, 0, 12, 10],
        [-5, -5, 20, 20],
      ]),
    },
  ];
  const imageSize = [70, 80] as const; // [height, width]

  it('thresholds, filters, runs class-aware NMS and sorts', () => {
    // Candidates after the threshold and the size filter:
    //   class 0: [0,0,10,10] 0.9, [2,0,12,10] 0.7, [1,0,11,10] 0.3, [0,0,20,20] 0.06
    //     0.7 and 0.3 overlap the 0.9 box by 80/120 and 90/110 → suppressed; the clamped box
    //     overlaps it by 100/400 → kept.
    //   class 1: [1,0,11,10] 0.8, [50,50,60,60] 0.2, [2,0,12,10] 0.1
    //     0.1 overlaps the 0.8 box by 90/110 → suppressed.
    const d = postprocessImage(levels, 2, { imageSize });
    expect([...d.scores]).toEqual([0.9, 0.8, 0.2, 0.06]);
    expect([...d.labels]).toEqual([0, 1, 1, 0]);
    expect(boxesToRows(d.bboxes)).toEqual([
      [0, 0, 10, 10],
      [1, 0, 11, 10],
      [50, 50, 60, 60],
      [0, 0, 20, 20],
    ]);
  });

  it('keeps only nmsPre pairs per level and maxPerImg detections', () => {
    // nmsPre 3: level 0 keeps 0.9, 0.8 and 0.5 (the zero-width box, removed afterwards), so
    // the 0.2 box never reaches NMS. Level 1 has exactly 3 pairs above the threshold.
    const d = postprocessImage(levels, 2, { imageSize, config: { nmsPre: 3 } });
    expect([...d.scores]).toEqual([0.9, 0.8, 0.06]);
    const top2 = postprocessImage(levels, 2, { imageSize, config: { nmsPre: 3, maxPerImg: 2 } });
    expect([...top2.scores]).toEqual([0.9, 0.8]);
    expect([...top2.labels]).toEqual([0, 1]);
  });

  it('applies score factors after the threshold', () => {
    // 0.06 passes the 0.05 threshold before its factor 0.1 brings it to 0.006.
    const d = postprocessImage(
      [
        {
          scores: [0.9, 0.06],
          bboxes: boxesFrom([
            [0, 0, 10, 10],
            [20, 20, 30, 30],
          ]),
          scoreFactors: [0.5, 0.1],
        },
      ],
      1,
    );
    expect(d.scores[0]).toBeCloseTo(0.45, 15);
    expect(d.scores[1]).toBeCloseTo(0.006, 15);
  });

  it('returns nothing when no score passes, and rejects mismatched shapes', () => {
    const d = postprocessImage([{ scores: [0.01, 0.02], bboxes: boxesFrom([[0, 0, 1, 1]]) }], 2);
    expect(d.scores.length).toBe(0);
    expect(d.bboxes.length).toBe(0);
    expect(() => postprocessImage([{ scores: [0.5], bboxes: boxesFrom([[0, 0, 1, 1]]) }], 2)).toThrow(/level 0 has 1 scores for 1 priors × 2 classes/);
    expect(() => postprocessImage([{ scores: [0.5], bboxes: boxesFrom([[0, 0, 1, 1]]), scoreFactors: [1, 1] }], 1)).toThrow(/2 score factors/);
  });
});
