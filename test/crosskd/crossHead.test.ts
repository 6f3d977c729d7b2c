/**
 * Gradient routing of the CrossKD path (issue 5): with the CrossKD loss alone,
 * - teacher parameters get no gradient and no weight-gradient kernel runs;
 * - the student's head blocks after the tap (and its predictors) get no gradient;
 * - the student's input feature and its blocks before the tap get the gradient of a
 *   float64 reference of the whole cross-head path, differentiated by central finite
 *   differences.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { Rng } from '../../engine/random.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { GFLHead, type GflHeadConfig } from '../../detection/heads/gfl.ts';
import { crossHeadForward, checkCrossHeadCompatible } from '../../crosskd/crossHead.ts';
import { gflKdLosses } from '../../crosskd/losses.ts';
import { fdRelativeError, paramsOf, randomizeHead, referenceLoss } from './crossHeadReference.ts';

beforeAll(async () => {
  await E.init();
});

const cfg: GflHeadConfig = { numClasses: 3, inChannels: 4, featChannels: 4, stackedConvs: 2, gnGroups: 2, regMax: 3, numLevels: 1 };
const TAP = 1;
const N = 2;
const H = 3;
const W = 3;

describe('CrossKD gradient routing', () => {
  it('reaches only the student before the tap, equal to a float64 finite-difference reference', async () => {
    const student = new GFLHead(cfg, new InitSeeds(1));
    const teacher = new GFLHead(cfg, new InitSeeds(2));
    randomizeHead(student, 3);
    randomizeHead(teacher, 4);
    teacher.freeze();
    const rng = new Rng(9);
    const xData = rng.normal(N * cfg.inChannels * H * W);
    const tData = rng.normal(N * cfg.inChannels * H * W, 0.2, 1.3);
    const x = E.requireGrad(E.tensor(xData, [N, cfg.inChannels, H, W]));
    const teacherIn = E.tensor(tData, [N, cfg.inChannels, H, W]);
    const avgFactor = 3;
    const labelWeights = new Float32Array(N * H * W).fill(1);

    const s = student.forward([x], { keepFeats: true });
    const t = E.noGrad(() => teacher.forward([teacherIn], { keepFeats: true }));
    const cross = crossHeadForward(s, t, teacher, TAP);
    const { kdCls, kdReg } = gflKdLosses({ cls: cross.cls, reg: cross.reg, teacherCls: t.cls, teacherReg: t.reg, labelWeights, avgFactor, regMax: cfg.regMax });
    const loss = E.add(kdCls, kdReg);
    await E.runtime().sync();
    const dwBefore = E.runtime().stats.byKernel.get('conv2d_dw') ?? 0;
    E.backward(loss);
    await E.runtime().sync();
    // the student's blocks before the tap do get weight gradients (one conv per tower) ...
    const dwDispatches = (E.runtime().stats.byKernel.get('conv2d_dw') ?? 0) - dwBefore;
    // ... and nothing else: TAP convs in each of the 2 towers, none of the teacher's
    expect(dwDispatches).toBe(2 * TAP);

    for (const [name, p] of teacher.namedParameters()) expect(p.grad, `teacher ${name}`).toBeNull();
    for (const [name, p] of student.namedParameters()) {
      const before = name.startsWith('cls_convs.0.') || name.startsWith('reg_convs.0.');
      if (before) expect(p.grad, `student ${name} (before the tap)`).not.toBeNull();
      else expect(p.grad, `student ${name} (after the tap)`).toBeNull();
    }

    // float64 reference and central differences
    const sp = await paramsOf(student);
    const tp = await paramsOf(teacher);
    const xRef: RefTensor = { shape: [N, cfg.inChannels, H, W], data: Float64Array.from(await x.data()) };
    const tRef: RefTensor = { shape: [N, cfg.inChannels, H, W], data: Float64Array.from(await teacherIn.data()) };
    const f = () => referenceLoss({ studentCfg: cfg, teacherCfg: cfg, tap: TAP, x: xRef, teacherIn: tRef, student: sp, teacher: tp, avgFactor });
    expect(await loss.item()).toBeCloseTo(f(), 4);
    // measured ≤ 1e-5: float32 through six conv/GN layers vs float64 central differences
    expect(await fdRelativeError(f, x.grad!, xRef.data), 'input feature: max|gpu − fd| / max|fd|').toBeLessThan(1e-4);
    for (const name of ['cls_convs.0.conv.weight', 'reg_convs.0.gn.weight', 'cls_convs.0.gn.bias'])
      expect(await fdRelativeError(f, student.stateDict().get(name)!.grad!, sp.get(name)!.data), `${name}: max|gpu − fd| / max|fd|`).toBeLessThan(1e-4);
  });

  it('rejects a tap outside the head and heads of different widths', () => {
    const a = new GFLHead(cfg, new InitSeeds(1));
    const b = new GFLHead({ ...cfg, featChannels: 8, gnGroups: 2 }, new InitSeeds(1));
    expect(() => checkCrossHeadCompatible(a, a, 3)).toThrow(
      /tap index must be an integer in \[0, 2\] \(0 = FPN output, i = after tower block i; the student's towers have 2 blocks, the teacher's 2\), got 3/,
    );
    expect(() => checkCrossHeadCompatible(a, b, 1)).toThrow(/student's feature at tap 1 has 4 channels, the teacher's blocks expect 8/);
    // at tap 0 both read the FPN output (4 channels): compatible
    expect(() => checkCrossHeadCompatible(a, b, 0)).not.toThrow();
  });
});
