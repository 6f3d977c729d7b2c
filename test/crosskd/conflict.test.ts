/**
 * Target conflict (crosskd/conflict.ts) on small cases worked by hand. Scores and targets
 * are dyadic fractions, exact in float32, so differences land exactly on bin edges.
 */
import { describe, expect, it } from 'vitest';
import { anchorMax, conflictStats, locationConflicts, mergeConflictStats } from '../../crosskd/conflict.ts';
import { oneHot } from '../../detection/heads/dense.ts';

// 6 locations, 2 classes; labels: 2 = background
const labels = [0, 2, 1, 0, 2, 0];
const valid = [1, 1, 1, 0, 1, 1];
const teacher = [
  [0.875, 0.25], // positive of class 0: |0.875 − 1| = 0.125, |0.25 − 0| = 0.25 → 0.25
  [0.375, 0.75], // negative: the teacher is sure of class 1 → 0.75
  [0.625, 0.375], // positive of class 1: 0.625 and |0.375 − 1| = 0.625 → 0.625
  [1, 1], // not valid
  [0.5, 0.0625], // negative: 0.5, exactly the threshold, which is not above it
  [0, 1], // positive of class 0, the teacher says class 1 → 1
].flat();
const positive = labels.map((l) => (l < 2 ? 1 : 0));

describe('target conflict', () => {
  it('per location: the largest difference over classes, NaN where not valid', () => {
    const d = locationConflicts(teacher, oneHot(Int32Array.from(labels), 2), 2, valid);
    expect(Array.from(d)).toEqual([0.25, 0.75, 0.625, Number.NaN, 0.5, 1]);
  });

  it('share above 0.5, split by positives and negatives, and the histogram', () => {
    const s = conflictStats(locationConflicts(teacher, oneHot(Int32Array.from(labels), 2), 2, valid), positive, { bins: 8 });
    expect(s.threshold).toBe(0.5);
    // 0.25 → bin 2, 0.5 → bin 4, 0.625 → bin 5, 0.75 → bin 6, 1 → the last bin
    expect(s.histogram).toEqual([0, 0, 1, 0, 1, 1, 1, 1]);
    expect(s.all).toEqual({ locations: 5, conflicting: 3, share: 0.6 });
    expect(s.positives).toEqual({ locations: 3, conflicting: 2, share: 2 / 3 });
    expect(s.negatives).toEqual({ locations: 2, conflicting: 1, share: 0.5 });
    // a lower threshold counts the 0.5 location too
    expect(conflictStats(locationConflicts(teacher, oneHot(Int32Array.from(labels), 2), 2, valid), positive, { threshold: 0.25 }).all.conflicting).toBe(4);
  });

  it('takes soft targets (e.g. an IoU quality at the assigned class)', () => {
    // target 0.75 at class 0; teacher 0.125 there and 0.25 elsewhere → 0.625
    expect(Array.from(locationConflicts([0.125, 0.25], [0.75, 0], 2))).toEqual([0.625]);
  });

  it('merging the stats of two halves gives those of the whole', () => {
    const d = locationConflicts(teacher, oneHot(Int32Array.from(labels), 2), 2, valid);
    const whole = conflictStats(d, positive, { bins: 8 });
    const merged = mergeConflictStats(conflictStats(d.subarray(0, 3), positive.slice(0, 3), { bins: 8 }), conflictStats(d.subarray(3), positive.slice(3), { bins: 8 }));
    expect(merged).toEqual(whole);
    expect(() => mergeConflictStats(whole, conflictStats(d, positive, { bins: 4 }))).toThrow(/8 bins vs 0.5 \/ 4 bins/);
  });

  it('the highest score over anchors', () => {
    // 2 locations × 2 anchors × 2 classes, channel a·C + c
    expect(Array.from(anchorMax([0.125, 0.875, 0.5, 0.25, 0, 0, 0.75, 0.5], 2, 2))).toEqual([0.5, 0.875, 0.75, 0.5]);
  });

  it('rejects bad input naming what was expected', () => {
    expect(() => locationConflicts([0.5, 0.5, 0.5], [0, 0, 0], 2)).toThrow(/teacherScores has 3 values, not a multiple of numClasses 2/);
    expect(() => locationConflicts([0.5, 0.5], [0], 2)).toThrow(/targets has 1 values, teacherScores 2 \(\[1, 2\] expected for both\)/);
    expect(() => locationConflicts([0.5, 0.5], [0, 0], 2, [1, 1])).toThrow(/valid has 2 entries for 1 locations/);
    expect(() => locationConflicts([-2.5, 0.5], [0, 0], 2)).toThrow(/location 0, class 0 is -2.5; scores are probabilities in \[0, 1\] \(apply the sigmoid\)/);
    expect(() => conflictStats([0.5], [1, 0])).toThrow(/2 positive flags for 1 locations/);
    expect(() => anchorMax([0.5, 0.5, 0.5], 2, 2)).toThrow(/3 scores are not whole rows of 2 anchors × 2 classes/);
  });
});
