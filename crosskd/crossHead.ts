/**
 * The cross-head path of docs/crosskd.md §2: per FPN level and per tower, the student's
 * block-i output (the FPN output for i = 0) is aligned to the teacher's statistics,
 * passed through a ReLU when i > 0, and run through the teacher's blocks i+1… and
 * predictors (and the teacher's Scale). The teacher is frozen, so this path launches no
 * weight-gradient kernel; the gradient flows to the student's tapped feature. Any dense
 * head type works: the cross predictions are whatever the teacher's towers predict (class
 * logits, regression, and centerness for ATSS (reg tower) and FCOS (cls tower)).
 */
import * as E from '../engine/index.ts';
import { Module, type InitSeeds, xavierUniformInit } from '../engine/nn/index.ts';
import { Conv2d } from '../engine/nn/layers.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { DenseHead, HeadOutputs, TowerPredictions } from '../detection/heads/dense.ts';
import { alignToTeacher } from './align.ts';

/** Channels of a head's feature at tap i: the FPN output for i = 0, a tower block's output after. */
export function tapChannels(head: DenseHead, tap: number): number {
  return head.tapChannels(tap);
}

/**
 * The optional bridge between heads of different widths (`distill.adapter: true`): a
 * trainable 1×1 conv per tower (no bias: the statistics alignment that follows removes any
 * per-channel offset) mapping the student's tapped feature to the teacher's channel count,
 * shared by all FPN levels as the head's own convs are. It belongs to the student's
 * training: optimised with it and saved in its checkpoints (see crosskd/train.ts).
 */
export class CrossHeadAdapter extends Module {
  readonly cls: Conv2d;
  readonly reg: Conv2d;
  constructor(
    readonly studentChannels: number,
    readonly teacherChannels: number,
    seeds: InitSeeds,
  ) {
    super();
    const conv = () => new Conv2d(studentChannels, teacherChannels, 1, seeds, { bias: false, weightInit: xavierUniformInit() });
    this.cls = this.child('cls', conv());
    this.reg = this.child('reg', conv());
  }
}

export interface CrossHeadOutputs {
  cls: Tensor[];
  reg: Tensor[];
  /** ATSS and FCOS teachers */
  centerness?: Tensor[];
}

/**
 * Checks before any training that a student head can be read by a teacher head at tap.
 * Heads of different widths at the tap need `adapter` (a CrossHeadAdapter bridges them).
 */
export function checkCrossHeadCompatible(student: DenseHead, teacher: DenseHead, tap: number, opts: { adapter?: boolean } = {}): void {
  const s = student.tower;
  const t = teacher.tower;
  const last = Math.min(s.stackedConvs, t.stackedConvs);
  if (!Number.isInteger(tap) || tap < 0 || tap > last)
    throw new Error(
      `crosskd: tap index must be an integer in [0, ${last}] (0 = FPN output, i = after tower block i; ` +
        `the student's towers have ${s.stackedConvs} blocks, the teacher's ${t.stackedConvs}), got ${tap}`,
    );
  const [sw, tw] = [tapChannels(student, tap), tapChannels(teacher, tap)];
  if (sw !== tw && !opts.adapter)
    throw new Error(
      `crosskd: the student's feature at tap ${tap} has ${sw} channels, the teacher's blocks expect ${tw}; ` +
        `use heads of the same width, or set distill.adapter: true (a trainable 1×1 conv from ${sw} to ${tw} channels)`,
    );
  if (student.numClasses !== teacher.numClasses) throw new Error(`crosskd: student has ${student.numClasses} classes, teacher ${teacher.numClasses}`);
  if (s.numLevels !== t.numLevels) throw new Error(`crosskd: student has ${s.numLevels} FPN levels, teacher ${t.numLevels}`);
}

/**
 * `student` and `teacher` must come from forward(…, { keepFeats: true }); the teacher's
 * from a run without the tape (noGrad). With an adapter, each tower's tapped student
 * feature goes through its 1×1 conv first, then the alignment.
 */
export function crossHeadForward(
  student: HeadOutputs,
  teacher: HeadOutputs,
  teacherHead: DenseHead,
  tap: number,
  adapter?: CrossHeadAdapter,
): CrossHeadOutputs {
  if (!student.clsFeats || !student.regFeats || !teacher.clsFeats || !teacher.regFeats)
    throw new Error('crossHeadForward: run both heads with { keepFeats: true }');
  if (!student.clsFeats[0][tap] || !teacher.clsFeats[0][tap])
    throw new Error(
      `crossHeadForward: tap ${tap} is outside the heads (student features 0..${student.clsFeats[0].length - 1}, teacher 0..${teacher.clsFeats[0].length - 1})`,
    );
  const [sw, tw] = [student.clsFeats[0][tap].shape[1], teacher.clsFeats[0][tap].shape[1]];
  if (adapter && (adapter.studentChannels !== sw || adapter.teacherChannels !== tw))
    throw new Error(
      `crossHeadForward: the adapter maps ${adapter.studentChannels} → ${adapter.teacherChannels} channels, the features at tap ${tap} have ${sw} (student) and ${tw} (teacher)`,
    );
  const out: CrossHeadOutputs = { cls: [], reg: [] };
  // the teacher's blocks and predictors (and the adapter) run at every level with the same weights: packed once
  E.sharingConvWeights(() =>
    student.clsFeats!.forEach((sFeats, level) => {
      const enter = (s: Tensor, t: Tensor, conv: Conv2d | undefined) => {
        const aligned = alignToTeacher(conv ? conv.forward(s) : s, t);
        return tap > 0 ? E.relu(aligned) : aligned;
      };
      const predictions: TowerPredictions = {
        ...teacherHead.clsFrom(tap, enter(sFeats[tap], teacher.clsFeats![level][tap], adapter?.cls), level),
        ...teacherHead.regFrom(tap, enter(student.regFeats![level][tap], teacher.regFeats![level][tap], adapter?.reg), level),
      };
      for (const [name, t] of Object.entries(predictions)) (out[name as keyof CrossHeadOutputs] ??= []).push(t);
    }),
  );
  return out;
}
