/**
 * Layer-level checks of the ATSS, RetinaNet and FCOS heads: forward outputs, and the
 * gradients of every parameter and of the input features, against a float64 composition
 * of the reference ops written out as mmdetection computes each head (headReference.ts);
 * tower entry at every block; mmdetection's parameter names and initialisation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../../engine/index.ts';
import { InitSeeds } from '../../../engine/nn/index.ts';
import { diff } from '../../../engine/checks/compare.ts';
import type { RefTensor } from '../../../engine/reference/types.ts';
import { ATSSHead } from '../../../detection/heads/atss.ts';
import { RetinaHead } from '../../../detection/heads/retina.ts';
import { FCOSHead } from '../../../detection/heads/fcos.ts';
import type { DenseHead, PredictionName } from '../../../detection/heads/dense.ts';
import { PREDICTORS, RefTape, f64, paramsOf, randomizeParams, referenceHead, type HeadKind, type RefHeadConfig } from './headReference.ts';

const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

beforeAll(async () => {
  await E.init();
});

const base = { numClasses: 3, inChannels: 4, featChannels: 4, stackedConvs: 2, numLevels: 2 };
const levelSizes: [number, number][] = [
  [4, 4],
  [2, 2],
];
const N = 2;

function makeHead(kind: HeadKind, seed: number): DenseHead {
  const seeds = new InitSeeds(seed);
  if (kind === 'atss') return new ATSSHead({ ...base, gnGroups: 2 }, seeds);
  if (kind === 'retina') return new RetinaHead(base, seeds);
  return new FCOSHead({ ...base, gnGroups: 2 }, seeds);
}

const refConfig = (kind: HeadKind): RefHeadConfig => ({ kind, stackedConvs: base.stackedConvs, gnGroups: kind === 'retina' ? null : 2 });

/** channels of each output per level: A·C, A·4, A */
const expectedChannels = (kind: HeadKind) => {
  const A = kind === 'retina' ? 9 : 1;
  return { cls: A * base.numClasses, reg: A * 4, centerness: kind === 'retina' ? undefined : A };
};

describe.each(['atss', 'retina', 'fcos'] as const)('%s head against a float64 reference composition', (kind) => {
  it('matches forward outputs and every gradient', async () => {
    const head = makeHead(kind, 7);
    // weights of the FCOS distance predictor kept small: its outputs go through exp
    randomizeParams(head, 11, kind === 'fcos' ? 0.25 : 0.4);
    const feats = levelSizes.map(([h, w], l) => E.requireGrad(E.randNormal([N, base.inChannels, h, w], 100 + l)));
    const out = head.forward(feats);
    const names: PredictionName[] = kind === 'retina' ? ['cls', 'reg'] : ['cls', 'reg', 'centerness'];
    const maps = names.flatMap((name) => out[name]!.map((t, level) => ({ name, level, t })));
    const ups = maps.map((m, k) => E.randNormal(m.t.shape, 200 + k));
    E.backward(
      E.sum(
        E.concat(
          maps.map((m, k) => E.reshape(E.sum(E.mul(m.t, ups[k])), [1])),
          0,
        ),
      ),
    );

    const params = await paramsOf(head);
    const tape = new RefTape();
    const inputs: RefTensor[] = [];
    const refOut = [];
    for (let level = 0; level < levelSizes.length; level++) {
      const x = await f64(feats[level]);
      inputs.push(x);
      refOut.push(referenceHead(tape, x, x, params, refConfig(kind), level));
    }
    const channels = expectedChannels(kind);
    const seeds: [RefTensor, Float64Array][] = [];
    for (const [k, m] of maps.entries()) {
      const ref = refOut[m.level][m.name]!;
      expect(m.t.shape, `${m.name} level ${m.level} shape`).toEqual([N, channels[m.name]!, ...levelSizes[m.level]]);
      expect(relErr(await m.t.data(), ref.data), `${m.name} level ${m.level}`).toBeLessThan(2e-5);
      seeds.push([ref, (await f64(ups[k])).data]);
    }
    tape.backward(seeds);
    for (let level = 0; level < levelSizes.length; level++)
      expect(relErr(await feats[level].grad!.data(), tape.gradOf(inputs[level])), `input grad level ${level}`).toBeLessThan(5e-5);
    for (const [name, p] of head.namedParameters()) {
      const want = tape.gradOf(params.get(name)!);
      expect(
        want.some((v) => v !== 0),
        `the reference reaches ${name}`,
      ).toBe(true);
      expect(relErr(await p.grad!.data(), want), `grad ${name}`).toBeLessThan(5e-5);
    }
  });

  it('enters the towers at any block: clsFrom/regFrom equal the full forward', async () => {
    const head = makeHead(kind, 3);
    randomizeParams(head, 5, 0.25);
    const feats = levelSizes.map(([h, w], l) => E.randNormal([N, base.inChannels, h, w], 10 + l));
    const full = head.forward(feats, { keepFeats: true });
    for (let level = 0; level < levelSizes.length; level++)
      for (let i = 0; i <= base.stackedConvs; i++) {
        const got = { ...head.clsFrom(i, full.clsFeats![level][i], level), ...head.regFrom(i, full.regFeats![level][i], level) };
        expect(Object.keys(got).sort()).toEqual(kind === 'retina' ? ['cls', 'reg'] : ['centerness', 'cls', 'reg']);
        for (const [name, t] of Object.entries(got) as [PredictionName, E.Tensor][])
          expect(Array.from(await t.data()), `${name} from block ${i}, level ${level}`).toEqual(Array.from(await full[name]![level].data()));
      }
  });

  it('names parameters as mmdetection does and initialises the class bias to the prior', async () => {
    const head = makeHead(kind, 1);
    const names = head.namedParameters().map(([n]) => n);
    const pred = PREDICTORS[kind];
    for (const n of [pred.cls, pred.reg, pred.centerness].filter((x) => x !== undefined)) {
      expect(names).toContain(`${n}.weight`);
      expect(names).toContain(`${n}.bias`);
    }
    expect(names).toContain('reg_convs.1.conv.weight');
    if (kind === 'retina') {
      expect(names).toContain('cls_convs.0.conv.bias'); // no norm: the convs keep their bias
      expect(names.some((n) => n.includes('.gn.') || n.startsWith('scales'))).toBe(false);
    } else {
      expect(names).toContain('cls_convs.1.gn.weight');
      expect(names).not.toContain('cls_convs.0.conv.bias');
      expect(names).toContain('scales.1.scale');
    }
    // bias = −ln((1 − 0.01)/0.01) = −4.59512 (docs/crosskd.md §5)
    const bias = await head.stateDict().get(`${pred.cls}.bias`)!.data();
    for (const b of bias) expect(b).toBeCloseTo(-4.59512, 4);
  });
});

describe('head configuration errors', () => {
  it('names the argument and the value', () => {
    expect(() => new ATSSHead({ ...base, gnGroups: 3 }, new InitSeeds(1))).toThrow(/head.featChannels \(4\) must be divisible by head.gnGroups \(3\)/);
    expect(() => new RetinaHead({ ...base, numClasses: 0 }, new InitSeeds(1))).toThrow(/head.numClasses must be an integer ≥ 1, got 0/);
    expect(() => new FCOSHead({ ...base, gnGroups: 2, regressRanges: [[-1, 64]] }, new InitSeeds(1))).toThrow(
      /head.regressRanges must have one \[lo, hi\] per level \(2\), got 1/,
    );
    expect(
      () =>
        new FCOSHead(
          {
            ...base,
            gnGroups: 2,
            regressRanges: [
              [-1, 64],
              [64, 64],
            ],
          },
          new InitSeeds(1),
        ),
    ).toThrow(/regress range of level 1 must be finite \[lo, hi\] with lo < hi, got \[64, 64\]/);
  });
});
