/**
 * The datasets a config names: a synthetic set (generated once into a cache folder keyed
 * by its parameters, then read like any COCO folder) or user-given COCO folders.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ANNOTATIONS_FILE, loadCocoDir, writeCocoSplits } from '../data/node.ts';
import { GENERATOR_VERSION } from '../data/synthetic.ts';
import type { CocoDataset } from '../data/coco.ts';
import type { TrainConfig } from './config.ts';

export interface Datasets {
  train: CocoDataset;
  val: CocoDataset;
  /** every image is padded to this [H, W] (static shapes for the GPU) */
  padSize: [number, number];
  trainDir: string;
  valDir: string;
}

export function syntheticCacheDir(cfg: TrainConfig): string {
  if (!('synthetic' in cfg.data)) throw new Error('syntheticCacheDir: the config does not use synthetic data');
  const key = createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, ...cfg.data.synthetic }))
    .digest('hex')
    .slice(0, 12);
  return path.join(cfg.data.cacheDir ?? '.cache/data', `synthetic-${key}`);
}

export function prepareDatasets(cfg: TrainConfig, sizeDivisor: number, log: (msg: string) => void = () => {}): Datasets {
  let trainDir: string;
  let valDir: string;
  let imageSize: number;
  if ('synthetic' in cfg.data) {
    const s = cfg.data.synthetic;
    const dir = syntheticCacheDir(cfg);
    trainDir = path.join(dir, 'train');
    valDir = path.join(dir, 'val');
    imageSize = s.imageSize;
    if (!fs.existsSync(path.join(trainDir, ANNOTATIONS_FILE)) || !fs.existsSync(path.join(valDir, ANNOTATIONS_FILE))) {
      log(`generating synthetic data (${s.numTrain} train + ${s.numVal} val images) into ${dir}`);
      writeCocoSplits(dir, { ...s, numTrain: s.numTrain, numVal: s.numVal });
    }
  } else {
    trainDir = cfg.data.train;
    valDir = cfg.data.val;
    imageSize = cfg.data.imageSize;
  }
  const train = loadCocoDir(trainDir);
  const val = loadCocoDir(valDir);
  for (const [name, ds] of [
    ['train', train],
    ['val', val],
  ] as const) {
    if (ds.categories.length !== cfg.numClasses)
      throw new Error(
        `${name} data (${name === 'train' ? trainDir : valDir}) has ${ds.categories.length} categories, the config says numClasses ${cfg.numClasses}`,
      );
    for (const r of ds.records)
      if (r.width > imageSize || r.height > imageSize)
        throw new Error(`${name} image ${r.fileName} is ${r.width}×${r.height}, larger than data.imageSize ${imageSize} (images are padded, not resized)`);
  }
  const side = Math.ceil(imageSize / sizeDivisor) * sizeDivisor;
  return { train, val, padSize: [side, side], trainDir, valDir };
}
