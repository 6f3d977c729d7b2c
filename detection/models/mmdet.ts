/**
 * mmdetection's model configs expressed as ours, so their checkpoints load by key: GFL
 * R50-FPN (configs/gfl/gfl_r50_fpn_1x_coco.py), whose backbone is torchvision's ResNet-50
 * with BN in eval mode (norm_eval) and the stem and stage 1 frozen (frozen_stages 1), the
 * FPN at 256 channels with two extra levels on the output, and the GFL head (4 stacked
 * convs, GN 32, reg_max 16, anchors of octave scale 8).
 */
import type { DetectorConfig } from '../detector.ts';
import { torchvisionResNet } from './backbone.ts';

export function mmdetGflR50Fpn(numClasses = 80, seed = 0): DetectorConfig {
  return {
    numClasses,
    seed,
    backbone: torchvisionResNet(50, { normEval: true, frozenStages: 1 }),
    neck: { outChannels: 256, numOuts: 5 },
    head: { type: 'gfl', featChannels: 256, stackedConvs: 4, gnGroups: 32, regMax: 16 },
    anchors: { octaveBaseScale: 8 },
  };
}
