/**
 * A checkpoint of ours as an mmdetection 3.x model: DIR/model.pth (torch.save's layout of
 * `{meta, state_dict}`, as mmengine's CheckpointHook writes it) and DIR/config.py (the
 * model, data and schedule over mmdetection's base configs), so that `tools/train.py` or
 * `tools/dist_train.sh DIR/config.py N` trains on from these weights and `tools/test.py`
 * evaluates them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StateValue } from '../../engine/nn/index.ts';
import { encodePth, type PthTensor } from '../../engine/io/pth.ts';
import { writeFileAtomic } from '../../engine/io/checkpoint.ts';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/loader.ts';
import { SHAPES } from '../data/synthetic.ts';
import { ANNOTATIONS_FILE } from '../data/node.ts';
import { TRAINING_ONLY_PREFIX, type Detector } from '../detector.ts';
import type { TrainConfig } from '../train/config.ts';
import { syntheticCacheDir } from '../train/data.ts';
import { mmdetData, mmdetModel, mmdetSchedule } from './config.ts';
import { pyAssignments, pyLiteral } from './python.ts';

/** mmcv's Scale holds a 0-dim parameter; ours is [1]. */
const SCALE_KEY = /(^|\.)scales\.\d+\.scale$/;

/**
 * The detector's tensors in mmdetection's state_dict: its own keys in order (a legacy
 * checkpoint's names mapped to today's), training-only modules left out, BN's counter as
 * int64, Scale as 0-dim, and the buffers mmdetection keeps that we compute
 * (`bbox_head.integral.project`) appended.
 */
export function mmdetStateDict(d: Detector, values: ReadonlyMap<string, StateValue>): Map<string, PthTensor> {
  const byName = new Map([...values].map(([k, v]) => [d.currentKey(k), v] as const));
  const out = new Map<string, PthTensor>();
  for (const key of d.stateDict().keys()) {
    if (key.startsWith(TRAINING_ONLY_PREFIX)) continue;
    const v = byName.get(key);
    if (!v) throw new Error(`mmdetStateDict: the weights have no '${key}'`);
    const shape = SCALE_KEY.test(key) && v.shape.length === 1 && v.shape[0] === 1 ? [] : [...v.shape];
    out.set(
      key,
      v.data instanceof Int32Array ? { dtype: 'int64', shape, data: BigInt64Array.from(v.data, (x) => BigInt(x)) } : { dtype: 'float32', shape, data: v.data },
    );
  }
  for (const [key, c] of d.namedConstants()) if (!key.startsWith(TRAINING_ONLY_PREFIX)) out.set(key, { dtype: 'float32', shape: [...c.shape], data: c.data });
  return out;
}

/** The COCO folders a config trains and validates on (a synthetic set: its cache folders). */
export function dataDirs(cfg: TrainConfig): { train: string; val: string } {
  if ('synthetic' in cfg.data) {
    const dir = syntheticCacheDir(cfg);
    return { train: path.resolve(dir, 'train'), val: path.resolve(dir, 'val') };
  }
  return { train: path.resolve(cfg.data.train), val: path.resolve(cfg.data.val) };
}

/** Class names in label order: from the training annotations where they exist, else the synthetic set's. */
export function classNames(cfg: TrainConfig): string[] | null {
  const file = path.join(dataDirs(cfg).train, ANNOTATIONS_FILE);
  if (fs.existsSync(file)) {
    try {
      const cats = (JSON.parse(fs.readFileSync(file, 'utf8')) as { categories?: { id: number; name: string }[] }).categories;
      if (Array.isArray(cats) && cats.length === cfg.numClasses) return [...cats].sort((a, b) => a.id - b.id).map((c) => String(c.name));
    } catch {
      // unreadable annotations: fall through (the config then says the names are missing)
    }
  }
  if ('synthetic' in cfg.data) return [...(cfg.data.synthetic.classes ?? SHAPES)];
  return null;
}

export interface MmdetExportArgs {
  /** the detector with the checkpoint's weights loaded (its config is the checkpoint's) */
  detector: Detector;
  /** the checkpoint's weights as read from its file */
  weights: ReadonlyMap<string, StateValue>;
  config: TrainConfig;
  step: number;
  /** where the checkpoint came from (written into the header and the meta) */
  source: string;
  out: string;
  /** keys over the model dict (a distiller's type, teacher and kd_cfg) */
  modelOverrides?: Record<string, unknown>;
  /** comment lines for the config's header */
  notes?: string[];
}

/** Writes DIR/model.pth and DIR/config.py; returns their paths. */
export function writeMmdetExport(a: MmdetExportArgs): { weights: string; config: string; tensors: number } {
  const stateDict = mmdetStateDict(a.detector, a.weights);
  const classes = classNames(a.config);
  fs.mkdirSync(a.out, { recursive: true });
  const weights = path.join(a.out, 'model.pth');
  const meta = { exported_from: a.source, config_name: a.config.name, iter: a.step, dataset_meta: classes ? { classes } : {} };
  writeFileAtomic(weights, encodePth(stateDict, { meta, name: 'model' }));

  const model = { ...mmdetModel(a.detector, { mean: IMAGENET_MEAN, std: IMAGENET_STD }), ...a.modelOverrides };
  const header = [
    `# mmdetection 3.x config of '${a.config.name}' (step ${a.step}), written by \`npm run export\` from`,
    `# ${a.source}. Train on with tools/dist_train.sh ${path.join(a.out, 'config.py')} GPUS (from model.pth's weights).`,
    "# mmengine replaces {{ fileDirname }} with this file's folder, so the folder can be moved whole.",
    ...(a.notes ?? []).map((n) => `# ${n}`),
    ...(classes ? [] : ['# The class names were not found (no readable annotations): set metainfo=dict(classes=(...)) in the datasets.']),
  ];
  const base = ['mmdet::_base_/datasets/coco_detection.py', 'mmdet::_base_/schedules/schedule_1x.py', 'mmdet::_base_/default_runtime.py'];
  const text = [
    header.join('\n'),
    `_base_ = ${pyLiteral(base)}`,
    `load_from = ${pyLiteral('{{ fileDirname }}/model.pth')}`,
    '',
    pyAssignments({ model }),
    '',
    '# data: the COCO folders this model trained on (annotations.json + images/), padded, not resized',
    pyAssignments(mmdetData(dataDirs(a.config), classes, a.config.train.batchSize, a.config.train.flipProb)),
    '',
    '# schedule: the optimizer, warm-up and steps of the training config',
    pyAssignments(mmdetSchedule(a.config)),
    '',
  ].join('\n');
  const config = path.join(a.out, 'config.py');
  writeFileAtomic(config, text);
  return { weights, config, tensors: stateDict.size };
}
