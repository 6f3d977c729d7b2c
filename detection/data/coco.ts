// COCO-format detection datasets: validation of the annotation JSON, the mapping of
// category ids to contiguous labels, PNG decoding, and an in-memory dataset that the
// batch loader (loader.ts) reads from. Nothing here touches the file system, so it runs
// in the browser as well; detection/data/node.ts reads datasets from disk with it.
//
// Validation policy (every problem found is reported at once, each with its JSON path,
// e.g. `annotations[3].bbox`, after the file name):
//
//  errors    malformed JSON; a missing or mistyped field (`images`, `annotations`,
//            `categories`, and per entry: image id / file_name / width / height,
//            annotation id / image_id / category_id / bbox, category id / name);
//            ids that are not integers; duplicate image, annotation or category ids;
//            duplicate category names or image file names; an annotation whose image_id
//            or category_id is not declared; a bbox that is not 4 finite numbers (NaN,
//            Infinity, strings); a negative width or height; a box entirely outside its
//            image (no overlap of positive area — usually a sign of normalised or
//            x1,y1,x2,y2 coordinates); an `area` that is not a finite number ≥ 0; an
//            `iscrowd` other than 0, 1, false, true.
//  clipped   a box that extends partly outside its image is clipped to it (as
//            mmdetection and most pipelines do); counted in `ParsedCoco.clipped`.
//  dropped   a box whose clipped width or height is below 1 px (including zero-size
//            boxes) carries no usable target: it is dropped, as mmdetection's COCO loader
//            does, and listed in `ParsedCoco.warnings`.
//  kept      images without annotations are valid negatives; iscrowd = 1 annotations
//            are kept apart, as crowd (ignore) regions, not training targets.
//
// Image files are checked where they are read: a missing file, a file that is not a PNG,
// a corrupt PNG, or a PNG whose size differs from the JSON's width/height is an error
// naming the file.

import { decode as decodePngRaw, hasPngSignature } from 'fast-png';
import { describeValue } from '../../engine/io/format.ts';

/** COCO image entry (fields this project uses; others are ignored). */
export interface CocoImageJson {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

/** COCO annotation entry. bbox is [x, y, width, height] in pixels, (0,0) the top-left corner. */
export interface CocoAnnotationJson {
  id: number;
  image_id: number;
  category_id: number;
  bbox: [number, number, number, number];
  /** Object area in pixels (the mask area for COCO and for the synthetic data). */
  area: number;
  iscrowd: 0 | 1;
}

export interface CocoCategoryJson {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoJson {
  info?: Record<string, unknown>;
  images: CocoImageJson[];
  annotations: CocoAnnotationJson[];
  categories: CocoCategoryJson[];
}

/** An 8-bit RGB image, row-major, channels interleaved (HWC): data.length = 3·width·height. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One image's targets, ready for the loader: boxes clipped, labels contiguous. */
export interface DetectionRecord {
  imageId: number;
  fileName: string;
  width: number;
  height: number;
  /** Non-crowd boxes, flat (x1, y1, x2, y2), clipped to the image. */
  boxes: Float64Array;
  /** Label of each box in 0..C-1 (categories sorted by id). */
  labels: Int32Array;
  /** iscrowd = 1 boxes, flat (x1, y1, x2, y2), clipped: ignore regions. */
  crowdBoxes: Float64Array;
}

/** What the batch loader needs: records, class names by label, and pixels on demand. */
export interface DetectionDataset {
  /** Categories sorted by id; the label of categories[k] is k. */
  readonly categories: readonly CocoCategoryJson[];
  readonly records: readonly DetectionRecord[];
  /** RGB pixels of records[index]; its size equals the record's width × height. */
  image(index: number): RgbImage;
}

export interface ParsedCoco {
  /** The validated JSON, with iscrowd and area filled in where they were absent. */
  json: CocoJson;
  categories: CocoCategoryJson[];
  /** Contiguous label of each category id. */
  labelOf: Map<number, number>;
  /** One record per image, in the order of `images`. */
  records: DetectionRecord[];
  /** Boxes that were clipped to their image. */
  clipped: number;
  /** Non-fatal notes (dropped degenerate boxes), each with its path. */
  warnings: string[];
}

/** A dataset file (or image) that fails validation; `issues` lists every problem found. */
export class CocoError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly string[],
  ) {
    const shown = issues.slice(0, MAX_SHOWN);
    const more = issues.length > MAX_SHOWN ? `\n  … and ${issues.length - MAX_SHOWN} more` : '';
    super(issues.length === 1 ? `${file}: ${issues[0]}` : `${file}: ${issues.length} problems:\n  ${shown.join('\n  ')}${more}`);
    this.name = 'CocoError';
  }
}

const MAX_SHOWN = 20;

/** Parses and validates COCO JSON text; `file` names the source in error messages. */
export function parseCocoText(text: string, file: string): ParsedCoco {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CocoError(file, [`malformed JSON: ${(e as Error).message}`]);
  }
  return parseCoco(json, file);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const describe = (x: unknown) => describeValue(x);

/**
 * Validates a parsed COCO object (see the policy at the top of this file) and builds one
 * record per image. Throws a CocoError listing every problem.
 */
export function parseCoco(input: unknown, file: string): ParsedCoco {
  const issues: string[] = [];
  const warnings: string[] = [];
  if (!isObject(input)) throw new CocoError(file, [`expected a JSON object at the top level, got ${describe(input)}`]);
  const root = input;

  const arrayField = (key: string): unknown[] | undefined => {
    const v = root[key];
    if (v === undefined) issues.push(`${key}: missing field`);
    else if (!Array.isArray(v)) issues.push(`${key}: expected an array, got ${describe(v)}`);
    else return v;
    return undefined;
  };
  const rawImages = arrayField('images');
  const rawAnnotations = arrayField('annotations');
  const rawCategories = arrayField('categories');
  if (!rawImages || !rawAnnotations || !rawCategories) throw new CocoError(file, issues);

  // Field readers that record an issue and return undefined when the field is unusable.
  const entry = (x: unknown, path: string): Record<string, unknown> | undefined => {
    if (isObject(x)) return x;
    issues.push(`${path}: expected an object, got ${describe(x)}`);
    return undefined;
  };
  const intField = (o: Record<string, unknown>, key: string, path: string, min?: number): number | undefined => {
    const v = o[key];
    if (v === undefined) issues.push(`${path}.${key}: missing field`);
    else if (typeof v !== 'number' || !Number.isInteger(v)) issues.push(`${path}.${key}: expected an integer, got ${describe(v)}`);
    else if (min !== undefined && v < min) issues.push(`${path}.${key}: must be ≥ ${min}, got ${v}`);
    else return v;
    return undefined;
  };
  const stringField = (o: Record<string, unknown>, key: string, path: string): string | undefined => {
    const v = o[key];
    if (v === undefined) issues.push(`${path}.${key}: missing field`);
    else if (typeof v !== 'string' || v.length === 0) issues.push(`${path}.${key}: expected a non-empty string, got ${describe(v)}`);
    else return v;
    return undefined;
  };

  // Categories.
  const categories: CocoCategoryJson[] = [];
  const categoryIds = new Set<number>();
  const categoryNames = new Set<string>();
  rawCategories.forEach((raw, i) => {
    const path = `categories[${i}]`;
    const o = entry(raw, path);
    if (!o) return;
    const id = intField(o, 'id', path);
    const name = stringField(o, 'name', path);
    if (id === undefined || name === undefined) return;
    if (categoryIds.has(id)) return issues.push(`${path}.id: duplicate category id ${id}`);
    if (categoryNames.has(name)) return issues.push(`${path}.name: duplicate category name ${describe(name)}`);
    categoryIds.add(id);
    categoryNames.add(name);
    const cat: CocoCategoryJson = { id, name };
    if (typeof o.supercategory === 'string') cat.supercategory = o.supercategory;
    categories.push(cat);
  });
  if (rawCategories.length === 0) issues.push('categories: empty (a detector needs at least one class)');

  // Images.
  const images: CocoImageJson[] = [];
  const imageById = new Map<number, CocoImageJson>();
  const fileNames = new Set<string>();
  rawImages.forEach((raw, i) => {
    const path = `images[${i}]`;
    const o = entry(raw, path);
    if (!o) return;
    const id = intField(o, 'id', path);
    const fileName = stringField(o, 'file_name', path);
    const width = intField(o, 'width', path, 1);
    const height = intField(o, 'height', path, 1);
    if (id === undefined || fileName === undefined || width === undefined || height === undefined) return;
    if (imageById.has(id)) return issues.push(`${path}.id: duplicate image id ${id}`);
    if (fileNames.has(fileName)) return issues.push(`${path}.file_name: duplicate file name ${describe(fileName)}`);
    fileNames.add(fileName);
    const img: CocoImageJson = { id, file_name: fileName, width, height };
    imageById.set(id, img);
    images.push(img);
  });

  // Annotations. Boxes are checked against their image (when the image entry is valid).
  const annotations: CocoAnnotationJson[] = [];
  const annotationIds = new Set<number>();
  interface Kept {
    ann: CocoAnnotationJson;
    box: [number, number, number, number];
  }
  const keptByImage = new Map<number, Kept[]>();
  let clipped = 0;
  rawAnnotations.forEach((raw, i) => {
    const path = `annotations[${i}]`;
    const o = entry(raw, path);
    if (!o) return;
    const id = intField(o, 'id', path);
    const imageId = intField(o, 'image_id', path);
    const categoryId = intField(o, 'category_id', path);
    const bbox = o.bbox;
    let box: number[] | undefined;
    if (bbox === undefined) issues.push(`${path}.bbox: missing field`);
    else if (!Array.isArray(bbox) || bbox.length !== 4) issues.push(`${path}.bbox: expected 4 numbers [x, y, width, height], got ${describe(bbox)}`);
    else if (!bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) issues.push(`${path}.bbox: expected 4 finite numbers, got ${describe(bbox)}`);
    else if (bbox[2] < 0 || bbox[3] < 0) issues.push(`${path}.bbox: negative width or height in ${describe(bbox)}`);
    else box = bbox as number[];
    let iscrowd: 0 | 1 = 0;
    if (o.iscrowd !== undefined) {
      if (o.iscrowd === 1 || o.iscrowd === true) iscrowd = 1;
      else if (o.iscrowd !== 0 && o.iscrowd !== false) issues.push(`${path}.iscrowd: expected 0 or 1, got ${describe(o.iscrowd)}`);
    }
    let area: number | undefined;
    if (o.area !== undefined) {
      if (typeof o.area !== 'number' || !Number.isFinite(o.area) || o.area < 0)
        issues.push(`${path}.area: expected a finite number ≥ 0, got ${describe(o.area)}`);
      else area = o.area;
    }
    if (id !== undefined) {
      if (annotationIds.has(id)) issues.push(`${path}.id: duplicate annotation id ${id}`);
      annotationIds.add(id);
    }
    if (imageId !== undefined && !imageById.has(imageId) && !rawImagesHaveId(rawImages, imageId)) {
      issues.push(`${path}.image_id: no image has id ${imageId}`);
    }
    if (categoryId !== undefined && !categoryIds.has(categoryId) && !rawCategoriesHaveId(rawCategories, categoryId)) {
      issues.push(`${path}.category_id: unknown category id ${categoryId} (declared: ${[...categoryIds].sort((a, b) => a - b).join(', ')})`);
    }
    if (id === undefined || imageId === undefined || categoryId === undefined || !box) return;
    const image = imageById.get(imageId);
    if (!image || !categoryIds.has(categoryId)) return; // reported above (or its entry was)
    const [x, y, w, h] = box;
    const ann: CocoAnnotationJson = { id, image_id: imageId, category_id: categoryId, bbox: [x, y, w, h], area: area ?? w * h, iscrowd };
    annotations.push(ann);
    // Clip to [0, width] × [0, height].
    const x1 = Math.max(x, 0);
    const y1 = Math.max(y, 0);
    const x2 = Math.min(x + w, image.width);
    const y2 = Math.min(y + h, image.height);
    // Outside: a box of positive size must overlap the image with positive area; a
    // zero-size one must at least touch it (else it is dropped below as degenerate).
    const outside = w > 0 && h > 0 ? x2 <= x1 || y2 <= y1 : x > image.width || y > image.height || x + w < 0 || y + h < 0;
    if (outside) {
      issues.push(`${path}.bbox: ${describe(box)} lies entirely outside image ${imageId} (${image.width}x${image.height})`);
      return;
    }
    if (x2 - x1 < 1 || y2 - y1 < 1) {
      warnings.push(`${path}.bbox: ${describe(box)} is narrower than 1 px inside image ${imageId}; dropped`);
      return;
    }
    if (x1 !== x || y1 !== y || x2 !== x + w || y2 !== y + h) clipped++;
    const list = keptByImage.get(imageId) ?? [];
    list.push({ ann, box: [x1, y1, x2, y2] });
    keptByImage.set(imageId, list);
  });

  if (issues.length > 0) throw new CocoError(file, issues);

  const sortedCategories = [...categories].sort((a, b) => a.id - b.id);
  const labelOf = new Map(sortedCategories.map((c, k) => [c.id, k]));
  const records: DetectionRecord[] = images.map((img) => {
    const kept = keptByImage.get(img.id) ?? [];
    const regular = kept.filter((k) => k.ann.iscrowd === 0);
    const crowd = kept.filter((k) => k.ann.iscrowd === 1);
    return {
      imageId: img.id,
      fileName: img.file_name,
      width: img.width,
      height: img.height,
      boxes: Float64Array.from(regular.flatMap((k) => k.box)),
      labels: Int32Array.from(regular.map((k) => labelOf.get(k.ann.category_id)!)),
      crowdBoxes: Float64Array.from(crowd.flatMap((k) => k.box)),
    };
  });
  const info = isObject(root.info) ? root.info : undefined;
  return {
    json: { ...(info ? { info } : {}), images, annotations, categories },
    categories: sortedCategories,
    labelOf,
    records,
    clipped,
    warnings,
  };
}

// A reference to an image or category whose own entry was malformed is already reported at
// that entry; these keep it from being reported a second time as "unknown".
function rawImagesHaveId(raw: unknown[], id: number): boolean {
  return raw.some((x) => isObject(x) && x.id === id);
}
function rawCategoriesHaveId(raw: unknown[], id: number): boolean {
  return raw.some((x) => isObject(x) && x.id === id);
}

/**
 * Decodes a PNG to 8-bit RGB: grey and grey+alpha are replicated to three channels,
 * alpha is dropped (as PIL's convert('RGB')), palettes are looked up, 16-bit samples keep
 * their high byte, 1/2/4-bit grey is scaled to 0..255. `file` names the source in errors.
 */
export function decodePng(bytes: Uint8Array, file: string): RgbImage {
  if (!hasPngSignature(bytes)) throw new CocoError(file, ['not a PNG file (only PNG images are supported)']);
  checkPngHeader(bytes, file);
  let png: ReturnType<typeof decodePngRaw>;
  try {
    png = decodePngRaw(bytes, { checkCrc: true });
  } catch (e) {
    throw new CocoError(file, [`corrupt PNG: ${(e as Error).message}`]);
  }
  const { width, height, depth, channels } = png;
  const n = width * height;
  const out = new Uint8Array(3 * n);
  if (png.palette) {
    const idx = unpackSamples(png.data, width, height, depth);
    for (let p = 0; p < n; p++) {
      const c = png.palette[idx[p]];
      if (!c) throw new CocoError(file, [`corrupt PNG: palette index ${idx[p]} out of range`]);
      out[3 * p] = c[0];
      out[3 * p + 1] = c[1];
      out[3 * p + 2] = c[2];
    }
    return { width, height, data: out };
  }
  if (depth < 8) {
    // Only grey images have sub-byte samples without a palette.
    const v = unpackSamples(png.data, width, height, depth);
    const scale = 255 / ((1 << depth) - 1);
    for (let p = 0; p < n; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = Math.round(v[p] * scale);
    return { width, height, data: out };
  }
  const shift = depth === 16 ? 8 : 0;
  const src = png.data;
  if (src.length < n * channels) throw new CocoError(file, [`corrupt PNG: ${src.length} samples for ${width}x${height}x${channels}`]);
  for (let p = 0; p < n; p++) {
    const s = p * channels;
    if (channels >= 3) {
      out[3 * p] = src[s] >> shift;
      out[3 * p + 1] = src[s + 1] >> shift;
      out[3 * p + 2] = src[s + 2] >> shift;
    } else {
      out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[s] >> shift;
    }
  }
  return { width, height, data: out };
}

/** Deflate's largest expansion (RFC 1951: a 258-byte match from every 2 bits of a stream). */
const DEFLATE_MAX_RATIO = 1032;
/** The largest image decoded (64 Mpixel: 192 MiB as RGB). */
const MAX_PNG_PIXELS = 1 << 26;
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Checks the IHDR chunk before decoding: its dimensions decide the decoder's allocations,
 * so an image that could not come from this many compressed bytes (or is past
 * MAX_PNG_PIXELS) is refused before anything that size is allocated.
 */
function checkPngHeader(bytes: Uint8Array, file: string): void {
  const corrupt = (what: string) => new CocoError(file, [`corrupt PNG: ${what}`]);
  if (bytes.length < 8 + 8 + 13) throw corrupt(`${bytes.length} bytes, too short for the IHDR chunk (truncated?)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(...bytes.subarray(12, 16));
  if (type !== 'IHDR' || dv.getUint32(8) !== 13)
    throw corrupt(`the first chunk must be a 13-byte IHDR, got ${JSON.stringify(type)} of ${dv.getUint32(8)} bytes`);
  const [width, height, depth, colorType] = [dv.getUint32(16), dv.getUint32(20), bytes[24], bytes[25]];
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined) throw corrupt(`color type ${colorType} (expected 0, 2, 3, 4 or 6)`);
  if (![1, 2, 4, 8, 16].includes(depth)) throw corrupt(`bit depth ${depth} (expected 1, 2, 4, 8 or 16)`);
  if (width < 1 || height < 1) throw corrupt(`size ${width}×${height} (both must be ≥ 1)`);
  if (width * height > MAX_PNG_PIXELS)
    throw new CocoError(file, [`a ${width}×${height} PNG is larger than the ${MAX_PNG_PIXELS / (1 << 20)} Mpixel images this loader decodes`]);
  const rawBytes = height * (Math.ceil((width * channels * depth) / 8) + 1);
  if (rawBytes > DEFLATE_MAX_RATIO * bytes.length)
    throw corrupt(
      `IHDR declares ${width}×${height} (${rawBytes} bytes of pixel data), more than ${bytes.length} compressed bytes can hold (truncated or corrupt)`,
    );
}

/** Sub-byte samples (one channel), rows padded to whole bytes as PNG stores them. */
function unpackSamples(data: ArrayLike<number>, width: number, height: number, depth: number): Uint8Array {
  if (depth === 8) return Uint8Array.from({ length: width * height }, (_, i) => data[i]);
  const rowBytes = Math.ceil((width * depth) / 8);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = data[y * rowBytes + Math.floor(x / perByte)];
      const shift = 8 - depth * ((x % perByte) + 1);
      out[y * width + x] = (byte >> shift) & mask;
    }
  }
  return out;
}

/**
 * A validated COCO dataset whose pixels come from `readImage` (a PNG file on disk in
 * node.ts, a generated array in the browser). Decoded images are cached when `cache` is
 * true (3 bytes per pixel; 2,000 images of 128×128 take 98 MB).
 */
export class CocoDataset implements DetectionDataset {
  readonly categories: readonly CocoCategoryJson[];
  readonly records: readonly DetectionRecord[];
  private readonly cached: (RgbImage | undefined)[];

  /**
   * `fileLabel` names an image in error messages (node.ts passes its full path; the
   * default is the JSON's file_name).
   */
  constructor(
    readonly parsed: ParsedCoco,
    private readonly readImage: (record: DetectionRecord, index: number) => RgbImage,
    private readonly cache = true,
    private readonly fileLabel: (record: DetectionRecord) => string = (r) => r.fileName,
  ) {
    this.categories = parsed.categories;
    this.records = parsed.records;
    this.cached = new Array(parsed.records.length);
  }

  get length(): number {
    return this.records.length;
  }

  image(index: number): RgbImage {
    const record = this.records[index];
    if (!record) throw new RangeError(`CocoDataset: image index ${index} out of range [0, ${this.records.length})`);
    const hit = this.cached[index];
    if (hit) return hit;
    const img = this.readImage(record, index);
    if (img.width !== record.width || img.height !== record.height) {
      throw new CocoError(this.fileLabel(record), [
        `image is ${img.width}x${img.height} but the annotations declare ${record.width}x${record.height} (width x height) for image ${record.imageId}`,
      ]);
    }
    if (img.data.length !== 3 * img.width * img.height) {
      throw new CocoError(this.fileLabel(record), [`expected ${3 * img.width * img.height} RGB bytes, got ${img.data.length}`]);
    }
    if (this.cache) this.cached[index] = img;
    return img;
  }
}

/**
 * A dataset from COCO JSON and RGB images held in memory (the synthetic generator's
 * output in the browser): `images[i]` belongs to `json.images[i]`.
 */
export function inMemoryCocoDataset(json: unknown, images: readonly RgbImage[], name = '<in-memory COCO>'): CocoDataset {
  const parsed = parseCoco(json, name);
  if (images.length !== parsed.records.length) {
    throw new CocoError(name, [`${parsed.records.length} images declared but ${images.length} given`]);
  }
  return new CocoDataset(parsed, (_record, index) => images[index], false);
}
