/**
 * The web page's run settings (how many steps, images, pixels) and the training configs of
 * its three models at that browser-friendly scale. Settings come from the page's form or
 * its URL query (`?steps=20&images=32&autostart=1`); both go through `parseSettings`, so a
 * bad value is refused with a message naming it.
 */
import { parseConfig, QUICK_DATA, STUDENT_BACKBONE, TEACHER_BACKBONE, type SyntheticData, type TrainConfig } from '../detection/train/config.ts';

export interface WebSettings {
  /** training steps per model */
  steps: number;
  /** generated training images */
  images: number;
  /** generated validation images (detections, mAP and the conflict map are shown on them) */
  valImages: number;
  /** image side in pixels */
  size: number;
  batch: number;
  /** seed of the data and of the weight initialisation */
  seed: number;
  /** base learning rate (SGD with momentum) */
  lr: number;
  /** detections are redrawn every this many steps */
  previewEvery: number;
  /** probability of a horizontal flip per image and epoch (0: every epoch sees the same pixels) */
  flip: number;
  /** every channel count of the models is divided by this (1: the project's teacher and student presets) */
  narrow: number;
}

export const DEFAULT_SETTINGS: Readonly<WebSettings> = {
  steps: 150,
  images: 128,
  valImages: 16,
  size: 64,
  batch: 4,
  seed: 2026,
  lr: 0.01,
  previewEvery: 10,
  flip: 0.5,
  narrow: 1,
};

/** Allowed range and kind of each setting: [min, max, integer]. */
const LIMITS: Record<keyof WebSettings, [number, number, boolean]> = {
  steps: [1, 100_000, true],
  images: [1, 10_000, true],
  valImages: [1, 1_000, true],
  size: [32, 512, true],
  batch: [1, 64, true],
  seed: [0, 2 ** 31 - 1, true],
  lr: [1e-6, 1, false],
  previewEvery: [1, 100_000, true],
  flip: [0, 1, false],
  narrow: [1, 4, true],
};

export const SETTING_NAMES = Object.keys(LIMITS) as (keyof WebSettings)[];

/**
 * Settings from name → text pairs (a URL query or the form); absent names keep their
 * defaults, unknown names are ignored (the query may carry other flags). Throws one error
 * listing every bad value with its name, the allowed range and what was given.
 */
export function parseSettings(values: Iterable<[string, string]>): WebSettings {
  const out: WebSettings = { ...DEFAULT_SETTINGS };
  const problems: string[] = [];
  for (const [name, text] of values) {
    if (!(name in LIMITS)) continue;
    const key = name as keyof WebSettings;
    const [min, max, integer] = LIMITS[key];
    const v = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
      problems.push(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(text)}`);
    else out[key] = v;
  }
  if (problems.length) throw new Error(`bad settings: ${problems.join('; ')}`);
  return out;
}

/** Neck and head widths of the presets (teacher and student share them, so CrossKD needs no adapter). */
const NECK_HEAD_CHANNELS = 32;

/**
 * The page's generated data: the quick presets' four shapes and knobs, object sizes scaled
 * from their 128² images to the page's side (at least 8 px, so every shape stays
 * recognisable).
 */
export function webData(s: WebSettings): SyntheticData {
  const sizeRange = QUICK_DATA.sizeRange!.map((px) => Math.max(8, (px * s.size) / 128)) as [number, number];
  return { ...QUICK_DATA, sizeRange, seed: s.seed, numTrain: s.images, numVal: s.valImages, imageSize: s.size };
}

/**
 * The config of one of the page's models: the teacher and student backbones of the
 * project's presets with every channel count divided by `narrow` (GroupNorm groups: the
 * most, up to the presets' 8, that divide every width), on the quick presets' four-shape
 * data with object sizes scaled to the page's image side, SGD with a short warm-up and no
 * decay. Not the quick presets' AdamW: with the page's few warm-up steps it raised a fresh
 * model's loss on a fixed batch for its first steps (lr 3e-4 to 1e-2), where SGD lowers it.
 */
export function webConfig(name: string, role: 'teacher' | 'student', s: WebSettings): TrainConfig {
  const stepsPerEpoch = Math.ceil(s.images / s.batch);
  const preset = role === 'teacher' ? TEACHER_BACKBONE : STUDENT_BACKBONE;
  const narrow = (c: number) => Math.max(1, Math.floor(c / s.narrow));
  const stages = preset.stageChannels.map(narrow) as [number, number, number, number];
  const head = narrow(NECK_HEAD_CHANNELS);
  const widths = [narrow(preset.stemChannels), ...stages, head];
  const gnGroups = [8, 4, 2, 1].find((g) => widths.every((w) => w % g === 0))!;
  const backbone = { ...preset, stemChannels: narrow(preset.stemChannels), stageChannels: stages, gnGroups };
  return parseConfig(
    {
      name,
      seed: s.seed,
      numClasses: QUICK_DATA.classes.length,
      model: {
        backbone,
        neck: { outChannels: head, numOuts: 4 },
        head: { featChannels: head, stackedConvs: 4, gnGroups, regMax: 16 },
        anchors: { octaveBaseScale: 4 },
      },
      data: { synthetic: webData(s) },
      train: {
        batchSize: s.batch,
        epochs: Math.ceil(s.steps / stepsPerEpoch),
        optimizer: { type: 'sgd', lr: s.lr, momentum: 0.9, weightDecay: 1e-4 },
        warmupIters: Math.min(20, Math.ceil(s.steps / 5)),
        warmupRatio: 0.1,
        lrStepEpochs: [],
        gamma: 0.1,
        clipGradNorm: 35,
        logEvery: 1,
        checkpointEvery: s.steps,
        flipProb: s.flip,
      },
    },
    `web model '${name}'`,
  );
}
