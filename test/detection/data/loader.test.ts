import { describe, expect, it } from 'vitest';
import { inMemoryCocoDataset, type RgbImage } from '../../../detection/data/coco.ts';
import {
  DetectionLoader,
  epochOrder,
  featmapSizesFor,
  flipBoxes,
  isFlipped,
  padTo,
  validPriorFlags,
  type DetectionBatch,
} from '../../../detection/data/loader.ts';
import { gflAnchorGenerator } from '../../../detection/priors.ts';

/** An image whose pixel (x, y) has RGB (base + x, base + 10·y, base + 100). */
function ramp(width: number, height: number, base = 0): RgbImage {
  const data = new Uint8Array(3 * width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([base + x, base + 10 * y, base + 100], 3 * (y * width + x));
  }
  return { width, height, data };
}

/** n images of w×h (ids 1..n); image k has one box of label k % 2 and, for k = 0, a crowd box. */
function dataset(n: number, sizes: (k: number) => [number, number] = () => [10, 6]) {
  const images = Array.from({ length: n }, (_, k) => {
    const [w, h] = sizes(k);
    return { id: k + 1, file_name: `${k}.png`, width: w, height: h };
  });
  const annotations = images.map((im, k) => ({ id: k + 1, image_id: im.id, category_id: (k % 2) + 1, bbox: [1, 2, 3, 4] }));
  annotations.push({ id: n + 1, image_id: 1, category_id: 1, bbox: [0, 0, 2, 2], iscrowd: 1 } as never);
  const json = {
    images,
    annotations,
    categories: [
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ],
  };
  return inMemoryCocoDataset(
    json,
    images.map((im, k) => ramp(im.width, im.height, k)),
  );
}

/** Identity normalisation, so batch values are the raw pixel values. */
const raw = { mean: [0, 0, 0] as const, std: [1, 1, 1] as const };

/** Value at (n, c, y, x) of a batch. */
function at(b: DetectionBatch, n: number, c: number, y: number, x: number): number {
  const [, C, H, W] = b.shape;
  return b.images[((n * C + c) * H + y) * W + x];
}

describe('horizontal flip', () => {
  it('maps boxes x ↦ width − x (by hand)', () => {
    // In a 10-wide image, (1, 2)–(4, 6) covers columns 1..3; flipped, columns 6..8 → (6, 2)–(9, 6).
    expect([...flipBoxes(Float64Array.from([1, 2, 4, 6, 0, 0, 10, 1]), 10)]).toEqual([6, 2, 9, 6, 0, 0, 10, 1]);
  });

  it('mirrors the pixels and the boxes together; the crowd boxes too', () => {
    const loader = new DetectionLoader(dataset(1), { batchSize: 1, flipProb: 1, shuffle: false, ...raw });
    const b = loader.next();
    expect(b.flipped).toEqual([true]);
    // Image 0 is 10×6, pixel (x, y) R = x: after the flip column x holds 9 − x.
    expect([0, 1, 9].map((x) => at(b, 0, 0, 2, x))).toEqual([9, 8, 0]);
    expect(at(b, 0, 1, 2, 0)).toBe(20); // G = 10·y does not change
    // bbox [1, 2, 3, 4] → (1, 2, 4, 6) → flipped (6, 2, 9, 6); crowd (0, 0, 2, 2) → (8, 0, 10, 2).
    expect([...b.gtBoxes[0]]).toEqual([6, 2, 9, 6]);
    expect([...b.crowdBoxes[0]]).toEqual([8, 0, 10, 2]);
    // The box still frames the same pixels: columns 1..3 (R = 1..3) now sit at columns 8..6.
    expect([6, 7, 8].map((x) => at(b, 0, 0, 3, x))).toEqual([3, 2, 1]);
  });

  it('is seeded per (seed, epoch, image) and flips about half the time', () => {
    let flips = 0;
    for (let i = 0; i < 2000; i++) flips += Number(isFlipped(5, 0, i, 0.5));
    expect(flips).toBeGreaterThan(900);
    expect(flips).toBeLessThan(1100);
    expect(isFlipped(5, 3, 17, 0.5)).toBe(isFlipped(5, 3, 17, 0.5));
    // Never / always at p = 0 / 1.
    expect([0, 1, 2, 3].some((i) => isFlipped(5, 0, i, 0))).toBe(false);
    expect([0, 1, 2, 3].every((i) => isFlipped(5, 0, i, 1))).toBe(true);
  });
});

describe('normalisation and padding', () => {
  it('normalises each channel: (pixel − mean) / std', () => {
    const loader = new DetectionLoader(dataset(1), { batchSize: 1, flipProb: 0, shuffle: false, mean: [1, 20, 50], std: [2, 5, 10] });
    const b = loader.next();
    // Pixel (x 3, y 2): RGB (3, 20, 100) → ((3−1)/2, (20−20)/5, (100−50)/10) = (1, 0, 5).
    expect([0, 1, 2].map((c) => at(b, 0, c, 2, 3))).toEqual([1, 0, 5]);
  });

  it('pads the batch to the largest image rounded up to the size divisor, image at the top-left, zeros elsewhere', () => {
    // Images 5×3 and 2×7 (w×h): max h 7, max w 5 → with divisor 4: 8 × 8.
    const ds = dataset(2, (k) => (k === 0 ? [5, 3] : [2, 7]));
    const loader = new DetectionLoader(ds, { batchSize: 2, flipProb: 0, shuffle: false, sizeDivisor: 4, ...raw });
    const b = loader.next();
    expect(b.shape).toEqual([2, 3, 8, 8]);
    expect(b.padSize).toEqual([8, 8]);
    expect(b.imageSizes).toEqual([
      [3, 5],
      [7, 2],
    ]);
    expect(b.images.length).toBe(2 * 3 * 8 * 8);
    // Image 0: R at (x 4, y 2) = 4; (x 5, y 2) and (x 0, y 3) are padding.
    expect(at(b, 0, 0, 2, 4)).toBe(4);
    expect(at(b, 0, 0, 2, 5)).toBe(0);
    expect(at(b, 0, 0, 3, 0)).toBe(0);
    // Image 1 (base 1): B = 101 everywhere inside its 2×7, 0 at (x 2, y 0) and (x 0, y 7).
    expect(at(b, 1, 2, 6, 1)).toBe(101);
    expect(at(b, 1, 2, 0, 2)).toBe(0);
    expect(at(b, 1, 2, 7, 0)).toBe(0);
    expect([padTo(96, 32), padTo(97, 32), padTo(128, 128), padTo(1, 128)]).toEqual([96, 128, 128, 128]);
  });

  it('pads to a fixed size for static shapes, and rejects a larger image', () => {
    const loader = new DetectionLoader(dataset(2), { batchSize: 2, padSize: [8, 16] });
    expect(loader.next().shape).toEqual([2, 3, 8, 16]);
    const small = new DetectionLoader(dataset(1), { batchSize: 1, padSize: [8, 8] });
    expect(() => small.next()).toThrow('DetectionLoader: image 1 (0.png) is 10x6, larger than padSize 8x8 (width x height)');
  });

  it('carries ids, labels (0-based), crowds and indices', () => {
    const b = new DetectionLoader(dataset(3), { batchSize: 3, shuffle: false, flipProb: 0 }).next();
    expect(b.imageIds).toEqual([1, 2, 3]);
    expect(b.indices).toEqual([0, 1, 2]);
    expect(b.gtLabels.map((l) => [...l])).toEqual([[0], [1], [0]]);
    expect(b.crowdBoxes.map((c) => c.length)).toEqual([4, 0, 0]);
    expect([...b.gtBoxes[1]]).toEqual([1, 2, 4, 6]);
  });

  it('gives feature-map sizes and valid-prior flags for the padded batch (by hand)', () => {
    expect(featmapSizesFor([128, 96], [8, 16, 32, 64, 128])).toEqual([
      [16, 12],
      [8, 6],
      [4, 3],
      [2, 2],
      [1, 1],
    ]);
    // One 12×20 (w×h) image padded to 32×32, strides 8 and 16. Stride 8: 4×4 locations,
    // valid x < ceil(12/8) = 2, y < ceil(20/8) = 3. Stride 16: 2×2, x < 1, y < 2.
    const b = new DetectionLoader(
      dataset(1, () => [12, 20]),
      { batchSize: 1, sizeDivisor: 32 },
    ).next();
    const sizes = featmapSizesFor(b.padSize, [8, 16]);
    expect(sizes).toEqual([
      [4, 4],
      [2, 2],
    ]);
    const [flags] = validPriorFlags(b, gflAnchorGenerator([8, 16]), sizes);
    expect([...flags]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0]);
  });
});

describe('order: seeded, reproducible, resumable', () => {
  const n = 10;
  const opts = { batchSize: 4, seed: 11 };
  const take = (loader: DetectionLoader, k: number) => Array.from({ length: k }, () => loader.next());
  const summary = (b: DetectionBatch) => ({ epoch: b.epoch, position: b.position, indices: b.indices, flipped: b.flipped });

  it('shuffles each epoch into a different permutation, the same for the same seed', () => {
    const e0 = epochOrder(n, 11, 0);
    const e1 = epochOrder(n, 11, 1);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect([...e0]).not.toEqual([...e1]);
    expect([...epochOrder(n, 11, 0)]).toEqual([...e0]);
    expect([...epochOrder(n, 12, 0)]).not.toEqual([...e0]);
  });

  it('walks the epoch order in batches (the last one short) and then moves to the next epoch', () => {
    const loader = new DetectionLoader(dataset(n), opts);
    expect(loader.batchesPerEpoch).toBe(3);
    const order0 = [...loader.order(0)];
    const batches = take(loader, 4);
    expect(batches.map((b) => b.indices.length)).toEqual([4, 4, 2, 4]);
    expect(batches.slice(0, 3).flatMap((b) => b.indices)).toEqual(order0);
    expect(batches[3].indices).toEqual([...loader.order(1)].slice(0, 4));
    expect(batches.map((b) => [b.epoch, b.position])).toEqual([
      [0, 0],
      [0, 4],
      [0, 8],
      [1, 0],
    ]);
    // Flips follow (seed, epoch, image).
    for (const b of batches) b.indices.forEach((i, k) => expect(b.flipped[k]).toBe(isFlipped(11, b.epoch, i, 0.5)));
  });

  it('dropLast skips the short batch', () => {
    const loader = new DetectionLoader(dataset(n), { ...opts, dropLast: true });
    expect(loader.batchesPerEpoch).toBe(2);
    expect(take(loader, 3).map((b) => [b.epoch, b.position])).toEqual([
      [0, 0],
      [0, 4],
      [1, 0],
    ]);
  });

  it('epochBatches yields the rest of the current epoch', () => {
    const loader = new DetectionLoader(dataset(n), opts);
    loader.next();
    expect([...loader.epochBatches()].map((b) => b.position)).toEqual([4, 8]);
    expect(loader.state).toMatchObject({ epoch: 1, position: 0 });
    expect([...loader.epochBatches()]).toHaveLength(3);
  });

  it('is reproducible: two loaders with the same seed give the same batches', () => {
    const a = take(new DetectionLoader(dataset(n), opts), 7);
    const b = take(new DetectionLoader(dataset(n), opts), 7);
    expect(a.map(summary)).toEqual(b.map(summary));
    a.forEach((x, k) => expect(Buffer.from(x.images.buffer).equals(Buffer.from(b[k].images.buffer))).toBe(true));
    const c = take(new DetectionLoader(dataset(n), { ...opts, seed: 12 }), 7);
    expect(c.map(summary)).not.toEqual(a.map(summary));
  });

  it('resumes from a saved state with the batches the original run would have seen', () => {
    const original = new DetectionLoader(dataset(n), opts);
    take(original, 5); // epoch 0: 3 batches; epoch 1: 2 batches → at epoch 1, position 8
    const saved = JSON.parse(JSON.stringify(original.state));
    expect(saved).toEqual({ epoch: 1, position: 8, numImages: n, seed: 11 });
    const resumed = new DetectionLoader(dataset(n), opts, saved);
    const next = take(original, 4);
    const again = take(resumed, 4);
    expect(again.map(summary)).toEqual(next.map(summary));
    again.forEach((x, k) => expect(Buffer.from(x.images.buffer).equals(Buffer.from(next[k].images.buffer))).toBe(true));
  });

  it('refuses a state from another dataset or seed, or out of range', () => {
    const state = { epoch: 0, position: 4, numImages: n, seed: 11 };
    expect(() => new DetectionLoader(dataset(9), opts, { ...state, numImages: 10 })).toThrow('the saved state is for a dataset of 10 images, this one has 9');
    expect(() => new DetectionLoader(dataset(n), opts, { ...state, seed: 1 })).toThrow('the saved state is for seed 1, this loader has seed 11');
    expect(() => new DetectionLoader(dataset(n), opts, { ...state, position: 10 })).toThrow('state.position must be an integer in [0, 10), got 10');
  });

  it('keeps the dataset order without shuffling (evaluation)', () => {
    const loader = new DetectionLoader(dataset(n), { batchSize: 4, shuffle: false, flipProb: 0 });
    expect(take(loader, 3).flatMap((b) => b.indices)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('rejects bad options', () => {
    expect(() => new DetectionLoader(dataset(2), { batchSize: 0 })).toThrow('batchSize must be a positive integer');
    expect(() => new DetectionLoader(dataset(2), { batchSize: 3, dropLast: true })).toThrow('dropLast with batchSize 3 > 2 images leaves no batch');
    expect(() => new DetectionLoader(dataset(2), { batchSize: 1, std: [1, 0, 1] })).toThrow('std must be 3 positive numbers');
    expect(() => new DetectionLoader(dataset(2), { batchSize: 1, flipProb: 2 })).toThrow('flipProb must be in [0, 1]');
  });
});
