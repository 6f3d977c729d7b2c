import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../../engine/index.ts';
import { PRESETS, QUICK_CLASSES, parseConfig, presetConfig } from '../../../detection/train/config.ts';
import { train } from '../../../detection/train/trainer.ts';
import { prepareDatasets } from '../../../detection/train/data.ts';
import { SHAPES } from '../../../detection/data/synthetic.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-train-'));
const quiet = () => {};

beforeAll(async () => {
  await E.init();
});

describe('training', () => {
  const cfg = {
    ...presetConfig('tiny'),
    data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
  };

  it('trains, checkpoints, evaluates and writes metrics.json', async () => {
    const out = tmp();
    const r = await train(cfg, { outDir: out, log: quiet, progress: false });
    expect(r.losses.length).toBe(4);
    for (const l of r.losses) for (const k of ['qfl', 'giou', 'dfl', 'total']) expect(Number.isFinite(l[k])).toBe(true);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(Object.keys(metrics.eval).sort()).toEqual(['mAP', 'mAP50', 'mAP75', 'mAP_l', 'mAP_m', 'mAP_s', 'per_class'].sort());
    expect(Object.keys(metrics.eval.per_class)).toHaveLength(8);
    expect(metrics.loss).toHaveLength(4);
    expect(metrics.images_per_s).toBeGreaterThan(0);
    const files = fs.readdirSync(out);
    expect(files).toContain('checkpoint-0000002.safetensors');
    expect(files).toContain('checkpoint-0000004.json');
    expect(files.some((f) => f.includes('.tmp-'))).toBe(false);
    r.detector.dispose();
  });

  it('resumes from a checkpoint to the same losses as an uninterrupted run', async () => {
    const whole = await train(cfg, { outDir: tmp(), log: quiet, progress: false, evaluate: false });
    const out = tmp();
    const first = await train(cfg, { outDir: out, log: quiet, progress: false, maxSteps: 2, evaluate: false });
    expect(first.losses).toHaveLength(2);
    const rest = await train(cfg, { outDir: out, log: quiet, progress: false, resume: true, evaluate: false });
    expect(rest.losses.map((l) => l.total)).toEqual(whole.losses.map((l) => l.total));
    whole.detector.dispose();
    first.detector.dispose();
    rest.detector.dispose();
  });

  it('evaluates along the way (evalEpochs) without changing training, and keeps the curve across a resume', async () => {
    const cfg3 = { ...cfg, train: { ...cfg.train, epochs: 3 } }; // 16 images / batch 4: 4 steps per epoch
    const out = tmp();
    const logs: string[] = [];
    const curved = await train(cfg3, { outDir: out, log: (m) => logs.push(m), progress: false, evalEpochs: [1, 2] });
    expect(curved.evalCurve.map((p) => [p.step, p.epoch])).toEqual([
      [4, 1],
      [8, 2],
      [12, 3],
    ]);
    expect(curved.evalCurve.at(-1)!.mAP).toBe(curved.eval!.mAP);
    expect(logs.filter((m) => /evaluating on 8 validation images/.test(m))).toHaveLength(3);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.eval_curve).toEqual(curved.evalCurve);
    expect(fs.readdirSync(out)).toContain('map-curve.png');
    // evaluation is inference only: the same losses and final weights' mAP as a run without it
    const plain = await train(cfg3, { outDir: tmp(), log: quiet, progress: false });
    expect(plain.losses.map((l) => l.total)).toEqual(curved.losses.map((l) => l.total));
    expect(plain.eval!.mAP).toBe(curved.eval!.mAP);
    expect(plain.evalCurve.map((p) => p.step)).toEqual([12]);
    // stopped after step 6 (one point so far, kept in the checkpoint), then resumed
    const out2 = tmp();
    const first = await train(cfg3, { outDir: out2, log: quiet, progress: false, evalEpochs: [1, 2], maxSteps: 6 });
    expect(first.evalCurve.map((p) => p.step)).toEqual([4]);
    const rest = await train(cfg3, { outDir: out2, log: quiet, progress: false, evalEpochs: [1, 2], resume: true });
    expect(rest.evalCurve).toEqual(curved.evalCurve);
    // a finished run resumed is evaluated again, without a second point for its last step
    const again = await train(cfg3, { outDir: out2, log: quiet, progress: false, evalEpochs: [1, 2], resume: true });
    expect(again.evalCurve).toEqual(curved.evalCurve);
    for (const r of [curved, plain, first, rest, again]) r.detector.dispose();
    for (const bad of [0, 4, 1.5])
      await expect(train(cfg3, { outDir: tmp(), log: quiet, evalEpochs: [bad] })).rejects.toThrow(
        `evaluation epochs: expected integers in 1…3 (the run's epochs), got ${bad}`,
      );
  });

  it('refuses to resume with another config or without a checkpoint', async () => {
    await expect(train(cfg, { outDir: tmp(), log: quiet, resume: true })).rejects.toThrow(/--resume: no checkpoint in/);
    const out = tmp();
    (await train(cfg, { outDir: out, log: quiet, maxSteps: 2, evaluate: false })).detector.dispose();
    const other = { ...cfg, name: 'other' };
    await expect(train(other, { outDir: out, log: quiet, resume: true })).rejects.toThrow(/written with another config/);
  });
});

describe('configs', () => {
  it('names every unknown or mistyped key with its path', () => {
    const bad = JSON.parse(JSON.stringify(presetConfig('tiny')));
    bad.train.batchsize = 8;
    bad.model.head.regMax = 'sixteen';
    bad.extra = true;
    let message = '';
    try {
      parseConfig(bad, 'my.json');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/my.json is not a valid training config/);
    expect(message).toMatch(/train\.batchsize/);
    expect(message).toMatch(/model\.head\.regMax/);
    expect(message).toMatch(/\bextra\b/);
  });

  it('rejects an unknown preset, listing the known ones', () => {
    expect(() => presetConfig('huge')).toThrow(/unknown preset 'huge' \(known: quick-teacher, .*tiny/);
  });

  it('every preset is a valid config; teacher and student of a pair train on the same data', () => {
    for (const name of Object.keys(PRESETS)) expect(() => parseConfig(presetConfig(name), name)).not.toThrow();
    for (const prefix of ['quick', 'quick-atss', 'quick-retina', 'quick-fcos', 'hard', 'demo']) {
      const [t, s] = [presetConfig(`${prefix}-teacher`), presetConfig(`${prefix}-student`)];
      expect(s.data, prefix).toEqual(t.data);
      expect(s.numClasses).toBe(t.numClasses);
      expect(s.train).toEqual(t.train);
    }
    const quick = presetConfig('quick-teacher');
    expect('synthetic' in quick.data && quick.data.synthetic.classes).toEqual([...QUICK_CLASSES]);
    expect(quick.numClasses).toBe(QUICK_CLASSES.length);
    const hard = presetConfig('hard-teacher');
    expect('synthetic' in hard.data && hard.data.synthetic.classes).toEqual([...SHAPES]);
    expect(hard.numClasses).toBe(8);
  });

  it('rejects data whose classes do not match the config', () => {
    const cfg = presetConfig('tiny');
    const wrong = {
      ...cfg,
      numClasses: 3,
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    expect(() => prepareDatasets(wrong, 64)).toThrow(/has 8 categories, the config says numClasses 3/);
  });
});
