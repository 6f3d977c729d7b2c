// The common output of the assigners.
//
// mmdetection's AssignResult codes gt_inds as 0 = background, i+1 = gt i, -1 = ignored.
// Here gt indices are 0-based and the two special values are negative named constants,
// so `gtIndex[p] >= 0` reads "prior p is a positive".

import { boxCount, validateBoxes } from '../boxes.ts';

/** The prior is a negative: trained towards background. */
export const BACKGROUND = -1;
/**
 * The prior takes no part in the losses (label weight 0): MaxIoU's band between the
 * negative and positive thresholds, and priors outside the valid (un-padded) region.
 */
export const IGNORED = -2;

export interface AssignResult {
  numGts: number;
  /** Per prior: index of the assigned gt (0-based), BACKGROUND or IGNORED. */
  gtIndex: Int32Array;
  /** Per prior: the assigned gt's label for positives, numClasses for every other prior. */
  labels: Int32Array;
  /**
   * Per prior: the largest IoU with any gt (0 without gts and for invalid priors). The
   * GFL/ATSS losses do not read it; it is there for diagnostics and MaxIoU-style logic.
   */
  maxOverlaps: Float64Array;
}

/** Inputs shared by the assigners. */
export interface AssignInput {
  /** Flat (x1,y1,x2,y2) anchors of all levels. */
  priors: ArrayLike<number>;
  /** Flat (x1,y1,x2,y2) ground-truth boxes of one image. */
  gtBoxes: ArrayLike<number>;
  /** Class index in [0, numClasses) per gt. */
  gtLabels: ArrayLike<number>;
  numClasses: number;
  /**
   * Optional per-prior validity (1 = inside the image, from the priors' validFlags). As in
   * mmdetection's heads, invalid priors are removed before assigning (so they are never
   * candidates and do not move ATSS's statistics) and come back as IGNORED.
   */
  validFlags?: ArrayLike<number | boolean>;
}

/** Indices of the positive priors, ascending. */
export function positiveIndices(result: AssignResult): number[] {
  const out: number[] = [];
  result.gtIndex.forEach((g, i) => {
    if (g >= 0) out.push(i);
  });
  return out;
}

/** Checks the shapes and labels of an AssignInput; returns (numPriors, numGts). */
export function checkAssignInput(input: AssignInput, who: string): { numPriors: number; numGts: number } {
  const numPriors = boxCount(input.priors);
  const numGts = boxCount(input.gtBoxes);
  if (input.gtLabels.length !== numGts) {
    throw new Error(`${who}: ${input.gtLabels.length} gt labels for ${numGts} gt boxes`);
  }
  if (!Number.isInteger(input.numClasses) || input.numClasses < 1) {
    throw new Error(`${who}: numClasses must be a positive integer, got ${input.numClasses}`);
  }
  for (let g = 0; g < numGts; g++) {
    const label = input.gtLabels[g];
    if (!Number.isInteger(label) || label < 0 || label >= input.numClasses) {
      throw new Error(`${who}: gt ${g} has label ${label}, outside [0, ${input.numClasses})`);
    }
  }
  if (input.validFlags && input.validFlags.length !== numPriors) {
    throw new Error(`${who}: ${input.validFlags.length} valid flags for ${numPriors} priors`);
  }
  // NaN or inverted gt boxes would silently get no positives (every IoU test fails);
  // zero-area boxes pass and get none either, as in mmdetection.
  validateBoxes(input.gtBoxes, { what: `${who}: gt boxes` });
  return { numPriors, numGts };
}

/** Indices of the valid priors (all of them when no flags are given). */
export function validPriorIndices(numPriors: number, validFlags?: ArrayLike<number | boolean>): Int32Array {
  if (!validFlags) return Int32Array.from({ length: numPriors }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < numPriors; i++) if (validFlags[i]) out.push(i);
  return Int32Array.from(out);
}

/** Gathers rows of a flat box array. */
export function gatherBoxes(boxes: ArrayLike<number>, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length * 4);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    out[4 * k] = boxes[4 * i];
    out[4 * k + 1] = boxes[4 * i + 1];
    out[4 * k + 2] = boxes[4 * i + 2];
    out[4 * k + 3] = boxes[4 * i + 3];
  }
  return out;
}

/** A result with every valid prior BACKGROUND and every invalid one IGNORED. */
export function emptyAssignResult(numPriors: number, numGts: number, numClasses: number, validFlags?: ArrayLike<number | boolean>): AssignResult {
  const gtIndex = new Int32Array(numPriors).fill(BACKGROUND);
  if (validFlags) for (let i = 0; i < numPriors; i++) if (!validFlags[i]) gtIndex[i] = IGNORED;
  return { numGts, gtIndex, labels: new Int32Array(numPriors).fill(numClasses), maxOverlaps: new Float64Array(numPriors) };
}
