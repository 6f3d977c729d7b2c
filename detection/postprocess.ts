// Inference post-processing of a dense head for one image, as mmdetection's
// BaseDenseHead._predict_by_feat_single + _bbox_post_process with GFL's test_cfg:
//  1. per level: keep (prior, class) pairs with score > scoreThr, then the nmsPre best of
//     them (the top-k runs over pairs, not priors: one prior can yield several classes);
//  2. concatenate levels, clamp boxes to the image, multiply by the optional per-prior
//     score factors (centerness for ATSS/FCOS; after the top-k, as mmdetection does);
//  3. drop boxes not wider and taller than minBboxSize (0: degenerate boxes);
//  4. class-aware NMS (a box only suppresses boxes of its own class), IoU > iouThreshold
//     suppresses, as torchvision/mmcv nms;
//  5. the maxPerImg highest-scoring survivors, sorted by score, descending.
// Score ties keep the earlier (level, prior, class) first throughout, so results are
// reproducible (torch's sorts leave tie order unspecified).

import { boxCount, clipBoxes, type ImageSize } from './boxes.ts';

export interface PostprocessConfig {
  scoreThr: number;
  /** Candidates kept per level before NMS (mmdetection's nms_pre). */
  nmsPre: number;
  iouThreshold: number;
  maxPerImg: number;
  /** Boxes must be wider and taller than this; negative disables the filter. */
  minBboxSize: number;
}

/** GFL's test_cfg (also ATSS's and RetinaNet's apart from the NMS IoU of 0.5 there). */
export const GFL_TEST_CFG: PostprocessConfig = {
  scoreThr: 0.05,
  nmsPre: 1000,
  iouThreshold: 0.6,
  maxPerImg: 100,
  minBboxSize: 0,
};

/** One FPN level's predictions for one image, priors in the order of priors.ts. */
export interface LevelPredictions {
  /** numPriors × numClasses scores, already through the sigmoid (GFL: the joint score). */
  scores: ArrayLike<number>;
  /** numPriors × 4 decoded boxes (x1,y1,x2,y2), in input-image pixels. */
  bboxes: ArrayLike<number>;
  /** Optional per-prior multiplier (σ(centerness) for ATSS and FCOS). */
  scoreFactors?: ArrayLike<number>;
}

export interface Detections {
  /** Flat (x1,y1,x2,y2) per detection. */
  bboxes: Float64Array;
  scores: Float64Array;
  /** Class index in [0, numClasses). */
  labels: Int32Array;
}

export interface PostprocessOptions {
  /** [height, width] of the un-padded input; boxes are clamped to it when given. */
  imageSize?: ImageSize;
  config?: Partial<PostprocessConfig>;
}

export function postprocessImage(levels: readonly LevelPredictions[], numClasses: number, options: PostprocessOptions = {}): Detections {
  const cfg = { ...GFL_TEST_CFG, ...options.config };
  const boxes: number[] = [];
  const scores: number[] = [];
  const labels: number[] = [];

  levels.forEach((level, li) => {
    const numPriors = boxCount(level.bboxes);
    if (level.scores.length !== numPriors * numClasses) {
      throw new Error(`postprocess: level ${li} has ${level.scores.length} scores for ${numPriors} priors × ${numClasses} classes`);
    }
    if (level.scoreFactors && level.scoreFactors.length !== numPriors) {
      throw new Error(`postprocess: level ${li} has ${level.scoreFactors.length} score factors for ${numPriors} priors`);
    }
    const kept = filterScoresAndTopk(level.scores, numClasses, cfg.scoreThr, cfg.nmsPre);
    for (let k = 0; k < kept.priorIndex.length; k++) {
      const p = kept.priorIndex[k];
      for (let c = 0; c < 4; c++) boxes.push(level.bboxes[4 * p + c]);
      scores.push(level.scoreFactors ? kept.scores[k] * level.scoreFactors[p] : kept.scores[k]);
      labels.push(kept.labels[k]);
    }
  });

  const allBoxes = Float64Array.from(boxes);
  if (options.imageSize) clipBoxes(allBoxes, options.imageSize);

  // Size filter, then class-aware NMS on the survivors.
  const survivors: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (cfg.minBboxSize >= 0) {
      const w = allBoxes[4 * i + 2] - allBoxes[4 * i];
      const h = allBoxes[4 * i + 3] - allBoxes[4 * i + 1];
      if (!(w > cfg.minBboxSize && h > cfg.minBboxSize)) continue;
    }
    survivors.push(i);
  }
  const survBoxes = new Float64Array(survivors.length * 4);
  survivors.forEach((i, k) => survBoxes.set(allBoxes.subarray(4 * i, 4 * i + 4), 4 * k));
  const survScores = survivors.map((i) => scores[i]);
  const survLabels = survivors.map((i) => labels[i]);
  const keep = batchedNms(survBoxes, survScores, survLabels, cfg.iouThreshold).slice(0, cfg.maxPerImg);

  const out: Detections = {
    bboxes: new Float64Array(keep.length * 4),
    scores: new Float64Array(keep.length),
    labels: new Int32Array(keep.length),
  };
  keep.forEach((k, j) => {
    out.bboxes.set(survBoxes.subarray(4 * k, 4 * k + 4), 4 * j);
    out.scores[j] = survScores[k];
    out.labels[j] = survLabels[k];
  });
  return out;
}

/**
 * mmdetection's filter_scores_and_topk for one level: the (prior, class) pairs with
 * score > scoreThr, best first, at most topk of them.
 */
export function filterScoresAndTopk(
  scores: ArrayLike<number>,
  numClasses: number,
  scoreThr: number,
  topk: number,
): { priorIndex: Int32Array; labels: Int32Array; scores: Float64Array } {
  const flat: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > scoreThr) flat.push(i);
  // Array.prototype.sort is stable: equal scores stay in (prior, class) order.
  flat.sort((a, b) => scores[b] - scores[a]);
  const n = Math.min(topk, flat.length);
  const priorIndex = new Int32Array(n);
  const labels = new Int32Array(n);
  const kept = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    priorIndex[k] = Math.floor(flat[k] / numClasses);
    labels[k] = flat[k] % numClasses;
    kept[k] = scores[flat[k]];
  }
  return { priorIndex, labels, scores: kept };
}

/**
 * Greedy NMS: visit boxes by descending score; a box is kept unless a kept box overlaps it
 * with IoU > iouThreshold. Returns kept indices, best first. IoU without eps as
 * torchvision's nms (two identical zero-area boxes give 0/0, which suppresses nothing).
 */
export function nms(bboxes: ArrayLike<number>, scores: ArrayLike<number>, iouThreshold: number): number[] {
  const n = boxCount(bboxes);
  if (scores.length !== n) throw new Error(`nms: ${scores.length} scores for ${n} boxes`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let oi = 0; oi < n; oi++) {
    const i = order[oi];
    if (suppressed[i]) continue;
    keep.push(i);
    const ix1 = bboxes[4 * i],
      iy1 = bboxes[4 * i + 1],
      ix2 = bboxes[4 * i + 2],
      iy2 = bboxes[4 * i + 3];
    const areaI = (ix2 - ix1) * (iy2 - iy1);
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj];
      if (suppressed[j]) continue;
      const jx1 = bboxes[4 * j],
        jy1 = bboxes[4 * j + 1],
        jx2 = bboxes[4 * j + 2],
        jy2 = bboxes[4 * j + 3];
      const w = Math.max(Math.min(ix2, jx2) - Math.max(ix1, jx1), 0);
      const h = Math.max(Math.min(iy2, jy2) - Math.max(iy1, jy1), 0);
      const inter = w * h;
      const iou = inter / (areaI + (jx2 - jx1) * (jy2 - jy1) - inter);
      if (iou > iouThreshold) suppressed[j] = 1;
    }
  }
  return keep;
}

/**
 * Class-aware NMS: boxes of different labels never suppress each other. Runs nms per class
 * (mmcv's batched_nms shifts each class by a coordinate offset instead, which is the same
 * in exact arithmetic but loses float32 precision on large images). Returns kept indices
 * sorted by score, descending (ties: lower index first).
 */
export function batchedNms(bboxes: ArrayLike<number>, scores: ArrayLike<number>, labels: ArrayLike<number>, iouThreshold: number): number[] {
  const n = boxCount(bboxes);
  if (scores.length !== n || labels.length !== n) {
    throw new Error(`batchedNms: ${n} boxes, ${scores.length} scores, ${labels.length} labels`);
  }
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const list = byClass.get(labels[i]);
    if (list) list.push(i);
    else byClass.set(labels[i], [i]);
  }
  const keep: number[] = [];
  for (const members of byClass.values()) {
    const sub = new Float64Array(members.length * 4);
    members.forEach((i, k) => {
      for (let c = 0; c < 4; c++) sub[4 * k + c] = bboxes[4 * i + c];
    });
    for (const k of nms(
      sub,
      members.map((i) => scores[i]),
      iouThreshold,
    ))
      keep.push(members[k]);
  }
  return keep.sort((a, b) => scores[b] - scores[a] || a - b);
}
