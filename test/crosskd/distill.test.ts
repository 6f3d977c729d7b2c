import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { loadWeights, readSafetensorsFile } from '../../engine/io/checkpoint.ts';
import { Detector } from '../../detection/detector.ts';
import { parseConfig, presetConfig, type TrainConfig } from '../../detection/train/config.ts';
import { detectorConfig, train } from '../../detection/train/trainer.ts';
import { trainWithDistillation } from '../../crosskd/train.ts';
import { METHODS } from '../../crosskd/distiller.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-distill-'));
const quiet = () => {};
let teacherSidecar = '';
let base: TrainConfig;

beforeAll(async () => {
  await E.init();
  base = {
    ...presetConfig('tiny'),
    data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
  };
  const teacherCfg = { ...base, name: 'tiny-teacher', seed: 5 };
  const dir = tmp();
  const r = await train(teacherCfg, { outDir: dir, log: quiet, evaluate: false, maxSteps: 2 });
  r.detector.dispose();
  teacherSidecar = path.join(dir, 'checkpoint-0000002.json');
});

describe('distillation training', () => {
  it.each(METHODS.filter((m) => m !== 'none'))('%s adds its KD terms and keeps the teacher out of the student checkpoint', async (method) => {
    const out = tmp();
    const cfg = parseConfig({ ...base, name: `s-${method}`, distill: { method, teacher: teacherSidecar, tap: 2 } });
    const r = await trainWithDistillation(cfg, { outDir: out, log: quiet, evaluate: false, maxSteps: 2 });
    const terms = Object.keys(r.losses[0]);
    if (method.includes('crosskd') || method === 'pred_mimic') expect(terms).toEqual(expect.arrayContaining(['kdCls', 'kdReg']));
    if (method.includes('pkd')) expect(terms).toContain('pkd');
    for (const l of r.losses) expect(Number.isFinite(l.total)).toBe(true);
    const { tensors } = readSafetensorsFile(path.join(out, 'checkpoint-0000002.safetensors'));
    expect([...tensors.keys()].every((k) => /^(backbone|neck|bbox_head)\./.test(k))).toBe(true);
    expect(tensors.size).toBe(r.detector.parameters().length);
    r.detector.dispose();
  });

  it('fails before training on a bad pairing', async () => {
    const badTap = parseConfig({ ...base, name: 's-bad', distill: { method: 'crosskd', teacher: teacherSidecar, tap: 9 } });
    const out = tmp();
    await expect(trainWithDistillation(badTap, { outDir: out, log: quiet })).rejects.toThrow(
      /tap index must be an integer in \[0, 4\] \(0 = FPN output, i = after tower block i; the student's towers have 4 blocks, the teacher's 4\), got 9/,
    );
    expect(fs.existsSync(path.join(out, 'checkpoint-0000002.json'))).toBe(false);
    const missing = parseConfig({ ...base, name: 's-missing', distill: { method: 'crosskd', teacher: '/nonexistent/checkpoint-1.json' } });
    await expect(trainWithDistillation(missing, { outDir: tmp(), log: quiet })).rejects.toThrow(/checkpoint not found: \/nonexistent/);
  });

  /** The tiny student with neck and head 16 channels wide (the teacher's are 32). */
  const narrow = (name: string, distill: Record<string, unknown>) =>
    parseConfig({
      ...base,
      name,
      model: { ...base.model, neck: { ...base.model.neck, outChannels: 16 }, head: { ...base.model.head, featChannels: 16 } },
      distill: { teacher: teacherSidecar, ...distill },
    });

  it('fails before training on a student head of another width without an adapter, and on an adapter or PKD it cannot use', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { method: 'crosskd', tap: 2 },
        /student's feature at tap 2 has 16 channels, the teacher's blocks expect 32; use heads of the same width, or set distill.adapter: true/,
      ],
      [{ method: 'crosskd', tap: 0 }, /student's feature at tap 0 has 16 channels, the teacher's blocks expect 32/],
      [{ method: 'crosskd+pkd', adapter: true }, /pkd compares FPN maps channel by channel: the student's have 16 channels, the teacher's 32/],
      [{ method: 'pred_mimic', adapter: true }, /distill.adapter bridges the cross-head path of crosskd and crosskd\+pkd; method 'pred_mimic' has none/],
    ];
    for (const [distill, message] of cases) {
      const out = tmp();
      await expect(trainWithDistillation(narrow('s-narrow', distill), { outDir: out, log: quiet })).rejects.toThrow(message);
      expect(fs.readdirSync(out)).toEqual([]);
    }
  });

  it('trains an adapter with the student: optimised, saved under distill.adapter, resumed, skipped when the student is loaded alone', async () => {
    const out = tmp();
    const cfg = narrow('s-adapter', { method: 'crosskd', tap: 3, adapter: true });
    const first = await trainWithDistillation(cfg, { outDir: out, log: quiet, evaluate: false, maxSteps: 2 });
    const adapterNames = ['distill.adapter.cls.weight', 'distill.adapter.reg.weight'];
    expect(first.detector.namedParameters().map(([n]) => n)).toEqual(expect.arrayContaining(adapterNames));
    first.detector.dispose();
    const { tensors } = readSafetensorsFile(path.join(out, 'checkpoint-0000002.safetensors'));
    for (const name of adapterNames) expect(tensors.get(name)!.shape).toEqual([32, 16, 1, 1]);
    // in the optimizer, with a momentum built from nonzero gradients
    const { tensors: slots } = readSafetensorsFile(path.join(out, 'checkpoint-0000002.optim.safetensors'));
    for (const name of adapterNames) {
      const slot = [...slots].find(([k]) => k.startsWith(`${name}::`));
      expect(slot, `optimizer slot of ${name}`).toBeDefined();
      expect(Array.from(slot![1].data as Float32Array).some((v) => v !== 0)).toBe(true);
    }
    // resuming loads the adapter back (a missing one would be an error) and finishes the run
    const resumed = await trainWithDistillation(cfg, { outDir: out, log: quiet, evaluate: false, resume: true });
    expect(resumed.losses.at(-1)!.step).toBe(3);
    resumed.detector.dispose();
    // the student alone (inference, or as a teacher) has no adapter and skips its tensors
    const alone = new Detector(detectorConfig(cfg));
    loadWeights(alone, path.join(out, 'checkpoint-0000004.safetensors'));
    expect(alone.namedParameters().some(([n]) => n.startsWith('distill.'))).toBe(false);
    alone.dispose();
  });

  it('names a teacher checkpoint that does not match its config', async () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.dirname(teacherSidecar))) fs.copyFileSync(path.join(path.dirname(teacherSidecar), f), path.join(dir, f));
    const sidecar = path.join(dir, path.basename(teacherSidecar));
    const s = JSON.parse(fs.readFileSync(sidecar, 'utf8'));
    s.config.model.neck.outChannels = 64;
    s.config.model.head.featChannels = 64;
    fs.writeFileSync(sidecar, JSON.stringify(s));
    const cfg = parseConfig({ ...base, name: 's-mismatch', distill: { method: 'crosskd', teacher: sidecar } });
    await expect(trainWithDistillation(cfg, { outDir: tmp(), log: quiet })).rejects.toThrow(/teacher checkpoint does not match its config: .*has shape/);
  });
});
