/**
 * The ATSS head (mmdetection's ATSSHead with the CrossKD ATSS config): towers of
 * conv–GN–ReLU; `atss_cls` with the prior-probability bias; `atss_reg`, 4 deltas
 * (DeltaXYWH, stds 0.1, 0.1, 0.2, 0.2) times the level's Scale; `atss_centerness` on the reg
 * tower. One square anchor per location, assigned by ATSS (top 9).
 *
 * Loss (ATSSHead.loss_by_feat): sigmoid focal (α 0.25, γ 2) over every valid anchor / N_pos;
 * 2.0 · GIoU of the decoded positives against their gt boxes, weighted by the centerness
 * targets and divided by max(Σ centerness targets, 1); centerness BCE at positives / N_pos.
 * Inference: σ(cls) with σ(centerness) as the score factor, NMS IoU 0.6.
 */
import * as E from '../../engine/index.ts';
import { type InitSeeds, type ModuleList, priorProbBiasInit } from '../../engine/nn/index.ts';
import type { Conv2d, Scale } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { MultiLevelPriors } from '../priors.ts';
import { ATSS_DELTA_STDS, decodeDeltas } from './deltaCoder.ts';
import { centernessHeadLoss } from './centernessLoss.ts';
import { DenseHead, validateNumClasses, type HeadOutputs, type PriorTensors, type TowerPredictions } from './dense.ts';
import { buildAtssTargets, type DenseTargets, type ImageTargetsInput } from './gflTargets.ts';

export interface AtssHeadConfig {
  numClasses: number;
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  gnGroups: number;
  numLevels: number;
  priorProb?: number;
  lossWeights?: { focal?: number; giou?: number; centerness?: number };
}

export type AtssLosses = { focal: Tensor; giou: Tensor; centerness: Tensor; total: Tensor };

export class ATSSHead extends DenseHead {
  readonly type = 'atss';
  readonly priorsPerLocation = 1;
  readonly defaultTap = 3;
  readonly testConfig = {};
  readonly cfg: Required<Omit<AtssHeadConfig, 'lossWeights'>> & { lossWeights: { focal: number; giou: number; centerness: number } };
  readonly atssCls: Conv2d;
  readonly atssReg: Conv2d;
  readonly atssCenterness: Conv2d;
  readonly scales: ModuleList<Scale>;

  constructor(cfg: AtssHeadConfig, seeds: InitSeeds) {
    validateNumClasses(cfg.numClasses);
    super(
      { inChannels: cfg.inChannels, featChannels: cfg.featChannels, stackedConvs: cfg.stackedConvs, gnGroups: cfg.gnGroups, numLevels: cfg.numLevels },
      seeds,
    );
    this.cfg = { ...cfg, priorProb: cfg.priorProb ?? 0.01, lossWeights: { focal: 1, giou: 2, centerness: 1, ...cfg.lossWeights } };
    this.atssCls = this.predictor('atss_cls', cfg.numClasses, seeds, priorProbBiasInit(this.cfg.priorProb));
    this.atssReg = this.predictor('atss_reg', 4, seeds);
    this.atssCenterness = this.predictor('atss_centerness', 1, seeds);
    this.scales = this.levelScales();
  }

  get numClasses(): number {
    return this.cfg.numClasses;
  }

  protected predictCls(h: Tensor): TowerPredictions {
    return { cls: this.atssCls.forward(h) };
  }

  /** Deltas times the level's Scale, and the centerness logit, both from the reg tower. */
  protected predictReg(h: Tensor, level: number): TowerPredictions {
    return { reg: this.scales.at(level).forward(this.atssReg.forward(h)), centerness: this.atssCenterness.forward(h) };
  }

  buildTargets(priors: MultiLevelPriors, strides: readonly number[], images: readonly ImageTargetsInput[]): DenseTargets {
    return buildAtssTargets(priors, strides, images, this.cfg.numClasses);
  }

  loss(outputs: HeadOutputs, t: DenseTargets): AtssLosses {
    const w = this.cfg.lossWeights;
    const {
      focal,
      box: giou,
      centerness,
    } = centernessHeadLoss(outputs, t, {
      where: 'ATSSHead.loss',
      priorNoun: 'priors',
      numClasses: this.cfg.numClasses,
      flatten: (maps) => this.flattenPerPrior(maps),
      focalWeights: t.labelWeights,
      boxLoss: (pos) => {
        const boxes = decodeDeltas(E.tensor(t.posPriors, [t.numPos, 4]), pos.reg, ATSS_DELTA_STDS);
        const centernessSum = t.posCenterness.reduce((a, b) => a + b, 0);
        // mmdetection: loss_bbox(…, weight=centerness, avg_factor=1.0) per level, then / max(Σ centerness, 1)
        const weighted = E.giouLoss(boxes, pos.gtBoxes, { weight: pos.centerness, reduction: 'mean', avgFactor: 1 });
        return E.scale(weighted, 1 / Math.max(centernessSum, 1));
      },
    });
    const total = E.add(E.add(E.scale(focal, w.focal), E.scale(giou, w.giou)), E.scale(centerness, w.centerness));
    return { focal, giou, centerness, total };
  }

  decodeBoxes(reg: readonly Tensor[], priors: PriorTensors): Tensor {
    return decodeDeltas(priors.priors, this.flattenPerPrior(reg), ATSS_DELTA_STDS);
  }
}
