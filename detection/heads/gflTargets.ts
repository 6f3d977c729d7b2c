/**
 * Training targets of the dense heads, built on the CPU in the data pipeline: they depend
 * only on the priors and the ground truth (an assigner per head: ATSS, MaxIoU, FCOS's
 * ranges), not on predictions. What depends on predictions — GFL's IoU quality targets —
 * is computed on the GPU in the loss.
 */
import { ATSSAssigner } from '../assigners/atss.ts';
import { IGNORED, type AssignResult } from '../assigners/assignResult.ts';
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
  /** values per prior in `posPriors`: 4 for anchor boxes, 2 for points */
  priorDim: 4 | 2;
  /** [Npos·priorDim] each positive's prior (anchor box or point) in input pixels */
  posPriors: Float32Array;
  /** [Npos·4] each positive's assigned gt box in input pixels */
  posGtBoxes: Float32Array;
  /**
   * [Npos] centerness of each positive's prior centre in its gt box (ATSS's and FCOS's
   * centerness target): sqrt(min(l,r)/max(l,r) · min(t,b)/max(t,b))
   */
  posCenterness: Float32Array;
  /**
   * The classification normaliser N_pos: Σ over images of max(#positives, 1) (docs/crosskd.md;
   * GFL, ATSS, RetinaNet), or max(#positives of the batch, 1) for FCOS
   */
  avgFactor: number;
  numPos: number;
}

/** How a head normalises its classification loss (see DenseTargets.avgFactor). */
export type AvgFactorRule = 'perImage' | 'batch';

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
  return buildDenseTargets(priors, strides, images, (img) =>
    assigner.assign({
      priors: priors.priors,
      numLevelPriors: priors.numLevelPriors,
      gtBoxes: img.gtBoxes,
      gtLabels: img.gtLabels,
      numClasses,
      validFlags: img.validFlags,
    }),
  );
}

/**
 * Targets of a batch from any assigner: labels and label weights per prior (0 for IGNORED
 * priors), then the positives in N·P order with their priors, gt boxes and centerness.
 */
export function buildDenseTargets(
  priors: MultiLevelPriors,
  strides: readonly number[],
  images: readonly ImageTargetsInput[],
  assign: (image: ImageTargetsInput, index: number) => AssignResult,
  avgFactorRule: AvgFactorRule = 'perImage',
): DenseTargets {
  if (strides.length !== priors.numLevelPriors.length)
    throw new Error(`buildDenseTargets: ${strides.length} strides for ${priors.numLevelPriors.length} prior levels`);
  const dim = priors.dim;
  const P = priors.numLevelPriors.reduce((a, b) => a + b, 0);
  const N = images.length;
  const labels = new Int32Array(N * P);
  const labelWeights = new Float32Array(N * P);
  const pos: number[] = [];
  const centers: number[] = [];
  const boxes: number[] = [];
  const posStrides: number[] = [];
  const gtIndex: number[] = [];
  const posPriors: number[] = [];
  const gtBoxes: number[] = [];
  const centerness: number[] = [];
  let perImage = 0;
  images.forEach((img, i) => {
    const result = assign(img, i);
    if (result.gtIndex.length !== P) throw new Error(`buildDenseTargets: the assigner returned ${result.gtIndex.length} priors for image ${i}, expected ${P}`);
    let count = 0;
    for (let p = 0; p < P; p++) {
      const row = i * P + p;
      labels[row] = result.labels[p];
      labelWeights[row] = result.gtIndex[p] === IGNORED ? 0 : 1;
      const g = result.gtIndex[p];
      if (g < 0) continue;
      count++;
      const s = strides[priors.levelOf[p]];
      const prior = priors.priors.subarray(dim * p, dim * p + dim);
      const [cx, cy] = dim === 4 ? [(prior[0] + prior[2]) / 2, (prior[1] + prior[3]) / 2] : [prior[0], prior[1]];
      const gt = Array.from({ length: 4 }, (_, k) => img.gtBoxes[4 * g + k]);
      pos.push(row);
      centers.push(cx / s, cy / s);
      for (const v of gt) boxes.push(v / s);
      posStrides.push(s);
      gtIndex.push(g);
      posPriors.push(...prior);
      gtBoxes.push(...gt);
      centerness.push(centernessTarget(cx, cy, gt));
    }
    perImage += Math.max(count, 1);
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
    priorDim: dim,
    posPriors: Float32Array.from(posPriors),
    posGtBoxes: Float32Array.from(gtBoxes),
    posCenterness: Float32Array.from(centerness),
    avgFactor: avgFactorRule === 'perImage' ? perImage : Math.max(pos.length, 1),
    numPos: pos.length,
  };
}

/**
 * Centerness of a point in a box (FCOS; ATSS with the anchor centre): with l, t, r, b the
 * distances to the sides, sqrt(min(l,r)/max(l,r) · min(t,b)/max(t,b)). Positives lie
 * strictly inside their box (both assigners require it), so no side distance is 0.
 */
export function centernessTarget(x: number, y: number, box: ArrayLike<number>): number {
  const [l, t, r, b] = [x - box[0], y - box[1], box[2] - x, box[3] - y];
  return Math.sqrt((Math.min(l, r) / Math.max(l, r)) * (Math.min(t, b) / Math.max(t, b)));
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
