/**
 * GFL training targets, built on the CPU in the data pipeline: they depend only on the
 * priors and the ground truth (ATSS), not on predictions. What depends on predictions —
 * the IoU quality targets of QFL — is computed on the GPU in the loss.
 */
import { ATSSAssigner } from '../assigners/atss.ts';
import { IGNORED } from '../assigners/assignResult.ts';
import type { MultiLevelPriors } from '../priors.ts';

export interface ImageTargetsInput {
  /** flat (x1,y1,x2,y2) in input pixels */
  gtBoxes: ArrayLike<number>;
  gtLabels: ArrayLike<number>;
  /** per prior: 1 if inside the un-padded image */
  validFlags: ArrayLike<number | boolean>;
}

export interface DenseTargets {
  numImages: number;
  /** priors per image */
  numPriors: number;
  /** [N·P] class index, numClasses for background */
  labels: Int32Array;
  /** [N·P] 0 for priors that take no part (padding, ignored) */
  labelWeights: Float32Array;
  /** [Npos] row of each positive in the N·P flattening */
  posIndex: Int32Array;
  /** [Npos·2] positive prior centres in units of their level's stride */
  posCenters: Float32Array;
  /** [Npos·4] assigned gt boxes in units of the positive's stride */
  posBoxTargets: Float32Array;
  /** [Npos] stride of each positive's level */
  posStrides: Float32Array;
  /** [Npos] index of the assigned gt within its image (for analyses) */
  posGtIndex: Int32Array;
  /** Σ over images of max(#positives, 1): the N_pos normaliser of CROSSKD.md */
  avgFactor: number;
  numPos: number;
}

/** Stride of every prior, from the levels the prior generator reports. */
export function priorStrides(priors: MultiLevelPriors, strides: readonly number[]): Float32Array {
  const out = new Float32Array(priors.levelOf.length);
  priors.levelOf.forEach((l, i) => (out[i] = strides[l]));
  return out;
}

export function buildAtssTargets(
  priors: MultiLevelPriors,
  strides: readonly number[],
  images: readonly ImageTargetsInput[],
  numClasses: number,
  assigner = new ATSSAssigner(9),
): DenseTargets {
  if (priors.dim !== 4) throw new Error('buildAtssTargets: ATSS needs anchor priors (x1,y1,x2,y2)');
  const P = priors.numLevelPriors.reduce((a, b) => a + b, 0);
  const N = images.length;
  const labels = new Int32Array(N * P);
  const labelWeights = new Float32Array(N * P);
  const pos: number[] = [];
  const centers: number[] = [];
  const boxes: number[] = [];
  const posStrides: number[] = [];
  const gtIndex: number[] = [];
  let avgFactor = 0;
  images.forEach((img, i) => {
    const result = assigner.assign({
      priors: priors.priors,
      numLevelPriors: priors.numLevelPriors,
      gtBoxes: img.gtBoxes,
      gtLabels: img.gtLabels,
      numClasses,
      validFlags: img.validFlags,
    });
    let count = 0;
    for (let p = 0; p < P; p++) {
      const row = i * P + p;
      labels[row] = result.labels[p];
      labelWeights[row] = result.gtIndex[p] === IGNORED ? 0 : 1;
      const g = result.gtIndex[p];
      if (g < 0) continue;
      count++;
      const s = strides[priors.levelOf[p]];
      const a = 4 * p;
      pos.push(row);
      centers.push((priors.priors[a] + priors.priors[a + 2]) / 2 / s, (priors.priors[a + 1] + priors.priors[a + 3]) / 2 / s);
      for (let k = 0; k < 4; k++) boxes.push(img.gtBoxes[4 * g + k] / s);
      posStrides.push(s);
      gtIndex.push(g);
    }
    avgFactor += Math.max(count, 1);
  });
  return {
    numImages: N,
    numPriors: P,
    labels,
    labelWeights,
    posIndex: Int32Array.from(pos),
    posCenters: Float32Array.from(centers),
    posBoxTargets: Float32Array.from(boxes),
    posStrides: Float32Array.from(posStrides),
    posGtIndex: Int32Array.from(gtIndex),
    avgFactor,
    numPos: pos.length,
  };
}

/**
 * DFL targets: distances from each positive centre to its gt's sides (l, t, r, b), in
 * stride units, clamped to [0, regMax − 0.1] as mmdetection's DistancePointBBoxCoder.
 */
export function dflTargets(t: DenseTargets, regMax: number): Float32Array {
  const out = new Float32Array(t.numPos * 4);
  const hi = regMax - 0.1;
  for (let i = 0; i < t.numPos; i++) {
    const [cx, cy] = [t.posCenters[2 * i], t.posCenters[2 * i + 1]];
    const b = t.posBoxTargets.subarray(4 * i, 4 * i + 4);
    const d = [cx - b[0], cy - b[1], b[2] - cx, b[3] - cy];
    for (let k = 0; k < 4; k++) out[4 * i + k] = Math.min(Math.max(d[k], 0), hi);
  }
  return out;
}
