/**
 * CrossKD for the ATSS, RetinaNet and FCOS heads (docs/crosskd.md §4):
 * - the KD terms (KD-QFL, GIoU / IoU-log of boxes decoded at every prior weighted by the
 *   teacher's confidence, ATSS's centerness BCE at positives) against a float64 reference
 *   of the CrossKD code's pred_imitation losses, values and gradients;
 * - gradient routing through the cross-head path: the teacher gets no gradient and
 *   launches no weight-gradient kernel, the student's blocks after the tap get none, and
 *   the student's input feature gets the gradient of a float64 reference of the whole path
 *   (finite differences).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { Rng } from '../../engine/random.ts';
import type { RefTensor } from '../../engine/reference/types.ts';
import { ATSSHead } from '../../detection/heads/atss.ts';
import { RetinaHead } from '../../detection/heads/retina.ts';
import { FCOSHead } from '../../detection/heads/fcos.ts';
import type { DenseHead, HeadOutputs } from '../../detection/heads/dense.ts';
import type { DenseTargets } from '../../detection/heads/gflTargets.ts';
import { crossHeadForward } from '../../crosskd/crossHead.ts';
import { KD_WEIGHTS, headKdLosses } from '../../crosskd/losses.ts';
import {
  GRID,
  RefTape,
  alignRef,
  fdRelativeError,
  gridPriorRows,
  gridPriorTensors,
  gridTargets,
  paramsOf,
  pointAt,
  randomizeParams,
  refBlock,
  referenceBoxKd,
  referenceHead,
  rowsOf,
  type HeadKind,
  type PredictionRows,
} from '../detection/heads/headReference.ts';

beforeAll(async () => {
  await E.init();
});

const C = 3;
const { N, H, W } = GRID;
const KINDS = ['atss', 'retina', 'fcos'] as const;

/** Targets of the grid: three positives, an ignored prior (not for FCOS, which has none). */
function targetsFor(kind: HeadKind): DenseTargets {
  if (kind === 'fcos')
    return gridTargets(
      C,
      1,
      2,
      [
        { row: 1, prior: pointAt(1), gt: [2, -6, 20, 11], label: 0 },
        { row: 8, prior: pointAt(2), gt: [10, -3, 22, 6], label: 1 },
      ],
      [],
      2,
    );
  const A = kind === 'retina' ? 9 : 1;
  const { rows } = gridPriorRows(kind);
  const prior = (r: number) => Array.from(rows.subarray(4 * r, 4 * r + 4));
  const pos = [1 * A + (A - 1), 4 * A, 8 * A + Math.floor(A / 2)];
  return gridTargets(
    C,
    A,
    4,
    [
      { row: pos[0], prior: prior(pos[0]), gt: [-2, -6, 20, 11], label: 0 },
      { row: pos[1], prior: prior(pos[1]), gt: [1, 3, 15, 14], label: 2 },
      { row: pos[2], prior: prior(pos[2]), gt: [10, -3, 22, 6], label: 1 },
    ],
    [0, 6 * A + 1],
    3,
  );
}

const headConfig = { numClasses: C, inChannels: 4, featChannels: 4, numLevels: 1 };
function makeHead(kind: HeadKind, stackedConvs: number, seed: number): DenseHead {
  const cfg = { ...headConfig, stackedConvs };
  if (kind === 'atss') return new ATSSHead({ ...cfg, gnGroups: 2 }, new InitSeeds(seed));
  if (kind === 'retina') return new RetinaHead(cfg, new InitSeeds(seed));
  return new FCOSHead({ ...cfg, gnGroups: 2 }, new InitSeeds(seed));
}

const toRows = async (maps: readonly E.Tensor[] | undefined, K: number): Promise<Float64Array | undefined> =>
  maps ? rowsOf(await Promise.all(maps.map(async (t) => ({ shape: [...t.shape], data: Float64Array.from(await t.data()) }))), K) : undefined;

describe.each(KINDS)('%s KD terms', (kind) => {
  it("match the CrossKD code's losses in float64, values and gradients", async () => {
    const A = kind === 'retina' ? 9 : 1;
    const rng = new Rng(17);
    const map = (ch: number, values: Float64Array) => E.tensor(Float32Array.from(values), [N, ch, H, W]);
    const regValues = () => (kind === 'fcos' ? rng.normal(N * 4 * H * W, 2.3, 0.4).map(Math.exp) : rng.normal(N * A * 4 * H * W, 0, 0.4));
    const teacher: HeadOutputs = { cls: [map(A * C, rng.normal(N * A * C * H * W, -1, 2))], reg: [map(A * 4, regValues())] };
    const pred: HeadOutputs = { cls: [E.requireGrad(map(A * C, rng.normal(N * A * C * H * W, -1, 2)))], reg: [E.requireGrad(map(A * 4, regValues()))] };
    if (kind !== 'retina') {
      teacher.centerness = [map(1, rng.normal(N * H * W, 0, 1.5))];
      pred.centerness = [E.requireGrad(map(1, rng.normal(N * H * W, 0, 1.5)))];
    }
    const head = makeHead(kind, 1, 1);
    const targets = targetsFor(kind);
    const terms = headKdLosses(head, pred, teacher, { targets, priors: gridPriorTensors(kind) }, KD_WEIGHTS[kind]);
    E.backward(Object.values(terms).reduce((a, b) => E.add(a, b)));

    const rowsOfMaps = async (o: HeadOutputs): Promise<PredictionRows> => ({
      cls: (await toRows(o.cls, C))!,
      reg: (await toRows(o.reg, 4))!,
      centerness: await toRows(o.centerness, 1),
    });
    const teacherRows = await rowsOfMaps(teacher);
    const predRows = await rowsOfMaps(pred);
    const priors = gridPriorRows(kind);
    const ref = referenceBoxKd(kind, predRows, teacherRows, targets, priors, KD_WEIGHTS[kind]);
    expect(Object.keys(terms).sort()).toEqual(kind === 'atss' ? ['kdCenter', 'kdCls', 'kdReg'] : ['kdCls', 'kdReg']);
    for (const [term, value] of Object.entries(ref)) expect(await terms[term].item(), term).toBeCloseTo(value, 5);

    const nchw = {
      cls: Float64Array.from(await pred.cls[0].data()),
      reg: Float64Array.from(await pred.reg[0].data()),
      centerness: pred.centerness ? Float64Array.from(await pred.centerness[0].data()) : undefined,
    };
    const rowsFrom = (values: Float64Array, ch: number, K: number) => rowsOf([{ shape: [N, ch, H, W], data: values }], K);
    const f = () => {
      const rows: PredictionRows = {
        cls: rowsFrom(nchw.cls, A * C, C),
        reg: rowsFrom(nchw.reg, A * 4, 4),
        centerness: nchw.centerness && rowsFrom(nchw.centerness, 1, 1),
      };
      return Object.values(referenceBoxKd(kind, rows, teacherRows, targets, priors, KD_WEIGHTS[kind])).reduce((a, b) => a + b, 0);
    };
    expect(await fdRelativeError(f, pred.cls[0].grad!, nchw.cls), 'd KD / d cls').toBeLessThan(1e-4);
    expect(await fdRelativeError(f, pred.reg[0].grad!, nchw.reg), 'd KD / d reg').toBeLessThan(1e-4);
    // centerness KD is ATSS's only (docs/crosskd.md §4): FCOS's centerness gets no KD gradient
    if (kind === 'atss') expect(await fdRelativeError(f, pred.centerness![0].grad!, nchw.centerness!), 'd KD / d centerness').toBeLessThan(1e-4);
    if (kind === 'fcos') expect(pred.centerness![0].grad).toBeNull();
  });
});

describe.each(KINDS)('%s cross-head gradient routing', (kind) => {
  it('reaches only the student before the tap, equal to a float64 finite-difference reference', async () => {
    const STACKED = 3;
    const TAP = 2;
    const student = makeHead(kind, STACKED, 1);
    const teacher = makeHead(kind, STACKED, 2);
    // FCOS's distances go through exp: smaller weights keep them in the range of boxes
    randomizeParams(student, 3, kind === 'fcos' ? 0.25 : 0.4);
    randomizeParams(teacher, 4, kind === 'fcos' ? 0.25 : 0.4);
    teacher.freeze();
    const rng = new Rng(9);
    const x = E.requireGrad(E.tensor(rng.normal(N * 4 * H * W), [N, 4, H, W]));
    const teacherIn = E.tensor(rng.normal(N * 4 * H * W, 0.2, 1.3), [N, 4, H, W]);
    const targets = targetsFor(kind);

    const s = student.forward([x], { keepFeats: true });
    const t = E.noGrad(() => teacher.forward([teacherIn], { keepFeats: true }));
    const cross = crossHeadForward(s, t, teacher, TAP);
    expect(Object.keys(cross).sort()).toEqual(kind === 'retina' ? ['cls', 'reg'] : ['centerness', 'cls', 'reg']);
    const terms = headKdLosses(teacher, cross, t, { targets, priors: gridPriorTensors(kind) }, KD_WEIGHTS[kind]);
    const loss = Object.values(terms).reduce((a, b) => E.add(a, b));
    await E.runtime().sync();
    const dwBefore = E.runtime().stats.byKernel.get('conv2d_dw') ?? 0;
    E.backward(loss);
    await E.runtime().sync();
    // weight gradients only for the student's TAP blocks in each tower, none for the teacher
    expect((E.runtime().stats.byKernel.get('conv2d_dw') ?? 0) - dwBefore).toBe(2 * TAP);
    for (const [name, p] of teacher.namedParameters()) expect(p.grad, `teacher ${name}`).toBeNull();
    for (const [name, p] of student.namedParameters()) {
      const block = /^(cls|reg)_convs\.(\d+)\./.exec(name);
      if (block && Number(block[2]) < TAP) expect(p.grad, `student ${name} (before the tap)`).not.toBeNull();
      else expect(p.grad, `student ${name} (after the tap)`).toBeNull();
    }

    // the whole path in float64
    const sp = await paramsOf(student);
    const tp = await paramsOf(teacher);
    const cfg = { kind, stackedConvs: STACKED, gnGroups: kind === 'retina' ? null : 2 };
    const xRef: RefTensor = { shape: [N, 4, H, W], data: Float64Array.from(await x.data()) };
    const tRef: RefTensor = { shape: [N, 4, H, W], data: Float64Array.from(await teacherIn.data()) };
    const priors = gridPriorRows(kind);
    const A = kind === 'retina' ? 9 : 1;
    const f = () => {
      const tape = new RefTape();
      const tower = (input: RefTensor, p: typeof sp, name: string) => {
        let h = input;
        for (let i = 0; i < TAP; i++) h = refBlock(tape, h, p, name, i, cfg);
        return h;
      };
      const own = referenceHead(tape, tRef, tRef, tp, cfg, 0);
      const enter = (name: string) => {
        const a = alignRef(tower(xRef, sp, name), tower(tRef, tp, name));
        return { shape: a.shape, data: a.data.map((v) => Math.max(v, 0)) };
      };
      const c = referenceHead(tape, enter('cls_convs'), enter('reg_convs'), tp, cfg, 0, TAP);
      const rows = (o: typeof c): PredictionRows => ({
        cls: rowsOf([o.cls], C),
        reg: rowsOf([o.reg], 4),
        centerness: o.centerness && rowsOf([o.centerness], 1),
      });
      expect(c.cls.shape[1]).toBe(A * C);
      return Object.values(referenceBoxKd(kind, rows(c), rows(own), targets, priors, KD_WEIGHTS[kind])).reduce((a, b) => a + b, 0);
    };
    expect(await loss.item()).toBeCloseTo(f(), 4);
    // float32 through the towers and the box losses against float64 central differences
    expect(await fdRelativeError(f, x.grad!, xRef.data, 1e-5), 'input feature: max|gpu − fd| / max|fd|').toBeLessThan(2e-4);
  });
});

describe('KD weights', () => {
  it("are docs/crosskd.md §4's per head", () => {
    expect(KD_WEIGHTS.atss).toMatchObject({ cls: 1, reg: 1, center: 1 });
    expect(KD_WEIGHTS.retina).toMatchObject({ cls: 1, reg: 1 });
    expect(KD_WEIGHTS.fcos).toMatchObject({ cls: 0.4, reg: 0.75 });
    expect(KD_WEIGHTS.gfl).toMatchObject({ cls: 1, reg: 4, T: 1 });
  });
});
