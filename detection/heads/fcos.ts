/**
 * The FCOS head (mmdetection's FCOSHead with the CrossKD FCOS config: no center sampling,
 * no norm_on_bbox, centerness on the cls tower): towers of conv–GN–ReLU; `conv_cls` with
 * the prior-probability bias; `conv_centerness` on the cls tower; `conv_reg`, whose 4
 * outputs become the distances (left, top, right, bottom) in input pixels as
 * exp(Scale · x) with the level's Scale. One point per location at the cell centre,
 * assigned by FCOS's regress ranges (detection/assigners/fcos.ts).
 *
 * Loss (FCOSHead.loss_by_feat): sigmoid focal (α 0.25, γ 2) over every point /
 * max(#positives in the batch, 1); IoU-log of the decoded positives against their gt
 * boxes, weighted by the centerness targets and divided by max(Σ centerness targets, 1e-6);
 * centerness BCE at positives / max(#positives, 1). Inference: σ(cls) with σ(centerness) as
 * the score factor, NMS IoU 0.5. CrossKD taps FCOS at block 2 by default.
 */
import * as E from '../../engine/index.ts';
import { type InitSeeds, type ModuleList, priorProbBiasInit } from '../../engine/nn/index.ts';
import type { Conv2d, Scale } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { FcosAssigner, defaultRegressRanges } from '../assigners/fcos.ts';
import type { MultiLevelPriors } from '../priors.ts';
import { centernessHeadLoss } from './centernessLoss.ts';
import { DenseHead, validateNumClasses, type HeadOutputs, type PriorTensors, type TowerPredictions } from './dense.ts';
import { buildDenseTargets, type DenseTargets, type ImageTargetsInput } from './gflTargets.ts';

export interface FcosHeadConfig {
  numClasses: number;
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  gnGroups: number;
  numLevels: number;
  /** per level [lo, hi] of the largest point-to-side distance it learns (default: mmdetection's) */
  regressRanges?: [number, number][];
  priorProb?: number;
  lossWeights?: { focal?: number; iou?: number; centerness?: number };
}

export type FcosLosses = { focal: Tensor; iou: Tensor; centerness: Tensor; total: Tensor };

export class FCOSHead extends DenseHead {
  readonly type = 'fcos';
  readonly priorsPerLocation = 1;
  readonly defaultTap = 2;
  readonly testConfig = { iouThreshold: 0.5 };
  readonly cfg: Required<Omit<FcosHeadConfig, 'lossWeights'>> & { lossWeights: { focal: number; iou: number; centerness: number } };
  readonly convCls: Conv2d;
  readonly convReg: Conv2d;
  readonly convCenterness: Conv2d;
  readonly scales: ModuleList<Scale>;
  private readonly assigner: FcosAssigner;

  constructor(cfg: FcosHeadConfig, seeds: InitSeeds) {
    validateNumClasses(cfg.numClasses);
    super(
      { inChannels: cfg.inChannels, featChannels: cfg.featChannels, stackedConvs: cfg.stackedConvs, gnGroups: cfg.gnGroups, numLevels: cfg.numLevels },
      seeds,
    );
    const regressRanges = cfg.regressRanges ?? defaultRegressRanges(cfg.numLevels);
    if (regressRanges.length !== cfg.numLevels)
      throw new Error(`head.regressRanges must have one [lo, hi] per level (${cfg.numLevels}), got ${regressRanges.length}`);
    this.assigner = new FcosAssigner(regressRanges);
    this.cfg = { ...cfg, priorProb: cfg.priorProb ?? 0.01, regressRanges, lossWeights: { focal: 1, iou: 1, centerness: 1, ...cfg.lossWeights } };
    this.convCls = this.predictor('conv_cls', cfg.numClasses, seeds, priorProbBiasInit(this.cfg.priorProb));
    this.convReg = this.predictor('conv_reg', 4, seeds);
    this.convCenterness = this.predictor('conv_centerness', 1, seeds);
    this.scales = this.levelScales();
  }

  get numClasses(): number {
    return this.cfg.numClasses;
  }

  /** Class logits and the centerness logit, both from the cls tower. */
  protected predictCls(h: Tensor): TowerPredictions {
    return { cls: this.convCls.forward(h), centerness: this.convCenterness.forward(h) };
  }

  /** Distances in pixels: exp of the level's Scale times the predictor. */
  protected predictReg(h: Tensor, level: number): TowerPredictions {
    return { reg: E.exp(this.scales.at(level).forward(this.convReg.forward(h))) };
  }

  buildTargets(priors: MultiLevelPriors, strides: readonly number[], images: readonly ImageTargetsInput[]): DenseTargets {
    if (priors.dim !== 2) throw new Error('FCOSHead.buildTargets: FCOS needs point priors (x, y)');
    return buildDenseTargets(
      priors,
      strides,
      images,
      (img) =>
        this.assigner.assign({
          points: priors.priors,
          numLevelPoints: priors.numLevelPriors,
          gtBoxes: img.gtBoxes,
          gtLabels: img.gtLabels,
          numClasses: this.cfg.numClasses,
        }),
      'batch',
    );
  }

  loss(outputs: HeadOutputs, t: DenseTargets): FcosLosses {
    const w = this.cfg.lossWeights;
    const {
      focal,
      box: iou,
      centerness,
    } = centernessHeadLoss(outputs, t, {
      where: 'FCOSHead.loss',
      priorNoun: 'points',
      numClasses: this.cfg.numClasses,
      flatten: (maps) => this.flattenPerPrior(maps),
      boxLoss: (pos) => {
        const boxes = E.distance2bbox(E.tensor(t.posPriors, [t.numPos, 2]), pos.reg);
        return E.iouLoss(boxes, pos.gtBoxes, { weight: pos.centerness, reduction: 'mean', avgFactor: centernessDenominator(t) });
      },
    });
    const total = E.add(E.add(E.scale(focal, w.focal), E.scale(iou, w.iou)), E.scale(centerness, w.centerness));
    return { focal, iou, centerness, total };
  }

  /** distance2bbox from each point with the predicted pixel distances. */
  decodeBoxes(reg: readonly Tensor[], priors: PriorTensors): Tensor {
    return E.distance2bbox(priors.priors, this.flattenPerPrior(reg));
  }
}

/** Σ of the positives' centerness targets, at least 1e-6: FCOS's box and KD normaliser. */
export function centernessDenominator(t: DenseTargets): number {
  return Math.max(
    t.posCenterness.reduce((a, b) => a + b, 0),
    1e-6,
  );
}
