// ATSS (Adaptive Training Sample Selection, Zhang et al. 2020) as mmdetection's
// ATSSAssigner does it, the assigner of the GFL and ATSS heads. It looks only at priors and
// ground truth, so it runs on the CPU in the data pipeline.
//
// For each gt:
//  1. on every level, the topk priors whose centres are nearest (L2) to the gt centre are
//     candidates (fewer when a level has fewer priors);
//  2. the IoU threshold is mean + std of the candidates' IoUs with the gt (std unbiased,
//     as torch.std): a gt that overlaps its candidates uniformly well gets a high bar, an
//     odd-shaped one a low bar;
//  3. a candidate is positive if its IoU ≥ threshold and its centre lies inside the gt by
//     more than 0.01 on every side.
// A prior positive for several gts goes to the one of highest IoU; every other valid prior
// is background. An image without gts makes every valid prior background.

import { bboxOverlaps, boxCenters } from '../boxes.ts';
import { countPerLevel } from '../priors.ts';
import { BACKGROUND, checkAssignInput, emptyAssignResult, gatherBoxes, validPriorIndices, type AssignInput, type AssignResult } from './assignResult.ts';

export interface AtssAssignInput extends AssignInput {
  /** Priors per level, as the prior generator returned them (before removing invalid ones). */
  numLevelPriors: readonly number[];
}

/** mmdetection's minimum distance from a positive prior's centre to each gt side. */
const MIN_CENTER_MARGIN = 0.01;

export class ATSSAssigner {
  readonly topk: number;

  constructor(topk = 9) {
    if (!Number.isInteger(topk) || topk < 1) throw new Error(`ATSSAssigner: topk must be a positive integer, got ${topk}`);
    this.topk = topk;
  }

  assign(input: AtssAssignInput): AssignResult {
    const { numPriors, numGts } = checkAssignInput(input, 'ATSSAssigner');
    const levelTotal = input.numLevelPriors.reduce((a, b) => a + b, 0);
    if (levelTotal !== numPriors) {
      throw new Error(`ATSSAssigner: numLevelPriors add up to ${levelTotal}, but there are ${numPriors} priors`);
    }
    const result = emptyAssignResult(numPriors, numGts, input.numClasses, input.validFlags);

    // Work on the valid priors only, with per-level counts of those (as mmdetection's heads
    // do before calling the assigner), then scatter back.
    const valid = validPriorIndices(numPriors, input.validFlags);
    const numLevelValid = input.validFlags ? countPerLevel(input.validFlags, input.numLevelPriors) : [...input.numLevelPriors];
    const n = valid.length;
    if (numGts === 0 || n === 0) return result;

    const priors = gatherBoxes(input.priors, valid);
    const overlaps = bboxOverlaps(priors, input.gtBoxes, 'iou'); // n × numGts
    const priorCenters = boxCenters(priors);
    const gtCenters = boxCenters(input.gtBoxes);

    // Best positive gt so far per prior; -Infinity = not positive for any gt.
    const bestIou = new Float64Array(n).fill(-Infinity);
    const bestGt = new Int32Array(n).fill(BACKGROUND);

    for (let g = 0; g < numGts; g++) {
      const gcx = gtCenters[2 * g],
        gcy = gtCenters[2 * g + 1];
      const candidates: number[] = [];
      let start = 0;
      for (const count of numLevelValid) {
        const k = Math.min(this.topk, count);
        for (const i of nearestK(priorCenters, start, start + count, gcx, gcy, k)) candidates.push(i);
        start += count;
      }

      const ious = candidates.map((i) => overlaps[i * numGts + g]);
      const mean = ious.reduce((a, b) => a + b, 0) / ious.length;
      // Unbiased std (divide by m - 1) as torch.std. With a single candidate it is 0/0 =
      // NaN, the threshold is NaN and nothing passes, which is what torch gives too.
      const variance = ious.reduce((a, v) => a + (v - mean) ** 2, 0) / (ious.length - 1);
      const threshold = mean + Math.sqrt(variance);

      const x1 = input.gtBoxes[4 * g],
        y1 = input.gtBoxes[4 * g + 1];
      const x2 = input.gtBoxes[4 * g + 2],
        y2 = input.gtBoxes[4 * g + 3];
      candidates.forEach((i, c) => {
        if (!(ious[c] >= threshold)) return;
        const cx = priorCenters[2 * i],
          cy = priorCenters[2 * i + 1];
        const margin = Math.min(cx - x1, cy - y1, x2 - cx, y2 - cy);
        if (!(margin > MIN_CENTER_MARGIN)) return;
        // Strictly greater: on equal IoU the lower gt index keeps the prior, as torch's
        // max returns the first maximal index.
        if (ious[c] > bestIou[i]) {
          bestIou[i] = ious[c];
          bestGt[i] = g;
        }
      });
    }

    for (let k = 0; k < n; k++) {
      const p = valid[k];
      let m = 0;
      for (let g = 0; g < numGts; g++) m = Math.max(m, overlaps[k * numGts + g]);
      result.maxOverlaps[p] = m;
      if (bestGt[k] >= 0) {
        result.gtIndex[p] = bestGt[k];
        result.labels[p] = input.gtLabels[bestGt[k]];
      }
    }
    return result;
  }
}

/**
 * Indices in [start, end) of the k prior centres nearest to (x, y), nearest first. Equal
 * distances keep the lower index (torch.topk leaves the order of ties unspecified; on a
 * regular grid ties are common, and a fixed rule keeps the assignment reproducible).
 */
function nearestK(centers: Float64Array, start: number, end: number, x: number, y: number, k: number): number[] {
  const idx: number[] = [];
  const dist: number[] = [];
  for (let i = start; i < end; i++) {
    const d = Math.sqrt((centers[2 * i] - x) ** 2 + (centers[2 * i + 1] - y) ** 2);
    if (idx.length === k && !(d < dist[k - 1])) continue;
    // Insertion into the sorted list of the best k; a later equal distance goes after.
    let pos = idx.length === k ? k - 1 : idx.length;
    while (pos > 0 && dist[pos - 1] > d) pos--;
    idx.splice(pos, 0, i);
    dist.splice(pos, 0, d);
    if (idx.length > k) {
      idx.pop();
      dist.pop();
    }
  }
  return idx;
}
