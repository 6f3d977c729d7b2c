import { encode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { CocoError, decodePng, inMemoryCocoDataset, parseCoco, parseCocoText } from '../../../detection/data/coco.ts';

/** A small valid dataset: two images (the second without objects), categories out of id order. */
function validJson() {
  return {
    images: [
      { id: 1, file_name: 'a.png', width: 100, height: 80 },
      { id: 2, file_name: 'b.png', width: 64, height: 64 },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 12, bbox: [10, 20, 30, 40], area: 900, iscrowd: 0 },
      { id: 11, image_id: 1, category_id: 3, bbox: [0, 0, 5, 6] },
      { id: 12, image_id: 1, category_id: 7, bbox: [50, 10, 20, 20], iscrowd: 1 },
    ],
    categories: [
      { id: 7, name: 'seven' },
      { id: 3, name: 'three' },
      { id: 12, name: 'twelve' },
    ],
  };
}

type Json = ReturnType<typeof validJson>;

/** The CocoError thrown by parsing `json` (modified by `edit`), as "file: message". */
function errorOf(edit: (j: Json) => void, file = 'data/annotations.json'): CocoError {
  const j = validJson();
  edit(j);
  try {
    parseCoco(j, file);
  } catch (e) {
    expect(e).toBeInstanceOf(CocoError);
    return e as CocoError;
  }
  throw new Error('expected parseCoco to throw');
}

describe('parseCoco on valid input', () => {
  const parsed = parseCoco(validJson(), 'ok.json');

  it('maps category ids to contiguous labels sorted by id', () => {
    expect(parsed.categories.map((c) => c.id)).toEqual([3, 7, 12]);
    expect([...parsed.labelOf]).toEqual([
      [3, 0],
      [7, 1],
      [12, 2],
    ]);
  });

  it('converts [x, y, w, h] to (x1, y1, x2, y2) and keeps crowds apart', () => {
    const [a, b] = parsed.records;
    expect(a.imageId).toBe(1);
    // bbox [10, 20, 30, 40] → (10, 20, 40, 60), category 12 → label 2; [0, 0, 5, 6] → label 0.
    expect([...a.boxes]).toEqual([10, 20, 40, 60, 0, 0, 5, 6]);
    expect([...a.labels]).toEqual([2, 0]);
    expect([...a.crowdBoxes]).toEqual([50, 10, 70, 30]);
    expect(parsed.clipped).toBe(0);
    expect(parsed.warnings).toEqual([]);
    // The image without annotations is a valid negative.
    expect(b.imageId).toBe(2);
    expect(b.boxes.length).toBe(0);
    expect(b.labels.length).toBe(0);
  });

  it('fills in iscrowd 0 and area = w·h where absent', () => {
    const ann = parsed.json.annotations.find((a) => a.id === 11)!;
    expect(ann.iscrowd).toBe(0);
    expect(ann.area).toBe(30);
  });

  it('clips boxes that extend partly outside the image', () => {
    const p = parseCoco({ ...validJson(), annotations: [{ id: 1, image_id: 1, category_id: 3, bbox: [90, -5, 20, 20] }] }, 'f.json');
    // x 90..110 → 90..100 (width 100); y -5..15 → 0..15.
    expect([...p.records[0].boxes]).toEqual([90, 0, 100, 15]);
    expect(p.clipped).toBe(1);
  });

  it('drops boxes narrower than 1 px after clipping, with a warning naming the path', () => {
    const p = parseCoco(
      {
        ...validJson(),
        annotations: [
          { id: 1, image_id: 1, category_id: 3, bbox: [10, 10, 0, 5] },
          { id: 2, image_id: 1, category_id: 3, bbox: [99.5, 10, 5, 5] }, // clipped width 0.5
          { id: 3, image_id: 1, category_id: 3, bbox: [1, 1, 2, 2] },
        ],
      },
      'f.json',
    );
    expect([...p.records[0].boxes]).toEqual([1, 1, 3, 3]);
    expect(p.warnings).toHaveLength(2);
    expect(p.warnings[0]).toMatch(/^annotations\[0\]\.bbox: .*dropped/);
    expect(p.warnings[1]).toMatch(/^annotations\[1\]\.bbox: .*dropped/);
  });
});

describe('parseCoco errors name the file and the JSON path', () => {
  it('malformed JSON', () => {
    expect(() => parseCocoText('{"images": [', 'data/bad.json')).toThrow(/^data\/bad\.json: malformed JSON: /);
  });

  it('a top level that is not an object', () => {
    expect(() => parseCocoText('[1, 2]', 'x.json')).toThrow('x.json: expected a JSON object at the top level, got [1, 2]');
  });

  it('missing top-level arrays', () => {
    const e = errorOf((j) => delete (j as Partial<Json>).annotations);
    expect(e.message).toBe('data/annotations.json: annotations: missing field');
    expect(errorOf((j) => ((j as Record<string, unknown>).images = {})).message).toMatch(/images: expected an array, got \{\}/);
  });

  it('a missing annotation field', () => {
    const e = errorOf((j) => {
      j.annotations.push({ id: 13, image_id: 1, category_id: 3 } as never);
      j.annotations.push({ id: 14, image_id: 1, category_id: 3, bbox: [1, 1, 1, 1] });
    });
    // The new annotation is annotations[3].
    expect(e.message).toBe('data/annotations.json: annotations[3].bbox: missing field');
    expect(e.file).toBe('data/annotations.json');
  });

  it('missing image and category fields', () => {
    expect(errorOf((j) => delete (j.images[1] as Partial<Json['images'][0]>).file_name).message).toMatch(/images\[1\]\.file_name: missing field/);
    expect(errorOf((j) => ((j.images[0] as Record<string, unknown>).width = 0)).message).toMatch(/images\[0\]\.width: must be ≥ 1, got 0/);
    expect(errorOf((j) => ((j.images[0] as Record<string, unknown>).id = '1')).message).toMatch(/images\[0\]\.id: expected an integer, got "1"/);
    expect(errorOf((j) => delete (j.categories[2] as Partial<Json['categories'][0]>).name).message).toMatch(/categories\[2\]\.name: missing field/);
  });

  it('a bbox that is not 4 finite numbers', () => {
    expect(errorOf((j) => (j.annotations[0].bbox = [1, 2, 3])).message).toMatch(
      /annotations\[0\]\.bbox: expected 4 numbers \[x, y, width, height\], got \[1, 2, 3\]/,
    );
    expect(errorOf((j) => ((j.annotations[1] as Record<string, unknown>).bbox = ['1', 2, 3, 4])).message).toMatch(
      /annotations\[1\]\.bbox: expected 4 finite numbers, got \["1", 2, 3, 4\]/,
    );
    // NaN cannot be written in JSON, but an in-memory object can hold it.
    expect(errorOf((j) => (j.annotations[0].bbox = [NaN, 0, 5, 5])).message).toMatch(/annotations\[0\]\.bbox: expected 4 finite numbers, got \[NaN, 0, 5, 5\]/);
    expect(errorOf((j) => (j.annotations[0].bbox = [0, 0, Infinity, 5])).message).toMatch(/got \[0, 0, Infinity, 5\]/);
  });

  it('a negative width or height', () => {
    expect(errorOf((j) => (j.annotations[0].bbox = [10, 10, -5, 5])).message).toMatch(/annotations\[0\]\.bbox: negative width or height in \[10, 10, -5, 5\]/);
    expect(errorOf((j) => (j.annotations[2].bbox = [10, 10, 5, -1])).message).toMatch(/annotations\[2\]\.bbox: negative width or height/);
  });

  it('a box entirely outside its image', () => {
    // Image 1 is 100×80: x from 120 is right of it, x + w = −10 left of it, y from 80 below it.
    expect(errorOf((j) => (j.annotations[0].bbox = [120, 10, 10, 10])).message).toMatch(
      /annotations\[0\]\.bbox: \[120, 10, 10, 10\] lies entirely outside image 1 \(100x80\)/,
    );
    expect(errorOf((j) => (j.annotations[0].bbox = [-30, 10, 20, 10])).message).toMatch(/annotations\[0\]\.bbox: .* lies entirely outside/);
    expect(errorOf((j) => (j.annotations[0].bbox = [10, 80, 10, 10])).message).toMatch(/annotations\[0\]\.bbox: .* lies entirely outside/);
    // Above and left of the image: (−5, −5)..(−2, −2).
    expect(errorOf((j) => (j.annotations[0].bbox = [-5, -5, 3, 3])).message).toMatch(/lies entirely outside/);
  });

  it('unknown category and image ids', () => {
    expect(errorOf((j) => (j.annotations[1].category_id = 9)).message).toBe(
      'data/annotations.json: annotations[1].category_id: unknown category id 9 (declared: 3, 7, 12)',
    );
    expect(errorOf((j) => (j.annotations[0].image_id = 5)).message).toBe('data/annotations.json: annotations[0].image_id: no image has id 5');
  });

  it('duplicate ids and names', () => {
    expect(errorOf((j) => (j.images[1].id = 1)).message).toMatch(/images\[1\]\.id: duplicate image id 1/);
    expect(errorOf((j) => (j.images[1].file_name = 'a.png')).message).toMatch(/images\[1\]\.file_name: duplicate file name "a.png"/);
    expect(errorOf((j) => (j.annotations[2].id = 10)).message).toMatch(/annotations\[2\]\.id: duplicate annotation id 10/);
    expect(errorOf((j) => (j.categories[1].id = 7)).message).toMatch(/categories\[1\]\.id: duplicate category id 7/);
    expect(errorOf((j) => (j.categories[1].name = 'seven')).message).toMatch(/categories\[1\]\.name: duplicate category name "seven"/);
  });

  it('a bad iscrowd or area', () => {
    expect(errorOf((j) => (j.annotations[0].iscrowd = 2)).message).toMatch(/annotations\[0\]\.iscrowd: expected 0 or 1, got 2/);
    expect(errorOf((j) => (j.annotations[0].area = -1)).message).toMatch(/annotations\[0\]\.area: expected a finite number ≥ 0, got -1/);
  });

  it('reports every problem at once, counted', () => {
    const e = errorOf((j) => {
      j.annotations[0].bbox = [1, 2, 3];
      j.annotations[1].category_id = 99;
      j.images[1].id = 1;
    });
    expect(e.issues).toHaveLength(3);
    expect(e.message.split('\n')[0]).toBe('data/annotations.json: 3 problems:');
  });

  it('a reference to a malformed entry is reported once, at the entry', () => {
    // Category 12's entry lacks a name: the annotation using id 12 is not also "unknown".
    const e = errorOf((j) => delete (j.categories[2] as Partial<Json['categories'][0]>).name);
    expect(e.issues).toEqual(['categories[2].name: missing field']);
  });
});

describe('decodePng', () => {
  const file = 'imgs/x.png';

  it('RGB passes through; RGBA drops alpha', () => {
    const rgb = new Uint8Array([10, 20, 30, 40, 50, 60]);
    expect([...decodePng(encode({ width: 2, height: 1, data: rgb, channels: 3 }), file).data]).toEqual([10, 20, 30, 40, 50, 60]);
    const rgba = new Uint8Array([10, 20, 30, 0, 40, 50, 60, 255]);
    const d = decodePng(encode({ width: 1, height: 2, data: rgba, channels: 4 }), file);
    expect([d.width, d.height]).toEqual([1, 2]);
    expect([...d.data]).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('grey (8 and 16 bit, with alpha) is replicated to RGB', () => {
    expect([...decodePng(encode({ width: 2, height: 1, data: new Uint8Array([7, 200]), channels: 1 }), file).data]).toEqual([7, 7, 7, 200, 200, 200]);
    expect([...decodePng(encode({ width: 1, height: 1, data: new Uint8Array([9, 128]), channels: 2 }), file).data]).toEqual([9, 9, 9]);
    // 16-bit keeps the high byte: 0x1234 → 0x12 = 18.
    expect([...decodePng(encode({ width: 1, height: 1, data: new Uint16Array([0x1234]), channels: 1, depth: 16 }), file).data]).toEqual([18, 18, 18]);
  });

  it('1-bit grey scales to 0/255; a 2-bit palette is looked up (rows padded to bytes)', () => {
    // 3 pixels wide, 1 bit: row bytes 0b101_00000 and 0b010_00000.
    const grey = decodePng(encode({ width: 3, height: 2, data: new Uint8Array([0b10100000, 0b01000000]), channels: 1, depth: 1 }), file);
    expect([...grey.data].filter((_, i) => i % 3 === 0)).toEqual([255, 0, 255, 0, 255, 0]);
    const palette = [
      [0, 0, 0],
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
    ];
    // Indices 3, 1 on row 0 and 2, 0 on row 1: bytes 0b11_01_0000, 0b10_00_0000.
    const pal = decodePng(encode({ width: 2, height: 2, data: new Uint8Array([0b11010000, 0b10000000]), channels: 1, depth: 2, palette }), file);
    expect([...pal.data]).toEqual([0, 0, 255, 255, 0, 0, 0, 255, 0, 0, 0, 0]);
  });

  it('names the file when it is not a PNG or is corrupt', () => {
    expect(() => decodePng(new TextEncoder().encode('GIF89a...'), file)).toThrow('imgs/x.png: not a PNG file');
    const good = encode({ width: 4, height: 4, data: new Uint8Array(48), channels: 3 });
    const truncated = good.slice(0, good.length - 20);
    expect(() => decodePng(truncated, file)).toThrow(/^imgs\/x\.png: corrupt PNG: /);
    const flipped = good.slice();
    flipped[40] ^= 0xff; // inside IHDR/IDAT: a CRC or inflate error
    expect(() => decodePng(flipped, file)).toThrow(/^imgs\/x\.png: corrupt PNG: /);
  });
});

describe('inMemoryCocoDataset', () => {
  const img = (w: number, h: number) => ({ width: w, height: h, data: new Uint8Array(3 * w * h) });

  it('serves the given images and checks their size against the JSON', () => {
    const ds = inMemoryCocoDataset(validJson(), [img(100, 80), img(64, 64)]);
    expect(ds.length).toBe(2);
    expect(ds.image(1).width).toBe(64);
    const bad = inMemoryCocoDataset(validJson(), [img(100, 80), img(64, 32)]);
    expect(() => bad.image(1)).toThrow('b.png: image is 64x32 but the annotations declare 64x64 (width x height) for image 2');
  });

  it('rejects a different number of images', () => {
    expect(() => inMemoryCocoDataset(validJson(), [img(100, 80)])).toThrow('2 images declared but 1 given');
  });
});
