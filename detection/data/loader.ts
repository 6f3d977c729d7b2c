// Batches for training and evaluation: a seeded shuffle per epoch, horizontal flips,
// per-channel normalisation and padding to a common size, as plain typed arrays the
// trainer uploads (no GPU code here).
//
// Reproducible and resumable: the order of epoch e is a pure function of (seed, e, N) and
// the flip of dataset image i in epoch e a pure function of (seed, e, i). The loader's
// whole state is { epoch, position }: a loader constructed with a saved state yields the
// same batches the original would have yielded next, whatever happened in between.
//
// Layout of a batch (mmdetection's conventions):
//   images   Float32Array [N, 3, H, W] (NCHW, channels R, G, B), (pixel − mean) / std,
//            each image at the top-left, the rest (padding) 0 — the normalised mean colour;
//   H, W     the largest image's size rounded up to a multiple of sizeDivisor (or a fixed
//            padSize for static shapes);
//   gtBoxes  per image, flat (x1, y1, x2, y2) in pixels of the (flipped) image;
//   imageSizes  per image [height, width] of the valid (unpadded) region, for the priors'
//            valid flags; no resizing happens, so it is also the original size.

import { hash32, uniformAt } from '../../engine/random.ts';
import type { ImageSize } from '../boxes.ts';
import type { FeatmapSize } from '../priors.ts';
import type { DetectionDataset } from './coco.ts';

/** mmdetection's ImageNet normalisation, RGB order, in 0..255 pixel units. */
export const IMAGENET_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
export const IMAGENET_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

export interface LoaderOptions {
  batchSize: number;
  /** Seeds the shuffle and the flips. Default 0. */
  seed?: number;
  /** Shuffle every epoch (training) or keep the dataset order (evaluation). Default true. */
  shuffle?: boolean;
  /** Probability of a horizontal flip per image and epoch. Default 0.5; 0 for evaluation. */
  flipProb?: number;
  /** Per-channel mean and std (RGB, 0..255 units). Default mmdetection's ImageNet values. */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
  /** Pad height and width up to a multiple of this (the largest stride). Default 32. */
  sizeDivisor?: number;
  /**
   * Pad every batch to exactly [height, width] instead (static shapes: the GPU buffers and
   * priors are then the same for every step). An image larger than this is an error.
   */
  padSize?: readonly [height: number, width: number];
  /** Skip the last, short batch of an epoch. Default false. */
  dropLast?: boolean;
}

/** Where the loader is: `position` images of epoch `epoch`'s order have been delivered. */
export interface LoaderState {
  epoch: number;
  position: number;
  /** Recorded so that resuming with another dataset or seed is caught. */
  numImages: number;
  seed: number;
}

export interface DetectionBatch {
  /** [N, 3, H, W], normalised, zero-padded. */
  images: Float32Array;
  shape: [n: number, channels: 3, height: number, width: number];
  /** [H, W] of the padded batch. */
  padSize: [height: number, width: number];
  /** Per image, [height, width] of its valid region (top-left of the padded image). */
  imageSizes: [height: number, width: number][];
  /** COCO image ids (for evaluation). */
  imageIds: number[];
  /** Indices into the dataset's records. */
  indices: number[];
  flipped: boolean[];
  /** Per image, flat (x1, y1, x2, y2) of the non-crowd objects. */
  gtBoxes: Float64Array[];
  /** Per image, the label (0..C-1) of each gt box. */
  gtLabels: Int32Array[];
  /** Per image, flat (x1, y1, x2, y2) of the crowd (ignore) regions. */
  crowdBoxes: Float64Array[];
  /** The epoch this batch belongs to and the position of its first image in that epoch's order. */
  epoch: number;
  position: number;
}

// Purposes of the loader's random streams, mixed into their seeds.
const SHUFFLE = 0x5348;
const FLIP = 0x464c;

function streamSeed(seed: number, epoch: number, purpose: number): number {
  return hash32((hash32((hash32(seed >>> 0) ^ purpose) >>> 0) ^ epoch) >>> 0);
}

/**
 * The order of epoch `epoch`: a Fisher–Yates shuffle of 0..n-1 driven by
 * uniformAt(streamSeed(seed, epoch), ·) — the same on every machine.
 */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const s = streamSeed(seed, epoch, SHUFFLE);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniformAt(s, i) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Whether dataset image `index` is flipped in epoch `epoch`. */
export function isFlipped(seed: number, epoch: number, index: number, flipProb: number): boolean {
  return uniformAt(streamSeed(seed, epoch, FLIP), index) < flipProb;
}

/** Horizontal flip of flat (x1, y1, x2, y2) boxes in an image `width` wide: x ↦ width − x. */
export function flipBoxes(boxes: Float64Array, width: number): Float64Array {
  const out = new Float64Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = width - boxes[i + 2];
    out[i + 1] = boxes[i + 1];
    out[i + 2] = width - boxes[i];
    out[i + 3] = boxes[i + 3];
  }
  return out;
}

/** Smallest multiple of `divisor` that is ≥ x. */
export function padTo(x: number, divisor: number): number {
  return Math.ceil(x / divisor) * divisor;
}

export class DetectionLoader {
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly flipProb: number;
  readonly sizeDivisor: number;
  readonly padSize: readonly [number, number] | undefined;
  readonly dropLast: boolean;
  /** lut[c][v] = (v − mean[c]) / std[c] as float32, for 8-bit v. */
  private readonly lut: Float32Array[];
  private epoch = 0;
  private position = 0;
  private orderCache: { epoch: number; order: Uint32Array } | undefined;

  constructor(
    readonly dataset: DetectionDataset,
    options: LoaderOptions,
    state?: LoaderState,
  ) {
    const fail = (why: string): never => {
      throw new Error(`DetectionLoader: ${why}`);
    };
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) fail(`batchSize must be a positive integer, got ${options.batchSize}`);
    this.batchSize = options.batchSize;
    this.seed = options.seed ?? 0;
    if (!Number.isInteger(this.seed)) fail(`seed must be an integer, got ${this.seed}`);
    this.shuffle = options.shuffle ?? true;
    this.flipProb = options.flipProb ?? 0.5;
    if (!(this.flipProb >= 0 && this.flipProb <= 1)) fail(`flipProb must be in [0, 1], got ${this.flipProb}`);
    this.sizeDivisor = options.sizeDivisor ?? 32;
    if (!Number.isInteger(this.sizeDivisor) || this.sizeDivisor < 1) fail(`sizeDivisor must be a positive integer, got ${this.sizeDivisor}`);
    this.padSize = options.padSize;
    if (this.padSize && !this.padSize.every((v) => Number.isInteger(v) && v >= 1))
      fail(`padSize must be two positive integers, got ${JSON.stringify(this.padSize)}`);
    this.dropLast = options.dropLast ?? false;
    const mean = options.mean ?? IMAGENET_MEAN;
    const std = options.std ?? IMAGENET_STD;
    if (mean.length !== 3 || !mean.every(Number.isFinite)) fail(`mean must be 3 finite numbers, got ${JSON.stringify(mean)}`);
    if (std.length !== 3 || !std.every((s) => Number.isFinite(s) && s > 0)) fail(`std must be 3 positive numbers, got ${JSON.stringify(std)}`);
    this.lut = [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (v - mean[c]) / std[c]));
    if (dataset.records.length === 0) fail('the dataset has no images');
    if (this.batchesPerEpoch === 0) fail(`dropLast with batchSize ${this.batchSize} > ${dataset.records.length} images leaves no batch`);
    if (state) this.restore(state);
  }

  get numImages(): number {
    return this.dataset.records.length;
  }

  get batchesPerEpoch(): number {
    const n = this.numImages;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The state to save with a checkpoint; pass it to the constructor (or restore) to resume. */
  get state(): LoaderState {
    return { epoch: this.epoch, position: this.position, numImages: this.numImages, seed: this.seed };
  }

  restore(state: LoaderState): void {
    const { epoch, position } = state;
    if (state.numImages !== this.numImages) {
      throw new Error(`DetectionLoader: the saved state is for a dataset of ${state.numImages} images, this one has ${this.numImages}`);
    }
    if (state.seed !== this.seed) throw new Error(`DetectionLoader: the saved state is for seed ${state.seed}, this loader has seed ${this.seed}`);
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`DetectionLoader: state.epoch must be an integer ≥ 0, got ${epoch}`);
    if (!Number.isInteger(position) || position < 0 || position >= this.numImages) {
      throw new Error(`DetectionLoader: state.position must be an integer in [0, ${this.numImages}), got ${position}`);
    }
    this.epoch = epoch;
    this.position = position;
    this.normalise();
  }

  /** The dataset indices in epoch `epoch`'s order. */
  order(epoch: number): Uint32Array {
    if (this.orderCache?.epoch !== epoch) {
      const n = this.numImages;
      const order = this.shuffle ? epochOrder(n, this.seed, epoch) : Uint32Array.from({ length: n }, (_, i) => i);
      this.orderCache = { epoch, order };
    }
    return this.orderCache.order;
  }

  /** The next batch; after an epoch's last batch the state moves to the next epoch, position 0. */
  next(): DetectionBatch {
    const order = this.order(this.epoch);
    const start = this.position;
    const end = Math.min(start + this.batchSize, this.numImages);
    const batch = this.collate([...order.subarray(start, end)], this.epoch, start);
    this.position = end;
    this.normalise();
    return batch;
  }

  /** The remaining batches of the current epoch (all of them from a fresh epoch). */
  *epochBatches(): Generator<DetectionBatch> {
    const epoch = this.epoch;
    while (this.epoch === epoch) yield this.next();
  }

  /** At the end of an epoch (or before a short last batch that dropLast skips), move on to the next. */
  private normalise(): void {
    const left = this.numImages - this.position;
    if (left === 0 || (this.dropLast && left < this.batchSize)) {
      this.epoch++;
      this.position = 0;
    }
  }

  /**
   * Builds the batch of the given dataset indices as epoch `epoch` would: flips are those
   * of (seed, epoch, index), so evaluation or a debugging tool can rebuild any batch.
   */
  collate(indices: readonly number[], epoch = 0, position = 0): DetectionBatch {
    const n = indices.length;
    if (n === 0) throw new Error('DetectionLoader.collate: no indices');
    const records = indices.map((i) => {
      const r = this.dataset.records[i];
      if (!r) throw new RangeError(`DetectionLoader.collate: index ${i} out of range [0, ${this.numImages})`);
      return r;
    });
    let padH: number, padW: number;
    if (this.padSize) {
      [padH, padW] = this.padSize;
      for (const r of records) {
        if (r.height > padH || r.width > padW) {
          throw new Error(
            `DetectionLoader: image ${r.imageId} (${r.fileName}) is ${r.width}x${r.height}, larger than padSize ${padW}x${padH} (width x height)`,
          );
        }
      }
    } else {
      padH = padTo(Math.max(...records.map((r) => r.height)), this.sizeDivisor);
      padW = padTo(Math.max(...records.map((r) => r.width)), this.sizeDivisor);
    }

    const plane = padH * padW;
    const images = new Float32Array(n * 3 * plane);
    const flipped: boolean[] = [];
    const gtBoxes: Float64Array[] = [];
    const crowdBoxes: Float64Array[] = [];
    records.forEach((r, b) => {
      const flip = isFlipped(this.seed, epoch, indices[b], this.flipProb);
      flipped.push(flip);
      const img = this.dataset.image(indices[b]);
      const { width: W, height: H, data } = img;
      for (let c = 0; c < 3; c++) {
        const lut = this.lut[c];
        const base = (b * 3 + c) * plane;
        for (let y = 0; y < H; y++) {
          const row = base + y * padW;
          const src = y * W;
          for (let x = 0; x < W; x++) images[row + x] = lut[data[3 * (src + (flip ? W - 1 - x : x)) + c]];
        }
      }
      gtBoxes.push(flip ? flipBoxes(r.boxes, W) : r.boxes.slice());
      crowdBoxes.push(flip ? flipBoxes(r.crowdBoxes, W) : r.crowdBoxes.slice());
    });

    return {
      images,
      shape: [n, 3, padH, padW],
      padSize: [padH, padW],
      imageSizes: records.map((r) => [r.height, r.width]),
      imageIds: records.map((r) => r.imageId),
      indices: [...indices],
      flipped,
      gtBoxes,
      gtLabels: records.map((r) => r.labels.slice()),
      crowdBoxes,
      epoch,
      position,
    };
  }
}

/**
 * Feature-map sizes of a padded batch for the given strides: ceil(size / stride) per
 * level, which is what a chain of stride-2 convolutions (kernel 3, padding 1) produces
 * (ceil(ceil(h/2)/2) = ceil(h/4), …), and exactly size / stride when the padding is a
 * multiple of the largest stride.
 */
export function featmapSizesFor(padSize: readonly [number, number], strides: readonly number[]): FeatmapSize[] {
  return strides.map((s) => [Math.ceil(padSize[0] / s), Math.ceil(padSize[1] / s)] as const);
}

/** Anything with mmdetection-style valid flags (AnchorGenerator, PointGenerator in priors.ts). */
export interface ValidFlagSource {
  validFlags(featmapSizes: readonly FeatmapSize[], validSize: ImageSize): Uint8Array;
}

/** Per image of the batch, 1 for priors over the image and 0 for those over padding only. */
export function validPriorFlags(batch: DetectionBatch, priors: ValidFlagSource, featmapSizes: readonly FeatmapSize[]): Uint8Array[] {
  return batch.imageSizes.map((size) => priors.validFlags(featmapSizes, size));
}
