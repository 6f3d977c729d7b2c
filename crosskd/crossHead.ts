/**
 * The cross-head path of CROSSKD.md §2: per FPN level and per tower, the student's
 * block-i output (the FPN output for i = 0) is aligned to the teacher's statistics,
 * passed through a ReLU when i > 0, and run through the teacher's blocks i+1… and
 * predictors (and the teacher's Scale). The teacher is frozen, so this path launches no
 * weight-gradient kernel; the gradient flows to the student's tapped feature.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { GFLHead, HeadOutputs } from '../detection/heads/gfl.ts';
import { alignToTeacher } from './align.ts';

export interface CrossHeadOutputs {
  cls: Tensor[];
  reg: Tensor[];
}

/** Checks before any training that a student head can be read by a teacher head at tap. */
export function checkCrossHeadCompatible(student: GFLHead, teacher: GFLHead, tap: number): void {
  const s = student.cfg;
  const t = teacher.cfg;
  if (!Number.isInteger(tap) || tap < 0 || tap > Math.min(s.stackedConvs, t.stackedConvs))
    throw new Error(`crosskd: tap index must be an integer in [0, ${Math.min(s.stackedConvs, t.stackedConvs)}] (0 = FPN output), got ${tap}`);
  const width = (cfg: typeof s, i: number) => (i === 0 ? cfg.inChannels : cfg.featChannels);
  if (width(s, tap) !== width(t, tap))
    throw new Error(
      `crosskd: the student's feature at tap ${tap} has ${width(s, tap)} channels, the teacher's blocks expect ${width(t, tap)}; ` +
        `use heads of the same width (an adapter is not configured)`,
    );
  if (s.numClasses !== t.numClasses) throw new Error(`crosskd: student has ${s.numClasses} classes, teacher ${t.numClasses}`);
  if (s.regMax !== t.regMax) throw new Error(`crosskd: student reg_max ${s.regMax}, teacher ${t.regMax}`);
  if (s.numLevels !== t.numLevels) throw new Error(`crosskd: student has ${s.numLevels} FPN levels, teacher ${t.numLevels}`);
}

/**
 * `student` and `teacher` must come from forward(…, { keepFeats: true }); the teacher's
 * from a run without the tape (noGrad).
 */
export function crossHeadForward(student: HeadOutputs, teacher: HeadOutputs, teacherHead: GFLHead, tap: number): CrossHeadOutputs {
  if (!student.clsFeats || !student.regFeats || !teacher.clsFeats || !teacher.regFeats)
    throw new Error('crossHeadForward: run both heads with { keepFeats: true }');
  const out: CrossHeadOutputs = { cls: [], reg: [] };
  student.clsFeats.forEach((sFeats, level) => {
    const enter = (s: Tensor, t: Tensor) => {
      const aligned = alignToTeacher(s, t);
      return tap > 0 ? E.relu(aligned) : aligned;
    };
    out.cls.push(teacherHead.clsFrom(tap, enter(sFeats[tap], teacher.clsFeats![level][tap])));
    out.reg.push(teacherHead.regFrom(tap, enter(student.regFeats![level][tap], teacher.regFeats![level][tap]), level));
  });
  return out;
}
