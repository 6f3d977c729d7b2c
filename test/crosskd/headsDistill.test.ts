/**
 * Distillation of the ATSS, RetinaNet and FCOS heads in the trainer: prediction mimicking
 * and CrossKD add docs/crosskd.md §4's terms for the head, teachers load from checkpoints and
 * stay out of the student's; a RetinaNet teacher distils a GFL student through the cross
 * head and by direct mimicking in the teacher's priors (the conflicting-teacher pair;
 * crosskd/losses.ts crossTypeMimicLosses, tested in mimicAcross.test.ts); the default tap is
 * the teacher head's (FCOS 2, the others 3).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { readSafetensorsFile } from '../../engine/io/checkpoint.ts';
import { Detector } from '../../detection/detector.ts';
import { parseConfig, presetConfig, type TrainConfig } from '../../detection/train/config.ts';
import { detectorConfig, train } from '../../detection/train/trainer.ts';
import { trainWithDistillation } from '../../crosskd/train.ts';
import { distillationLoss } from '../../crosskd/distiller.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-heads-distill-'));
const quiet = () => {};

const HEADS = {
  atss: { head: { type: 'atss', featChannels: 32, stackedConvs: 4, gnGroups: 8 }, anchors: { octaveBaseScale: 4 } },
  retina: { head: { type: 'retina', featChannels: 32, stackedConvs: 4 }, anchors: { octaveBaseScale: 2 } },
  fcos: {
    head: {
      type: 'fcos',
      featChannels: 32,
      stackedConvs: 4,
      gnGroups: 8,
      regressRanges: [
        [-1, 32],
        [32, 64],
        [64, 128],
        [128, 1e8],
      ],
    },
  },
} as const;
type Kind = keyof typeof HEADS;

let base: TrainConfig;
const withHead = (cfg: TrainConfig, kind: Kind | 'gfl', stackedConvs?: number): TrainConfig => {
  const model = kind === 'gfl' ? presetConfig('tiny').model : { backbone: cfg.model.backbone, neck: cfg.model.neck, ...HEADS[kind] };
  return parseConfig({ ...cfg, model: { ...model, head: { ...model.head, ...(stackedConvs ? { stackedConvs } : {}) } } });
};
const teachers: Partial<Record<Kind, string>> = {};

beforeAll(async () => {
  await E.init();
  base = {
    ...presetConfig('tiny'),
    data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
  };
  for (const kind of Object.keys(HEADS) as Kind[]) {
    const dir = tmp();
    const r = await train({ ...withHead(base, kind), name: `tiny-${kind}-teacher`, seed: 5 }, { outDir: dir, log: quiet, evaluate: false, maxSteps: 2 });
    r.detector.dispose();
    teachers[kind] = path.join(dir, 'checkpoint-0000002.json');
  }
});

describe.each(Object.keys(HEADS) as Kind[])('%s distillation', (kind) => {
  it.each(['pred_mimic', 'crosskd'] as const)("%s adds the head's KD terms and keeps the teacher out of the checkpoint", async (method) => {
    const out = tmp();
    const cfg = parseConfig({ ...withHead(base, kind), name: `s-${kind}-${method}`, distill: { method, teacher: teachers[kind]! } });
    const r = await trainWithDistillation(cfg, { outDir: out, log: quiet, evaluate: false, maxSteps: 2 });
    const kdTerms = Object.keys(r.losses[0])
      .filter((k) => k.startsWith('kd'))
      .sort();
    expect(kdTerms).toEqual(kind === 'atss' ? ['kdCenter', 'kdCls', 'kdReg'] : ['kdCls', 'kdReg']);
    for (const l of r.losses) for (const k of [...kdTerms, 'total']) expect(Number.isFinite(l[k]), `${k} at step ${l.step}`).toBe(true);
    const { tensors } = readSafetensorsFile(path.join(out, 'checkpoint-0000002.safetensors'));
    expect(tensors.size).toBe(r.detector.parameters().length);
    r.detector.dispose();
  });
});

describe('distillation across head types', () => {
  it('distils a GFL student from a RetinaNet teacher through the cross head', async () => {
    const out = tmp();
    const cfg = parseConfig({ ...base, name: 's-gfl-from-retina', distill: { method: 'crosskd', teacher: teachers.retina! } });
    const r = await trainWithDistillation(cfg, { outDir: out, log: quiet, evaluate: false, maxSteps: 2 });
    const terms = Object.keys(r.losses[0]);
    expect(terms).toEqual(expect.arrayContaining(['qfl', 'giou', 'dfl', 'kdCls', 'kdReg']));
    for (const l of r.losses) expect(Number.isFinite(l.total)).toBe(true);
    r.detector.dispose();
  });

  it("mimics a RetinaNet teacher with a GFL student in the teacher's priors (the direct-KD side of the pair)", async () => {
    const out = tmp();
    const cfg = parseConfig({ ...base, name: 's-mimic-retina', distill: { method: 'pred_mimic', teacher: teachers.retina! } });
    const r = await trainWithDistillation(cfg, { outDir: out, log: quiet, evaluate: false, maxSteps: 2 });
    expect(Object.keys(r.losses[0])).toEqual(expect.arrayContaining(['qfl', 'giou', 'dfl', 'kdCls', 'kdReg']));
    for (const l of r.losses) expect(Number.isFinite(l.total)).toBe(true);
    r.detector.dispose();
  });

  it("taps the teacher head's default block: 2 for FCOS, 3 for the others", () => {
    const detector = (kind: Kind) => new Detector(detectorConfig(withHead(base, kind, 2)));
    const [fcosStudent, fcosTeacher] = [detector('fcos'), detector('fcos').freeze()];
    expect(distillationLoss(fcosStudent, fcosTeacher, { method: 'crosskd' })).toBeTypeOf('function');
    const [atssStudent, atssTeacher] = [detector('atss'), detector('atss').freeze()];
    expect(() => distillationLoss(atssStudent, atssTeacher, { method: 'crosskd' })).toThrow(/tap index must be an integer in \[0, 2\].*got 3/);
    for (const d of [fcosStudent, fcosTeacher, atssStudent, atssTeacher]) d.dispose();
  });
});
