/**
 * The GFL head (CROSSKD.md §5): cls and reg towers of conv–GN–ReLU blocks, a class
 * predictor with the prior-probability bias, a distribution predictor over 4·(reg_max+1)
 * bins scaled per level, and the QFL + GIoU + DFL loss with mmdetection's normalisers.
 *
 * The towers can be entered at any block (`clsFrom`, `regFrom`): CrossKD runs the
 * teacher's remaining blocks on the student's features that way.
 */
import * as E from '../../engine/index.ts';
import { Module, ModuleList, InitSeeds, normalInit, priorProbBiasInit, constantInit } from '../../engine/nn/index.ts';
import { Conv2d, ConvModule, Scale } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { alignedIou, flattenLevels } from './common.ts';
import { dflTargets, type DenseTargets } from './gflTargets.ts';

export interface GflHeadConfig {
  numClasses: number;
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  /** GroupNorm groups in the towers (32 in mmdetection; fewer for narrow toy heads) */
  gnGroups: number;
  regMax: number;
  /** number of FPN levels (one Scale each) */
  numLevels: number;
  priorProb?: number;
  lossWeights?: { qfl?: number; giou?: number; dfl?: number };
}

export interface HeadOutputs {
  /** per level [N, C, H, W] class logits */
  cls: Tensor[];
  /** per level [N, 4(regMax+1), H, W] distribution logits (after the level's Scale) */
  reg: Tensor[];
  /** per level, the tower features: [0] the input, [i] the output of block i (after ReLU) */
  clsFeats?: Tensor[][];
  regFeats?: Tensor[][];
}

export interface GflLosses {
  qfl: Tensor;
  giou: Tensor;
  dfl: Tensor;
  total: Tensor;
}

export class GFLHead extends Module {
  readonly cfg: Required<Omit<GflHeadConfig, 'lossWeights'>> & { lossWeights: { qfl: number; giou: number; dfl: number } };
  readonly clsConvs: ModuleList<ConvModule>;
  readonly regConvs: ModuleList<ConvModule>;
  readonly gflCls: Conv2d;
  readonly gflReg: Conv2d;
  readonly scales: ModuleList<Scale>;

  constructor(cfg: GflHeadConfig, seeds: InitSeeds) {
    super();
    validateGflHead(cfg);
    this.cfg = {
      priorProb: 0.01,
      ...cfg,
      lossWeights: { qfl: 1, giou: 2, dfl: 0.25, ...cfg.lossWeights },
    };
    const tower = () =>
      Array.from(
        { length: cfg.stackedConvs },
        (_, i) =>
          new ConvModule(i === 0 ? cfg.inChannels : cfg.featChannels, cfg.featChannels, 3, seeds, {
            padding: 1,
            gnGroups: cfg.gnGroups,
            weightInit: normalInit(0.01),
          }),
      );
    this.clsConvs = this.child('cls_convs', new ModuleList(tower()));
    this.regConvs = this.child('reg_convs', new ModuleList(tower()));
    const last = cfg.stackedConvs > 0 ? cfg.featChannels : cfg.inChannels;
    this.gflCls = this.child('gfl_cls', new Conv2d(last, cfg.numClasses, 3, seeds, {
      padding: 1,
      weightInit: normalInit(0.01),
      biasInit: priorProbBiasInit(this.cfg.priorProb),
    }));
    this.gflReg = this.child('gfl_reg', new Conv2d(last, 4 * (cfg.regMax + 1), 3, seeds, {
      padding: 1,
      weightInit: normalInit(0.01),
      biasInit: constantInit(0),
    }));
    this.scales = this.child('scales', new ModuleList(Array.from({ length: cfg.numLevels }, () => new Scale(1))));
  }

  get numBins(): number {
    return this.cfg.regMax + 1;
  }

  /** Blocks `from`..end of the cls tower on x, then the class predictor. */
  clsFrom(from: number, x: Tensor): Tensor {
    let h = x;
    for (let i = from; i < this.clsConvs.length; i++) h = this.clsConvs.at(i).forward(h);
    return this.gflCls.forward(h);
  }

  /** Blocks `from`..end of the reg tower on x, the distribution predictor, the level's Scale. */
  regFrom(from: number, x: Tensor, level: number): Tensor {
    let h = x;
    for (let i = from; i < this.regConvs.length; i++) h = this.regConvs.at(i).forward(h);
    return this.scales.at(level).forward(this.gflReg.forward(h));
  }

  forward(feats: readonly Tensor[], opts: { keepFeats?: boolean } = {}): HeadOutputs {
    if (feats.length !== this.cfg.numLevels) throw new Error(`GFLHead: expected ${this.cfg.numLevels} levels, got ${feats.length}`);
    const out: HeadOutputs = { cls: [], reg: [] };
    if (opts.keepFeats) [out.clsFeats, out.regFeats] = [[], []];
    feats.forEach((x, level) => {
      const clsFeats = [x];
      const regFeats = [x];
      for (let i = 0; i < this.clsConvs.length; i++) clsFeats.push(this.clsConvs.at(i).forward(clsFeats[i]));
      for (let i = 0; i < this.regConvs.length; i++) regFeats.push(this.regConvs.at(i).forward(regFeats[i]));
      out.cls.push(this.gflCls.forward(clsFeats[clsFeats.length - 1]));
      out.reg.push(this.scales.at(level).forward(this.gflReg.forward(regFeats[regFeats.length - 1])));
      out.clsFeats?.push(clsFeats);
      out.regFeats?.push(regFeats);
    });
    return out;
  }

  /**
   * QFL over every valid prior (IoU quality targets at positives) / N_pos, plus GIoU and
   * DFL at positives weighted by the detached max class probability and divided by
   * max(Σ weights, 1) — GFLHead.loss_by_feat of mmdetection, all levels at once (boxes in
   * units of each positive's stride, as mmdetection does per level).
   */
  loss(outputs: HeadOutputs, t: DenseTargets): GflLosses {
    const bins = this.numBins;
    const w = this.cfg.lossWeights;
    const cls = flattenLevels(outputs.cls);
    const reg = flattenLevels(outputs.reg);
    const NP = t.numImages * t.numPriors;
    if (cls.shape[0] !== NP) throw new Error(`GFLHead.loss: targets cover ${NP} priors, predictions ${cls.shape[0]}`);
    const labels = E.tensor(t.labels, [NP], 'int32');
    const labelWeights = E.tensor(t.labelWeights, [NP]);
    let score: Tensor;
    let giou: Tensor;
    let dfl: Tensor;
    if (t.numPos > 0) {
      const P = t.numPos;
      const posIndex = E.tensor(t.posIndex, [P], 'int32');
      const posReg = E.indexSelect(reg, 0, posIndex);
      const corners = E.reshape(E.integral(E.reshape(posReg, [P * 4, bins]), { regMax: this.cfg.regMax }), [P, 4]);
      const posBoxes = E.distance2bbox(E.tensor(t.posCenters, [P, 2]), corners);
      const targets = E.tensor(t.posBoxTargets, [P, 4]);
      score = E.indexAdd(alignedIou(E.detach(posBoxes), targets), 0, posIndex, NP);
      const weights = E.noGrad(() => E.max(E.sigmoid(E.indexSelect(E.detach(cls), 0, posIndex)), 1));
      const denom = E.maximum(E.sum(weights), 1);
      giou = E.div(E.giouLoss(posBoxes, targets, { weight: weights, reduction: 'sum' }), denom);
      const sideWeights = E.reshape(E.expand(E.reshape(weights, [P, 1]), [P, 4]), [P * 4]);
      const dflSum = E.distributionFocalLoss(E.reshape(posReg, [P * 4, bins]), E.tensor(dflTargets(t, this.cfg.regMax), [P * 4]), {
        regMax: this.cfg.regMax,
        weight: sideWeights,
        reduction: 'sum',
      });
      dfl = E.div(E.scale(dflSum, 0.25), denom); // the 4 sides averaged
    } else {
      score = E.zeros([NP]);
      giou = E.zeros([]);
      dfl = E.zeros([]);
    }
    const qfl = E.qualityFocalLoss(cls, labels, score, { beta: 2, weight: labelWeights, reduction: 'mean', avgFactor: t.avgFactor });
    const total = E.add(E.add(E.scale(qfl, w.qfl), E.scale(giou, w.giou)), E.scale(dfl, w.dfl));
    return { qfl, giou, dfl, total };
  }

  /**
   * Decoded predictions on the GPU for inference: per row of the N·P flattening, the
   * class probabilities [N·P, C] and boxes in input pixels [N·P, 4].
   */
  decode(outputs: HeadOutputs, priorCenters: Tensor, priorStrides: Tensor): { scores: Tensor; boxes: Tensor } {
    return E.noGrad(() => {
      const scores = E.sigmoid(flattenLevels(outputs.cls));
      const reg = flattenLevels(outputs.reg);
      const rows = reg.shape[0];
      const corners = E.reshape(E.integral(E.reshape(reg, [rows * 4, this.numBins]), { regMax: this.cfg.regMax }), [rows, 4]);
      const boxes = E.distance2bbox(priorCenters, E.mul(corners, priorStrides));
      return { scores, boxes };
    });
  }
}

export function validateGflHead(cfg: GflHeadConfig): void {
  const ints: [keyof GflHeadConfig, number][] = [
    ['numClasses', 1],
    ['inChannels', 1],
    ['featChannels', 1],
    ['stackedConvs', 0],
    ['gnGroups', 1],
    ['regMax', 1],
    ['numLevels', 1],
  ];
  for (const [k, min] of ints) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`head.${k} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  if (cfg.featChannels % cfg.gnGroups) throw new Error(`head.featChannels (${cfg.featChannels}) must be divisible by head.gnGroups (${cfg.gnGroups})`);
}
