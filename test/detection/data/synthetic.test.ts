import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCoco } from '../../../detection/data/coco.ts';
import { dcos, dexp, dlog, dsin } from '../../../detection/data/detmath.ts';
import {
  generateDataset,
  generateImage,
  generateSplits,
  hsvToRgb,
  renderScene,
  resolveSyntheticConfig,
  sampleScene,
  SHAPES,
  splitConfigs,
  type GeneratedDataset,
  type Scene,
  type ShapeLayer,
} from '../../../detection/data/synthetic.ts';

function digest(d: GeneratedDataset): string {
  const h = createHash('sha256');
  for (const img of d.images) h.update(img.data);
  h.update(JSON.stringify(d.coco));
  return h.digest('hex');
}

/** A flat 0.2-grey 64×64 scene without noise, 4×4 samples per pixel. */
function scene(layers: Scene['layers'], minVisibleFraction = 0.5): Scene {
  return {
    width: 64,
    height: 64,
    background: [{ texture: { kind: 'flat', color: [0.2, 0.2, 0.2] }, alpha: 1 }],
    layers,
    noiseStd: 0,
    noiseSeed: 0,
    supersample: 4,
    minVisibleFraction,
  };
}

/** A red axis-aligned square of half-side r centred at (cx, cy). */
function square(cx: number, cy: number, r: number, angle = 0, color: readonly [number, number, number] = [1, 0, 0]): ShapeLayer {
  return { kind: 'object', shape: 'square', cx, cy, rx: r, ry: r, angle, inner: 0, arm: 0, mirror: false, fill: { kind: 'solid', color } };
}

function pixel(img: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const p = 3 * (y * img.width + x);
  return [...img.data.subarray(p, p + 3)];
}

describe('detmath (IEEE-only elementary functions)', () => {
  it('agrees with Math to ~1e-15', () => {
    for (let x = -20; x <= 20; x += 0.0137) {
      expect(Math.abs(dsin(x) - Math.sin(x))).toBeLessThan(4e-15);
      expect(Math.abs(dcos(x) - Math.cos(x))).toBeLessThan(4e-15);
    }
    for (let x = -30; x <= 30; x += 0.0731) expect(Math.abs(dexp(x) / Math.exp(x) - 1)).toBeLessThan(4e-15);
    for (const x of [1e-9, 0.001, 0.5, 1, Math.SQRT2, 2, 3.7, 1000, 1e12])
      expect(Math.abs(dlog(x) - Math.log(x))).toBeLessThan(4e-15 * Math.max(1, Math.abs(Math.log(x))));
    expect(dlog(1)).toBe(0);
    expect(dexp(0)).toBe(1);
  });
});

describe('rendered boxes are the tight boxes of the mask', () => {
  it('an axis-aligned square on pixel edges: bbox and area by hand, exact colours', () => {
    // Centre (20, 30), half-side 10: x in [10, 30], y in [20, 40] covers pixels 10..29 × 20..39.
    const r = renderScene(scene([square(20, 30, 10)]));
    expect(r.objects).toEqual([{ layer: 0, shape: 'square', bbox: [10, 20, 20, 20], area: 400, visibleFraction: 1 }]);
    expect(pixel(r.image, 10, 20)).toEqual([255, 0, 0]);
    expect(pixel(r.image, 29, 39)).toEqual([255, 0, 0]);
    // Background 0.2 → 51.
    expect(pixel(r.image, 9, 25)).toEqual([51, 51, 51]);
    expect(pixel(r.image, 30, 25)).toEqual([51, 51, 51]);
    expect(pixel(r.image, 15, 40)).toEqual([51, 51, 51]);
  });

  it('half-covered edge pixels count as mask (coverage ≥ 0.5) and are blended', () => {
    // Centre x 20.5: x in [10.5, 30.5]. Pixel 10's sample columns are at 10.125, 10.375,
    // 10.625, 10.875: two of four inside → coverage 0.5; pixel 30 likewise (30.125, 30.375).
    // So the mask spans pixels 10..30 (21 wide) × 20..39, area 21·20 = 420.
    const r = renderScene(scene([square(20.5, 30, 10)]));
    expect(r.objects[0].bbox).toEqual([10, 20, 21, 20]);
    expect(r.objects[0].area).toBe(420);
    // Half red over 0.2 grey: R 0.5·0.2 + 0.5·1 = 0.6 → 153, G = B = 0.1 → 25.5 → 26.
    expect(pixel(r.image, 10, 25)).toEqual([153, 26, 26]);
    expect(pixel(r.image, 30, 25)).toEqual([153, 26, 26]);
  });

  it('a square rotated 45°: the diamond tips are excluded where under half covered', () => {
    // |x−32| + |y−32| ≤ 10√2 ≈ 14.142: the left tip is at x = 17.858. Pixel (18, 31) has
    // samples x + y = 49.25 + 0.25·(i + j), inside when ≥ 49.858, i.e. i + j ≥ 3: 10 of 16
    // → kept; pixel (17, 31) has x + y ≤ 48.75 → empty. By symmetry the mask spans 18..45.
    const r = renderScene(scene([square(32, 32, 10, Math.PI / 4)]));
    expect(r.objects[0].bbox).toEqual([18, 18, 28, 28]);
  });

  it('occlusion: the box and area of the visible part; too-hidden objects are not drawn', () => {
    // A: x, y in [10, 30]. B on top: x in [20, 40], y in [5, 35] hides A's right half.
    const a = square(20, 20, 10, 0, [1, 0, 0]);
    const b: ShapeLayer = { ...square(30, 20, 10, 0, [0, 0, 1]), ry: 15 };
    const r = renderScene(scene([a, b]));
    expect(r.objects.map((o) => [o.layer, o.bbox, o.area, o.visibleFraction])).toEqual([
      [0, [10, 10, 10, 20], 200, 0.5],
      [1, [20, 5, 20, 30], 600, 1],
    ]);
    // Requiring 60% visible drops A: it is not drawn, so no unannotated sliver remains.
    const strict = renderScene(scene([a, b], 0.6));
    expect(strict.dropped).toEqual([0]);
    expect(strict.objects.map((o) => o.layer)).toEqual([1]);
    expect(pixel(strict.image, 15, 15)).toEqual([51, 51, 51]);
    expect(pixel(strict.image, 25, 15)).toEqual([0, 0, 255]);
  });

  it('truncation at the border counts as hidden area', () => {
    // x in [-10, 10]: half of it inside → visible fraction 0.5, box from the image edge.
    const r = renderScene(scene([square(0, 30, 10)]));
    expect(r.objects[0].bbox).toEqual([0, 20, 10, 20]);
    expect(r.objects[0].visibleFraction).toBe(0.5);
  });
});

describe('generator', () => {
  const config = { seed: 3, numImages: 12 };

  it('is deterministic for a seed: same bytes, same JSON', () => {
    const a = generateDataset(config);
    const b = generateDataset(config);
    expect(digest(a)).toBe(digest(b));
  });

  it('gives image i the same bytes whether made alone or in a dataset of any size', () => {
    const d = generateDataset(config);
    const alone = generateImage({ ...config, numImages: 1 }, 7);
    expect(Buffer.from(alone.image.data).equals(Buffer.from(d.images[7].data))).toBe(true);
    expect(alone.annotations).toEqual(d.coco.annotations.filter((a) => a.image_id === 8).map(({ id: _id, image_id: _img, ...rest }) => rest));
  });

  it('differs across seeds', () => {
    const a = generateDataset(config);
    const b = generateDataset({ ...config, seed: 4 });
    for (let i = 0; i < config.numImages; i++) expect(Buffer.from(a.images[i].data).equals(Buffer.from(b.images[i].data))).toBe(false);
  });

  it('matches the pinned digest (same bytes on every machine; bump GENERATOR_VERSION and this on purpose only)', () => {
    expect(digest(generateDataset({ seed: 1, numImages: 4 }))).toBe(PINNED_DIGEST);
  });

  it('writes valid COCO: ids, categories, tight in-image boxes, area ≤ w·h', () => {
    const d = generateDataset({ seed: 5, numImages: 40 });
    const parsed = parseCoco(d.coco, 'generated');
    expect(parsed.warnings).toEqual([]);
    expect(parsed.clipped).toBe(0);
    expect(d.coco.categories.map((c) => [c.id, c.name])).toEqual(SHAPES.map((s, i) => [i + 1, s]));
    expect(d.coco.images.map((im) => im.id)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(d.coco.images[0]).toEqual({ id: 1, file_name: '000001.png', width: 128, height: 128 });
    d.coco.annotations.forEach((a, i) => {
      expect(a.id).toBe(i + 1);
      expect(a.iscrowd).toBe(0);
      const [x, y, w, h] = a.bbox;
      expect(x >= 0 && y >= 0 && x + w <= 128 && y + h <= 128).toBe(true);
      expect(a.area).toBeGreaterThan(0);
      expect(a.area).toBeLessThanOrEqual(w * h);
    });
  });

  it('covers COCO small / medium / large (mask area < 32², < 96², above)', () => {
    const fractions = (imageSize: number, numImages: number) => {
      const d = generateDataset({ seed: 9, numImages, imageSize });
      const n = d.coco.annotations.length;
      const count = (lo: number, hi: number) => d.coco.annotations.filter((a) => a.area >= lo && a.area < hi).length / n;
      return [count(0, 32 ** 2), count(32 ** 2, 96 ** 2), count(96 ** 2, Infinity)];
    };
    // 128×128, sizes 8..64 px: mostly small, a good share medium; "large" needs > 56% of
    // the image, which half-image objects never reach.
    const [s128, m128, l128] = fractions(128, 80);
    expect(s128).toBeGreaterThan(0.6);
    expect(m128).toBeGreaterThan(0.15);
    expect(l128).toBe(0);
    // At 256×256 (sizes 8..128 px) all three occur.
    const [s256, m256, l256] = fractions(256, 60);
    expect(s256).toBeGreaterThan(0.4);
    expect(m256).toBeGreaterThan(0.2);
    expect(l256).toBeGreaterThan(0.01);
  });

  it('draws every class in every hue sextant: colour alone cannot tell classes apart', () => {
    const cfg = resolveSyntheticConfig({ seed: 2, numImages: 200 });
    const seen = new Map<string, Set<number>>();
    for (let i = 0; i < cfg.numImages; i++) {
      for (const l of sampleScene(cfg, i).layers) {
        if (l.kind !== 'object') continue;
        const c = l.fill.kind === 'solid' ? l.fill.color : l.fill.kind === 'gradient' ? l.fill.from : l.fill.color;
        const max = Math.max(...c),
          min = Math.min(...c);
        if (max - min < 0.05) continue; // too grey for a hue
        // Sextant of the hue: which channel is largest and which is next.
        const order = [0, 1, 2].sort((p, q) => c[q] - c[p]);
        const sextant = order[0] * 3 + order[1];
        const set = seen.get(l.shape) ?? new Set<number>();
        set.add(sextant);
        seen.set(l.shape, set);
      }
    }
    expect([...seen.keys()].sort()).toEqual([...SHAPES].sort());
    for (const set of seen.values()) expect(set.size).toBe(6);
  });

  it('makes images without objects, at the configured rate', () => {
    const d = generateDataset({ seed: 8, numImages: 100 });
    const withObjects = new Set(d.coco.annotations.map((a) => a.image_id));
    const empty = d.coco.images.filter((im) => !withObjects.has(im.id)).length;
    expect(empty).toBeGreaterThanOrEqual(1);
    expect(empty).toBeLessThanOrEqual(15);
    expect(generateDataset({ seed: 8, numImages: 5, emptyFraction: 1 }).coco.annotations).toEqual([]);
  });

  it('draws clutter that is not annotated, and sometimes over the objects', () => {
    const cfg = resolveSyntheticConfig({ seed: 4, numImages: 50 });
    let over = 0;
    const kinds = new Set<string>();
    for (let i = 0; i < cfg.numImages; i++) {
      const s = sampleScene(cfg, i);
      const lastObject = s.layers.map((l) => l.kind).lastIndexOf('object');
      s.layers.forEach((l, k) => {
        kinds.add(l.kind);
        if (l.kind !== 'object' && k > lastObject && lastObject >= 0) over++;
      });
      const r = renderScene(s);
      for (const o of r.objects) expect(s.layers[o.layer].kind).toBe('object');
    }
    expect([...kinds].sort()).toEqual(['arc', 'blob', 'object', 'stroke']);
    expect(over).toBeGreaterThan(0);
  });

  it('keeps classes and sizes within the config', () => {
    const d = generateDataset({ seed: 6, numImages: 30, classes: ['star', 'circle'], imageSize: [96, 160], sizeRange: [10, 20], objectsPerImage: [2, 2] });
    expect(d.coco.categories).toEqual([
      { id: 1, name: 'circle', supercategory: 'shape' },
      { id: 7, name: 'star', supercategory: 'shape' },
    ]);
    expect(new Set(d.coco.annotations.map((a) => a.category_id))).toEqual(new Set([1, 7]));
    expect(d.images[0].width).toBe(160);
    expect(d.images[0].height).toBe(96);
    // A star or circle of size ≤ 20 fits a 21×21 box (+1 px for rounding at the edges).
    for (const a of d.coco.annotations) expect(Math.max(a.bbox[2], a.bbox[3])).toBeLessThanOrEqual(22);
  });

  it('rejects impossible configs, naming the key', () => {
    expect(() => resolveSyntheticConfig({ seed: 1, numImages: 1, sizeRange: [8, 200] })).toThrow(
      'synthetic dataset config: sizeRange max 200 exceeds the image side 128',
    );
    expect(() => resolveSyntheticConfig({ seed: 1, numImages: 1, classes: ['hexagon' as never] })).toThrow('classes has unknown shape "hexagon"');
    expect(() => resolveSyntheticConfig({ seed: 1, numImages: 1, objectsPerImage: [3, 2] })).toThrow('objectsPerImage must be [min, max]');
    expect(() => resolveSyntheticConfig({ seed: 1.5, numImages: 1 })).toThrow('seed must be an integer');
  });

  it('splits: train and val from derived seeds, each reproducible alone', () => {
    const split = { seed: 7, numTrain: 3, numVal: 2 };
    const { train, val } = splitConfigs(split);
    expect(train.seed).not.toBe(val.seed);
    const s = generateSplits(split);
    expect(s.train.images).toHaveLength(3);
    expect(s.val.images).toHaveLength(2);
    expect(digest(s.train)).toBe(digest(generateDataset(train)));
    expect(Buffer.from(s.train.images[0].data).equals(Buffer.from(s.val.images[0].data))).toBe(false);
  });

  it('hsvToRgb: the primary and secondary hues', () => {
    expect(hsvToRgb(0, 1, 1)).toEqual([1, 0, 0]);
    expect(hsvToRgb(1 / 3, 1, 1)).toEqual([0, 1, 0]);
    expect(hsvToRgb(0.5, 1, 0.5)).toEqual([0, 0.5, 0.5]);
    expect(hsvToRgb(0.25, 0, 0.4)).toEqual([0.4, 0.4, 0.4]);
  });
});

const PINNED_DIGEST = '03b33c303d4ff94a79738dfb652ae4d355c6a15bc207fe25b5d588e49b5d3cd4';
