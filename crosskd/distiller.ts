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
import { InitSeeds } from '../engine/nn/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { Detector } from '../detection/detector.ts';
import { GFLHead } from '../detection/heads/gfl.ts';
import type { ExtraLossContext } from '../detection/train/step.ts';
import { CrossHeadAdapter, checkCrossHeadCompatible, crossHeadForward } from './crossHead.ts';
import { KD_WEIGHTS, crossTypeMimicLosses, headKdLosses, pkdLoss, type KdWeights, type PredictionMaps } from './losses.ts';

export const METHODS = ['none', 'pred_mimic', 'pkd', 'crosskd', 'crosskd+pkd'] as const;
export type Method = (typeof METHODS)[number];

export interface DistillOptions {
  method: Method;
  /** tap index for crosskd (default: the teacher head's, 3; FCOS 2) */
  tap?: number;
  /** KD weights over docs/crosskd.md §4's defaults for the teacher's head type */
  weights?: Partial<KdWeights> & { pkd?: number };
  /**
   * crosskd between heads of different widths: a trainable 1×1 conv per tower maps the
   * student's tapped feature to the teacher's channels. It is attached to the student
   * (Detector.attachTrainingModule, as `distill.adapter`), so it is optimised and saved with it.
   */
  adapter?: boolean;
}

/**
 * Validates the pairing before training and returns the trainer's `extraLoss` hook.
 * `student` is the detector being trained (for compatibility checks).
 */
export function distillationLoss(
  student: Detector,
  teacher: Detector | null,
  opts: DistillOptions,
): ((ctx: ExtraLossContext) => Record<string, Tensor>) | undefined {
  if (!METHODS.includes(opts.method)) throw new Error(`distill.method must be one of ${METHODS.join(', ')}, got '${opts.method}'`);
  if (opts.method === 'none') return undefined;
  if (!teacher) throw new Error(`distill.method '${opts.method}' needs a teacher checkpoint`);
  if (teacher.parameters().some((p) => p.requiresGrad)) throw new Error('distillation: the teacher must be frozen (loadTeacher does it)');
  const teacherHead = teacher.bboxHead;
  const tap = opts.tap ?? teacherHead.defaultTap;
  const weights = { ...KD_WEIGHTS[teacherHead.type], ...opts.weights };
  const pkdWeight = opts.weights?.pkd ?? 1;
  const crossHead = opts.method === 'crosskd' || opts.method === 'crosskd+pkd';
  if (opts.adapter && !crossHead)
    throw new Error(`distill.adapter bridges the cross-head path of crosskd and crosskd+pkd; method '${opts.method}' has none (remove adapter)`);
  if (crossHead) checkCrossHeadCompatible(student.bboxHead, teacherHead, tap, { adapter: opts.adapter });
  if (opts.method.includes('pkd') && student.neck.cfg.outChannels !== teacher.neck.cfg.outChannels)
    throw new Error(
      `pkd compares FPN maps channel by channel: the student's have ${student.neck.cfg.outChannels} channels, the teacher's ${teacher.neck.cfg.outChannels} (distill.adapter bridges only the cross-head path)`,
    );
  const mimic = opts.method === 'pred_mimic' ? checkMimicCompatible(student, teacher) : null;
  if (student.strides.join() !== teacher.strides.join())
    throw new Error(`distillation: student strides [${student.strides}] differ from the teacher's [${teacher.strides}]`);
  // seeded apart from the student's own init stream
  const adapter = opts.adapter
    ? student.attachTrainingModule(
        'adapter',
        new CrossHeadAdapter(student.bboxHead.tapChannels(tap), teacherHead.tapChannels(tap), new InitSeeds(student.cfg.seed + 0x61646170)),
      )
    : undefined;

  return (ctx) => {
    const t = E.noGrad(() => teacher.forward(ctx.images, { keepFeats: true }));
    const terms: Record<string, Tensor> = {};
    // The KD terms live in the teacher head's priors: label weights, positives and
    // normalisers come from its own assignment of the batch (for a student of the same
    // head and priors that is exactly the student's).
    const [n, , h, w] = ctx.images.shape;
    const kdContext = { targets: teacher.buildTargets(ctx.batch), priors: teacherHead.type === 'gfl' ? undefined : teacher.priorTensors(n, h, w) };
    const kd = (pred: PredictionMaps) => headKdLosses(teacherHead, pred, t, kdContext, weights);
    if (mimic === 'same head') Object.assign(terms, kd(ctx.outputs));
    if (mimic === 'across heads')
      Object.assign(
        terms,
        crossTypeMimicLosses(
          { head: student.bboxHead, outputs: ctx.outputs, priors: student.priorTensors(n, h, w) },
          { head: teacherHead, outputs: t, priors: kdContext.priors! },
          kdContext.targets,
          weights,
        ),
      );
    if (opts.method === 'crosskd' || opts.method === 'crosskd+pkd') Object.assign(terms, kd(crossHeadForward(ctx.outputs, t, teacherHead, tap, adapter)));
    if (opts.method === 'pkd' || opts.method === 'crosskd+pkd') terms.pkd = pkdLoss(ctx.outputs.fpn, t.fpn, pkdWeight);
    return terms;
  };
}

/**
 * Prediction mimicking compares the student's own predictions with the teacher's prior by
 * prior: the same head type, classes, priors (and GFL's bins) — or, across head types, a
 * student with one prior per location whose predictions stand for each of the teacher's
 * priors there (crossTypeMimicLosses), for a box-regressing teacher.
 */
function checkMimicCompatible(student: Detector, teacher: Detector): 'same head' | 'across heads' {
  const [s, t] = [student.bboxHead, teacher.bboxHead];
  if (s.numClasses !== t.numClasses) throw new Error(`pred_mimic: student has ${s.numClasses} classes, teacher ${t.numClasses}`);
  if (s.type !== t.type) {
    if (t.type === 'gfl')
      throw new Error(
        `pred_mimic: a GFL teacher's KD compares box distributions, which the student's '${s.type}' head does not predict; mimicking it needs a GFL student (crosskd reads any teacher head)`,
      );
    // ATSS and FCOS predict centerness
    if (t.type === 'atss' && s.type !== 'atss' && s.type !== 'fcos')
      throw new Error(
        `pred_mimic: an ATSS teacher's KD includes centerness, which the student's '${s.type}' head does not predict (crosskd reads any teacher head)`,
      );
    if (s.priorsPerLocation !== 1)
      throw new Error(
        `pred_mimic across head types maps each student location onto the teacher's priors there; the student's '${s.type}' head has ${s.priorsPerLocation} priors per location`,
      );
    return 'across heads';
  }
  if (s instanceof GFLHead && t instanceof GFLHead && s.cfg.regMax !== t.cfg.regMax)
    throw new Error(`pred_mimic: student reg_max ${s.cfg.regMax}, teacher ${t.cfg.regMax}`);
  const side = Math.max(student.sizeDivisor, teacher.sizeDivisor);
  const [sp, tp] = [student.priors(side, side).priors, teacher.priors(side, side).priors];
  if (sp.length !== tp.length || sp.some((v, i) => v !== tp[i]))
    throw new Error('pred_mimic: the student and the teacher have different priors (anchor scales); mimicking compares them prior by prior');
  return 'same head';
}
