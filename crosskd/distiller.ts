/**
 * Distillation methods as extra loss terms for the trainer:
 * - none: the plain student;
 * - pred_mimic: the KD losses between the student's own predictions and the teacher's (LD-style);
 * - pkd: feature imitation on the FPN outputs;
 * - crosskd: the KD losses on the cross-head predictions (student features → teacher head);
 * - crosskd+pkd.
 * The teacher runs without the tape, frozen and in eval mode; it is never in the
 * optimizer nor in the student's checkpoints. No Node imports here: the web page
 * distils in the browser with the same code (loading a teacher from a file is in train.ts).
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { Detector } from '../detection/detector.ts';
import { GFLHead } from '../detection/heads/gfl.ts';
import type { ExtraLossContext } from '../detection/train/step.ts';
import { checkCrossHeadCompatible, crossHeadForward } from './crossHead.ts';
import { KD_WEIGHTS, headKdLosses, pkdLoss, type KdWeights, type PredictionMaps } from './losses.ts';

export const METHODS = ['none', 'pred_mimic', 'pkd', 'crosskd', 'crosskd+pkd'] as const;
export type Method = (typeof METHODS)[number];

export interface DistillOptions {
  method: Method;
  /** tap index for crosskd (default: the teacher head's, 3; FCOS 2) */
  tap?: number;
  /** KD weights over CROSSKD.md §4's defaults for the teacher's head type */
  weights?: Partial<KdWeights> & { pkd?: number };
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
  const teacherHead = teacher.bboxHead;
  const tap = opts.tap ?? teacherHead.defaultTap;
  const weights = { ...KD_WEIGHTS[teacherHead.type], ...opts.weights };
  const pkdWeight = opts.weights?.pkd ?? 1;
  if (opts.method.startsWith('crosskd')) checkCrossHeadCompatible(student.bboxHead, teacherHead, tap);
  if (opts.method === 'pred_mimic') checkMimicCompatible(student, teacher);
  if (student.strides.join() !== teacher.strides.join())
    throw new Error(`distillation: student strides [${student.strides}] differ from the teacher's [${teacher.strides}]`);

  return (ctx) => {
    const t = E.noGrad(() => teacher.forward(ctx.images, { keepFeats: true }));
    const terms: Record<string, Tensor> = {};
    // The KD terms live in the teacher head's priors: label weights, positives and
    // normalisers come from its own assignment of the batch (for a student of the same
    // head and priors that is exactly the student's).
    const [n, , h, w] = ctx.images.shape;
    const kdContext = { targets: teacher.buildTargets(ctx.batch), priors: teacherHead.type === 'gfl' ? undefined : teacher.priorTensors(n, h, w) };
    const kd = (pred: PredictionMaps) => headKdLosses(teacherHead, pred, t, kdContext, weights);
    if (opts.method === 'pred_mimic') Object.assign(terms, kd(ctx.outputs));
    if (opts.method === 'crosskd' || opts.method === 'crosskd+pkd') Object.assign(terms, kd(crossHeadForward(ctx.outputs, t, teacherHead, tap)));
    if (opts.method === 'pkd' || opts.method === 'crosskd+pkd') terms.pkd = pkdLoss(ctx.outputs.fpn, t.fpn, pkdWeight);
    return terms;
  };
}

/**
 * Prediction mimicking compares the student's own predictions with the teacher's prior by
 * prior: same head type, classes, priors (and GFL's bins).
 */
function checkMimicCompatible(student: Detector, teacher: Detector): void {
  const [s, t] = [student.bboxHead, teacher.bboxHead];
  if (s.type !== t.type)
    throw new Error(`pred_mimic: the student's head is '${s.type}', the teacher's '${t.type}'; mimicking needs the same head type (crosskd reads any teacher head)`);
  if (s.numClasses !== t.numClasses) throw new Error(`pred_mimic: student has ${s.numClasses} classes, teacher ${t.numClasses}`);
  if (s instanceof GFLHead && t instanceof GFLHead && s.cfg.regMax !== t.cfg.regMax)
    throw new Error(`pred_mimic: student reg_max ${s.cfg.regMax}, teacher ${t.cfg.regMax}`);
  const side = Math.max(student.sizeDivisor, teacher.sizeDivisor);
  const [sp, tp] = [student.priors(side, side).priors, teacher.priors(side, side).priors];
  if (sp.length !== tp.length || sp.some((v, i) => v !== tp[i]))
    throw new Error('pred_mimic: the student and the teacher have different priors (anchor scales); mimicking compares them prior by prior');
}
