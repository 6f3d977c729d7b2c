/**
 * The RetinaNet head (mmdetection's RetinaHead with the CrossKD RetinaNet configs): towers
 * of conv (with bias, no norm) → ReLU; `retina_cls` (9 anchors × C, prior-probability
 * bias) and `retina_reg` (9 anchors × 4 deltas, DeltaXYWH with stds 1), no Scale. Nine
 * anchors per location: ratios 0.5, 1, 2 × scales octaveBaseScale·2^(0, 1/3, 2/3) × stride,
 * assigned by MaxIoU (positive ≥ 0.5, negative < 0.4, the band between ignored, every gt
 * keeps its best anchors).
 *
 * Loss (AnchorHead.loss_by_feat with the reference config): sigmoid focal (α 0.25, γ 2)
 * over every anchor that is not ignored / N_pos, and L1 between the predicted and the
 * target deltas of the positives / N_pos. Inference: σ(cls), NMS IoU 0.5.
 */
import * as E from '../../engine/index.ts';
import { type InitSeeds, priorProbBiasInit } from '../../engine/nn/index.ts';
import type { Conv2d } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { MaxIoUAssigner, RETINANET_MAX_IOU } from '../assigners/maxIou.ts';
import type { MultiLevelPriors } from '../priors.ts';
import { RETINA_DELTA_STDS, decodeDeltas, encodeDeltas } from './deltaCoder.ts';
import { DenseHead, oneHot, validateNumClasses, type HeadOutputs, type PriorTensors, type TowerPredictions } from './dense.ts';
import { buildDenseTargets, type DenseTargets, type ImageTargetsInput } from './gflTargets.ts';

/** Anchors per location: 3 ratios × 3 scales (detection/priors.ts retinaAnchorGenerator). */
export const RETINA_ANCHORS_PER_LOCATION = 9;

export interface RetinaHeadConfig {
  numClasses: number;
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  numLevels: number;
  priorProb?: number;
  lossWeights?: { focal?: number; l1?: number };
}

export type RetinaLosses = { focal: Tensor; l1: Tensor; total: Tensor };

export class RetinaHead extends DenseHead {
  readonly type = 'retina';
  readonly priorsPerLocation = RETINA_ANCHORS_PER_LOCATION;
  readonly defaultTap = 3;
  readonly testConfig = { iouThreshold: 0.5 };
  readonly cfg: Required<Omit<RetinaHeadConfig, 'lossWeights'>> & { lossWeights: { focal: number; l1: number } };
  readonly retinaCls: Conv2d;
  readonly retinaReg: Conv2d;
  private readonly assigner = new MaxIoUAssigner(RETINANET_MAX_IOU);

  constructor(cfg: RetinaHeadConfig, seeds: InitSeeds) {
    validateNumClasses(cfg.numClasses);
    super({ inChannels: cfg.inChannels, featChannels: cfg.featChannels, stackedConvs: cfg.stackedConvs, gnGroups: null, numLevels: cfg.numLevels }, seeds);
    this.cfg = { ...cfg, priorProb: cfg.priorProb ?? 0.01, lossWeights: { focal: 1, l1: 1, ...cfg.lossWeights } };
    const A = RETINA_ANCHORS_PER_LOCATION;
    this.retinaCls = this.predictor('retina_cls', A * cfg.numClasses, seeds, priorProbBiasInit(this.cfg.priorProb));
    this.retinaReg = this.predictor('retina_reg', A * 4, seeds);
  }

  get numClasses(): number {
    return this.cfg.numClasses;
  }

  protected predictCls(h: Tensor): TowerPredictions {
    return { cls: this.retinaCls.forward(h) };
  }

  protected predictReg(h: Tensor): TowerPredictions {
    return { reg: this.retinaReg.forward(h) };
  }

  buildTargets(priors: MultiLevelPriors, strides: readonly number[], images: readonly ImageTargetsInput[]): DenseTargets {
    if (priors.dim !== 4) throw new Error('RetinaHead.buildTargets: RetinaNet needs anchor priors (x1,y1,x2,y2)');
    return buildDenseTargets(priors, strides, images, (img) =>
      this.assigner.assign({
        priors: priors.priors,
        gtBoxes: img.gtBoxes,
        gtLabels: img.gtLabels,
        numClasses: this.cfg.numClasses,
        validFlags: img.validFlags,
      }),
    );
  }

  loss(outputs: HeadOutputs, t: DenseTargets): RetinaLosses {
    const C = this.cfg.numClasses;
    const w = this.cfg.lossWeights;
    const NP = t.numImages * t.numPriors;
    const cls = this.flattenPerPrior(outputs.cls);
    const reg = this.flattenPerPrior(outputs.reg);
    if (cls.shape[0] !== NP) throw new Error(`RetinaHead.loss: targets cover ${NP} anchors, predictions ${cls.shape[0]}`);
    const focal = E.sigmoidFocalLoss(cls, E.tensor(oneHot(t.labels, C), [NP, C]), {
      weight: E.tensor(t.labelWeights, [NP]),
      reduction: 'mean',
      avgFactor: t.avgFactor,
    });
    let l1: Tensor;
    if (t.numPos > 0) {
      const P = t.numPos;
      const deltas = E.indexSelect(reg, 0, E.tensor(t.posIndex, [P], 'int32'));
      const targets = E.tensor(encodeDeltas(t.posPriors, t.posGtBoxes, RETINA_DELTA_STDS), [P, 4]);
      // mmdetection's L1Loss: Σ |pred − target| over the positives' 4 deltas / (N_pos + ε)
      l1 = E.scale(E.sum(E.abs(E.sub(deltas, targets))), 1 / (t.avgFactor + E.AVG_FACTOR_EPS));
    } else {
      l1 = E.zeros([]);
    }
    const total = E.add(E.scale(focal, w.focal), E.scale(l1, w.l1));
    return { focal, l1, total };
  }

  decodeBoxes(reg: readonly Tensor[], priors: PriorTensors): Tensor {
    return decodeDeltas(priors.priors, this.flattenPerPrior(reg), RETINA_DELTA_STDS);
  }
}
