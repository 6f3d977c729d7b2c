/**
 * The web page's pieces that need no browser: its settings (URL query and form) and the
 * conflict map it draws, checked under Node against the teacher's per-level class maps read
 * back directly (no flattening), so the split of locations into levels is proven.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Detector } from '../../detection/detector.ts';
import { DetectionLoader } from '../../detection/data/loader.ts';
import { detectorConfig } from '../../detection/train/step.ts';
import { QUICK_CLASSES } from '../../detection/train/config.ts';
import { DEFAULT_SETTINGS, parseSettings, webConfig } from '../../web/settings.ts';
import { conflictMap, generateData } from '../../web/session.ts';

describe('web page settings', () => {
  it('keeps defaults for absent names, ignores unknown ones and reads numbers', () => {
    expect(parseSettings([])).toEqual(DEFAULT_SETTINGS);
    expect(
      parseSettings([
        ['steps', '7'],
        ['lr', '0.02'],
        ['autostart', '1'],
      ]),
    ).toEqual({ ...DEFAULT_SETTINGS, steps: 7, lr: 0.02 });
  });

  it('refuses bad values, naming each with its range and what was given', () => {
    expect(() =>
      parseSettings([
        ['steps', '0'],
        ['size', '20.5'],
        ['flip', 'x'],
        ['batch', ''],
      ]),
    ).toThrow(
      'bad settings: steps must be an integer in [1, 100000], got "0"; size must be an integer in [32, 512], got "20.5"; ' +
        'flip must be a number in [0, 1], got "x"; batch must be an integer in [1, 64], got ""',
    );
  });

  it('builds valid configs: the presets at narrow 1, every width divided and GroupNorm groups that divide them', () => {
    const full = webConfig('t', 'teacher', DEFAULT_SETTINGS);
    expect(full.model.backbone.stageChannels).toEqual([32, 64, 96, 128]);
    expect(full.model.backbone.gnGroups).toBe(8);
    const student = webConfig('s', 'student', { ...DEFAULT_SETTINGS, narrow: 4 });
    expect(student.model.backbone.stageChannels).toEqual([4, 6, 8, 12]);
    expect(student.model.backbone.stemChannels).toBe(4);
    expect(student.model.head.featChannels).toBe(8);
    expect(student.model.backbone.gnGroups).toBe(2);
    expect(student.model.head.gnGroups).toBe(2);
    expect(student.train.flipProb).toBe(DEFAULT_SETTINGS.flip);
    // epochs cover the steps: 150 steps of 4 images over 128 images = 5 epochs minimum
    expect(student.train.epochs * Math.ceil(128 / 4)).toBeGreaterThanOrEqual(150);
  });
});

describe('web page conflict map', () => {
  beforeAll(async () => {
    await E.init();
  });

  it('is, per level and cell, max over classes of |σ(teacher logit) − one-hot target| at the student assigner’s labels', async () => {
    const s = { ...DEFAULT_SETTINGS, images: 2, valImages: 3, narrow: 4 };
    const teacher = new Detector(detectorConfig(webConfig('t', 'teacher', s))).eval();
    const student = new Detector(detectorConfig(webConfig('s', 'student', s))).eval();
    const data = generateData(s, teacher.sizeDivisor);
    const counts = data.val.records.map((r) => r.labels.length);
    const index = counts.indexOf(Math.max(...counts));
    expect(counts[index], 'objects in the chosen image').toBeGreaterThan(0);
    const map = await conflictMap(teacher, student, data, index);

    // independent path: the teacher's per-level class maps [1, C, H, W] read back as they are
    const batch = new DetectionLoader(data.val, { batchSize: 1, shuffle: false, flipProb: 0, padSize: data.padSize }).collate([index]);
    const out = E.noGrad(() => teacher.forward(E.tensor(batch.images, batch.shape)));
    const levels = await Promise.all(out.cls.map((t) => t.data()));
    const targets = student.buildTargets(batch);
    const C = QUICK_CLASSES.length; // the page draws the quick presets' shapes
    expect(map.levels.map((l) => [l.stride, l.height, l.width])).toEqual([
      [8, 8, 8],
      [16, 4, 4],
      [32, 2, 2],
      [64, 1, 1],
    ]);
    let row = 0;
    let positives = 0;
    map.levels.forEach((level, l) => {
      const [, , H, W] = out.cls[l].shape;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++, row++) {
          const label = targets.labels[row];
          if (label < C) positives++;
          let want = 0;
          for (let c = 0; c < C; c++) {
            const score = 1 / (1 + Math.exp(-levels[l][(c * H + y) * W + x]));
            want = Math.max(want, Math.abs(score - (c === label ? 1 : 0)));
          }
          const got = level.values[y * W + x];
          if (targets.labelWeights[row] === 0) expect(got, `ignored location ${l}/${y}/${x}`).toBeNaN();
          else expect(Math.abs(got - want), `level ${l} cell (${y}, ${x})`).toBeLessThan(1e-5);
        }
    });
    expect(row).toBe(targets.labels.length);
    expect(positives).toBeGreaterThan(0);
    expect(map.stats.positives.locations).toBe(positives);
    // an untrained teacher scores about 0.01 everywhere: every positive conflicts, no negative does
    expect(map.stats.positives.conflicting).toBe(positives);
    expect(map.stats.negatives.conflicting).toBe(0);
    for (const t of [...out.cls, ...out.reg, ...out.fpn]) t.dispose();
    teacher.dispose();
    student.dispose();
  });
});
