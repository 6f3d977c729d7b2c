// Node-only file I/O for datasets: writing the synthetic dataset as COCO JSON + PNG files,
// and reading any COCO-format dataset from disk. Kept apart from synthetic.ts and coco.ts
// so that those stay importable in the browser (no node:fs).
//
// Layout written and expected by default:
//   DIR/annotations.json      COCO: images, annotations, categories (+ info)
//   DIR/images/000001.png     file_name of each image, relative to the image folder

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { CocoDataset, CocoError, decodePng, parseCocoText } from './coco.ts';
import { generateImage, resolveSyntheticConfig, splitConfigs, syntheticCategories, syntheticInfo } from './synthetic.ts';
import type { CocoAnnotationJson, CocoImageJson, CocoJson } from './coco.ts';
import { writeFileAtomic } from '../../engine/io/checkpoint.ts';
import type { SplitConfig, SyntheticConfig } from './synthetic.ts';

export const ANNOTATIONS_FILE = 'annotations.json';
export const IMAGES_DIR = 'images';

export interface WrittenDataset {
  dir: string;
  annotationsFile: string;
  numImages: number;
  numAnnotations: number;
}

/**
 * Generates the synthetic dataset of `config` into `dir` (created if needed; files of an
 * earlier dataset with the same names are overwritten). Images are generated and written
 * one at a time, so memory stays flat however many there are. `onImage` is called after
 * each image (for a progress bar).
 */
export function writeCocoDataset(dir: string, config: SyntheticConfig, onImage?: (done: number, total: number) => void): WrittenDataset {
  const cfg = resolveSyntheticConfig(config);
  const imageDir = join(dir, IMAGES_DIR);
  mkdirSync(imageDir, { recursive: true });
  const images: CocoImageJson[] = [];
  const annotations: CocoAnnotationJson[] = [];
  for (let i = 0; i < cfg.numImages; i++) {
    const g = generateImage(cfg, i);
    writeFileSync(join(imageDir, g.info.file_name), encodePng({ width: g.image.width, height: g.image.height, data: g.image.data, channels: 3, depth: 8 }));
    images.push(g.info);
    for (const a of g.annotations) annotations.push({ id: annotations.length + 1, image_id: g.info.id, ...a });
    onImage?.(i + 1, cfg.numImages);
  }
  const coco: CocoJson = {
    info: syntheticInfo(cfg),
    images,
    annotations,
    categories: syntheticCategories(cfg),
  };
  // Written last and atomically: a folder with annotations.json holds a complete dataset,
  // even if the process was killed while writing it.
  const annotationsFile = join(dir, ANNOTATIONS_FILE);
  writeFileAtomic(annotationsFile, JSON.stringify(coco));
  return { dir, annotationsFile, numImages: images.length, numAnnotations: annotations.length };
}

/** Train and val splits (seeds derived from config.seed) into DIR/train and DIR/val. */
export function writeCocoSplits(
  dir: string,
  config: SplitConfig,
  onImage?: (split: 'train' | 'val', done: number, total: number) => void,
): { train: WrittenDataset; val: WrittenDataset } {
  const { train, val } = splitConfigs(config);
  return {
    train: writeCocoDataset(join(dir, 'train'), train, (d, t) => onImage?.('train', d, t)),
    val: writeCocoDataset(join(dir, 'val'), val, (d, t) => onImage?.('val', d, t)),
  };
}

export interface LoadCocoOptions {
  /** Folder that file_name is relative to. Default: `images/` next to the annotation file. */
  imageDir?: string;
  /**
   * How much to check the image files up front: 'exists' (default) checks that every file
   * is there; 'decode' also decodes each one (slower, but finds a corrupt PNG before
   * training starts rather than when its batch comes up).
   */
  checkImages?: 'exists' | 'decode';
  /** Keep decoded images in memory (3 bytes per pixel). Default true. */
  cache?: boolean;
}

/**
 * Reads and validates a COCO-format dataset from disk (see coco.ts for the validation
 * policy). Throws CocoError naming the annotation file for JSON problems, and the image
 * file(s) for missing, unreadable or corrupt images.
 */
export function loadCocoDataset(annotationsFile: string, options: LoadCocoOptions = {}): CocoDataset {
  let text: string;
  try {
    text = readFileSync(annotationsFile, 'utf8');
  } catch (e) {
    throw new CocoError(annotationsFile, [`cannot read the annotation file: ${(e as Error).message}`]);
  }
  const parsed = parseCocoText(text, annotationsFile);
  const imageDir = options.imageDir ?? join(dirname(annotationsFile), IMAGES_DIR);
  const pathOf = (fileName: string) => join(imageDir, fileName);

  const missing = parsed.records.filter((r) => !isFile(pathOf(r.fileName))).map((r) => r.fileName);
  if (missing.length > 0) {
    throw new CocoError(
      resolve(imageDir),
      missing.map((f) => `missing image file ${f} (${pathOf(f)})`),
    );
  }

  const read = (fileName: string) => {
    const path = pathOf(fileName);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new CocoError(path, [`cannot read the image file: ${(e as Error).message}`]);
    }
    return decodePng(bytes, path);
  };
  const dataset = new CocoDataset(
    parsed,
    (record) => read(record.fileName),
    options.cache ?? true,
    (record) => pathOf(record.fileName),
  );
  if (options.checkImages === 'decode') for (let i = 0; i < dataset.length; i++) dataset.image(i);
  return dataset;
}

/** A dataset in the layout writeCocoDataset makes: DIR/annotations.json and DIR/images/. */
export function loadCocoDir(dir: string, options: Omit<LoadCocoOptions, 'imageDir'> = {}): CocoDataset {
  const file = join(dir, ANNOTATIONS_FILE);
  if (!existsSync(file)) throw new CocoError(dir, [`no ${ANNOTATIONS_FILE} in this folder`]);
  return loadCocoDataset(file, { ...options, imageDir: join(dir, IMAGES_DIR) });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
