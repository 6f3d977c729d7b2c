// RetinaNet's assigner, mmdetection's MaxIoUAssigner (without ignore regions):
//  - a prior whose best IoU over gts is < negIouThr is background;
//  - one whose best IoU is ≥ posIouThr goes to that best gt;
//  - in between it is IGNORED (no loss at all);
//  - then, with matchLowQuality, every gt whose best IoU over priors is ≥ minPosIou claims
//    its best prior(s) — all priors tied at that IoU with gtMaxAssignAll — overriding the
//    above, gts in index order (a later gt overwrites an earlier one), so each gt gets at
//    least one positive however badly the anchors fit it.
//
// With RetinaNet's minPosIou = 0 a gt that overlaps no valid prior at all (best IoU 0)
// claims every prior it has IoU 0 with, which is nearly all of them. mmdetection does
// exactly this; boxes of zero area are the practical cause, so drop them before assigning
// (mmdetection's COCO loader drops boxes under 1 px).

import { bboxOverlaps } from '../boxes.ts';
import {
  BACKGROUND,
  IGNORED,
  checkAssignInput,
  emptyAssignResult,
  gatherBoxes,
  validPriorIndices,
  type AssignInput,
  type AssignResult,
} from './assignResult.ts';

export interface MaxIoUAssignerConfig {
  posIouThr: number;
  negIouThr: number;
  minPosIou: number;
  gtMaxAssignAll: boolean;
  matchLowQuality: boolean;
}

/** RetinaNet's settings. */
export const RETINANET_MAX_IOU: MaxIoUAssignerConfig = {
  posIouThr: 0.5,
  negIouThr: 0.4,
  minPosIou: 0,
  gtMaxAssignAll: true,
  matchLowQuality: true,
};

export class MaxIoUAssigner {
  readonly config: MaxIoUAssignerConfig;

  constructor(config: Partial<MaxIoUAssignerConfig> = {}) {
    this.config = { ...RETINANET_MAX_IOU, ...config };
    const { posIouThr, negIouThr } = this.config;
    if (!(negIouThr <= posIouThr)) {
      throw new Error(`MaxIoUAssigner: negIouThr ${negIouThr} must not exceed posIouThr ${posIouThr}`);
    }
  }

  assign(input: AssignInput): AssignResult {
    const { numPriors, numGts } = checkAssignInput(input, 'MaxIoUAssigner');
    const result = emptyAssignResult(numPriors, numGts, input.numClasses, input.validFlags);
    const valid = validPriorIndices(numPriors, input.validFlags);
    const n = valid.length;
    if (numGts === 0 || n === 0) return result;

    const { posIouThr, negIouThr, minPosIou, gtMaxAssignAll, matchLowQuality } = this.config;
    const priors = gatherBoxes(input.priors, valid);
    const overlaps = bboxOverlaps(input.gtBoxes, priors, 'iou'); // numGts × n

    // Per prior: best IoU and its gt (first gt on ties, as torch's max).
    const maxOverlaps = new Float64Array(n);
    const argmax = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      let best = -Infinity,
        arg = 0;
      for (let g = 0; g < numGts; g++) {
        const v = overlaps[g * n + k];
        if (v > best) {
          best = v;
          arg = g;
        }
      }
      maxOverlaps[k] = best;
      argmax[k] = arg;
    }

    // Start from "ignored", then carve out negatives and positives (mmdetection's order).
    const assigned = new Int32Array(n).fill(IGNORED);
    for (let k = 0; k < n; k++) {
      if (maxOverlaps[k] >= 0 && maxOverlaps[k] < negIouThr) assigned[k] = BACKGROUND;
      if (maxOverlaps[k] >= posIouThr) assigned[k] = argmax[k];
    }

    if (matchLowQuality) {
      for (let g = 0; g < numGts; g++) {
        let gtMax = -Infinity,
          gtArg = 0;
        for (let k = 0; k < n; k++) {
          if (overlaps[g * n + k] > gtMax) {
            gtMax = overlaps[g * n + k];
            gtArg = k;
          }
        }
        if (!(gtMax >= minPosIou)) continue;
        if (gtMaxAssignAll) {
          for (let k = 0; k < n; k++) if (overlaps[g * n + k] === gtMax) assigned[k] = g;
        } else {
          assigned[gtArg] = g;
        }
      }
    }

    for (let k = 0; k < n; k++) {
      const p = valid[k];
      result.gtIndex[p] = assigned[k];
      result.maxOverlaps[p] = maxOverlaps[k];
      if (assigned[k] >= 0) result.labels[p] = input.gtLabels[assigned[k]];
    }
    return result;
  }
}
