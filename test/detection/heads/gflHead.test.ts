/**
 * Layer-level check of the GFL head: forward outputs and the gradients of every parameter
 * and of the input features, against a float64 composition of the reference ops
 * (conv2d, group_norm with fused ReLU, the level Scale) written out by hand below.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../../engine/index.ts';
import { InitSeeds } from '../../../engine/nn/index.ts';
import { Rng } from '../../../engine/random.ts';
import { referenceOps as R } from '../../../engine/reference/index.ts';
import type { RefTensor } from '../../../engine/reference/types.ts';
import { GFLHead, type GflHeadConfig } from '../../../detection/heads/gfl.ts';
import { diff } from '../../../engine/checks/compare.ts';

/** max|got − ref| / max|ref| (the measure of gradcheck and parity) */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

beforeAll(async () => {
  await E.init();
});

const cfg: GflHeadConfig = { numClasses: 3, inChannels: 4, featChannels: 4, stackedConvs: 2, gnGroups: 2, regMax: 4, numLevels: 2 };
const levelSizes: [number, number][] = [
  [4, 4],
  [2, 2],
];
const N = 2;

const f64 = async (t: E.Tensor): Promise<RefTensor> => ({ shape: [...t.shape], data: Float64Array.from(await t.data()) });
const addInto = (acc: Map<string, Float64Array>, name: string, g: RefTensor | null) => {
  if (!g) return;
  const prev = acc.get(name);
  if (!prev) acc.set(name, g.data.slice());
  else g.data.forEach((v, i) => (prev[i] += v));
};

interface Step {
  kind: 'conv' | 'gn';
  name: string;
  inputs: Record<string, RefTensor>;
  attrs: Record<string, unknown>;
}

/** One tower + predictor in float64, remembering each step's inputs for the backward. */
function referenceBranch(x: RefTensor, params: Map<string, RefTensor>, tower: 'cls_convs' | 'reg_convs', pred: 'gfl_cls' | 'gfl_reg') {
  const steps: Step[] = [];
  let h = x;
  for (let i = 0; i < cfg.stackedConvs; i++) {
    const conv = { x: h, weight: params.get(`${tower}.${i}.conv.weight`)! };
    const convAttrs = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    steps.push({ kind: 'conv', name: `${tower}.${i}.conv`, inputs: conv, attrs: convAttrs });
    const c = R.conv2d.forward(conv, convAttrs).out;
    const gn = { x: c, weight: params.get(`${tower}.${i}.gn.weight`)!, bias: params.get(`${tower}.${i}.gn.bias`)! };
    const gnAttrs = { num_groups: cfg.gnGroups, eps: 1e-5, relu: true };
    steps.push({ kind: 'gn', name: `${tower}.${i}.gn`, inputs: gn, attrs: gnAttrs });
    h = R.group_norm.forward(gn, gnAttrs).out;
  }
  const p = { x: h, weight: params.get(`${pred}.weight`)!, bias: params.get(`${pred}.bias`)! };
  const pAttrs = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
  steps.push({ kind: 'conv', name: pred, inputs: p, attrs: pAttrs });
  return { out: R.conv2d.forward(p, pAttrs).out, steps };
}

/** Backward through recorded steps; returns d/dx of the branch input. */
function referenceBranchBackward(steps: Step[], upstream: RefTensor, grads: Map<string, Float64Array>): RefTensor {
  let g = upstream;
  for (let k = steps.length - 1; k >= 0; k--) {
    const s = steps[k];
    const op = s.kind === 'conv' ? R.conv2d : R.group_norm;
    const vjp = op.vjp(s.inputs, s.attrs, { out: g });
    for (const [input, gi] of Object.entries(vjp)) if (input !== 'x') addInto(grads, `${s.name}.${input}`, gi);
    g = vjp.x!;
  }
  return g;
}

describe('GFL head against a float64 reference composition', () => {
  it('matches forward outputs and every gradient', async () => {
    const head = new GFLHead(cfg, new InitSeeds(7));
    // give the predictors and GN parameters non-trivial values (init sets them to 1/0/-4.6)
    const rng = new Rng(11);
    for (const [name, p] of head.namedParameters()) {
      if (name.endsWith('conv.weight')) continue;
      E.runtime().flush();
      E.runtime().write(p.buffer, Float32Array.from(rng.normal(p.size, name.includes('gn.weight') || name.startsWith('scales') ? 1 : 0, 0.5)));
    }
    for (const name of ['gfl_cls.weight', 'gfl_reg.weight']) {
      const p = head.stateDict().get(name)!;
      E.runtime().flush();
      E.runtime().write(p.buffer, Float32Array.from(rng.normal(p.size, 0, 0.3)));
    }
    const feats = levelSizes.map(([h, w], l) => E.requireGrad(E.randNormal([N, cfg.inChannels, h, w], 100 + l)));
    const out = head.forward(feats);
    // upstream gradients for every output
    const ups = [...out.cls, ...out.reg].map((t, k) => E.randNormal(t.shape, 200 + k));
    const loss = E.sum(
      E.concat(
        [...out.cls, ...out.reg].map((t, k) => E.reshape(E.sum(E.mul(t, ups[k])), [1])),
        0,
      ),
    );
    E.backward(loss);

    // the float64 composition
    const params = new Map<string, RefTensor>();
    for (const [name, p] of head.namedParameters()) params.set(name, await f64(p));
    const refGrads = new Map<string, Float64Array>();
    for (let l = 0; l < levelSizes.length; l++) {
      const x = await f64(feats[l]);
      const cls = referenceBranch(x, params, 'cls_convs', 'gfl_cls');
      const reg = referenceBranch(x, params, 'reg_convs', 'gfl_reg');
      const s = params.get(`scales.${l}.scale`)!.data[0];
      const regOut = Float64Array.from(reg.out.data, (v) => v * s);
      expect(relErr(await out.cls[l].data(), cls.out.data), `cls level ${l}`).toBeLessThan(2e-5);
      expect(relErr(await out.reg[l].data(), regOut), `reg level ${l}`).toBeLessThan(2e-5);
      const uCls = await f64(ups[l]);
      const uReg = await f64(ups[levelSizes.length + l]);
      // scale: d/ds = Σ u·pred, d/dpred = u·s
      refGrads.set(`scales.${l}.scale`, Float64Array.of(uReg.data.reduce((acc, u, i) => acc + u * reg.out.data[i], 0)));
      const gx1 = referenceBranchBackward(cls.steps, uCls, refGrads);
      const gx2 = referenceBranchBackward(reg.steps, { shape: uReg.shape, data: uReg.data.map((u) => u * s) }, refGrads);
      const gx = gx1.data.map((v, i) => v + gx2.data[i]);
      expect(relErr(await feats[l].grad!.data(), gx), `input grad level ${l}`).toBeLessThan(5e-5);
    }
    for (const [name, p] of head.namedParameters()) {
      const want = refGrads.get(name);
      expect(want, `reference gradient for ${name}`).toBeDefined();
      expect(relErr(await p.grad!.data(), want!), `grad ${name}`).toBeLessThan(5e-5);
    }
  });

  it('enters the towers at any block: clsFrom/regFrom equal the full forward', async () => {
    const head = new GFLHead(cfg, new InitSeeds(3));
    const x = E.randNormal([N, cfg.inChannels, 4, 4], 5);
    const full = head.forward([x, E.randNormal([N, cfg.inChannels, 2, 2], 6)], { keepFeats: true });
    for (let i = 0; i <= cfg.stackedConvs; i++) {
      const cls = head.clsFrom(i, full.clsFeats![0][i], 0).cls!;
      const reg = head.regFrom(i, full.regFeats![0][i], 0).reg!;
      expect(Array.from(await cls.data())).toEqual(Array.from(await full.cls[0].data()));
      expect(Array.from(await reg.data())).toEqual(Array.from(await full.reg[0].data()));
    }
  });

  it('names parameters as mmdetection does', () => {
    const names = new GFLHead(cfg, new InitSeeds(1)).namedParameters().map(([n]) => n);
    expect(names).toContain('cls_convs.0.conv.weight');
    expect(names).toContain('reg_convs.1.gn.bias');
    expect(names).toContain('gfl_cls.bias');
    expect(names).toContain('gfl_reg.weight');
    expect(names).toContain('scales.1.scale');
    expect(names).not.toContain('cls_convs.0.conv.bias'); // no bias before GroupNorm
  });

  it('rejects a configuration it cannot build', () => {
    expect(() => new GFLHead({ ...cfg, featChannels: 6, gnGroups: 4 }, new InitSeeds(1))).toThrow(
      /head.featChannels \(6\) must be divisible by head.gnGroups \(4\)/,
    );
    expect(() => new GFLHead({ ...cfg, regMax: 0 }, new InitSeeds(1))).toThrow(/head.regMax must be an integer ≥ 1, got 0/);
  });
});
