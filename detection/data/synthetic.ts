// A seeded synthetic detection dataset: shapes on textured backgrounds, with COCO-format
// annotations. Pure (no file system): the browser demo calls generateDataset directly,
// and detection/data/node.ts writes the same output as PNG files + annotations.json.
//
// Reproducibility: every random number is engine/random.ts's uniformAt(seed, i), a pure
// integer hash, and all geometry uses detmath.ts's sin/cos/exp/log built from IEEE
// operations, so a (config, seed) gives the same bytes on every machine and engine.
// Image i depends only on (seed, i) and the config, not on how many images are made.
//
// What makes the task hard (the point is that a tiny detector clearly trails a larger one):
//  - 8 classes told apart by shape only: every class draws its colour from the same HSV
//    range, fills may be gradients or mottled, so colour says nothing about the class;
//  - near-neighbour classes: circle/ellipse/ring, square/cross/L, star/triangle look alike
//    when small, and ring or cross can be confused with clutter arcs and strokes;
//  - sizes log-uniform from 8 px to half the image, so most objects are small (< 32² px);
//  - aspect-ratio jitter and free rotation where they keep the class;
//  - partial occlusion between objects (and by clutter strokes drawn over them), and
//    truncation at the image border, up to half of an object hidden;
//  - distractors that are not objects: strokes, broken-ring arcs, irregular blobs,
//    coloured like the objects;
//  - textured backgrounds (value noise, gradients, hard or soft stripes, blends of two)
//    and per-image sensor noise;
//  - a share of images with no objects at all.
//
// Annotations come from the rendered mask: an object's visible pixels (after occlusion by
// the layers drawn over it) with coverage ≥ 0.5 form its mask; bbox is the mask's tight
// box [x, y, w, h] in pixel-edge coordinates (pixel (i, j) covers [i, i+1) × [j, j+1)),
// area the mask's pixel count, iscrowd 0. Objects left with less than
// minVisibleFraction of their area visible are not drawn at all, so every visible shape
// is annotated.

import { hash32, uniformAt } from '../../engine/random.ts';
import type { CocoAnnotationJson, CocoCategoryJson, CocoImageJson, CocoJson, RgbImage } from './coco.ts';
import { dexp, dlog, sincos } from './detmath.ts';
// the scene types and the renderer (scene.ts) are part of this module's API
export {
  type Rgb,
  type Fill,
  type ShapeLayer,
  type ClutterLayer,
  type Layer,
  type Texture,
  type Scene,
  type RenderedObject,
  type RenderedScene,
  renderScene,
} from './scene.ts';
import {
  type ClutterLayer,
  type Fill,
  type Rect,
  type Rgb,
  type Scene,
  type ShapeLayer,
  type Texture,
  TWO_PI,
  colorDistance,
  compileTexture,
  renderScene,
  rotatedHalfExtents,
} from './scene.ts';

/** The shape classes; category id = index + 1 whichever subset a config selects. */
export const SHAPES = ['circle', 'ellipse', 'square', 'triangle', 'ring', 'cross', 'star', 'lshape'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Bumped when a change to the generator changes its output for the same config. */
export const GENERATOR_VERSION = 1;

/**
 * Per class: the range of the aspect ratio rx/ry (sampled log-uniformly) and whether the
 * shape is rotated. The ranges keep classes apart: circles stay within 8% of round,
 * ellipses are at least 1.5:1, rings and stars stay close to round.
 */
const SHAPE_RULES: Readonly<Record<ShapeName, { aspect: readonly [number, number]; rotate: boolean }>> = {
  circle: { aspect: [0.93, 1.08], rotate: false },
  ellipse: { aspect: [1.5, 2.6], rotate: true },
  square: { aspect: [0.8, 1.25], rotate: true },
  // Local triangle (0,-1), (±1, 1) is equilateral at rx/ry = 2/√3 ≈ 1.15.
  triangle: { aspect: [0.85, 1.5], rotate: true },
  ring: { aspect: [0.87, 1.15], rotate: true },
  cross: { aspect: [0.8, 1.25], rotate: true },
  star: { aspect: [0.87, 1.15], rotate: true },
  lshape: { aspect: [0.75, 1.33], rotate: true },
};

export interface SyntheticConfig {
  seed: number;
  numImages: number;
  /** Square side, or [height, width]. Default 128. */
  imageSize?: number | readonly [height: number, width: number];
  /** Objects per non-empty image, uniform over [min, max]. Default [1, 6]. */
  objectsPerImage?: readonly [min: number, max: number];
  /** Share of images with no objects (clutter and background only). Default 0.05. */
  emptyFraction?: number;
  /** Object size √(w·h) of its unrotated frame, in px. Default [8, min(h, w)/2]. */
  sizeRange?: readonly [min: number, max: number];
  /**
   * How sizes spread over sizeRange: 'log-uniform' (default; as many objects per octave, so
   * most are small — ~75% under COCO's 32² px at the defaults) or 'uniform' (~60% small).
   */
  sizeDistribution?: 'log-uniform' | 'uniform';
  /** The classes to draw. Default all of SHAPES. */
  classes?: readonly ShapeName[];
  /** Distractors per image, uniform over [min, max]. Default [1, 6]. */
  clutterPerImage?: readonly [min: number, max: number];
  /** Largest IoU between two objects' (unoccluded) boxes. Default 0.4. */
  maxOverlapIoU?: number;
  /** Objects with less of their area visible (occluded or outside the image) are not drawn. Default 0.5. */
  minVisibleFraction?: number;
  /** Per-image sensor noise std is uniform in [0, noiseStd] (intensities in 0..1). Default 0.04. */
  noiseStd?: number;
  /** Smallest RGB distance (0..√3) between an object's colour and the background at its centre. Default 0.25. */
  minContrast?: number;
  /** Anti-aliasing: supersample × supersample samples per pixel. Default 4. */
  supersample?: number;
}

export type ResolvedSyntheticConfig = {
  seed: number;
  numImages: number;
  height: number;
  width: number;
  objectsPerImage: readonly [number, number];
  emptyFraction: number;
  sizeRange: readonly [number, number];
  sizeDistribution: 'log-uniform' | 'uniform';
  classes: readonly ShapeName[];
  clutterPerImage: readonly [number, number];
  maxOverlapIoU: number;
  minVisibleFraction: number;
  noiseStd: number;
  minContrast: number;
  supersample: number;
};

/** Fills in defaults and rejects impossible settings with a message naming the key. */
export function resolveSyntheticConfig(config: SyntheticConfig): ResolvedSyntheticConfig {
  const fail = (key: string, why: string): never => {
    throw new Error(`synthetic dataset config: ${key} ${why}`);
  };
  const size = config.imageSize ?? 128;
  const [height, width] = typeof size === 'number' ? [size, size] : size;
  for (const [k, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(v) || v < 16) fail(`imageSize (${k})`, `must be an integer ≥ 16, got ${v}`);
  }
  if (!Number.isInteger(config.seed)) fail('seed', `must be an integer, got ${config.seed}`);
  if (!Number.isInteger(config.numImages) || config.numImages < 0) fail('numImages', `must be an integer ≥ 0, got ${config.numImages}`);
  const range = (key: string, r: readonly [number, number], min: number, integer: boolean): readonly [number, number] => {
    if (r.length !== 2 || !(r[0] >= min) || !(r[1] >= r[0]) || (integer && !r.every(Number.isInteger))) {
      fail(key, `must be [min, max] with ${min} ≤ min ≤ max${integer ? ', integers' : ''}, got ${JSON.stringify(r)}`);
    }
    return [r[0], r[1]];
  };
  const fraction = (key: string, v: number, lo = 0, hi = 1): number => {
    if (!(v >= lo && v <= hi)) fail(key, `must be in [${lo}, ${hi}], got ${v}`);
    return v;
  };
  const objectsPerImage = range('objectsPerImage', config.objectsPerImage ?? [1, 6], 0, true);
  const sizeRange = range('sizeRange', config.sizeRange ?? [8, Math.min(height, width) / 2], 2, false);
  if (sizeRange[1] > Math.min(height, width)) fail('sizeRange', `max ${sizeRange[1]} exceeds the image side ${Math.min(height, width)}`);
  const sizeDistribution = config.sizeDistribution ?? 'log-uniform';
  if (sizeDistribution !== 'log-uniform' && sizeDistribution !== 'uniform')
    fail('sizeDistribution', `must be 'log-uniform' or 'uniform', got ${JSON.stringify(sizeDistribution)}`);
  const classes = config.classes ?? SHAPES;
  if (classes.length === 0) fail('classes', 'is empty');
  for (const c of classes) if (!SHAPES.includes(c)) fail('classes', `has unknown shape "${c}" (known: ${SHAPES.join(', ')})`);
  if (new Set(classes).size !== classes.length) fail('classes', 'lists a shape twice');
  const supersample = config.supersample ?? 4;
  if (!Number.isInteger(supersample) || supersample < 1 || supersample > 16) fail('supersample', `must be an integer in [1, 16], got ${supersample}`);
  return {
    seed: config.seed,
    numImages: config.numImages,
    height,
    width,
    objectsPerImage,
    emptyFraction: fraction('emptyFraction', config.emptyFraction ?? 0.05),
    sizeRange,
    sizeDistribution,
    // In SHAPES order, so that a config's category list does not depend on how it was written.
    classes: SHAPES.filter((s) => classes.includes(s)),
    clutterPerImage: range('clutterPerImage', config.clutterPerImage ?? [1, 6], 0, true),
    maxOverlapIoU: fraction('maxOverlapIoU', config.maxOverlapIoU ?? 0.4),
    minVisibleFraction: fraction('minVisibleFraction', config.minVisibleFraction ?? 0.5),
    noiseStd: fraction('noiseStd', config.noiseStd ?? 0.04, 0, 0.5),
    minContrast: fraction('minContrast', config.minContrast ?? 0.25, 0, 1.5),
    supersample,
  };
}

class Stream {
  private i = 0;
  constructor(readonly seed: number) {}
  next(): number {
    return uniformAt(this.seed, this.i++);
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor((hi - lo + 1) * this.next());
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** Log-uniform in [lo, hi]. */
  logRange(lo: number, hi: number): number {
    return lo === hi ? lo : lo * dexp(this.next() * dlog(hi / lo));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(xs.length * this.next())];
  }
}

/** A seed for sub-stream `tag` of `seed` (image i of a dataset, the noise of an image, …). */
export function deriveSeed(seed: number, tag: number): number {
  const h = hash32((seed ^ 0x2545f491) >>> 0);
  return hash32((h ^ Math.imul(tag + 1, 0x9e3779b1)) >>> 0);
}

/** HSV (all in [0, 1]) to RGB. */
export function hsvToRgb(h: number, s: number, v: number): Rgb {
  const h6 = (h - Math.floor(h)) * 6;
  const i = Math.floor(h6);
  const f = h6 - i;
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  switch (i) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

// ---------------------------------------------------------------------------------------
// Sampling a random scene.

/** A colour from the range every class (and every distractor) shares. */
function sampleColor(rng: Stream): Rgb {
  return hsvToRgb(rng.next(), rng.range(0.25, 1), rng.range(0.25, 1));
}

/** Background colours: duller on average, but overlapping the object range. */
function sampleBackgroundColor(rng: Stream): Rgb {
  return hsvToRgb(rng.next(), rng.range(0, 0.7), rng.range(0.15, 0.95));
}

function sampleTexture(rng: Stream, seed: number): Texture {
  const u = rng.next();
  const from = sampleBackgroundColor(rng);
  const to = sampleBackgroundColor(rng);
  if (u < 0.1) return { kind: 'flat', color: from };
  if (u < 0.35) return { kind: 'gradient', from, to, angle: rng.range(0, TWO_PI) };
  if (u < 0.7) return { kind: 'noise', from, to, cell: rng.logRange(3, 40), seed };
  return { kind: 'stripes', from, to, period: rng.logRange(5, 40), angle: rng.range(0, TWO_PI), phase: rng.range(0, TWO_PI), sharpness: rng.logRange(1, 6) };
}

function sampleFill(rng: Stream, color: Rgb, cx: number, cy: number, half: number, seed: number): Fill {
  const u = rng.next();
  if (u < 0.6) return { kind: 'solid', color };
  if (u < 0.85) {
    // Towards a darker or shifted shade of the same colour.
    const k = rng.range(0.4, 0.8);
    const to: Rgb = rng.chance(0.5) ? [color[0] * k, color[1] * k, color[2] * k] : sampleColor(rng);
    return { kind: 'gradient', from: color, to, cx, cy, angle: rng.range(0, TWO_PI), half: Math.max(half, 1) };
  }
  return { kind: 'mottled', color, amount: rng.range(0.3, 0.7), cell: rng.range(1.5, 4), seed };
}

function boxIoU(a: Rect, b: Rect): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** Draws the geometry of one object (not yet its colour), centred so at most ~30% of its frame leaves the image. */
function sampleGeometry(rng: Stream, shape: ShapeName, cfg: ResolvedSyntheticConfig): Omit<ShapeLayer, 'fill'> {
  const rules = SHAPE_RULES[shape];
  const [lo, hi] = cfg.sizeRange;
  const size = cfg.sizeDistribution === 'uniform' ? rng.range(lo, hi) : rng.logRange(lo, hi);
  const aspect = rng.logRange(rules.aspect[0], rules.aspect[1]);
  const rx = (size / 2) * Math.sqrt(aspect);
  const ry = size / 2 / Math.sqrt(aspect);
  const angle = rules.rotate ? rng.range(0, TWO_PI) : 0;
  const inner = shape === 'ring' ? rng.range(0.45, 0.68) : shape === 'star' ? rng.range(0.36, 0.52) : 0;
  const arm = shape === 'cross' ? rng.range(0.22, 0.38) : shape === 'lshape' ? rng.range(0.3, 0.45) : 0;
  const mirror = shape === 'lshape' && rng.chance(0.5);
  const [hx, hy] = rotatedHalfExtents(rx, ry, angle);
  const place = (half: number, side: number) => (side > 0.8 * half ? rng.range(0.4 * half, side - 0.4 * half) : side / 2);
  const cx = place(hx, cfg.width);
  const cy = place(hy, cfg.height);
  return { kind: 'object', shape, cx, cy, rx, ry, angle, inner, arm, mirror };
}

function sampleClutter(rng: Stream, cfg: ResolvedSyntheticConfig, seed: number): ClutterLayer {
  const { width: W, height: H } = cfg;
  const side = Math.min(W, H);
  const u = rng.next();
  const color = sampleColor(rng);
  const cx = rng.range(0, W);
  const cy = rng.range(0, H);
  const fillAt = (half: number) => sampleFill(rng, color, cx, cy, half, seed);
  if (u < 0.45) {
    const points = [cx, cy];
    let heading = rng.range(0, TWO_PI);
    const n = rng.int(1, 3);
    for (let k = 0; k < n; k++) {
      heading += rng.range(-1.5, 1.5);
      const len = rng.range(6, 0.4 * side);
      const [s, c] = sincos(heading);
      points.push(points[points.length - 2] + len * c, points[points.length - 1] + len * s);
    }
    // Thinner than the bars of most crosses and Ls, so that a bent stroke is a hard
    // negative rather than an unlabelled L.
    return { kind: 'stroke', points, width: rng.range(0.8, 2.5), fill: fillAt(side / 4) };
  }
  if (u < 0.65) {
    // Broken rings: at most 225° of arc, and a band of at most r/4 (a ring's band is at
    // least 0.32·r), so that an arc is not simply a ring with a part hidden.
    const r = rng.logRange(4, 0.25 * side);
    return {
      kind: 'arc',
      cx,
      cy,
      r,
      width: rng.range(0.8, Math.max(1, Math.min(3, r / 4))),
      start: rng.range(0, TWO_PI),
      span: rng.range(0.4 * Math.PI, 1.25 * Math.PI),
      fill: fillAt(r),
    };
  }
  // Irregular "potatoes": harmonics 1, 2 and 3 together, with independent phases. (A single
  // harmonic would make a clean ellipse-, triangle- or square-like shape: an unlabelled
  // object rather than a distractor.)
  const r = rng.logRange(3, 0.2 * side);
  const harmonics = [1, 2, 3].map((k) => ({ k, amp: rng.range(0.08, 0.2), phase: rng.range(0, TWO_PI) }));
  return { kind: 'blob', cx, cy, r, harmonics, fill: fillAt(r) };
}

/** The random scene of image `index` of a dataset: a pure function of (config, index). */
export function sampleScene(config: SyntheticConfig | ResolvedSyntheticConfig, index: number): Scene {
  const cfg = 'height' in config ? config : resolveSyntheticConfig(config);
  const imageSeed = deriveSeed(cfg.seed, index);
  const rng = new Stream(imageSeed);
  let sub = 0;
  const nextSeed = () => deriveSeed(imageSeed, ++sub);
  const { width: W, height: H } = cfg;

  const background: { texture: Texture; alpha: number }[] = [{ texture: sampleTexture(rng, nextSeed()), alpha: 1 }];
  if (rng.chance(0.35)) background.push({ texture: sampleTexture(rng, nextSeed()), alpha: rng.range(0.25, 0.6) });
  const textures = background.map((b) => ({ f: compileTexture(b.texture, W, H), alpha: b.alpha }));
  const backgroundAt = (x: number, y: number, out: number[]) => {
    const c = [0, 0, 0];
    textures.forEach(({ f, alpha }, k) => {
      f(x, y, c);
      const a = k === 0 ? 1 : alpha;
      for (let ch = 0; ch < 3; ch++) out[ch] = out[ch] * (1 - a) + c[ch] * a;
    });
  };

  const numObjects = rng.chance(cfg.emptyFraction) ? 0 : rng.int(cfg.objectsPerImage[0], cfg.objectsPerImage[1]);
  const objects: ShapeLayer[] = [];
  const boxes: Rect[] = [];
  for (let k = 0; k < numObjects; k++) {
    const shape = rng.pick(cfg.classes);
    // Rejection sampling of the placement; an object that finds no place is left out.
    for (let attempt = 0; attempt < 25; attempt++) {
      const g = sampleGeometry(rng, shape, cfg);
      const [hx, hy] = rotatedHalfExtents(g.rx, g.ry, g.angle);
      const box: Rect = [Math.max(g.cx - hx, 0), Math.max(g.cy - hy, 0), Math.min(g.cx + hx, W), Math.min(g.cy + hy, H)];
      if (boxes.some((b) => boxIoU(b, box) > cfg.maxOverlapIoU)) continue;
      // A colour that stands out from the background at the object's centre.
      const bg = [0, 0, 0];
      backgroundAt(g.cx, g.cy, bg);
      let color = sampleColor(rng);
      for (let t = 0; t < 12 && colorDistance(color, bg) < cfg.minContrast; t++) color = sampleColor(rng);
      objects.push({ ...g, fill: sampleFill(rng, color, g.cx, g.cy, Math.max(g.rx, g.ry), nextSeed()) });
      boxes.push(box);
      break;
    }
  }

  // Distractors: blobs always behind the objects; strokes and arcs sometimes over them.
  const behind: ClutterLayer[] = [];
  const over: ClutterLayer[] = [];
  const numClutter = rng.int(cfg.clutterPerImage[0], cfg.clutterPerImage[1]);
  for (let k = 0; k < numClutter; k++) {
    const c = sampleClutter(rng, cfg, nextSeed());
    (c.kind !== 'blob' && rng.chance(0.35) ? over : behind).push(c);
  }

  return {
    width: W,
    height: H,
    background,
    layers: [...behind, ...objects, ...over],
    noiseStd: rng.range(0, cfg.noiseStd),
    noiseSeed: nextSeed(),
    supersample: cfg.supersample,
    minVisibleFraction: cfg.minVisibleFraction,
  };
}

// ---------------------------------------------------------------------------------------
// Datasets.

export interface GeneratedImage {
  /** COCO image entry; id = index + 1. */
  info: CocoImageJson;
  image: RgbImage;
  /** This image's annotations, without ids (generateDataset numbers them). */
  annotations: Omit<CocoAnnotationJson, 'id' | 'image_id'>[];
}

export interface GeneratedDataset {
  coco: CocoJson;
  /** images[i] is coco.images[i]'s pixels. */
  images: RgbImage[];
}

/** The file name of image `id`: six digits, then .png. */
export function imageFileName(id: number): string {
  return `${String(id).padStart(6, '0')}.png`;
}

/** Image `index` of the dataset a config describes: the same whether made alone or in a dataset. */
export function generateImage(config: SyntheticConfig | ResolvedSyntheticConfig, index: number): GeneratedImage {
  const cfg = 'height' in config ? config : resolveSyntheticConfig(config);
  const rendered = renderScene(sampleScene(cfg, index));
  const id = index + 1;
  return {
    info: { id, file_name: imageFileName(id), width: cfg.width, height: cfg.height },
    image: rendered.image,
    annotations: rendered.objects.map((o) => ({
      category_id: SHAPES.indexOf(o.shape) + 1,
      bbox: o.bbox,
      area: o.area,
      iscrowd: 0,
    })),
  };
}

/**
 * The COCO `info` block: the full resolved config and the generator version, so a cached
 * dataset on disk can be checked against the config that would regenerate it.
 */
export function syntheticInfo(cfg: ResolvedSyntheticConfig): Record<string, unknown> {
  return { description: 'synthetic shapes (detection/data/synthetic.ts)', version: GENERATOR_VERSION, generator: { ...cfg } };
}

export function syntheticCategories(cfg: ResolvedSyntheticConfig): CocoCategoryJson[] {
  return cfg.classes.map((name) => ({ id: SHAPES.indexOf(name) + 1, name, supercategory: 'shape' }));
}

/**
 * The whole dataset in memory: COCO JSON (image ids from 1, annotation ids from 1 in
 * image order, categories SHAPES-ordered with ids index + 1) and the RGB images.
 * `onImage` is called after each image (for a progress bar).
 */
export function generateDataset(config: SyntheticConfig, onImage?: (done: number, total: number) => void): GeneratedDataset {
  const cfg = resolveSyntheticConfig(config);
  const coco: CocoJson = {
    info: syntheticInfo(cfg),
    images: [],
    annotations: [],
    categories: syntheticCategories(cfg),
  };
  const images: RgbImage[] = [];
  for (let i = 0; i < cfg.numImages; i++) {
    const g = generateImage(cfg, i);
    coco.images.push(g.info);
    images.push(g.image);
    for (const a of g.annotations) coco.annotations.push({ id: coco.annotations.length + 1, image_id: g.info.id, ...a });
    onImage?.(i + 1, cfg.numImages);
  }
  return { coco, images };
}

export type SplitConfig = Omit<SyntheticConfig, 'numImages'> & { numTrain: number; numVal: number };

/**
 * Train and val configs from one seed: each split gets its own seed derived from it, so
 * the two never share an image and either can be regenerated alone.
 */
export function splitConfigs(config: SplitConfig): { train: SyntheticConfig; val: SyntheticConfig } {
  const { numTrain, numVal, ...rest } = config;
  return {
    train: { ...rest, seed: deriveSeed(config.seed, 0x7472616e) /* "tran" */, numImages: numTrain },
    val: { ...rest, seed: deriveSeed(config.seed, 0x76616c00) /* "val" */, numImages: numVal },
  };
}

export function generateSplits(config: SplitConfig): { train: GeneratedDataset; val: GeneratedDataset } {
  const { train, val } = splitConfigs(config);
  return { train: generateDataset(train), val: generateDataset(val) };
}
