/**
 * Target conflict (docs/crosskd.md §6): how often a teacher's class scores disagree with the
 * targets the student's own assigner gives. Prediction mimicking pulls the student toward
 * the teacher and the detection loss toward the assigned targets; where the two differ by
 * more than 0.5 they fight. CrossKD sidesteps this by distilling through the teacher's head.
 *
 * Definition used here (the paper's analysis): per location, the teacher's score is
 * σ(cls logit) per class and the target is the student assigner's one-hot label (1 at the
 * assigned class of a positive, 0 elsewhere; all zeros for background). The location's
 * difference is max over classes of |score − target|: at a positive it is the larger of
 * 1 − (score at the assigned class) and the highest score of another class, at a negative
 * the teacher's highest score. GFL's own QFL target (the IoU of the student's predicted
 * box at the assigned class) is not used, since it depends on a student that does not exist
 * yet; any soft target matrix can be passed to `locationConflicts` instead.
 *
 * The core (locationConflicts, conflictStats, mergeConflictStats, oneHotTargets, anchorMax) is plain
 * arithmetic on arrays, with no Node or GPU code, so a web page can reuse it.
 * `batchConflicts` runs a teacher on one batch on the GPU (the web page maps one image with
 * it), `measureTargetConflict` over a whole dataset.
 */
import * as E from '../engine/index.ts';
import type { Detector } from '../detection/detector.ts';
import { DetectionLoader, type DetectionBatch } from '../detection/data/loader.ts';
import type { DetectionDataset } from '../detection/data/coco.ts';
import { flattenLevels } from '../detection/heads/common.ts';
import { oneHot } from '../detection/heads/dense.ts';

/** [P] labels (numClasses = background) → [P, C] one-hot targets: the heads' oneHot, under the name the conflict API uses. */
export const oneHotTargets = oneHot;

/** Locations whose difference exceeds this are conflicting (docs/crosskd.md §6). */
export const CONFLICT_THRESHOLD = 0.5;

/**
 * Per location: max over classes of |teacherScores − targets|, NaN where the location
 * takes no part (valid 0: padding or ignored). `teacherScores` and `targets` are
 * row-major [P, C]; `valid` is [P] (all valid when omitted).
 */
export function locationConflicts(
  teacherScores: ArrayLike<number>,
  targets: ArrayLike<number>,
  numClasses: number,
  valid?: ArrayLike<number | boolean>,
): Float32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`locationConflicts: numClasses must be a positive integer, got ${numClasses}`);
  if (teacherScores.length % numClasses)
    throw new Error(`locationConflicts: teacherScores has ${teacherScores.length} values, not a multiple of numClasses ${numClasses}`);
  const P = teacherScores.length / numClasses;
  if (targets.length !== teacherScores.length)
    throw new Error(`locationConflicts: targets has ${targets.length} values, teacherScores ${teacherScores.length} ([${P}, ${numClasses}] expected for both)`);
  if (valid && valid.length !== P) throw new Error(`locationConflicts: valid has ${valid.length} entries for ${P} locations`);
  const out = new Float32Array(P);
  for (let p = 0; p < P; p++) {
    if (valid && !valid[p]) {
      out[p] = Number.NaN;
      continue;
    }
    let worst = 0;
    for (let c = 0; c < numClasses; c++) {
      const s = teacherScores[p * numClasses + c];
      if (!(s >= 0 && s <= 1))
        throw new Error(`locationConflicts: teacher score at location ${p}, class ${c} is ${s}; scores are probabilities in [0, 1] (apply the sigmoid)`);
      worst = Math.max(worst, Math.abs(s - targets[p * numClasses + c]));
    }
    out[p] = worst;
  }
  return out;
}

/** Counts of one group of locations (all, positives or negatives). */
export interface ConflictCounts {
  locations: number;
  /** locations whose difference exceeds the threshold */
  conflicting: number;
  /** conflicting / locations (0 when there are no locations) */
  share: number;
}

export interface ConflictStats {
  threshold: number;
  /** histogram of the per-location difference: bin k covers [k/bins, (k+1)/bins), the last bin includes 1 */
  histogram: number[];
  all: ConflictCounts;
  /** locations with a nonzero target (assigned positives) */
  positives: ConflictCounts;
  negatives: ConflictCounts;
}

const counts = (locations: number, conflicting: number): ConflictCounts => ({ locations, conflicting, share: locations ? conflicting / locations : 0 });

/**
 * Share above the threshold and histogram of per-location differences (NaN = not
 * counted). `positive[p]` marks assigned positives, for the split by kind.
 */
export function conflictStats(
  perLocation: ArrayLike<number>,
  positive: ArrayLike<number | boolean>,
  opts: { threshold?: number; bins?: number } = {},
): ConflictStats {
  const threshold = opts.threshold ?? CONFLICT_THRESHOLD;
  const bins = opts.bins ?? 20;
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`conflictStats: bins must be a positive integer, got ${bins}`);
  if (!(threshold >= 0 && threshold < 1)) throw new Error(`conflictStats: threshold must be in [0, 1), got ${threshold}`);
  if (positive.length !== perLocation.length) throw new Error(`conflictStats: ${positive.length} positive flags for ${perLocation.length} locations`);
  const histogram = new Array<number>(bins).fill(0);
  const n = { pos: 0, neg: 0, posOver: 0, negOver: 0 };
  for (let p = 0; p < perLocation.length; p++) {
    const d = perLocation[p];
    if (Number.isNaN(d)) continue;
    if (!(d >= 0 && d <= 1)) throw new Error(`conflictStats: difference at location ${p} is ${d}, outside [0, 1]`);
    histogram[Math.min(Math.floor(d * bins), bins - 1)]++;
    const over = d > threshold ? 1 : 0;
    if (positive[p]) {
      n.pos++;
      n.posOver += over;
    } else {
      n.neg++;
      n.negOver += over;
    }
  }
  return {
    threshold,
    histogram,
    all: counts(n.pos + n.neg, n.posOver + n.negOver),
    positives: counts(n.pos, n.posOver),
    negatives: counts(n.neg, n.negOver),
  };
}

/** The statistics of two disjoint sets of locations together (same threshold and bins). */
export function mergeConflictStats(a: ConflictStats, b: ConflictStats): ConflictStats {
  if (a.threshold !== b.threshold || a.histogram.length !== b.histogram.length)
    throw new Error(`mergeConflictStats: threshold ${a.threshold} / ${a.histogram.length} bins vs ${b.threshold} / ${b.histogram.length} bins`);
  const add = (x: ConflictCounts, y: ConflictCounts) => counts(x.locations + y.locations, x.conflicting + y.conflicting);
  return {
    threshold: a.threshold,
    histogram: a.histogram.map((v, k) => v + b.histogram[k]),
    all: add(a.all, b.all),
    positives: add(a.positives, b.positives),
    negatives: add(a.negatives, b.negatives),
  };
}

/**
 * Teacher scores with A anchors per location (RetinaNet: 9) → one score per location and
 * class, the highest over the location's anchors. Input rows [P, A·C] with the channel of
 * anchor a and class c at a·C + c (mmdetection's order); output [P, C].
 */
export function anchorMax(scores: ArrayLike<number>, anchors: number, numClasses: number): Float32Array {
  if (!Number.isInteger(anchors) || anchors < 1) throw new Error(`anchorMax: anchors must be a positive integer, got ${anchors}`);
  const row = anchors * numClasses;
  if (scores.length % row) throw new Error(`anchorMax: ${scores.length} scores are not whole rows of ${anchors} anchors × ${numClasses} classes`);
  if (anchors === 1) return Float32Array.from(scores);
  const P = scores.length / row;
  const out = new Float32Array(P * numClasses).fill(-Infinity);
  for (let p = 0; p < P; p++)
    for (let a = 0; a < anchors; a++)
      for (let c = 0; c < numClasses; c++) out[p * numClasses + c] = Math.max(out[p * numClasses + c], scores[p * row + a * numClasses + c]);
  return out;
}

export interface MeasureConflictArgs {
  teacher: Detector;
  /**
   * The student whose assigner gives the targets (its head's, on its priors, as its
   * training does); only its priors and assigner are used, not its weights.
   */
  student: Detector;
  dataset: DetectionDataset;
  padSize: readonly [number, number];
  batchSize: number;
  threshold?: number;
  bins?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Refuses a pair whose locations do not coincide (classes, strides, one prior per location). */
function checkConflictPair(teacher: Detector, student: Detector): void {
  const C = student.bboxHead.numClasses;
  if (teacher.bboxHead.numClasses !== C) throw new Error(`measureTargetConflict: the teacher has ${teacher.bboxHead.numClasses} classes, the student ${C}`);
  if (teacher.strides.join() !== student.strides.join())
    throw new Error(`measureTargetConflict: teacher strides [${teacher.strides}] differ from the student's [${student.strides}]; locations must coincide`);
  if (student.bboxHead.priorsPerLocation !== 1)
    throw new Error(
      `measureTargetConflict: the student's '${student.bboxHead.type}' head has ${student.bboxHead.priorsPerLocation} priors per location; this analysis needs one (GFL, ATSS, FCOS students)`,
    );
}

export interface BatchConflicts {
  /** per location, image by image in the student's prior order: the difference, NaN where the location takes no part */
  perLocation: Float32Array;
  /** 1 at the student's assigned positives */
  positive: Uint8Array;
}

/**
 * The per-location differences of one batch: the teacher's scores against the targets the
 * student's head assigns (its own assigner on its priors). The web page maps them per image.
 */
export async function batchConflicts(teacher: Detector, student: Detector, batch: DetectionBatch): Promise<BatchConflicts> {
  checkConflictPair(teacher, student);
  const C = student.bboxHead.numClasses;
  const targets = student.buildTargets(batch);
  const scoresTensor = E.scope(() =>
    E.noGrad(() => {
      const out = teacher.forward(E.tensor(batch.images, batch.shape));
      return E.sigmoid(flattenLevels(out.cls));
    }),
  );
  const raw = await scoresTensor.data();
  scoresTensor.dispose();
  const perLocation = raw.length / targets.labels.length;
  if (!Number.isInteger(perLocation) || perLocation % C)
    throw new Error(`measureTargetConflict: the teacher gives ${raw.length} scores for ${targets.labels.length} student locations of ${C} classes`);
  const scores = anchorMax(raw, perLocation / C, C);
  return {
    perLocation: locationConflicts(scores, oneHotTargets(targets.labels, C), C, targets.labelWeights),
    positive: Uint8Array.from(targets.labels, (l) => (l < C ? 1 : 0)),
  };
}

/**
 * Target conflict of a teacher with the student's assigner over a whole dataset (no
 * flips, dataset order). Locations are the student's priors, one per feature-map cell.
 */
export async function measureTargetConflict(args: MeasureConflictArgs): Promise<ConflictStats> {
  const { teacher, student, dataset } = args;
  checkConflictPair(teacher, student);
  const loader = new DetectionLoader(dataset, { batchSize: args.batchSize, shuffle: false, flipProb: 0, padSize: args.padSize });
  let total: ConflictStats | null = null;
  const batches = loader.batchesPerEpoch;
  for (let b = 0; b < batches; b++) {
    const { perLocation, positive } = await batchConflicts(teacher, student, loader.next());
    const stats = conflictStats(perLocation, positive, { threshold: args.threshold, bins: args.bins });
    total = total ? mergeConflictStats(total, stats) : stats;
    args.onBatch?.(b + 1, batches);
  }
  return total!;
}
