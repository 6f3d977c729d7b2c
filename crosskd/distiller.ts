/**
 * Distillation methods as extra loss terms for the trainer:
 * - none: the plain student;
 * - pred_mimic: the KD losses between the student's own predictions and the teacher's (LD-style);
 * - pkd: feature imitation on the FPN outputs;
 * - crosskd: the KD losses on the cross-head predictions (student features → teacher head);
 * - crosskd+pkd.
 * The teacher runs without the tape, frozen and in eval mode; it is never in the
 * optimizer nor in the student's checkpoints.
 */
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { loadWeights, readSidecar } from '../engine/io/checkpoint.ts';
import { Detector } from '../detection/detector.ts';
import { detectorConfig, type ExtraLossContext } from '../detection/train/trainer.ts';
import type { TrainConfig } from '../detection/train/config.ts';
import { checkCrossHeadCompatible, crossHeadForward } from './crossHead.ts';
import { CROSSKD_GFL_WEIGHTS, gflKdLosses, pkdLoss, type GflKdWeights } from './losses.ts';

export const METHODS = ['none', 'pred_mimic', 'pkd', 'crosskd', 'crosskd+pkd'] as const;
export type Method = (typeof METHODS)[number];

export interface DistillOptions {
  method: Method;
  /** tap index for crosskd (default 3) */
  tap?: number;
  weights?: Partial<GflKdWeights> & { pkd?: number };
}

/** Loads a frozen teacher from a checkpoint sidecar (config and weights must agree). */
export function loadTeacher(sidecarFile: string): Detector {
  const sidecar = readSidecar<TrainConfig, unknown>(sidecarFile);
  const teacher = new Detector(detectorConfig(sidecar.config));
  try {
    loadWeights(teacher, path.join(path.dirname(sidecarFile), sidecar.weights));
  } catch (e) {
    teacher.dispose();
    throw new Error(`teacher checkpoint does not match its config: ${(e as Error).message}`);
  }
  return teacher.freeze().eval();
}

/**
 * Validates the pairing before training and returns the trainer's `extraLoss` hook.
 * `student` is the detector being trained (for compatibility checks).
 */
export function distillationLoss(student: Detector, teacher: Detector | null, opts: DistillOptions): ((ctx: ExtraLossContext) => Record<string, Tensor>) | undefined {
  if (!METHODS.includes(opts.method)) throw new Error(`distill.method must be one of ${METHODS.join(', ')}, got '${opts.method}'`);
  if (opts.method === 'none') return undefined;
  if (!teacher) throw new Error(`distill.method '${opts.method}' needs a teacher checkpoint`);
  if (teacher.parameters().some((p) => p.requiresGrad)) throw new Error('distillation: the teacher must be frozen (loadTeacher does it)');
  const tap = opts.tap ?? 3;
  const weights = { ...CROSSKD_GFL_WEIGHTS, ...opts.weights };
  const pkdWeight = opts.weights?.pkd ?? 1;
  if (opts.method.startsWith('crosskd')) checkCrossHeadCompatible(student.bboxHead, teacher.bboxHead, tap);
  if (student.strides.join() !== teacher.strides.join())
    throw new Error(`distillation: student strides [${student.strides}] differ from the teacher's [${teacher.strides}]`);
  const regMax = student.bboxHead.cfg.regMax;

  return (ctx) => {
    const t = E.noGrad(() => teacher.forward(ctx.images, { keepFeats: true }));
    const terms: Record<string, Tensor> = {};
    const kd = (cls: Tensor[], reg: Tensor[]) =>
      gflKdLosses(
        { cls, reg, teacherCls: t.cls, teacherReg: t.reg, labelWeights: ctx.targets.labelWeights, avgFactor: ctx.targets.avgFactor, regMax },
        weights,
      );
    if (opts.method === 'pred_mimic') Object.assign(terms, kd(ctx.outputs.cls, ctx.outputs.reg));
    if (opts.method === 'crosskd' || opts.method === 'crosskd+pkd') {
      const cross = crossHeadForward(ctx.outputs, t, teacher.bboxHead, tap);
      Object.assign(terms, kd(cross.cls, cross.reg));
    }
    if (opts.method === 'pkd' || opts.method === 'crosskd+pkd') terms.pkd = pkdLoss(ctx.outputs.fpn, t.fpn, pkdWeight);
    return terms;
  };
}
