// Axis-aligned boxes on the CPU, in float64.
//
// Representation (used by every file under detection/): a set of n boxes is one flat
// Float64Array of length 4n, box i at [4i, 4i+4) as (x1, y1, x2, y2) in pixels, x to the
// right and y down. A flat typed array is what the GPU side uploads and what the priors
// generator emits, so no per-box objects are made on the hot paths (assigners see ~20k
// priors per image). Box width is x2 - x1 (mmdetection's convention, no "+1").
//
// Image sizes are [height, width], the order of mmdetection's img_shape / pad_shape.

export type Boxes = Float64Array;
export type ImageSize = readonly [height: number, width: number];

/** Number of boxes in a flat array; throws if the length is not a multiple of 4. */
export function boxCount(boxes: ArrayLike<number>): number {
  if (boxes.length % 4 !== 0) {
    throw new Error(`boxes: flat length ${boxes.length} is not a multiple of 4 (x1,y1,x2,y2 per box)`);
  }
  return boxes.length / 4;
}

/** Packs rows [[x1,y1,x2,y2], ...] into the flat representation (checks each row's length). */
export function boxesFrom(rows: readonly (readonly number[])[]): Boxes {
  const out = new Float64Array(rows.length * 4);
  rows.forEach((row, i) => {
    if (row.length !== 4) throw new Error(`boxes: row ${i} has ${row.length} values, expected 4 (x1,y1,x2,y2)`);
    out.set(row, 4 * i);
  });
  return out;
}

/** Unpacks the flat representation into rows (for tests, JSON and printing). */
export function boxesToRows(boxes: ArrayLike<number>): number[][] {
  const n = boxCount(boxes);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push([boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]]);
  return rows;
}

/** (x2 - x1)·(y2 - y1) per box. Not clamped: a flipped box gives a negative area, as in mmdetection. */
export function boxAreas(boxes: ArrayLike<number>): Float64Array {
  const n = boxCount(boxes);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (boxes[4 * i + 2] - boxes[4 * i]) * (boxes[4 * i + 3] - boxes[4 * i + 1]);
  return out;
}

/** Box centres as a flat Float64Array of (cx, cy) pairs. */
export function boxCenters(boxes: ArrayLike<number>): Float64Array {
  const n = boxCount(boxes);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = (boxes[4 * i] + boxes[4 * i + 2]) / 2;
    out[2 * i + 1] = (boxes[4 * i + 1] + boxes[4 * i + 3]) / 2;
  }
  return out;
}

export type OverlapMode = 'iou' | 'iof' | 'giou';

/**
 * Pairwise overlaps between boxes a (n) and b (m): a row-major n×m Float64Array, entry
 * [i·m + j] for (a_i, b_j). Semantics of mmdetection's bbox_overlaps (is_aligned=False):
 *  - 'iou': inter / max(area_a + area_b - inter, eps)
 *  - 'iof': inter / max(area_a, eps)  (intersection over the first box: ignore regions)
 *  - 'giou': iou - (enclose - union) / max(enclose, eps), in [-1, 1]
 * The eps guard only matters for degenerate (zero-area) boxes, where it turns 0/0 into 0.
 */
export function bboxOverlaps(a: ArrayLike<number>, b: ArrayLike<number>, mode: OverlapMode = 'iou', eps = 1e-6): Float64Array {
  const n = boxCount(a);
  const m = boxCount(b);
  const out = new Float64Array(n * m);
  const areaA = boxAreas(a);
  const areaB = boxAreas(b);
  for (let i = 0; i < n; i++) {
    const ax1 = a[4 * i],
      ay1 = a[4 * i + 1],
      ax2 = a[4 * i + 2],
      ay2 = a[4 * i + 3];
    for (let j = 0; j < m; j++) {
      const bx1 = b[4 * j],
        by1 = b[4 * j + 1],
        bx2 = b[4 * j + 2],
        by2 = b[4 * j + 3];
      const iw = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0);
      const ih = Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
      const inter = iw * ih;
      if (mode === 'iof') {
        out[i * m + j] = inter / Math.max(areaA[i], eps);
        continue;
      }
      const union = Math.max(areaA[i] + areaB[j] - inter, eps);
      const iou = inter / union;
      if (mode === 'iou') {
        out[i * m + j] = iou;
        continue;
      }
      const ew = Math.max(Math.max(ax2, bx2) - Math.min(ax1, bx1), 0);
      const eh = Math.max(Math.max(ay2, by2) - Math.min(ay1, by1), 0);
      const enclose = Math.max(ew * eh, eps);
      out[i * m + j] = iou - (enclose - union) / enclose;
    }
  }
  return out;
}

export interface ValidateBoxesOptions {
  /** When given, every box must lie inside [0, width] × [0, height]. */
  imageSize?: ImageSize;
  /** Names the boxes in error messages, e.g. 'gt boxes of image 12'. */
  what?: string;
}

/**
 * Throws on the first malformed box, naming its index and the problem: a non-finite
 * coordinate, x2 < x1 or y2 < y1, or (with imageSize) a coordinate outside the image.
 * Zero-width or zero-height boxes pass: whether those are usable is the caller's policy
 * (mmdetection's COCO loader drops boxes narrower than 1 px before they get here).
 */
export function validateBoxes(boxes: ArrayLike<number>, options: ValidateBoxesOptions = {}): void {
  const what = options.what ?? 'boxes';
  if (boxes.length % 4 !== 0) throw new Error(`${what}: flat length ${boxes.length} is not a multiple of 4`);
  const n = boxes.length / 4;
  for (let i = 0; i < n; i++) {
    const [x1, y1, x2, y2] = [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]];
    const where = `${what}: box ${i} [${x1}, ${y1}, ${x2}, ${y2}]`;
    if (![x1, y1, x2, y2].every(Number.isFinite)) throw new Error(`${where} has a non-finite coordinate`);
    if (x2 < x1) throw new Error(`${where} has x2 < x1`);
    if (y2 < y1) throw new Error(`${where} has y2 < y1`);
    if (options.imageSize) {
      const [height, width] = options.imageSize;
      if (x1 < 0 || y1 < 0 || x2 > width || y2 > height) {
        throw new Error(`${where} lies outside the ${width}x${height} image (width x height)`);
      }
    }
  }
}

/** Clamps boxes into [0, width] × [0, height] in place (mmdetection's decode with max_shape). */
export function clipBoxes(boxes: Float64Array, imageSize: ImageSize): Float64Array {
  const [height, width] = imageSize;
  const n = boxCount(boxes);
  for (let i = 0; i < n; i++) {
    boxes[4 * i] = Math.min(Math.max(boxes[4 * i], 0), width);
    boxes[4 * i + 1] = Math.min(Math.max(boxes[4 * i + 1], 0), height);
    boxes[4 * i + 2] = Math.min(Math.max(boxes[4 * i + 2], 0), width);
    boxes[4 * i + 3] = Math.min(Math.max(boxes[4 * i + 3], 0), height);
  }
  return boxes;
}

/** COCO's [x, y, w, h] from (x1, y1, x2, y2), for one box. */
export function xyxyToXywh(x1: number, y1: number, x2: number, y2: number): [number, number, number, number] {
  return [x1, y1, x2 - x1, y2 - y1];
}

/** (x1, y1, x2, y2) rows from COCO [x, y, w, h] rows, flattened. */
export function xywhRowsToBoxes(rows: readonly (readonly number[])[]): Boxes {
  const out = new Float64Array(rows.length * 4);
  rows.forEach((r, i) => {
    if (r.length !== 4) throw new Error(`bbox ${i} has ${r.length} values, expected [x, y, w, h]`);
    out[4 * i] = r[0];
    out[4 * i + 1] = r[1];
    out[4 * i + 2] = r[0] + r[2];
    out[4 * i + 3] = r[1] + r[3];
  });
  return out;
}
