/**
 * What the dense heads share (GFL, ATSS, RetinaNet, FCOS; docs/crosskd.md §1): per FPN level, a
 * classification tower and a regression tower of `stackedConvs` blocks (conv 3×3 →
 * GroupNorm → ReLU; RetinaNet: conv 3×3 with bias → ReLU), then predictors on each tower's
 * last feature. A head says which predictions each tower makes (`predictCls`,
 * `predictReg`), how it is trained (`buildTargets`, `loss`) and how its boxes decode
 * (`decodeBoxes`).
 *
 * The towers can be entered at any block (`clsFrom`, `regFrom`): CrossKD runs the
 * teacher's remaining blocks and predictors on the student's features that way, for every
 * head type alike.
 */
import * as E from '../../engine/index.ts';
import { Module, ModuleList, type InitSeeds, normalInit, constantInit, type Initializer } from '../../engine/nn/index.ts';
import { Conv2d, ConvModule, Scale } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { MultiLevelPriors } from '../priors.ts';
import type { PostprocessConfig } from '../postprocess.ts';
import { flattenLevels } from './common.ts';
import type { DenseTargets, ImageTargetsInput } from './gflTargets.ts';
import type { HeadType } from './config.ts';

export type { HeadType } from './config.ts';

/** The prediction maps a head makes; centerness only in ATSS and FCOS. */
export type PredictionName = 'cls' | 'reg' | 'centerness';

export interface HeadOutputs {
  /** per level [N, A·C, H, W] class logits (A priors per location) */
  cls: Tensor[];
  /**
   * per level [N, A·R, H, W] box regression, after the head's Scale: GFL distribution
   * logits (R = 4·(reg_max+1)), ATSS/RetinaNet deltas (R = 4), FCOS distances in pixels
   * (exp already applied, R = 4)
   */
  reg: Tensor[];
  /** per level [N, A, H, W] centerness logits (ATSS, FCOS) */
  centerness?: Tensor[];
  /** per level, the tower features: [0] the input, [i] the output of block i (after ReLU) */
  clsFeats?: Tensor[][];
  regFeats?: Tensor[][];
}

/** The predictions one tower makes at one level. */
export type TowerPredictions = Partial<Record<PredictionName, Tensor>>;

/** The detection loss terms of a head, and their weighted sum. */
export type HeadLosses = Record<string, Tensor> & { total: Tensor };

/**
 * Constant per-prior tensors for decoding, rows in the N·P flattening (image, level, y, x,
 * anchor): built by Detector.priorTensors.
 */
export interface PriorTensors {
  /** [rows, 4] anchor boxes or [rows, 2] points, in input pixels */
  priors: Tensor;
  /** [rows, 2] prior centres in input pixels */
  centers: Tensor;
  /** [rows, 1] stride of each prior's level */
  strides: Tensor;
}

/** Decoded predictions for inference, rows in the N·P flattening. */
export type DecodedPredictions = {
  /** [rows, C] class probabilities */
  scores: Tensor;
  /** [rows, 4] boxes in input pixels */
  boxes: Tensor;
  /** [rows] per-prior multipliers of the scores (σ(centerness) for ATSS and FCOS) */
  scoreFactors?: Tensor;
};

export interface TowerConfig {
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  /** GroupNorm groups in the towers; null: no norm (RetinaNet), the convs then have a bias */
  gnGroups: number | null;
  /** number of FPN levels */
  numLevels: number;
}

export abstract class DenseHead extends Module {
  abstract readonly type: HeadType;
  /** priors per location (RetinaNet 9, the others 1) */
  abstract readonly priorsPerLocation: number;
  /** CrossKD's default tap index for this head (docs/crosskd.md §2: 3, FCOS 2) */
  abstract readonly defaultTap: number;
  /** the inference settings that differ from GFL's (RetinaNet and FCOS: NMS IoU 0.5) */
  abstract readonly testConfig: Partial<PostprocessConfig>;
  abstract readonly numClasses: number;

  readonly clsConvs: ModuleList<ConvModule>;
  readonly regConvs: ModuleList<ConvModule>;

  constructor(
    readonly tower: TowerConfig,
    seeds: InitSeeds,
  ) {
    super();
    validateTower(tower);
    const blocks = () =>
      Array.from(
        { length: tower.stackedConvs },
        (_, i) =>
          new ConvModule(i === 0 ? tower.inChannels : tower.featChannels, tower.featChannels, 3, seeds, {
            padding: 1,
            gnGroups: tower.gnGroups,
            weightInit: normalInit(0.01),
          }),
      );
    this.clsConvs = this.child('cls_convs', new ModuleList(blocks()));
    this.regConvs = this.child('reg_convs', new ModuleList(blocks()));
  }

  /** Channels of the towers' last feature (the predictors' input). */
  protected get predictorChannels(): number {
    return this.tower.stackedConvs > 0 ? this.tower.featChannels : this.tower.inChannels;
  }

  /** A 3×3 predictor on the towers' last feature, registered as `name` (mmdetection's init: normal 0.01, bias 0 unless given). */
  protected predictor(name: string, outChannels: number, seeds: InitSeeds, biasInit: Initializer = constantInit(0)): Conv2d {
    return this.child(name, new Conv2d(this.predictorChannels, outChannels, 3, seeds, { padding: 1, weightInit: normalInit(0.01), biasInit }));
  }

  /** One learnable Scale per level (`scales.<level>.scale`), initialised to 1. */
  protected levelScales(): ModuleList<Scale> {
    return this.child('scales', new ModuleList(Array.from({ length: this.tower.numLevels }, () => new Scale(1))));
  }

  /** Channels of the tower feature at a tap: the FPN width at 0, the tower width after. */
  tapChannels(tap: number): number {
    return tap === 0 ? this.tower.inChannels : this.tower.featChannels;
  }

  /** The predictions made from the cls tower's last feature at a level. */
  protected abstract predictCls(h: Tensor, level: number): TowerPredictions;
  /** The predictions made from the reg tower's last feature at a level (after the Scale). */
  protected abstract predictReg(h: Tensor, level: number): TowerPredictions;

  /** Blocks `from`..end of the cls tower on x, then that tower's predictors. */
  clsFrom(from: number, x: Tensor, level: number): TowerPredictions {
    let h = x;
    for (let i = from; i < this.clsConvs.length; i++) h = this.clsConvs.at(i).forward(h);
    return this.predictCls(h, level);
  }

  /** Blocks `from`..end of the reg tower on x, then that tower's predictors. */
  regFrom(from: number, x: Tensor, level: number): TowerPredictions {
    let h = x;
    for (let i = from; i < this.regConvs.length; i++) h = this.regConvs.at(i).forward(h);
    return this.predictReg(h, level);
  }

  forward(feats: readonly Tensor[], opts: { keepFeats?: boolean } = {}): HeadOutputs {
    if (feats.length !== this.tower.numLevels) throw new Error(`${this.constructor.name}: expected ${this.tower.numLevels} levels, got ${feats.length}`);
    const out: HeadOutputs = { cls: [], reg: [] };
    if (opts.keepFeats) [out.clsFeats, out.regFeats] = [[], []];
    // the levels share the towers' and predictors' weights: each is packed once, not per level
    E.sharingConvWeights(() =>
      feats.forEach((x, level) => {
        const clsFeats = [x];
        const regFeats = [x];
        for (let i = 0; i < this.clsConvs.length; i++) clsFeats.push(this.clsConvs.at(i).forward(clsFeats[i]));
        for (let i = 0; i < this.regConvs.length; i++) regFeats.push(this.regConvs.at(i).forward(regFeats[i]));
        addPredictions(out, this.predictCls(clsFeats[clsFeats.length - 1], level));
        addPredictions(out, this.predictReg(regFeats[regFeats.length - 1], level));
        out.clsFeats?.push(clsFeats);
        out.regFeats?.push(regFeats);
      }),
    );
    return out;
  }

  /** Training targets of a batch on the CPU (the head's assigner on its priors). */
  abstract buildTargets(priors: MultiLevelPriors, strides: readonly number[], images: readonly ImageTargetsInput[]): DenseTargets;

  /** The detection loss against the targets, mmdetection's terms and normalisers. */
  abstract loss(outputs: HeadOutputs, targets: DenseTargets): HeadLosses;

  /**
   * Boxes in input pixels [rows, 4] from the regression maps, at every prior;
   * differentiable in `reg` (the box KD terms use it).
   */
  abstract decodeBoxes(reg: readonly Tensor[], priors: PriorTensors): Tensor;

  /** Scores, boxes and score factors for inference (no tape). */
  decode(outputs: HeadOutputs, priors: PriorTensors): DecodedPredictions {
    return E.noGrad(() => {
      const out: DecodedPredictions = {
        scores: E.sigmoid(this.flattenPerPrior(outputs.cls)),
        boxes: this.decodeBoxes(outputs.reg, priors),
      };
      if (outputs.centerness) out.scoreFactors = E.reshape(E.sigmoid(this.flattenPerPrior(outputs.centerness)), [-1]);
      return out;
    });
  }

  /** Per-level maps [N, A·K, H, W] → [N·P·A, K], one row per prior in prior order. */
  flattenPerPrior(levels: readonly Tensor[]): Tensor {
    const flat = flattenLevels(levels);
    const A = this.priorsPerLocation;
    if (flat.shape[1] % A) throw new Error(`${this.constructor.name}: ${flat.shape[1]} channels are not ${A} priors × K`);
    return A === 1 ? flat : E.reshape(flat, [-1, flat.shape[1] / A]);
  }
}

function addPredictions(out: HeadOutputs, p: TowerPredictions): void {
  for (const [name, t] of Object.entries(p) as [PredictionName, Tensor][]) (out[name] ??= []).push(t);
}

export function validateTower(cfg: TowerConfig): void {
  const ints: [keyof TowerConfig, number][] = [
    ['inChannels', 1],
    ['featChannels', 1],
    ['stackedConvs', 0],
    ['numLevels', 1],
  ];
  for (const [k, min] of ints) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`head.${k} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  if (cfg.gnGroups !== null) {
    if (!Number.isInteger(cfg.gnGroups) || cfg.gnGroups < 1) throw new Error(`head.gnGroups must be an integer ≥ 1, got ${JSON.stringify(cfg.gnGroups)}`);
    if (cfg.featChannels % cfg.gnGroups) throw new Error(`head.featChannels (${cfg.featChannels}) must be divisible by head.gnGroups (${cfg.gnGroups})`);
  }
}

/** Checks the class count of a head. */
export function validateNumClasses(numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`head.numClasses must be an integer ≥ 1, got ${JSON.stringify(numClasses)}`);
}

/** One-hot float targets [rows, C] from labels (C = background: an all-zero row). */
export function oneHot(labels: Int32Array, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  labels.forEach((l, r) => {
    if (l < numClasses) out[r * numClasses + l] = 1;
  });
  return out;
}

/**
 * BCE with logits, x and t [P]: the KD quality focal loss with β 0, whose modulating
 * factor |σ(x) − t|^0 is 1 (the fused kernel takes b^0 = 1 and its slope 0), so one
 * kernel gives BCE and its gradient σ(x) − t. Reduction options as the losses'.
 */
export function bceWithLogits(x: Tensor, t: Tensor, opts: E.LossReduceOptions = {}): Tensor {
  if (x.rank !== 1 || t.rank !== 1 || x.shape[0] !== t.shape[0]) throw new Error(`bceWithLogits: x and t must both be [P], got [${x.shape}] and [${t.shape}]`);
  const P = x.shape[0];
  return E.kdQualityFocalLoss(E.reshape(x, [P, 1]), E.reshape(t, [P, 1]), { beta: 0, ...opts });
}
