/**
 * The 1×1 adapter between heads of different widths (crosskd/crossHead.ts): without it a
 * width mismatch is an error naming both widths; with it the gradient of the CrossKD loss
 * reaches the adapter's weights and, through them, the student — equal to central
 * differences of a float64 reference of the whole path.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { Rng } from '../../engine/random.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { GFLHead, type GflHeadConfig } from '../../detection/heads/gfl.ts';
import { CrossHeadAdapter, checkCrossHeadCompatible, crossHeadForward } from '../../crosskd/crossHead.ts';
import { gflKdLosses } from '../../crosskd/losses.ts';
import { fdRelativeError, paramsOf, randomizeHead, referenceLoss } from './crossHeadReference.ts';

beforeAll(async () => {
  await E.init();
});

// the student's towers are 2 channels wide, the teacher's 4; both read a 4-channel FPN map
const studentCfg: GflHeadConfig = { numClasses: 3, inChannels: 4, featChannels: 2, stackedConvs: 2, gnGroups: 1, regMax: 3, numLevels: 1 };
const teacherCfg: GflHeadConfig = { ...studentCfg, featChannels: 4, gnGroups: 2 };
const TAP = 1;
const [N, H, W] = [2, 3, 3];

describe('CrossKD adapter', () => {
  it('heads of different widths are an error naming both widths unless an adapter is asked for', () => {
    const student = new GFLHead(studentCfg, new InitSeeds(1));
    const teacher = new GFLHead(teacherCfg, new InitSeeds(2));
    expect(() => checkCrossHeadCompatible(student, teacher, TAP)).toThrow(
      /student's feature at tap 1 has 2 channels, the teacher's blocks expect 4; use heads of the same width, or set distill.adapter: true \(a trainable 1×1 conv from 2 to 4 channels\)/,
    );
    expect(() => checkCrossHeadCompatible(student, teacher, TAP, { adapter: true })).not.toThrow();
    const x = E.tensor(new Rng(1).normal(N * 4 * H * W), [N, 4, H, W]);
    const s = student.forward([x], { keepFeats: true });
    const t = E.noGrad(() => teacher.forward([x], { keepFeats: true }));
    expect(() => crossHeadForward(s, t, teacher, TAP)).toThrow(
      /student feature \[2,2,3,3\] and teacher feature \[2,4,3,3\] differ \(heads of different widths need distill.adapter: true\)/,
    );
    expect(() => crossHeadForward(s, t, teacher, TAP, new CrossHeadAdapter(4, 4, new InitSeeds(3)))).toThrow(
      /the adapter maps 4 → 4 channels, the features at tap 1 have 2 \(student\) and 4 \(teacher\)/,
    );
  });

  it('gets the gradient of the CrossKD loss, equal to a float64 finite-difference reference', async () => {
    const student = new GFLHead(studentCfg, new InitSeeds(1));
    const teacher = new GFLHead(teacherCfg, new InitSeeds(2));
    randomizeHead(student, 3);
    randomizeHead(teacher, 4);
    teacher.freeze();
    const adapter = new CrossHeadAdapter(2, 4, new InitSeeds(5));
    const rng = new Rng(9);
    const x = E.requireGrad(E.tensor(rng.normal(N * 4 * H * W), [N, 4, H, W]));
    const teacherIn = E.tensor(rng.normal(N * 4 * H * W, 0.2, 1.3), [N, 4, H, W]);
    const avgFactor = 3;

    const s = student.forward([x], { keepFeats: true });
    const t = E.noGrad(() => teacher.forward([teacherIn], { keepFeats: true }));
    const cross = crossHeadForward(s, t, teacher, TAP, adapter);
    const labelWeights = new Float32Array(N * H * W).fill(1);
    const { kdCls, kdReg } = gflKdLosses({
      cls: cross.cls,
      reg: cross.reg,
      teacherCls: t.cls,
      teacherReg: t.reg,
      labelWeights,
      avgFactor,
      regMax: studentCfg.regMax,
    });
    const loss = E.add(kdCls, kdReg);
    E.backward(loss);

    for (const [name, p] of teacher.namedParameters()) expect(p.grad, `teacher ${name}`).toBeNull();
    for (const name of ['cls.weight', 'reg.weight']) {
      const g = await adapter.stateDict().get(name)!.grad!.data();
      expect(
        g.some((v) => v !== 0),
        `adapter ${name} gets a nonzero gradient`,
      ).toBe(true);
    }

    const sp = await paramsOf(student);
    const tp = await paramsOf(teacher);
    const ap = await paramsOf(adapter);
    const xRef: RefTensor = { shape: [N, 4, H, W], data: Float64Array.from(await x.data()) };
    const tRef: RefTensor = { shape: [N, 4, H, W], data: Float64Array.from(await teacherIn.data()) };
    const f = () =>
      referenceLoss({
        studentCfg,
        teacherCfg,
        tap: TAP,
        x: xRef,
        teacherIn: tRef,
        student: sp,
        teacher: tp,
        adapter: { cls: ap.get('cls.weight')!, reg: ap.get('reg.weight')! },
        avgFactor,
      });
    expect(await loss.item()).toBeCloseTo(f(), 4);
    for (const name of ['cls.weight', 'reg.weight'])
      expect(await fdRelativeError(f, adapter.stateDict().get(name)!.grad!, ap.get(name)!.data), `adapter ${name}`).toBeLessThan(1e-4);
    expect(await fdRelativeError(f, x.grad!, xRef.data), 'input feature').toBeLessThan(1e-4);
    expect(
      await fdRelativeError(f, student.stateDict().get('reg_convs.0.conv.weight')!.grad!, sp.get('reg_convs.0.conv.weight')!.data),
      'student reg_convs.0',
    ).toBeLessThan(1e-4);
  });
});
