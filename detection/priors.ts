// Priors per FPN level: anchor boxes (GFL, ATSS, RetinaNet) and points (FCOS), following
// mmdetection's AnchorGenerator and MlvlPointGenerator.
//
// Layout (the one the heads' outputs have after permuting NCHW → N·H·W·A): priors of all
// levels concatenated, level by level; inside a level row-major over locations (y outer,
// x inner) and, at each location, the base anchors in their generation order. A head
// splits its flattened predictions with `numLevelPriors`.

import type { ImageSize } from './boxes.ts';

/** Feature-map size of one level, [height, width]. */
export type FeatmapSize = readonly [height: number, width: number];

export const DEFAULT_STRIDES: readonly number[] = [8, 16, 32, 64, 128];

export interface MultiLevelPriors {
  /** Flat priors of all levels: (x1,y1,x2,y2) per anchor, or (x,y) per point. */
  priors: Float64Array;
  /** Values per prior: 4 for anchors, 2 for points. */
  dim: 4 | 2;
  /** Priors per level (locations × priors per location). */
  numLevelPriors: number[];
  /** Index of each level's first prior in the concatenation. */
  levelStart: number[];
  /** Level of each prior (handy for the per-level top-k at inference and for debugging). */
  levelOf: Uint8Array;
}

export interface AnchorGeneratorConfig {
  strides: readonly number[];
  /** Height / width ratios of the anchors at one location. */
  ratios: readonly number[];
  /** Side of the ratio-1 anchor at scale 1 is octaveBaseScale · base size (= stride). */
  octaveBaseScale: number;
  /** Scales per octave: octaveBaseScale · 2^(i / scalesPerOctave), i = 0..scalesPerOctave-1. */
  scalesPerOctave: number;
  /** Anchor centre inside its stride cell, in units of the stride: 0 in mmdetection's AnchorGenerator. */
  centerOffset?: number;
}

/**
 * mmdetection's AnchorGenerator with scale_major=True (the default): base anchors are
 * ordered ratio-major, scale-minor, each of width stride·scale/√ratio and height
 * stride·scale·√ratio, centred at (x·stride, y·stride) for centerOffset 0. The base size
 * of each level is its stride (mmdetection's default when base_sizes is not given).
 */
export class AnchorGenerator {
  readonly strides: readonly number[];
  readonly scales: readonly number[];
  readonly ratios: readonly number[];
  readonly centerOffset: number;
  /** Per level, the anchors at location (0,0) as flat (x1,y1,x2,y2). */
  readonly baseAnchors: readonly Float64Array[];

  constructor(config: AnchorGeneratorConfig) {
    if (config.strides.length === 0) throw new Error('AnchorGenerator: no strides');
    if (config.ratios.length === 0) throw new Error('AnchorGenerator: no ratios');
    if (!(config.scalesPerOctave >= 1) || !Number.isInteger(config.scalesPerOctave)) {
      throw new Error(`AnchorGenerator: scalesPerOctave must be a positive integer, got ${config.scalesPerOctave}`);
    }
    this.strides = [...config.strides];
    this.ratios = [...config.ratios];
    this.scales = Array.from({ length: config.scalesPerOctave }, (_, i) => config.octaveBaseScale * 2 ** (i / config.scalesPerOctave));
    this.centerOffset = config.centerOffset ?? 0;
    this.baseAnchors = this.strides.map((s) => this.levelBaseAnchors(s));
  }

  /** Anchors per location (ratios × scales). */
  get numBaseAnchors(): number {
    return this.ratios.length * this.scales.length;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  private levelBaseAnchors(baseSize: number): Float64Array {
    const c = this.centerOffset * baseSize;
    const out = new Float64Array(this.numBaseAnchors * 4);
    let k = 0;
    for (const ratio of this.ratios) {
      const hRatio = Math.sqrt(ratio);
      const wRatio = 1 / hRatio;
      for (const scale of this.scales) {
        const w = baseSize * wRatio * scale;
        const h = baseSize * hRatio * scale;
        out.set([c - 0.5 * w, c - 0.5 * h, c + 0.5 * w, c + 0.5 * h], 4 * k++);
      }
    }
    return out;
  }

  /** All anchors of all levels for the given feature-map sizes (one size per stride). */
  gridPriors(featmapSizes: readonly FeatmapSize[]): MultiLevelPriors {
    checkLevels(featmapSizes, this.strides.length, 'AnchorGenerator');
    const A = this.numBaseAnchors;
    const numLevelPriors = featmapSizes.map(([h, w]) => h * w * A);
    const { total, levelStart, levelOf } = levelLayout(numLevelPriors);
    const priors = new Float64Array(total * 4);
    featmapSizes.forEach(([h, w], level) => {
      const stride = this.strides[level];
      const base = this.baseAnchors[level];
      let p = levelStart[level] * 4;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sx = x * stride,
            sy = y * stride;
          for (let a = 0; a < A; a++) {
            priors[p++] = base[4 * a] + sx;
            priors[p++] = base[4 * a + 1] + sy;
            priors[p++] = base[4 * a + 2] + sx;
            priors[p++] = base[4 * a + 3] + sy;
          }
        }
      }
    });
    return { priors, dim: 4, numLevelPriors, levelStart, levelOf };
  }

  /**
   * 1 for priors that belong to the image, 0 for those that only cover padding. `validSize`
   * is the [height, width] region that counts as image. As mmdetection's valid_flags, a
   * location (x, y) of a level with stride s is valid when x < ceil(width / s) and
   * y < ceil(height / s): for centre offset 0 that is exactly "the centre x·s lies inside
   * the image". (mmdetection passes each image's pad_shape, i.e. the image padded to the
   * size divisor; pass the un-padded image size to drop every prior centred on padding.)
   */
  validFlags(featmapSizes: readonly FeatmapSize[], validSize: ImageSize): Uint8Array {
    checkLevels(featmapSizes, this.strides.length, 'AnchorGenerator');
    return gridValidFlags(featmapSizes, this.strides, validSize, this.numBaseAnchors);
  }
}

/**
 * mmdetection's MlvlPointGenerator: one point per location at ((x + offset)·stride,
 * (y + offset)·stride); FCOS uses offset 0.5 (cell centres).
 */
export class PointGenerator {
  readonly strides: readonly number[];
  readonly offset: number;

  constructor(strides: readonly number[] = DEFAULT_STRIDES, offset = 0.5) {
    if (strides.length === 0) throw new Error('PointGenerator: no strides');
    this.strides = [...strides];
    this.offset = offset;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  gridPriors(featmapSizes: readonly FeatmapSize[]): MultiLevelPriors {
    checkLevels(featmapSizes, this.strides.length, 'PointGenerator');
    const numLevelPriors = featmapSizes.map(([h, w]) => h * w);
    const { total, levelStart, levelOf } = levelLayout(numLevelPriors);
    const priors = new Float64Array(total * 2);
    featmapSizes.forEach(([h, w], level) => {
      const stride = this.strides[level];
      let p = levelStart[level] * 2;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          priors[p++] = (x + this.offset) * stride;
          priors[p++] = (y + this.offset) * stride;
        }
      }
    });
    return { priors, dim: 2, numLevelPriors, levelStart, levelOf };
  }

  /**
   * Same rule as mmdetection's MlvlPointGenerator.valid_flags: x < ceil(width / s). With
   * offset 0.5 this keeps a point whose centre (x+0.5)·s falls on padding but whose cell
   * starts inside the image (e.g. width 100, stride 8: x = 12 at 100); mmdetection does
   * the same, so FCOS targets match it.
   */
  validFlags(featmapSizes: readonly FeatmapSize[], validSize: ImageSize): Uint8Array {
    checkLevels(featmapSizes, this.strides.length, 'PointGenerator');
    return gridValidFlags(featmapSizes, this.strides, validSize, 1);
  }
}

/** GFL and ATSS: one square anchor per location, side 8·stride. */
export function gflAnchorGenerator(strides: readonly number[] = DEFAULT_STRIDES): AnchorGenerator {
  return new AnchorGenerator({ strides, ratios: [1], octaveBaseScale: 8, scalesPerOctave: 1 });
}

/** RetinaNet: 9 anchors per location, scales 4·2^(0, 1/3, 2/3) × stride, ratios 0.5, 1, 2. */
export function retinaAnchorGenerator(strides: readonly number[] = DEFAULT_STRIDES): AnchorGenerator {
  return new AnchorGenerator({ strides, ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 });
}

/** FCOS: points at cell centres. */
export function fcosPointGenerator(strides: readonly number[] = DEFAULT_STRIDES): PointGenerator {
  return new PointGenerator(strides, 0.5);
}

/** Number of 1s per level of a concatenated per-prior flag array (mmdetection's get_num_level_anchors_inside). */
export function countPerLevel(flags: ArrayLike<number | boolean>, numLevelPriors: readonly number[]): number[] {
  const total = numLevelPriors.reduce((a, b) => a + b, 0);
  if (flags.length !== total) throw new Error(`countPerLevel: ${flags.length} flags for ${total} priors`);
  const counts: number[] = [];
  let start = 0;
  for (const n of numLevelPriors) {
    let c = 0;
    for (let i = start; i < start + n; i++) if (flags[i]) c++;
    counts.push(c);
    start += n;
  }
  return counts;
}

function checkLevels(featmapSizes: readonly FeatmapSize[], numLevels: number, who: string): void {
  if (featmapSizes.length !== numLevels) {
    throw new Error(`${who}: ${featmapSizes.length} feature-map sizes for ${numLevels} strides`);
  }
  featmapSizes.forEach(([h, w], i) => {
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) {
      throw new Error(`${who}: level ${i} feature-map size [${h}, ${w}] is not a pair of non-negative integers`);
    }
  });
}

function levelLayout(numLevelPriors: number[]): { total: number; levelStart: number[]; levelOf: Uint8Array } {
  const levelStart: number[] = [];
  let total = 0;
  for (const n of numLevelPriors) {
    levelStart.push(total);
    total += n;
  }
  const levelOf = new Uint8Array(total);
  numLevelPriors.forEach((n, level) => levelOf.fill(level, levelStart[level], levelStart[level] + n));
  return { total, levelStart, levelOf };
}

function gridValidFlags(featmapSizes: readonly FeatmapSize[], strides: readonly number[], validSize: ImageSize, perLocation: number): Uint8Array {
  const [validH, validW] = validSize;
  const total = featmapSizes.reduce((acc, [h, w]) => acc + h * w * perLocation, 0);
  const flags = new Uint8Array(total);
  let p = 0;
  featmapSizes.forEach(([h, w], level) => {
    const s = strides[level];
    const vh = Math.min(Math.ceil(validH / s), h);
    const vw = Math.min(Math.ceil(validW / s), w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = y < vh && x < vw ? 1 : 0;
        for (let a = 0; a < perLocation; a++) flags[p++] = v;
      }
    }
  });
  return flags;
}
