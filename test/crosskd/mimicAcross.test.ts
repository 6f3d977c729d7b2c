/**
 * Prediction mimicking across head types (crosskd/losses.ts crossTypeMimicLosses): the
 * teacher head's KD applied to the student's own predictions, each location's logits and
 * box standing for every teacher prior there. Checked against a float64 computation of
 * docs/crosskd.md §3–§4's formulas for a RetinaNet teacher (9 anchors) and a GFL student, and
 * against the same-head KD when the heads agree.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { DetectionLoader, type DetectionBatch } from '../../detection/data/loader.ts';
import { Detector } from '../../detection/detector.ts';
import { parseConfig, presetConfig, type TrainConfig } from '../../detection/train/config.ts';
import { prepareDatasets } from '../../detection/train/data.ts';
import { detectorConfig } from '../../detection/train/trainer.ts';
import { distillationLoss } from '../../crosskd/distiller.ts';
import { KD_WEIGHTS, crossTypeMimicLosses, headKdLosses, repeatPerPrior } from '../../crosskd/losses.ts';

let base: TrainConfig;
let batch: DetectionBatch;
const withHead = (head: Record<string, unknown>, anchors?: { octaveBaseScale: number }, seed = 0) =>
  parseConfig({ ...base, seed, model: { ...base.model, head: { ...head, featChannels: 32, stackedConvs: 2 }, anchors } });
const RETINA = { type: 'retina' };
const ATSS = { type: 'atss', gnGroups: 8 };

beforeAll(async () => {
  await E.init();
  base = {
    ...presetConfig('tiny'),
    data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
  };
  const { val, padSize } = prepareDatasets(base, 64);
  batch = new DetectionLoader(val, { batchSize: 2, shuffle: false, flipProb: 0, padSize }).next();
});

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
/** KD-QFL element (β 1): BCE(x, t)·|σ(x) − t| */
const kdQfl = (x: number, t: number) => (Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)))) * Math.abs(sigmoid(x) - t);
/** 1 − GIoU, eps 1e-6 */
function giouLoss(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const overlap = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = Math.max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap, 1e-6);
  const enclose = Math.max((Math.max(a[2], b[2]) - Math.min(a[0], b[0])) * (Math.max(a[3], b[3]) - Math.min(a[1], b[1])), 1e-6);
  return 1 - (overlap / union - (enclose - union) / enclose);
}

describe('prediction mimicking across head types', () => {
  it('repeats each location row for the priors there, anchor fastest', async () => {
    const x = E.tensor([1, 2, 3, 4], [2, 2]);
    expect(Array.from(await repeatPerPrior(x, 3).data())).toEqual([1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
    expect(Array.from(await repeatPerPrior(E.tensor([5, 6], [2]), 2).data())).toEqual([5, 5, 6, 6]);
    expect(() => repeatPerPrior(E.tensor([1], [1, 1, 1]), 2)).toThrow(/expected rows \[R\] or \[R, K\], got \[1,1,1\]/);
  });

  it('RetinaNet teacher, GFL student: KD-QFL and confidence-weighted GIoU over the nine anchors, as float64', async () => {
    const student = new Detector(detectorConfig(base));
    const teacher = new Detector(detectorConfig(withHead(RETINA, { octaveBaseScale: 2 }, 5))).freeze();
    const [n, , h, w] = batch.shape;
    const images = E.tensor(batch.images, batch.shape);
    const s = student.forward(images);
    const t = E.noGrad(() => teacher.forward(images));
    const targets = teacher.buildTargets(batch);
    const studentPriors = student.priorTensors(n, h, w);
    const teacherPriors = teacher.priorTensors(n, h, w);
    const terms = crossTypeMimicLosses(
      { head: student.bboxHead, outputs: s, priors: studentPriors },
      { head: teacher.bboxHead, outputs: t, priors: teacherPriors },
      targets,
      KD_WEIGHTS.retina,
    );

    const C = 8;
    const A = 9;
    const sCls = await student.bboxHead.flattenPerPrior(s.cls).data();
    const sBoxes = await student.bboxHead.decodeBoxes(s.reg, studentPriors).data();
    const tCls = await teacher.bboxHead.flattenPerPrior(t.cls).data();
    const tBoxes = await teacher.bboxHead.decodeBoxes(t.reg, teacherPriors).data();
    const R = sCls.length / C;
    expect(tCls.length).toBe(R * A * C);
    let cls = 0;
    let reg = 0;
    for (let row = 0; row < R * A; row++) {
      const lw = targets.labelWeights[row];
      const loc = Math.floor(row / A); // the student location of this teacher anchor
      let confidence = 0;
      for (let c = 0; c < C; c++) {
        const target = sigmoid(tCls[row * C + c]);
        cls += lw * kdQfl(sCls[loc * C + c], target);
        confidence = Math.max(confidence, target);
      }
      reg += lw * confidence * giouLoss(sBoxes.subarray(4 * loc, 4 * loc + 4), tBoxes.subarray(4 * row, 4 * row + 4));
    }
    const norm = targets.avgFactor + 1.1920929e-7;
    expect(await terms.kdCls.item()).toBeCloseTo(cls / norm, 4);
    expect(await terms.kdReg.item()).toBeCloseTo(reg / norm, 4);

    // the gradient reaches the student's own predictors
    E.backward(E.add(terms.kdCls, terms.kdReg));
    for (const name of ['bbox_head.gfl_cls.weight', 'bbox_head.gfl_reg.weight']) expect(student.stateDict().get(name)!.grad, name).not.toBeNull();
    for (const [name, p] of teacher.namedParameters()) expect(p.grad, `teacher ${name}`).toBeNull();
    student.dispose();
    teacher.dispose();
  });

  it('equals the same-head KD when student and teacher heads agree (one prior per location)', async () => {
    const student = new Detector(detectorConfig(withHead(ATSS, { octaveBaseScale: 4 })));
    const teacher = new Detector(detectorConfig(withHead(ATSS, { octaveBaseScale: 4 }, 5))).freeze();
    const [n, , h, w] = batch.shape;
    const images = E.tensor(batch.images, batch.shape);
    const s = student.forward(images);
    const t = E.noGrad(() => teacher.forward(images));
    const targets = teacher.buildTargets(batch);
    const priors = teacher.priorTensors(n, h, w);
    const same = headKdLosses(teacher.bboxHead, s, t, { targets, priors }, KD_WEIGHTS.atss);
    const across = crossTypeMimicLosses(
      { head: student.bboxHead, outputs: s, priors: student.priorTensors(n, h, w) },
      { head: teacher.bboxHead, outputs: t, priors },
      targets,
      KD_WEIGHTS.atss,
    );
    expect(Object.keys(across).sort()).toEqual(['kdCenter', 'kdCls', 'kdReg']);
    for (const k of Object.keys(same)) expect(await across[k].item(), k).toBeCloseTo(await same[k].item(), 6);
    student.dispose();
    teacher.dispose();
  });

  it('is refused before training where the teacher KD needs what the student does not predict', () => {
    const gflTeacher = new Detector(detectorConfig(base)).freeze();
    const atssTeacher = new Detector(detectorConfig(withHead(ATSS, { octaveBaseScale: 4 }))).freeze();
    const retinaStudent = new Detector(detectorConfig(withHead(RETINA, { octaveBaseScale: 2 })));
    const gflStudent = new Detector(detectorConfig(base));
    expect(() => distillationLoss(retinaStudent, gflTeacher, { method: 'pred_mimic' })).toThrow(
      /a GFL teacher's KD compares box distributions, which the student's 'retina' head does not predict/,
    );
    expect(() => distillationLoss(gflStudent, atssTeacher, { method: 'pred_mimic' })).toThrow(
      /an ATSS teacher's KD includes centerness, which the student's 'gfl' head does not predict/,
    );
    const retinaTeacher = new Detector(detectorConfig(withHead(RETINA, { octaveBaseScale: 2 }, 5))).freeze();
    const atssStudent = new Detector(detectorConfig(withHead(ATSS, { octaveBaseScale: 4 })));
    expect(distillationLoss(atssStudent, retinaTeacher, { method: 'pred_mimic' })).toBeTypeOf('function');
    expect(() =>
      distillationLoss(retinaStudent, new Detector(detectorConfig(withHead({ type: 'fcos', gnGroups: 8 }))).freeze(), { method: 'pred_mimic' }),
    ).toThrow(/pred_mimic across head types maps each student location onto the teacher's priors there; the student's 'retina' head has 9 priors per location/);
    for (const d of [gflTeacher, atssTeacher, retinaStudent, gflStudent, retinaTeacher, atssStudent]) d.dispose();
  });
});
