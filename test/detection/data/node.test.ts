import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { CocoError } from '../../../detection/data/coco.ts';
import { loadCocoDataset, loadCocoDir, writeCocoDataset, writeCocoSplits } from '../../../detection/data/node.ts';
import { generateDataset, splitConfigs } from '../../../detection/data/synthetic.ts';

const root = mkdtempSync(join(tmpdir(), 'coco-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A folder with annotations.json (the given JSON, or text as is) and 8×6 RGB PNGs named in `pngs`. */
function folder(name: string, json: unknown, pngs: string[] = []): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'images'), { recursive: true });
  writeFileSync(join(dir, 'annotations.json'), typeof json === 'string' ? json : JSON.stringify(json));
  for (const f of pngs) writeFileSync(join(dir, 'images', f), encode({ width: 8, height: 6, data: new Uint8Array(8 * 6 * 3).fill(7), channels: 3 }));
  return dir;
}

function twoImages() {
  return {
    images: [
      { id: 1, file_name: 'a.png', width: 8, height: 6 },
      { id: 2, file_name: 'b.png', width: 8, height: 6 },
    ],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 3, 3] }],
    categories: [{ id: 1, name: 'thing' }],
  };
}

function thrown(f: () => unknown): CocoError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CocoError);
    return e as CocoError;
  }
  throw new Error('expected a CocoError');
}

describe('writeCocoDataset / loadCocoDir round trip', () => {
  const config = { seed: 21, numImages: 6 };
  const dir = join(root, 'synthetic');
  const written = writeCocoDataset(dir, config);

  it('writes annotations.json and one PNG per image', () => {
    expect(written).toMatchObject({ numImages: 6, annotationsFile: join(dir, 'annotations.json') });
    const json = JSON.parse(readFileSync(written.annotationsFile, 'utf8'));
    const mem = generateDataset(config);
    expect(json).toEqual(JSON.parse(JSON.stringify(mem.coco)));
    expect(json.info.generator.seed).toBe(21);
  });

  it('reads back the same pixels and targets as the in-memory generator', () => {
    const ds = loadCocoDir(dir, { checkImages: 'decode' });
    const mem = generateDataset(config);
    expect(ds.length).toBe(6);
    for (let i = 0; i < 6; i++) expect(Buffer.from(ds.image(i).data).equals(Buffer.from(mem.images[i].data))).toBe(true);
    const anns = mem.coco.annotations.filter((a) => a.image_id === 1);
    const [x, y, w, h] = anns[0].bbox;
    expect([...ds.records[0].boxes.subarray(0, 4)]).toEqual([x, y, x + w, y + h]);
    expect(ds.records[0].labels[0]).toBe(anns[0].category_id - 1); // ids 1..8 → labels 0..7
  });

  it('writes train and val splits with their derived seeds', () => {
    const split = { seed: 3, numTrain: 2, numVal: 1 };
    const out = writeCocoSplits(join(root, 'splits'), split);
    expect([out.train.numImages, out.val.numImages]).toEqual([2, 1]);
    const val = JSON.parse(readFileSync(out.val.annotationsFile, 'utf8'));
    expect(val.info.generator.seed).toBe(splitConfigs(split).val.seed);
  });
});

describe('loading a COCO dataset from files: bad input', () => {
  it('a missing annotation file or folder', () => {
    expect(thrown(() => loadCocoDataset(join(root, 'nope.json'))).message).toMatch(/nope\.json: cannot read the annotation file/);
    expect(thrown(() => loadCocoDir(join(root, 'nowhere'))).message).toMatch(/nowhere: no annotations\.json in this folder/);
  });

  it('malformed JSON names the file', () => {
    const dir = folder('malformed', '{"images": [1, 2,', []);
    expect(thrown(() => loadCocoDir(dir)).message).toMatch(new RegExp(`^${join(dir, 'annotations.json')}: malformed JSON`));
  });

  it('a missing field names the file and the path', () => {
    const j = twoImages();
    delete (j.annotations[0] as Partial<(typeof j.annotations)[0]>).bbox;
    const dir = folder('missing-field', j, ['a.png', 'b.png']);
    expect(thrown(() => loadCocoDir(dir)).message).toBe(`${join(dir, 'annotations.json')}: annotations[0].bbox: missing field`);
  });

  it('missing image files are all named', () => {
    const j = twoImages();
    j.images.push({ id: 3, file_name: 'c.png', width: 8, height: 6 });
    const dir = folder('missing-images', j, ['b.png']);
    const e = thrown(() => loadCocoDir(dir));
    expect(e.issues).toEqual([`missing image file a.png (${join(dir, 'images', 'a.png')})`, `missing image file c.png (${join(dir, 'images', 'c.png')})`]);
  });

  it('a corrupt PNG is named, up front with checkImages "decode" or when its batch reads it', () => {
    const dir = folder('corrupt', twoImages(), ['a.png']);
    writeFileSync(join(dir, 'images', 'b.png'), encode({ width: 8, height: 6, data: new Uint8Array(144), channels: 3 }).slice(0, 40));
    const path = join(dir, 'images', 'b.png');
    expect(thrown(() => loadCocoDir(dir, { checkImages: 'decode' })).message).toMatch(new RegExp(`^${path}: corrupt PNG`));
    const lazy = loadCocoDir(dir);
    expect(lazy.image(0).width).toBe(8);
    expect(thrown(() => lazy.image(1)).message).toMatch(new RegExp(`^${path}: corrupt PNG`));
  });

  it('a file that is not a PNG, and a PNG of the wrong size', () => {
    const dir = folder('not-png', twoImages(), ['a.png']);
    writeFileSync(join(dir, 'images', 'b.png'), '\xff\xd8\xff\xe0 a JPEG');
    expect(thrown(() => loadCocoDir(dir).image(1)).message).toBe(`${join(dir, 'images', 'b.png')}: not a PNG file (only PNG images are supported)`);
    const j = twoImages();
    j.images[0].width = 10;
    const sized = folder('wrong-size', j, ['a.png', 'b.png']);
    expect(thrown(() => loadCocoDir(sized).image(0)).message).toBe(
      `${join(sized, 'images', 'a.png')}: image is 8x6 but the annotations declare 10x6 (width x height) for image 1`,
    );
  });

  it('boxes outside the image and unknown categories name the file and the path', () => {
    const j = twoImages();
    j.annotations.push({ id: 2, image_id: 2, category_id: 5, bbox: [1, 1, 2, 2] }, { id: 3, image_id: 2, category_id: 1, bbox: [9, 0, 2, 2] });
    const dir = folder('bad-boxes', j, ['a.png', 'b.png']);
    const e = thrown(() => loadCocoDir(dir));
    expect(e.file).toBe(join(dir, 'annotations.json'));
    expect(e.issues).toEqual([
      'annotations[1].category_id: unknown category id 5 (declared: 1)',
      'annotations[2].bbox: [9, 0, 2, 2] lies entirely outside image 2 (8x6)',
    ]);
  });

  it('an image with no objects is a valid negative', () => {
    const ds = loadCocoDir(folder('negatives', twoImages(), ['a.png', 'b.png']));
    expect(ds.records[1].boxes.length).toBe(0);
    expect(ds.image(1).data.length).toBe(8 * 6 * 3);
  });

  it('imageDir points file names at another folder (the usual COCO layout)', () => {
    const dir = join(root, 'coco-layout');
    mkdirSync(join(dir, 'annotations'), { recursive: true });
    mkdirSync(join(dir, 'val2017'), { recursive: true });
    writeFileSync(join(dir, 'annotations', 'instances_val.json'), JSON.stringify(twoImages()));
    for (const f of ['a.png', 'b.png']) writeFileSync(join(dir, 'val2017', f), encode({ width: 8, height: 6, data: new Uint8Array(144), channels: 3 }));
    const ds = loadCocoDataset(join(dir, 'annotations', 'instances_val.json'), { imageDir: join(dir, 'val2017') });
    expect(ds.length).toBe(2);
  });
});
