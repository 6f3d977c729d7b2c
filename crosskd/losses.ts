/**
 * The KD losses of CROSSKD.md §4 for GFL, and PKD's feature imitation.
 * - cls: KD-QFL (β 1) between predicted logits and σ(teacher logits), over every valid
 *   prior and class, / N_pos.
 * - reg: KL(softmax(teacher) ‖ softmax(pred)) (T 1, summed over the 17 bins) per box side,
 *   weighted per prior by w_r = max_c σ(teacher logit) (0 at invalid priors), the 4 sides
 *   averaged, / Σ w_r.
 * - PKD: MSE between per-channel normalised student and teacher FPN maps, / 2 per level.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { flattenLevels } from '../detection/heads/common.ts';
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
