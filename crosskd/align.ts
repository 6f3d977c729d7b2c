/**
 * Per-channel statistics over N·H·W, as the CrossKD reference (align_scale) and PKD's
 * normalisation compute them: mean and unbiased std (divide by n − 1), + 1e-6 on the std.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/tensor.ts';

const AXES = [0, 2, 3];

export interface ChannelStats {
  /** [1, C, 1, 1] */
  mean: Tensor;
  /** [1, C, 1, 1], unbiased */
  std: Tensor;
}

export function channelStats(x: Tensor, who = 'channelStats'): ChannelStats {
  if (x.rank !== 4) throw new Error(`${who}: expected [N,C,H,W], got [${x.shape}]`);
  const [n, , h, w] = x.shape;
  const count = n * h * w;
  if (count < 2) throw new Error(`${who}: the unbiased std needs at least 2 values per channel, got N·H·W = ${count}`);
  const mean = E.mean(x, AXES, true);
  const d = E.sub(x, mean);
  const variance = E.scale(E.sum(E.mul(d, d), AXES, true), 1 / (count - 1));
  // A constant channel (a ReLU channel dead over the whole batch: likely on a 1×1 level,
  // and in RetinaNet's norm-free towers) has variance 0, where sqrt has no derivative and
  // the chain rule gives 0·∞ = NaN. torch's std backward masks std = 0 to a zero gradient;
  // so do we: sqrt only where the variance is positive, 0 elsewhere.
  const positive = E.noGrad(() => E.greater(variance, 0));
  const std = E.where(positive, E.sqrt(E.where(positive, variance, 1)), 0);
  return { mean, std };
}

/** (x − mean) / (std + 1e-6) per channel: zero mean, unit (unbiased) std. */
export function normalizeChannels(x: Tensor, who = 'normalizeChannels'): Tensor {
  const { mean, std } = channelStats(x, who);
  return E.div(E.sub(x, mean), E.add(std, 1e-6));
}

/**
 * The student's feature with the teacher's per-channel statistics: the student is
 * normalised (gradients flow through its own mean and std), then scaled and shifted by
 * the teacher's, which are constants.
 */
export function alignToTeacher(student: Tensor, teacher: Tensor): Tensor {
  if (student.shape.join() !== teacher.shape.join())
    throw new Error(
      `alignToTeacher: student feature [${student.shape}] and teacher feature [${teacher.shape}] differ (heads of different widths need distill.adapter: true)`,
    );
  const t = E.noGrad(() => channelStats(E.detach(teacher), 'alignToTeacher (teacher)'));
  return E.add(E.mul(normalizeChannels(student, 'alignToTeacher (student)'), t.std), t.mean);
}
