/**
 * Our detectors as mmdetection 3.x configs: the `model` dict (backbone, neck, head with its
 * anchors, coder and losses, train_cfg, test_cfg), the optimizer and schedule, and the data
 * settings, with the names and defaults of mmdetection's own configs (configs/gfl,
 * configs/atss, configs/retinanet, configs/fcos). What mmdetection's modules cannot express
 * (stage widths that do not double, the toy 3×3 stem, the plain backbone) is an error that
 * names every difference, so no config is written that would build another model.
 */
import type { Detector } from '../detector.ts';
import type { BackboneConfig } from '../models/backbone.ts';
import { GFL_TEST_CFG } from '../postprocess.ts';
import type { AnchorGenerator } from '../priors.ts';
import type { TrainConfig } from '../train/config.ts';
import { pyFloat, pyName, pyTuple } from './python.ts';

type PyDict = Record<string, unknown>;

/** mmdetection's ResNet depths (ResNet.arch_settings): block and blocks per stage. */
export const MMDET_RESNET_DEPTHS: Record<number, { block: 'basic' | 'bottleneck'; depths: readonly number[] }> = {
  18: { block: 'basic', depths: [2, 2, 2, 2] },
  34: { block: 'basic', depths: [3, 4, 6, 3] },
  50: { block: 'bottleneck', depths: [3, 4, 6, 3] },
  101: { block: 'bottleneck', depths: [3, 4, 23, 3] },
  152: { block: 'bottleneck', depths: [3, 8, 36, 3] },
};

/** The model has no mmdetection equivalent; the message lists what differs. */
export class MmdetExportError extends Error {}

const list = (xs: readonly number[]) => `[${xs.join(', ')}]`;

/**
 * mmdetection's `ResNet` for our backbone config: depth from the blocks per stage,
 * `base_channels` and `stem_channels` from the widths (mmdetection doubles the width each
 * stage: planes = base·2^i, outputs planes·expansion), BN or GN with one group count.
 */
export function mmdetBackbone(b: BackboneConfig): PyDict {
  if (b.type !== 'resnet')
    throw new MmdetExportError(`backbone.type '${b.type}' (a VGG-style stack without residuals) has no mmdetection equivalent; export needs a ResNet backbone`);
  const problems: string[] = [];
  const stem = b.stem ?? 'conv3x3';
  if (stem !== 'conv7x7_maxpool')
    problems.push(
      `backbone.stem is '${stem}' (one 3×3 stride-2 conv, stage 1 strided); mmdetection's ResNet has the 7×7 stride-2 conv and 3×3 max pool ('conv7x7_maxpool')`,
    );
  const block = b.block ?? 'basic';
  const depth = Object.entries(MMDET_RESNET_DEPTHS).find(([, a]) => a.block === block && a.depths.join() === b.depths.join())?.[0];
  if (!depth)
    problems.push(
      `backbone.depths ${list(b.depths)} with ${block} blocks is not an mmdetection ResNet depth (${Object.entries(MMDET_RESNET_DEPTHS)
        .map(([d, a]) => `${d}: ${list(a.depths)} ${a.block}`)
        .join('; ')})`,
    );
  const expansion = block === 'bottleneck' ? 4 : 1;
  const base = b.stageChannels[0] / expansion;
  const doubling = b.stageChannels.map((_, i) => base * 2 ** i * expansion);
  if (!Number.isInteger(base) || doubling.join() !== b.stageChannels.join())
    problems.push(
      `backbone.stageChannels ${list(b.stageChannels)}: mmdetection's ResNet doubles the width every stage from base_channels (${Number.isInteger(base) ? `${list(doubling)} for base_channels ${base}` : `stage 1 must be a multiple of ${expansion}`})`,
    );
  const norm = b.norm ?? 'GN';
  if (norm === 'GN') {
    // ours clamps the groups to a layer's channels; mmdetection uses one count everywhere
    const narrowest = Math.min(b.stemChannels, base);
    if (b.gnGroups! > narrowest)
      problems.push(
        `backbone.gnGroups ${b.gnGroups} exceeds the narrowest layer's ${narrowest} channels (ours clamps the groups there, mmdetection's GroupNorm cannot)`,
      );
  }
  if (problems.length) throw new MmdetExportError(`the backbone has no mmdetection equivalent:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return {
    type: 'ResNet',
    depth: Number(depth),
    stem_channels: b.stemChannels,
    base_channels: base,
    num_stages: 4,
    out_indices: pyTuple(0, 1, 2, 3),
    frozen_stages: b.frozenStages ?? -1,
    norm_cfg: norm === 'BN' ? { type: 'BN', requires_grad: true } : { type: 'GN', num_groups: b.gnGroups, requires_grad: true },
    norm_eval: b.normEval ?? false,
    style: 'pytorch',
    // the weights come from model.pth (load_from), not from ImageNet
    init_cfg: null,
  };
}

const focal = (w: number) => ({ type: 'FocalLoss', use_sigmoid: true, gamma: 2.0, alpha: 0.25, loss_weight: w });
const centernessBce = (w: number) => ({ type: 'CrossEntropyLoss', use_sigmoid: true, loss_weight: w });
const deltaCoder = (stds: number[]) => ({ type: 'DeltaXYWHBBoxCoder', target_means: [0.0, 0.0, 0.0, 0.0], target_stds: stds });
const atssTrainCfg = { assigner: { type: 'ATSSAssigner', topk: 9 }, allowed_border: -1, pos_weight: -1, debug: false };

/** The head section: mmdetection's head type, anchors or points, coder, losses; plus train_cfg and test_cfg. */
function mmdetHead(d: Detector): { bbox_head: PyDict; train_cfg?: PyDict; test_cfg: PyDict } {
  const head = d.bboxHead;
  const h = d.cfg.head;
  const common = { num_classes: d.cfg.numClasses, in_channels: d.cfg.neck.outChannels, stacked_convs: h.stackedConvs, feat_channels: h.featChannels };
  const gn = { type: 'GN', num_groups: h.gnGroups, requires_grad: true };
  const anchors = () => {
    const a = d.priorGenerator as AnchorGenerator;
    return { type: 'AnchorGenerator', ratios: [...a.ratios], octave_base_scale: a.scales[0], scales_per_octave: a.scales.length, strides: [...a.strides] };
  };
  const t = { ...GFL_TEST_CFG, ...head.testConfig };
  const test_cfg = {
    nms_pre: t.nmsPre,
    min_bbox_size: t.minBboxSize,
    score_thr: t.scoreThr,
    nms: { type: 'nms', iou_threshold: t.iouThreshold },
    max_per_img: t.maxPerImg,
  };
  const w = (head as unknown as { cfg: { lossWeights: Record<string, number> } }).cfg.lossWeights;
  switch (head.type) {
    case 'gfl':
      return {
        bbox_head: {
          type: 'GFLHead',
          ...common,
          norm_cfg: gn,
          anchor_generator: anchors(),
          loss_cls: { type: 'QualityFocalLoss', use_sigmoid: true, beta: 2.0, loss_weight: w.qfl },
          loss_dfl: { type: 'DistributionFocalLoss', loss_weight: w.dfl },
          reg_max: h.regMax,
          loss_bbox: { type: 'GIoULoss', loss_weight: w.giou },
        },
        train_cfg: atssTrainCfg,
        test_cfg,
      };
    case 'atss':
      return {
        bbox_head: {
          type: 'ATSSHead',
          ...common,
          norm_cfg: gn,
          anchor_generator: anchors(),
          bbox_coder: deltaCoder([0.1, 0.1, 0.2, 0.2]),
          loss_cls: focal(w.focal),
          loss_bbox: { type: 'GIoULoss', loss_weight: w.giou },
          loss_centerness: centernessBce(w.centerness),
        },
        train_cfg: atssTrainCfg,
        test_cfg,
      };
    case 'retina':
      return {
        bbox_head: {
          type: 'RetinaHead',
          ...common,
          anchor_generator: anchors(),
          bbox_coder: deltaCoder([1.0, 1.0, 1.0, 1.0]),
          loss_cls: focal(w.focal),
          loss_bbox: { type: 'L1Loss', loss_weight: w.l1 },
        },
        train_cfg: {
          assigner: { type: 'MaxIoUAssigner', pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0, ignore_iof_thr: -1 },
          sampler: { type: 'PseudoSampler' },
          allowed_border: -1,
          pos_weight: -1,
          debug: false,
        },
        test_cfg,
      };
    case 'fcos': {
      const ranges = (head as unknown as { cfg: { regressRanges: [number, number][] } }).cfg.regressRanges;
      return {
        bbox_head: {
          type: 'FCOSHead',
          ...common,
          norm_cfg: gn,
          strides: [...d.strides],
          regress_ranges: pyTuple(...ranges.map(([lo, hi]) => pyTuple(lo, hi))),
          center_sampling: false,
          norm_on_bbox: false,
          centerness_on_reg: false,
          loss_cls: focal(w.focal),
          loss_bbox: { type: 'IoULoss', loss_weight: w.iou },
          loss_centerness: centernessBce(w.centerness),
        },
        test_cfg,
      };
    }
  }
}

/** mmdetection's single-stage detector class of each head. */
export const MMDET_DETECTOR_TYPES = { gfl: 'GFL', atss: 'ATSS', retina: 'RetinaNet', fcos: 'FCOS' } as const;

/**
 * The `model` dict of a detector: data_preprocessor (our ImageNet normalisation of RGB
 * input, padding to the largest stride), ResNet, FPN (mmdetection's takes all four stages
 * and starts at level 1, as ours consumes strides 8–32), head, train_cfg, test_cfg.
 */
export function mmdetModel(d: Detector, normalisation: { mean: readonly number[]; std: readonly number[] }): PyDict {
  const backbone = mmdetBackbone(d.cfg.backbone);
  const { bbox_head, train_cfg, test_cfg } = mmdetHead(d);
  return {
    type: MMDET_DETECTOR_TYPES[d.bboxHead.type],
    // mmdetection loads images as BGR; bgr_to_rgb gives the RGB order our mean and std are in
    data_preprocessor: {
      type: 'DetDataPreprocessor',
      mean: [...normalisation.mean],
      std: [...normalisation.std],
      bgr_to_rgb: true,
      pad_size_divisor: d.sizeDivisor,
    },
    backbone,
    neck: {
      type: 'FPN',
      in_channels: [...d.cfg.backbone.stageChannels],
      out_channels: d.cfg.neck.outChannels,
      start_level: 1,
      add_extra_convs: 'on_output',
      num_outs: d.cfg.neck.numOuts,
      relu_before_extra_convs: d.cfg.neck.reluBeforeExtraConvs ?? false,
    },
    bbox_head,
    train_cfg,
    test_cfg,
  };
}

/** The training recipe: optimizer (+ gradient clipping), warm-up and step schedule, epochs, seed. */
export function mmdetSchedule(cfg: TrainConfig): PyDict {
  const t = cfg.train;
  const o = t.optimizer;
  const optimizer =
    o.type === 'sgd'
      ? { _delete_: true, type: 'SGD', lr: o.lr, momentum: o.momentum, weight_decay: o.weightDecay }
      : { _delete_: true, type: 'AdamW', lr: o.lr, betas: pyTuple(o.beta1 ?? 0.9, o.beta2 ?? 0.999), weight_decay: o.weightDecay };
  // _delete_: replace the base schedule's SGD rather than merge into it (AdamW takes no momentum)
  return {
    optim_wrapper: { type: 'OptimWrapper', optimizer, clip_grad: t.clipGradNorm === null ? null : { max_norm: t.clipGradNorm, norm_type: 2 } },
    param_scheduler: [
      { type: 'LinearLR', start_factor: t.warmupRatio, by_epoch: false, begin: 0, end: t.warmupIters },
      { type: 'MultiStepLR', begin: 0, end: t.epochs, by_epoch: true, milestones: [...t.lrStepEpochs], gamma: t.gamma },
    ],
    train_cfg: { type: 'EpochBasedTrainLoop', max_epochs: t.epochs, val_interval: 1 },
    // mmdetection's batch_size is per GPU: with --auto-scale-lr it scales lr from this total
    auto_scale_lr: { enable: false, base_batch_size: t.batchSize },
    randomness: { seed: cfg.seed },
  };
}

/**
 * The data settings over mmdetection's COCO base: our COCO folders (DIR/annotations.json,
 * DIR/images/), the class names, batch size and flip probability. Images are padded, never
 * resized, as ours (the data_preprocessor pads each batch).
 */
export function mmdetData(dirs: { train: string; val: string }, classes: readonly string[] | null, batchSize: number, flipProb: number): PyDict {
  const dataset = (dir: string, pipeline: PyDict[]) => ({
    data_root: '',
    ann_file: `${dir}/annotations.json`,
    data_prefix: { img: `${dir}/images/` },
    metainfo: classes ? pyName('metainfo') : undefined,
    pipeline,
  });
  // Resize by 1: no resizing, but the scale_factor meta that PackDetInputs and rescaling need
  const load = [{ type: 'LoadImageFromFile' }, { type: 'LoadAnnotations', with_bbox: true }, { type: 'Resize', scale_factor: pyFloat(1), keep_ratio: true }];
  const train = [...load, { type: 'RandomFlip', prob: flipProb }, { type: 'PackDetInputs' }];
  const test = [...load, { type: 'PackDetInputs' }];
  return {
    metainfo: classes ? { classes: pyTuple(...classes) } : undefined,
    train_dataloader: { batch_size: batchSize, dataset: dataset(dirs.train, train) },
    val_dataloader: { batch_size: 1, dataset: dataset(dirs.val, test) },
    test_dataloader: pyName('val_dataloader'),
    val_evaluator: { type: 'CocoMetric', ann_file: `${dirs.val}/annotations.json`, metric: 'bbox' },
    test_evaluator: pyName('val_evaluator'),
  };
}
