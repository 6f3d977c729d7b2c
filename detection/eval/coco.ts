// COCO-style box evaluation, following pycocotools' COCOeval (iouType 'bbox', useCats 1)
// step for step, so the numbers agree with it to rounding:
//
//  evaluate   for every (category, area range, image): detections of that image and
//             category sorted by score (stable), the best 100 kept; gts sorted so that
//             non-ignored come first (ignored = iscrowd, or area outside the range); at
//             every IoU threshold t each detection in turn takes the still-unmatched gt of
//             highest IoU ≥ t (crowd gts stay matchable; once a detection holds a regular gt
//             it never moves to an ignored one). Detections matched to an ignored gt, and
//             unmatched ones outside the area range, are ignored.
//  accumulate per (category, area, maxDets): the images' detections pooled and sorted by
//             score; precision/recall along the list; precision made non-increasing from the
//             right; sampled at 101 recall points (the first detection reaching each recall;
//             0 beyond the last recall reached). A category without any non-ignored gt gets
//             -1 (absent), which the means skip.
//  summarize  the 12 standard numbers; mAP averages over IoU thresholds 0.50:0.05:0.95,
//             recall points and categories.
//
// Boxes are COCO's [x, y, w, h]. The gt area used for the area ranges is the annotation's
// `area` field (for COCO files the mask area), w·h when absent; a detection's area is w·h.

import type { Detections } from '../postprocess.ts';

export interface CocoImage {
  id: number;
  file_name?: string;
  width?: number;
  height?: number;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, w, h] */
  bbox: readonly number[];
  area?: number;
  iscrowd?: number | boolean;
}

export interface CocoDataset {
  images: readonly CocoImage[];
  annotations: readonly CocoAnnotation[];
  categories: readonly CocoCategory[];
}

export interface CocoDetection {
  image_id: number;
  category_id: number;
  /** [x, y, w, h] */
  bbox: readonly number[];
  score: number;
}

export interface CocoEvalResult {
  /** AP @[.50:.95], all areas, 100 detections. */
  mAP: number;
  mAP50: number;
  mAP75: number;
  mAP_s: number;
  mAP_m: number;
  mAP_l: number;
  /** AR @[.50:.95], all areas, at 1 / 10 / 100 detections per image. */
  AR1: number;
  AR10: number;
  AR100: number;
  AR_s: number;
  AR_m: number;
  AR_l: number;
  /** AP @[.50:.95] per category name (all areas, 100 detections); -1 for a category without gts. */
  per_class: Record<string, number>;
  /** pycocotools' `stats`: the 12 numbers above in its order (AP ×6, then AR ×6). */
  stats: number[];
}

/** np.linspace(start, stop, num) as numpy computes it: i·((stop-start)/(num-1)) + start, last = stop. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

/** 0.50, 0.55, …, 0.95, bit for bit as pycocotools' Params. */
export const IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);
/** 0.00, 0.01, …, 1.00, bit for bit as pycocotools' Params. */
export const RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101);
export const MAX_DETS: readonly number[] = [1, 10, 100];
export const AREA_RANGES: Readonly<Record<'all' | 'small' | 'medium' | 'large', readonly [number, number]>> = {
  all: [0, 1e10],
  small: [0, 32 ** 2],
  medium: [32 ** 2, 96 ** 2],
  large: [96 ** 2, 1e10],
};
const AREA_KEYS = ['all', 'small', 'medium', 'large'] as const;

/** numpy's np.spacing(1): the eps pycocotools adds to the precision denominator. */
const SPACING_1 = Number.EPSILON;

interface PreparedGt {
  x: number;
  y: number;
  w: number;
  h: number;
  area: number;
  crowd: boolean;
}

interface PreparedDt {
  x: number;
  y: number;
  w: number;
  h: number;
  area: number;
  score: number;
}

/** One (category, area range, image) evaluation, pycocotools' evaluateImg output. */
interface ImageEval {
  /** Scores of the (≤100) detections, best first. */
  dtScores: number[];
  /** [t·D + d]: detection d matched at threshold t. */
  dtMatched: Uint8Array;
  /** [t·D + d]: detection d ignored at threshold t. */
  dtIgnore: Uint8Array;
  /** Non-ignored gts in this image, category and area range. */
  numRegularGts: number;
}

/**
 * Evaluates detections against a COCO dataset. Throws on malformed input: a detection or
 * annotation naming an unknown image or category (pycocotools asserts on unknown images and
 * silently drops unknown categories; here both are errors, since either is a bug upstream),
 * duplicate ids, non-finite or negative box sizes.
 */
export function evaluateCoco(gt: CocoDataset, detections: readonly CocoDetection[]): CocoEvalResult {
  const { imgIds, catIds, gts, dts } = prepare(gt, detections);
  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const maxDetLast = MAX_DETS[MAX_DETS.length - 1];

  // precision[k][a][m] is a T×R block; recall[k][a][m] has T entries. null = -1 (absent).
  const precision: (Float64Array | null)[][][] = [];
  const recall: (Float64Array | null)[][][] = [];

  for (const catId of catIds) {
    const perImage = imgIds.map((imgId) => {
      const key = pairKey(imgId, catId);
      const g = gts.get(key) ?? [];
      const d = sortByScore(dts.get(key) ?? []).slice(0, maxDetLast);
      return { g, d, ious: computeIoU(d, g) };
    });
    const precK: (Float64Array | null)[][] = [];
    const recK: (Float64Array | null)[][] = [];
    for (const areaKey of AREA_KEYS) {
      const evals: ImageEval[] = [];
      for (const { g, d, ious } of perImage) {
        if (g.length === 0 && d.length === 0) continue; // pycocotools' None
        evals.push(evaluateImg(g, d, ious, AREA_RANGES[areaKey]));
      }
      const precA: (Float64Array | null)[] = [];
      const recA: (Float64Array | null)[] = [];
      for (const maxDet of MAX_DETS) {
        const acc = accumulateOne(evals, maxDet, T, R);
        precA.push(acc?.precision ?? null);
        recA.push(acc?.recall ?? null);
      }
      precK.push(precA);
      recK.push(recA);
    }
    precision.push(precK);
    recall.push(recK);
  }

  const a = (key: (typeof AREA_KEYS)[number]) => AREA_KEYS.indexOf(key);
  const m100 = MAX_DETS.indexOf(100);
  const t50 = IOU_THRESHOLDS.indexOf(0.5);
  const t75 = IOU_THRESHOLDS.indexOf(0.75);

  // Mean over every entry > -1 across categories (and thresholds, recall points), as
  // pycocotools' _summarize: absent categories drop out, present ones weigh equally.
  const meanAP = (area: number, m: number, t?: number): number => {
    let sum = 0,
      count = 0;
    for (const precK of precision) {
      const block = precK[area][m];
      if (!block) continue;
      for (let ti = 0; ti < T; ti++) {
        if (t !== undefined && ti !== t) continue;
        for (let r = 0; r < R; r++) {
          sum += block[ti * R + r];
          count++;
        }
      }
    }
    return count === 0 ? -1 : sum / count;
  };
  const meanAR = (area: number, m: number): number => {
    let sum = 0,
      count = 0;
    for (const recK of recall) {
      const rec = recK[area][m];
      if (!rec) continue;
      for (const v of rec) {
        sum += v;
        count++;
      }
    }
    return count === 0 ? -1 : sum / count;
  };

  const stats = [
    meanAP(a('all'), m100),
    meanAP(a('all'), m100, t50),
    meanAP(a('all'), m100, t75),
    meanAP(a('small'), m100),
    meanAP(a('medium'), m100),
    meanAP(a('large'), m100),
    meanAR(a('all'), MAX_DETS.indexOf(1)),
    meanAR(a('all'), MAX_DETS.indexOf(10)),
    meanAR(a('all'), m100),
    meanAR(a('small'), m100),
    meanAR(a('medium'), m100),
    meanAR(a('large'), m100),
  ];

  // Per-class AP as mmdetection's CocoMetric(classwise=True): all areas, 100 detections.
  const perClass: Record<string, number> = {};
  const nameOf = new Map(gt.categories.map((c) => [c.id, c.name]));
  catIds.forEach((catId, k) => {
    const block = precision[k][a('all')][m100];
    perClass[nameOf.get(catId)!] = block ? block.reduce((s, v) => s + v, 0) / block.length : -1;
  });

  return {
    mAP: stats[0],
    mAP50: stats[1],
    mAP75: stats[2],
    mAP_s: stats[3],
    mAP_m: stats[4],
    mAP_l: stats[5],
    AR1: stats[6],
    AR10: stats[7],
    AR100: stats[8],
    AR_s: stats[9],
    AR_m: stats[10],
    AR_l: stats[11],
    per_class: perClass,
    stats,
  };
}

function pairKey(imgId: number, catId: number): string {
  return `${imgId}/${catId}`;
}

function checkXywh(bbox: readonly number[], where: string): void {
  if (!Array.isArray(bbox) || bbox.length !== 4) throw new Error(`${where}: bbox must be [x, y, w, h]`);
  if (!bbox.every(Number.isFinite)) throw new Error(`${where}: bbox [${bbox.join(', ')}] has a non-finite value`);
  if (bbox[2] < 0 || bbox[3] < 0) throw new Error(`${where}: bbox [${bbox.join(', ')}] has a negative width or height`);
}

function prepare(gt: CocoDataset, detections: readonly CocoDetection[]) {
  const imgSet = new Set<number>();
  for (const img of gt.images) {
    if (imgSet.has(img.id)) throw new Error(`COCO eval: duplicate image id ${img.id}`);
    imgSet.add(img.id);
  }
  const catSet = new Set<number>();
  const names = new Set<string>();
  for (const c of gt.categories) {
    if (catSet.has(c.id)) throw new Error(`COCO eval: duplicate category id ${c.id}`);
    if (names.has(c.name)) throw new Error(`COCO eval: duplicate category name '${c.name}' (per-class AP is keyed by name)`);
    catSet.add(c.id);
    names.add(c.name);
  }
  // pycocotools evaluates images and categories in ascending id order; the order of images
  // decides how equal scores from different images are pooled.
  const imgIds = [...imgSet].sort((p, q) => p - q);
  const catIds = [...catSet].sort((p, q) => p - q);

  const gts = new Map<string, PreparedGt[]>();
  const annIds = new Set<number>();
  gt.annotations.forEach((ann, i) => {
    const where = `COCO eval: annotation ${ann.id} (#${i})`;
    if (annIds.has(ann.id)) throw new Error(`COCO eval: duplicate annotation id ${ann.id}`);
    annIds.add(ann.id);
    if (!imgSet.has(ann.image_id)) throw new Error(`${where}: unknown image_id ${ann.image_id}`);
    if (!catSet.has(ann.category_id)) throw new Error(`${where}: unknown category_id ${ann.category_id}`);
    checkXywh(ann.bbox, where);
    const [x, y, w, h] = ann.bbox;
    const area = ann.area ?? w * h;
    if (!Number.isFinite(area)) throw new Error(`${where}: area ${ann.area} is not a finite number`);
    const key = pairKey(ann.image_id, ann.category_id);
    const list = gts.get(key) ?? [];
    list.push({ x, y, w, h, area, crowd: Boolean(ann.iscrowd) });
    gts.set(key, list);
  });

  const dts = new Map<string, PreparedDt[]>();
  detections.forEach((det, i) => {
    const where = `COCO eval: detection #${i}`;
    if (!imgSet.has(det.image_id)) throw new Error(`${where}: unknown image_id ${det.image_id}`);
    if (!catSet.has(det.category_id)) throw new Error(`${where}: unknown category_id ${det.category_id}`);
    checkXywh(det.bbox, where);
    if (!Number.isFinite(det.score)) throw new Error(`${where}: score ${det.score} is not a finite number`);
    const [x, y, w, h] = det.bbox;
    const key = pairKey(det.image_id, det.category_id);
    const list = dts.get(key) ?? [];
    list.push({ x, y, w, h, area: w * h, score: det.score });
    dts.set(key, list);
  });
  return { imgIds, catIds, gts, dts };
}

/** Highest score first; equal scores keep their input order (numpy's mergesort is stable). */
function sortByScore(dts: PreparedDt[]): PreparedDt[] {
  return [...dts].sort((p, q) => q.score - p.score);
}

/**
 * IoU of each detection with each gt, [d·G + g], as pycocotools' maskApi bbIou: for a crowd
 * gt the union is the detection's own area (the fraction of the detection inside the crowd
 * region). Arithmetic in the same order as the C code, so results agree bit for bit.
 */
function computeIoU(dts: PreparedDt[], gts: PreparedGt[]): Float64Array {
  const out = new Float64Array(dts.length * gts.length);
  gts.forEach((g, gi) => {
    const ga = g.w * g.h;
    dts.forEach((d, di) => {
      const da = d.w * d.h;
      const w = Math.min(d.w + d.x, g.w + g.x) - Math.max(d.x, g.x);
      if (w <= 0) return;
      const h = Math.min(d.h + d.y, g.h + g.y) - Math.max(d.y, g.y);
      if (h <= 0) return;
      const inter = w * h;
      const union = g.crowd ? da : da + ga - inter;
      out[di * gts.length + gi] = inter / union;
    });
  });
  return out;
}

function evaluateImg(gtsIn: PreparedGt[], dts: PreparedDt[], ious: Float64Array, [lo, hi]: readonly [number, number]): ImageEval {
  const T = IOU_THRESHOLDS.length;
  const G = gtsIn.length;
  const D = dts.length;
  const ignoreOf = gtsIn.map((g) => g.crowd || g.area < lo || g.area > hi);
  // Regular gts first, ignored last, stable within each group.
  const order = Array.from({ length: G }, (_, i) => i).sort((p, q) => Number(ignoreOf[p]) - Number(ignoreOf[q]));
  const gtIg = order.map((i) => ignoreOf[i]);
  const crowd = order.map((i) => gtsIn[i].crowd);

  const dtMatched = new Uint8Array(T * D);
  const dtIgnore = new Uint8Array(T * D);
  if (G > 0) {
    for (let t = 0; t < T; t++) {
      const gtTaken = new Uint8Array(G);
      for (let d = 0; d < D; d++) {
        let best = Math.min(IOU_THRESHOLDS[t], 1 - 1e-10);
        let m = -1;
        for (let j = 0; j < G; j++) {
          if (gtTaken[j] && !crowd[j]) continue;
          // Holding a regular gt already: the rest are ignored gts, never preferred.
          if (m > -1 && !gtIg[m] && gtIg[j]) break;
          const iou = ious[d * G + order[j]];
          if (iou < best) continue;
          best = iou;
          m = j;
        }
        if (m === -1) continue;
        dtIgnore[t * D + d] = gtIg[m] ? 1 : 0;
        dtMatched[t * D + d] = 1;
        gtTaken[m] = 1;
      }
    }
  }
  // Unmatched detections outside the area range are neither true nor false positives.
  for (let d = 0; d < D; d++) {
    const outside = dts[d].area < lo || dts[d].area > hi;
    if (!outside) continue;
    for (let t = 0; t < T; t++) if (!dtMatched[t * D + d]) dtIgnore[t * D + d] = 1;
  }
  return {
    dtScores: dts.map((d) => d.score),
    dtMatched,
    dtIgnore,
    numRegularGts: gtIg.filter((ig) => !ig).length,
  };
}

/** pycocotools' accumulate for one (category, area, maxDets); null when no regular gt exists. */
function accumulateOne(evals: ImageEval[], maxDet: number, T: number, R: number): { precision: Float64Array; recall: Float64Array } | null {
  if (evals.length === 0) return null;
  const npig = evals.reduce((s, e) => s + e.numRegularGts, 0);
  if (npig === 0) return null;

  // Pool the first maxDet detections of every image, in image order, then sort by score
  // (stable, so equal scores keep image order then within-image order).
  const pooled: { score: number; e: ImageEval; d: number; D: number }[] = [];
  for (const e of evals) {
    const D = e.dtScores.length;
    for (let d = 0; d < Math.min(maxDet, D); d++) pooled.push({ score: e.dtScores[d], e, d, D });
  }
  pooled.sort((p, q) => q.score - p.score);
  const nd = pooled.length;

  const precision = new Float64Array(T * R);
  const recall = new Float64Array(T);
  const rc = new Float64Array(nd);
  const pr = new Float64Array(nd);
  for (let t = 0; t < T; t++) {
    let tp = 0,
      fp = 0;
    for (let i = 0; i < nd; i++) {
      const { e, d, D } = pooled[i];
      if (!e.dtIgnore[t * D + d]) {
        if (e.dtMatched[t * D + d]) tp++;
        else fp++;
      }
      rc[i] = tp / npig;
      pr[i] = tp / (fp + tp + SPACING_1);
    }
    recall[t] = nd ? rc[nd - 1] : 0;
    // Interpolated precision: the best precision at this recall or any higher one.
    for (let i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    // For each recall point, the first detection whose recall reaches it (searchsorted,
    // side 'left'); past the highest recall reached the precision stays 0.
    let i = 0;
    for (let r = 0; r < R; r++) {
      while (i < nd && rc[i] < RECALL_THRESHOLDS[r]) i++;
      if (i === nd) break;
      precision[t * R + r] = pr[i];
    }
  }
  return { precision, recall };
}

/** pycocotools-style summary lines followed by the per-class AP table. */
export function formatCocoSummary(result: CocoEvalResult): string {
  const rows: [string, string, string, string, number][] = [
    ['Average Precision', '(AP)', '0.50:0.95', 'all', 100],
    ['Average Precision', '(AP)', '0.50', 'all', 100],
    ['Average Precision', '(AP)', '0.75', 'all', 100],
    ['Average Precision', '(AP)', '0.50:0.95', 'small', 100],
    ['Average Precision', '(AP)', '0.50:0.95', 'medium', 100],
    ['Average Precision', '(AP)', '0.50:0.95', 'large', 100],
    ['Average Recall', '(AR)', '0.50:0.95', 'all', 1],
    ['Average Recall', '(AR)', '0.50:0.95', 'all', 10],
    ['Average Recall', '(AR)', '0.50:0.95', 'all', 100],
    ['Average Recall', '(AR)', '0.50:0.95', 'small', 100],
    ['Average Recall', '(AR)', '0.50:0.95', 'medium', 100],
    ['Average Recall', '(AR)', '0.50:0.95', 'large', 100],
  ];
  const lines = rows.map(
    ([title, type, iou, area, maxDets], i) =>
      ` ${title.padEnd(18)} ${type} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${result.stats[i].toFixed(3)}`,
  );
  const names = Object.keys(result.per_class);
  if (names.length > 0) {
    const width = Math.max(8, ...names.map((n) => n.length));
    lines.push('', `${'category'.padEnd(width)}  AP`);
    for (const name of names) {
      const ap = result.per_class[name];
      lines.push(`${name.padEnd(width)}  ${ap < 0 ? '  -  ' : ap.toFixed(3)}`);
    }
  }
  return lines.join('\n');
}

/**
 * One image's detections (0-based class labels, x1y1x2y2 boxes) as COCO results; label c
 * maps to categoryIds[c] (mmdetection's cat_ids: the dataset's category ids, ascending).
 */
export function detectionsToCoco(imageId: number, dets: Detections, categoryIds: readonly number[]): CocoDetection[] {
  const out: CocoDetection[] = [];
  for (let i = 0; i < dets.scores.length; i++) {
    const label = dets.labels[i];
    if (label < 0 || label >= categoryIds.length) {
      throw new Error(`detectionsToCoco: label ${label} has no category id (${categoryIds.length} categories)`);
    }
    const [x1, y1, x2, y2] = dets.bboxes.subarray(4 * i, 4 * i + 4);
    out.push({ image_id: imageId, category_id: categoryIds[label], bbox: [x1, y1, x2 - x1, y2 - y1], score: dets.scores[i] });
  }
  return out;
}
