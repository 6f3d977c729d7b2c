import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { readSafetensorsFile } from '../../engine/io/checkpoint.ts';
import { parseConfig, presetConfig, type TrainConfig } from '../../detection/train/config.ts';
import { train } from '../../detection/train/trainer.ts';
import { trainWithDistillation } from '../../crosskd/train.ts';
import { METHODS } from '../../crosskd/distiller.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-distill-'));
const quiet = () => {};
let teacherSidecar = '';
let base: TrainConfig;

beforeAll(async () => {
  await E.init();
  base = { ...presetConfig('tiny'), data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') } };
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
    await expect(trainWithDistillation(badTap, { outDir: out, log: quiet })).rejects.toThrow(/tap index must be an integer in \[0, 4\]/);
    expect(fs.existsSync(path.join(out, 'checkpoint-0000002.json'))).toBe(false);
    const missing = parseConfig({ ...base, name: 's-missing', distill: { method: 'crosskd', teacher: '/nonexistent/checkpoint-1.json' } });
    await expect(trainWithDistillation(missing, { outDir: tmp(), log: quiet })).rejects.toThrow(/checkpoint not found: \/nonexistent/);
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
