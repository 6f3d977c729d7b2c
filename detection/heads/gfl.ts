/**
 * The GFL head (docs/crosskd.md §5): cls and reg towers of conv–GN–ReLU blocks, a class
 * predictor with the prior-probability bias, a distribution predictor over 4·(reg_max+1)
 * bins scaled per level, and the QFL + GIoU + DFL loss with mmdetection's normalisers.
 *
 * The towers and their entry points (`clsFrom`, `regFrom`) are DenseHead's.
 */
import * as E from '../../engine/index.ts';
import { type InitSeeds, priorProbBiasInit, type ModuleList } from '../../engine/nn/index.ts';
import type { Conv2d, Scale } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { MultiLevelPriors } from '../priors.ts';
import { alignedIou, flattenLevels } from './common.ts';
import { Integral } from './integral.ts';
import { DenseHead, validateNumClasses, type HeadOutputs, type PriorTensors, type TowerPredictions } from './dense.ts';
import { buildAtssTargets, dflTargets, type DenseTargets, type ImageTargetsInput } from './gflTargets.ts';

export type { HeadOutputs } from './dense.ts';

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

export type GflLosses = {
  qfl: Tensor;
  giou: Tensor;
  dfl: Tensor;
  total: Tensor;
};

export class GFLHead extends DenseHead {
  readonly type = 'gfl';
  readonly priorsPerLocation = 1;
  readonly defaultTap = 3;
  readonly testConfig = {};
  readonly cfg: Required<Omit<GflHeadConfig, 'lossWeights'>> & { lossWeights: { qfl: number; giou: number; dfl: number } };
  readonly gflCls: Conv2d;
  readonly gflReg: Conv2d;
  readonly scales: ModuleList<Scale>;
  /** mmdetection's bin positions (a constant: checkpoints from mmdetection carry it) */
  readonly integral: Integral;

  constructor(cfg: GflHeadConfig, seeds: InitSeeds) {
    validateGflHead(cfg);
    super(
      { inChannels: cfg.inChannels, featChannels: cfg.featChannels, stackedConvs: cfg.stackedConvs, gnGroups: cfg.gnGroups, numLevels: cfg.numLevels },
      seeds,
    );
    this.cfg = {
      ...cfg,
      priorProb: cfg.priorProb ?? 0.01,
      lossWeights: { qfl: 1, giou: 2, dfl: 0.25, ...cfg.lossWeights },
    };
    this.gflCls = this.predictor('gfl_cls', cfg.numClasses, seeds, priorProbBiasInit(this.cfg.priorProb));
    this.gflReg = this.predictor('gfl_reg', 4 * (cfg.regMax + 1), seeds);
    this.scales = this.levelScales();
    this.integral = this.child('integral', new Integral(cfg.regMax));
  }

  get numClasses(): number {
    return this.cfg.numClasses;
  }

  get numBins(): number {
    return this.cfg.regMax + 1;
  }

  protected predictCls(h: Tensor): TowerPredictions {
    return { cls: this.gflCls.forward(h) };
  }

  /** The distribution predictor, then the level's Scale. */
  protected predictReg(h: Tensor, level: number): TowerPredictions {
    return { reg: this.scales.at(level).forward(this.gflReg.forward(h)) };
  }

  /** ATSS (top 9) on the anchors, as mmdetection's GFL. */
  buildTargets(priors: MultiLevelPriors, strides: readonly number[], images: readonly ImageTargetsInput[]): DenseTargets {
    return buildAtssTargets(priors, strides, images, this.cfg.numClasses);
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

  /** Integral of each side's distribution, in stride units, times the stride, from the prior centre. */
  decodeBoxes(reg: readonly Tensor[], priors: PriorTensors): Tensor {
    const flat = flattenLevels(reg);
    const rows = flat.shape[0];
    const corners = E.reshape(E.integral(E.reshape(flat, [rows * 4, this.numBins]), { regMax: this.cfg.regMax }), [rows, 4]);
    return E.distance2bbox(priors.centers, E.mul(corners, priors.strides));
  }
}

export function validateGflHead(cfg: GflHeadConfig): void {
  validateNumClasses(cfg.numClasses);
  if (!Number.isInteger(cfg.regMax) || cfg.regMax < 1) throw new Error(`head.regMax must be an integer ≥ 1, got ${JSON.stringify(cfg.regMax)}`);
}
