// FCOS's target assignment (mmdetection's FCOSHead._get_targets_single, center sampling
// off as in the CrossKD FCOS configs):
//  - a point is a candidate for a gt when it lies strictly inside the box (every distance
//    l, t, r, b to the sides > 0);
//  - and when its largest distance max(l, t, r, b) lies within its level's regress range
//    [lo, hi] (both ends inclusive), so each level learns one band of object sizes;
//  - among its candidate gts a point takes the one of smallest area (the first on ties, as
//    torch's min); a point with none is background.
// Every point takes part (FCOS uses no valid flags: points over padding are negatives).

import { boxAreas, boxCount } from '../boxes.ts';
import { BACKGROUND, type AssignResult } from './assignResult.ts';

/** mmdetection's regress ranges, one per level of strides 8…128: 8·stride on top. */
export const FCOS_REGRESS_RANGES: readonly (readonly [number, number])[] = [
  [-1, 64],
  [64, 128],
  [128, 256],
  [256, 512],
  [512, 1e8],
];

/** The default ranges for a pyramid of numLevels levels: mmdetection's, the last one open. */
export function defaultRegressRanges(numLevels: number): [number, number][] {
  if (!Number.isInteger(numLevels) || numLevels < 1 || numLevels > FCOS_REGRESS_RANGES.length)
    throw new Error(`defaultRegressRanges: numLevels must be an integer in [1, ${FCOS_REGRESS_RANGES.length}], got ${numLevels}`);
  const ranges = FCOS_REGRESS_RANGES.slice(0, numLevels).map(([lo, hi]) => [lo, hi] as [number, number]);
  ranges[numLevels - 1][1] = 1e8;
  return ranges;
}

export interface FcosAssignInput {
  /** flat (x, y) points of all levels, in input pixels */
  points: ArrayLike<number>;
  /** points per level */
  numLevelPoints: readonly number[];
  /** flat (x1,y1,x2,y2) gt boxes of one image */
  gtBoxes: ArrayLike<number>;
  /** class index in [0, numClasses) per gt */
  gtLabels: ArrayLike<number>;
  numClasses: number;
}

export class FcosAssigner {
  readonly regressRanges: readonly (readonly [number, number])[];

  constructor(regressRanges: readonly (readonly [number, number])[]) {
    regressRanges.forEach(([lo, hi], l) => {
      if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi))
        throw new Error(`FcosAssigner: regress range of level ${l} must be finite [lo, hi] with lo < hi, got [${lo}, ${hi}]`);
    });
    this.regressRanges = regressRanges.map(([lo, hi]) => [lo, hi] as const);
  }

  assign(input: FcosAssignInput): AssignResult {
    if (input.points.length % 2) throw new Error(`FcosAssigner: flat points length ${input.points.length} is not a multiple of 2`);
    const numPoints = input.points.length / 2;
    const numGts = boxCount(input.gtBoxes);
    if (input.numLevelPoints.length !== this.regressRanges.length)
      throw new Error(`FcosAssigner: ${input.numLevelPoints.length} point levels, ${this.regressRanges.length} regress ranges`);
    const total = input.numLevelPoints.reduce((a, b) => a + b, 0);
    if (total !== numPoints) throw new Error(`FcosAssigner: numLevelPoints add up to ${total}, but there are ${numPoints} points`);
    if (input.gtLabels.length !== numGts) throw new Error(`FcosAssigner: ${input.gtLabels.length} gt labels for ${numGts} gt boxes`);
    for (let g = 0; g < numGts; g++) {
      const label = input.gtLabels[g];
      if (!Number.isInteger(label) || label < 0 || label >= input.numClasses)
        throw new Error(`FcosAssigner: gt ${g} has label ${label}, outside [0, ${input.numClasses})`);
    }
    const result: AssignResult = {
      numGts,
      gtIndex: new Int32Array(numPoints).fill(BACKGROUND),
      labels: new Int32Array(numPoints).fill(input.numClasses),
      maxOverlaps: new Float64Array(numPoints),
    };
    const areas = boxAreas(input.gtBoxes);
    let p = 0;
    input.numLevelPoints.forEach((count, level) => {
      const [lo, hi] = this.regressRanges[level];
      for (let end = p + count; p < end; p++) {
        const x = input.points[2 * p];
        const y = input.points[2 * p + 1];
        let best = BACKGROUND;
        let bestArea = Infinity;
        for (let g = 0; g < numGts; g++) {
          const l = x - input.gtBoxes[4 * g];
          const t = y - input.gtBoxes[4 * g + 1];
          const r = input.gtBoxes[4 * g + 2] - x;
          const b = input.gtBoxes[4 * g + 3] - y;
          if (!(Math.min(l, t, r, b) > 0)) continue;
          const reach = Math.max(l, t, r, b);
          if (!(reach >= lo && reach <= hi)) continue;
          if (areas[g] < bestArea) {
            bestArea = areas[g];
            best = g;
          }
        }
        if (best >= 0) {
          result.gtIndex[p] = best;
          result.labels[p] = input.gtLabels[best];
        }
      }
    });
    return result;
  }
}
