/**
 * The head a config names (`model.head.type`, default 'gfl'), with the priors it uses:
 * GFL and ATSS one square anchor per location, RetinaNet nine, FCOS one point.
 */
import type { InitSeeds } from '../../engine/nn/index.ts';
import { AnchorGenerator, PointGenerator } from '../priors.ts';
import { ATSSHead } from './atss.ts';
import type { DenseHead } from './dense.ts';
import { DEFAULT_OCTAVE_BASE_SCALE, checkHeadConfig, headType, type HeadConfig, type HeadType } from './config.ts';
import { FCOSHead } from './fcos.ts';
import { GFLHead } from './gfl.ts';
import { RetinaHead } from './retina.ts';

export { HEAD_TYPES, LOSS_WEIGHT_KEYS, DEFAULT_OCTAVE_BASE_SCALE, checkHeadConfig, headType, type HeadConfig, type HeadType } from './config.ts';

export function buildHead(cfg: HeadConfig, shared: { numClasses: number; inChannels: number; numLevels: number }, seeds: InitSeeds): DenseHead {
  checkHeadConfig(cfg);
  const common = { ...shared, featChannels: cfg.featChannels, stackedConvs: cfg.stackedConvs, priorProb: cfg.priorProb, lossWeights: cfg.lossWeights };
  switch (headType(cfg)) {
    case 'gfl':
      return new GFLHead({ ...common, gnGroups: cfg.gnGroups!, regMax: cfg.regMax! }, seeds);
    case 'atss':
      return new ATSSHead({ ...common, gnGroups: cfg.gnGroups! }, seeds);
    case 'retina':
      return new RetinaHead(common, seeds);
    case 'fcos':
      return new FCOSHead({ ...common, gnGroups: cfg.gnGroups!, regressRanges: cfg.regressRanges }, seeds);
  }
}

/**
 * The prior generator of a head type: anchors of side octaveBaseScale·stride (GFL, ATSS:
 * ratio 1; RetinaNet: ratios 0.5, 1, 2 × 3 scales per octave), or FCOS's cell-centre points.
 */
export function priorGeneratorFor(type: HeadType, strides: readonly number[], anchors?: { octaveBaseScale: number }): AnchorGenerator | PointGenerator {
  if (type === 'fcos') return new PointGenerator(strides, 0.5);
  const octaveBaseScale = anchors?.octaveBaseScale ?? DEFAULT_OCTAVE_BASE_SCALE[type];
  return type === 'retina'
    ? new AnchorGenerator({ strides, ratios: [0.5, 1, 2], octaveBaseScale, scalesPerOctave: 3 })
    : new AnchorGenerator({ strides, ratios: [1], octaveBaseScale, scalesPerOctave: 1 });
}
