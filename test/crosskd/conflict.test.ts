/**
 * Target conflict (crosskd/conflict.ts) on small cases worked by hand. Scores and targets
 * are dyadic fractions, exact in float32, so differences land exactly on bin edges.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { anchorMax, conflictStats, locationConflicts, measureTargetConflict, mergeConflictStats } from '../../crosskd/conflict.ts';
import { Detector } from '../../detection/detector.ts';
import { oneHot } from '../../detection/heads/dense.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { prepareDatasets } from '../../detection/train/data.ts';
import { detectorConfig } from '../../detection/train/trainer.ts';

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
    const merged = mergeConflictStats(
      conflictStats(d.subarray(0, 3), positive.slice(0, 3), { bins: 8 }),
      conflictStats(d.subarray(3), positive.slice(3), { bins: 8 }),
    );
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

describe('target conflict over a dataset', () => {
  it('a teacher sure of nothing conflicts exactly at the positives, one sure of everything everywhere', async () => {
    await E.init();
    const cfg = {
      ...presetConfig('tiny'),
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    const student = new Detector(detectorConfig(cfg));
    const teacher = new Detector(detectorConfig({ ...cfg, seed: 3 }));
    const { val } = prepareDatasets(cfg, student.sizeDivisor);
    // every valid location: the cells whose top-left corner lies inside the image, per level
    const locations = val.records.reduce((a, r) => a + student.strides.reduce((b, st) => b + Math.ceil(r.width / st) * Math.ceil(r.height / st), 0), 0);
    const setClassPredictor = (bias: number) => {
      const params = teacher.stateDict();
      for (const [name, value] of [
        ['bbox_head.gfl_cls.weight', 0],
        ['bbox_head.gfl_cls.bias', bias],
      ] as const) {
        const p = params.get(name)!;
        E.runtime().flush();
        E.runtime().write(p.buffer, new Float32Array(p.size).fill(value));
      }
    };
    const measure = () => measureTargetConflict({ teacher, student, dataset: val, padSize: [64, 64], batchSize: 3, bins: 4 });

    setClassPredictor(-30); // σ ≈ 1e-13 for every class
    const none = await measure();
    expect(none.all.locations).toBe(locations);
    expect(none.positives.locations).toBeGreaterThan(0);
    expect(none.positives.share).toBe(1);
    expect(none.negatives.share).toBe(0);
    expect(none.all.conflicting).toBe(none.positives.locations);
    expect(none.histogram).toEqual([none.negatives.locations, 0, 0, none.positives.locations]);

    setClassPredictor(30); // σ = 1 for every class: wrong at every location
    const all = await measure();
    expect(all.all).toEqual({ locations, conflicting: locations, share: 1 });
    expect(all.positives.locations).toBe(none.positives.locations);
    expect(all.histogram).toEqual([0, 0, 0, locations]);
    student.dispose();
    teacher.dispose();
  });
});
