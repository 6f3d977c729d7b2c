/**
 * The KD losses of docs/crosskd.md §4, per head type, and PKD's feature imitation.
 * - GFL cls: KD-QFL (β 1) between predicted logits and σ(teacher logits), over every valid
 *   prior and class, / N_pos.
 * - GFL reg: KL(softmax(teacher) ‖ softmax(pred)) (T 1, summed over the 17 bins) per box
 *   side, weighted per prior by w_r = max_c σ(teacher logit) (0 at invalid priors), the 4
 *   sides averaged, / Σ w_r.
 * - ATSS, RetinaNet, FCOS (boxKdLosses): KD-QFL as GFL's; the boxes decoded at every prior
 *   from both regressions, GIoU (FCOS: IoU-log) weighted by w_r; ATSS adds the centerness
 *   BCE against σ(teacher centerness) at the positives. Normaliser N_pos, FCOS Σ of the
 *   positives' centerness targets.
 * - PKD: MSE between per-channel normalised student and teacher FPN maps, / 2 per level.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { flattenLevels } from '../detection/heads/common.ts';
import { bceWithLogits, type DenseHead, type HeadType, type PriorTensors } from '../detection/heads/dense.ts';
import { centernessDenominator } from '../detection/heads/fcos.ts';
import type { GFLHead } from '../detection/heads/gfl.ts';
import type { DenseTargets } from '../detection/heads/gflTargets.ts';
import { normalizeChannels } from './align.ts';

export interface GflKdWeights {
  cls: number;
  reg: number;
  /** KL temperature */
  T: number;
}

export const CROSSKD_GFL_WEIGHTS: GflKdWeights = { cls: 1.0, reg: 4.0, T: 1 };

export interface GflKdInputs {
  /** per level [N, C, H, W]: the prediction to train (cross-head or the student's own) */
  cls: readonly Tensor[];
  /** per level [N, 4(n+1), H, W] */
  reg: readonly Tensor[];
  /** the teacher's own predictions (constants) */
  teacherCls: readonly Tensor[];
  teacherReg: readonly Tensor[];
  /** [N·P] 1 for valid priors */
  labelWeights: Float32Array;
  /** N_pos = Σ_i max(#pos_i, 1) */
  avgFactor: number;
  regMax: number;
}

export function gflKdLosses(x: GflKdInputs, w: GflKdWeights = CROSSKD_GFL_WEIGHTS): { kdCls: Tensor; kdReg: Tensor } {
  const cls = flattenLevels(x.cls);
  const reg = flattenLevels(x.reg);
  const rows = cls.shape[0];
  const bins = x.regMax + 1;
  if (x.labelWeights.length !== rows) throw new Error(`gflKdLosses: ${x.labelWeights.length} label weights for ${rows} priors`);
  const { softTarget, teacherReg, regWeight } = E.noGrad(() => {
    const tCls = flattenLevels(x.teacherCls.map((t) => E.detach(t)));
    const valid = E.tensor(x.labelWeights, [rows]);
    return {
      softTarget: E.sigmoid(tCls),
      teacherReg: E.reshape(flattenLevels(x.teacherReg.map((t) => E.detach(t))), [rows * 4, bins]),
      // w_r: the teacher's confidence, zero where the prior takes no part
      regWeight: E.mul(E.max(E.sigmoid(tCls), 1), valid),
    };
  });
  const valid = E.tensor(x.labelWeights, [rows]);
  const kdCls = E.kdQualityFocalLoss(cls, softTarget, { beta: 1, weight: valid, reduction: 'mean', avgFactor: x.avgFactor });
  const sideWeight = E.reshape(E.expand(E.reshape(regWeight, [rows, 1]), [rows, 4]), [rows * 4]);
  const klSum = E.kdKlDiv(E.reshape(reg, [rows * 4, bins]), teacherReg, { T: w.T, binReduction: 'sum', weight: sideWeight, reduction: 'sum' });
  // the 4 sides averaged, then normalised by the total teacher confidence
  const kdReg = E.div(E.scale(klSum, 0.25), E.maximum(E.sum(regWeight), 1e-6));
  return { kdCls: E.scale(kdCls, w.cls), kdReg: E.scale(kdReg, w.reg) };
}

/** The weights of every head's KD terms; each head reads those it has. */
export interface KdWeights extends GflKdWeights {
  /** ATSS's centerness KD */
  center: number;
}

/** docs/crosskd.md §4's weights (T: GFL's KL temperature; center: ATSS only). */
export const KD_WEIGHTS: Record<HeadType, KdWeights> = {
  gfl: { ...CROSSKD_GFL_WEIGHTS, center: 0 },
  atss: { cls: 1.0, reg: 1.0, T: 1, center: 1.0 },
  retina: { cls: 1.0, reg: 1.0, T: 1, center: 0 },
  fcos: { cls: 0.4, reg: 0.75, T: 1, center: 0 },
};

/** Per-level prediction maps of one head type (cross-head, the student's own, or the teacher's). */
export interface PredictionMaps {
  cls: readonly Tensor[];
  reg: readonly Tensor[];
  centerness?: readonly Tensor[];
}

export interface HeadKdContext {
  /** the batch's targets in the head's priors: label weights, positives, normalisers */
  targets: DenseTargets;
  /** the head's priors, for decoding boxes (every head but GFL) */
  priors?: PriorTensors;
}

/**
 * The KD terms of docs/crosskd.md §4 for `head` (the teacher's head: the predictions are in its
 * priors and coding): `pred` is trained toward the teacher's own predictions `teacher`.
 */
export function headKdLosses(head: DenseHead, pred: PredictionMaps, teacher: PredictionMaps, ctx: HeadKdContext, w: KdWeights): Record<string, Tensor> {
  if (head.type === 'gfl')
    return gflKdLosses(
      {
        cls: pred.cls,
        reg: pred.reg,
        teacherCls: teacher.cls,
        teacherReg: teacher.reg,
        labelWeights: ctx.targets.labelWeights,
        avgFactor: ctx.targets.avgFactor,
        regMax: (head as GFLHead).cfg.regMax,
      },
      w,
    );
  if (!ctx.priors) throw new Error(`headKdLosses: head type '${head.type}' decodes boxes and needs the priors`);
  return boxKdLosses(head, pred, teacher, ctx.targets, ctx.priors, w);
}

/**
 * KD of the box-regressing heads (ATSS, RetinaNet, FCOS), as the CrossKD reference's
 * pred_imitation losses: KD-QFL on the classes; GIoU (FCOS: IoU-log) between the boxes
 * decoded from the prediction and from the teacher at every prior, weighted by the
 * teacher's confidence w_r; ATSS also BCE(centerness, σ(teacher centerness)) at positives.
 * RetinaNet and ATSS leave out the priors with label weight 0 (padding, ignored anchors)
 * and divide by N_pos; FCOS takes every point and divides by Σ centerness targets.
 */
export function boxKdLosses(
  head: DenseHead,
  pred: PredictionMaps,
  teacher: PredictionMaps,
  t: DenseTargets,
  priors: PriorTensors,
  w: KdWeights,
): Record<string, Tensor> {
  return boxKdFromRows(
    head,
    {
      cls: head.flattenPerPrior(pred.cls),
      boxes: head.decodeBoxes(pred.reg, priors),
      centerness: pred.centerness && E.reshape(head.flattenPerPrior(pred.centerness), [-1]),
    },
    teacher,
    t,
    priors,
    w,
  );
}

/** A prediction as rows of the teacher head's priors: class logits [rows, C], boxes in pixels [rows, 4], centerness logits [rows]. */
export interface PredictionRows {
  cls: Tensor;
  boxes: Tensor;
  centerness?: Tensor;
}

/** boxKdLosses on a prediction already flattened and decoded in `head`'s priors. */
export function boxKdFromRows(
  head: DenseHead,
  pred: PredictionRows,
  teacher: PredictionMaps,
  t: DenseTargets,
  priors: PriorTensors,
  w: KdWeights,
): Record<string, Tensor> {
  const cls = pred.cls;
  const rows = cls.shape[0];
  if (t.labelWeights.length !== rows) throw new Error(`boxKdLosses: ${t.labelWeights.length} label weights for ${rows} priors`);
  const fcos = head.type === 'fcos';
  const norm = fcos ? centernessDenominator(t) : t.avgFactor;
  const { softTarget, teacherBoxes, regWeight, valid } = E.noGrad(() => {
    const tCls = head.flattenPerPrior(teacher.cls.map((x) => E.detach(x)));
    const confidence = E.max(E.sigmoid(tCls), 1);
    const valid = fcos ? null : E.tensor(t.labelWeights, [rows]);
    return {
      softTarget: E.sigmoid(tCls),
      teacherBoxes: head.decodeBoxes(
        teacher.reg.map((x) => E.detach(x)),
        priors,
      ),
      // w_r: the teacher's confidence, zero where the prior takes no part (not for FCOS)
      regWeight: valid ? E.mul(confidence, valid) : confidence,
      valid,
    };
  });
  const kdCls = E.kdQualityFocalLoss(cls, softTarget, { beta: 1, weight: valid, reduction: 'mean', avgFactor: norm });
  const boxLoss = fcos ? E.iouLoss : E.giouLoss;
  const kdReg = boxLoss(pred.boxes, teacherBoxes, { weight: regWeight, reduction: 'mean', avgFactor: norm });
  const terms: Record<string, Tensor> = { kdCls: E.scale(kdCls, w.cls), kdReg: E.scale(kdReg, w.reg) };
  if (head.type === 'atss') {
    if (!pred.centerness || !teacher.centerness) throw new Error('boxKdLosses: ATSS predictions without centerness maps');
    if (t.numPos > 0) {
      const posIndex = E.tensor(t.posIndex, [t.numPos], 'int32');
      const target = E.noGrad(() => E.sigmoid(E.indexSelect(E.reshape(head.flattenPerPrior(teacher.centerness!.map((x) => E.detach(x))), [-1]), 0, posIndex)));
      terms.kdCenter = E.scale(bceWithLogits(E.indexSelect(pred.centerness, 0, posIndex), target, { reduction: 'mean', avgFactor: t.avgFactor }), w.center);
    } else terms.kdCenter = E.zeros([]);
  }
  return terms;
}

/**
 * Rows per location [R, K] (or [R]) → rows per prior [R·A, K]: each row repeated for the A
 * priors of its location, anchor fastest (the order of the heads' flattening).
 */
export function repeatPerPrior(x: Tensor, priorsPerLocation: number): Tensor {
  const A = priorsPerLocation;
  if (x.rank !== 1 && x.rank !== 2) throw new Error(`repeatPerPrior: expected rows [R] or [R, K], got [${x.shape}]`);
  if (A === 1) return x;
  const [R, K] = x.rank === 1 ? [x.shape[0], 1] : x.shape;
  return E.reshape(E.expand(E.reshape(x, [R, 1, K]), [R, A, K]), x.rank === 1 ? [R * A] : [R * A, K]);
}

/**
 * Prediction mimicking across head types (e.g. a RetinaNet teacher for a GFL student): the
 * teacher head's KD (boxKdFromRows: its priors, label weights and normaliser, as CrossKD's
 * cross-head predictions get) applied to the student's own predictions, each location's
 * class logits and decoded box standing for every one of the teacher's priors there.
 * Needs a student with one prior per location on the same grid, and a box-regressing
 * teacher (GFL's KD compares distributions, which other heads do not have; ATSS's
 * centerness KD needs a student centerness).
 */
export function crossTypeMimicLosses(
  student: { head: DenseHead; outputs: PredictionMaps; priors: PriorTensors },
  teacher: { head: DenseHead; outputs: PredictionMaps; priors: PriorTensors },
  t: DenseTargets,
  w: KdWeights,
): Record<string, Tensor> {
  const A = teacher.head.priorsPerLocation;
  const perPrior = (x: Tensor) => repeatPerPrior(x, A);
  const cls = perPrior(student.head.flattenPerPrior(student.outputs.cls));
  const boxes = perPrior(student.head.decodeBoxes(student.outputs.reg, student.priors));
  const centerness = student.outputs.centerness && perPrior(E.reshape(student.head.flattenPerPrior(student.outputs.centerness), [-1]));
  return boxKdFromRows(teacher.head, { cls, boxes, centerness }, teacher.outputs, t, teacher.priors, w);
}

/** PKD: Σ over levels of MSE(norm(student), norm(teacher)) / 2, times weight. */
export function pkdLoss(student: readonly Tensor[], teacher: readonly Tensor[], weight = 1): Tensor {
  if (student.length !== teacher.length) throw new Error(`pkdLoss: ${student.length} student levels, ${teacher.length} teacher levels`);
  let total: Tensor | null = null;
  student.forEach((s, l) => {
    const t = E.noGrad(() => normalizeChannels(E.detach(teacher[l]), 'pkdLoss (teacher)'));
    if (s.shape.join() !== t.shape.join()) throw new Error(`pkdLoss: level ${l} student [${s.shape}] vs teacher [${t.shape}]`);
    const d = E.sub(normalizeChannels(s, 'pkdLoss (student)'), t);
    const term = E.scale(E.mean(E.mul(d, d)), 0.5);
    total = total ? E.add(total, term) : term;
  });
  return E.scale(total!, weight);
}
