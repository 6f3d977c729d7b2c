/**
 * A one-stage dense detector: backbone → FPN → head, with mmdetection's top-level names
 * (`backbone.*`, `neck.*`, `bbox_head.*`), its priors, and inference to detections.
 */
import * as E from '../engine/index.ts';
import { Module, InitSeeds } from '../engine/nn/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { buildBackbone, type Backbone, type BackboneConfig } from './models/backbone.ts';
import { FPN, type FpnConfig } from './models/fpn.ts';
import { GFLHead, type GflHeadConfig, type HeadOutputs } from './heads/gfl.ts';
import { AnchorGenerator, type FeatmapSize, type MultiLevelPriors } from './priors.ts';
import { postprocessImage, type Detections, type PostprocessConfig } from './postprocess.ts';

export interface DetectorConfig {
  numClasses: number;
  backbone: BackboneConfig;
  neck: FpnConfig;
  head: Omit<GflHeadConfig, 'numClasses' | 'inChannels' | 'numLevels'>;
  /** one square anchor per location of side octaveBaseScale·stride (GFL/ATSS) */
  anchors: { octaveBaseScale: number };
  /** seed of the weight initialisation */
  seed: number;
}

/** Strides of the FPN outputs: the backbone gives 8, 16, 32; extra levels double on. */
export function fpnStrides(numOuts: number): number[] {
  return Array.from({ length: numOuts }, (_, i) => 8 * 2 ** i);
}

export class Detector extends Module {
  readonly backbone: Backbone;
  readonly neck: FPN;
  readonly bboxHead: GFLHead;
  readonly strides: number[];
  readonly anchorGenerator: AnchorGenerator;

  constructor(readonly cfg: DetectorConfig) {
    super();
    const seeds = new InitSeeds(cfg.seed);
    this.backbone = this.child('backbone', buildBackbone(cfg.backbone, seeds));
    this.neck = this.child('neck', new FPN(this.backbone.outChannels, cfg.neck, seeds));
    this.bboxHead = this.child(
      'bbox_head',
      new GFLHead({ ...cfg.head, numClasses: cfg.numClasses, inChannels: cfg.neck.outChannels, numLevels: cfg.neck.numOuts }, seeds),
    );
    this.strides = fpnStrides(cfg.neck.numOuts);
    this.anchorGenerator = new AnchorGenerator({
      strides: this.strides,
      ratios: [1],
      octaveBaseScale: cfg.anchors.octaveBaseScale,
      scalesPerOctave: 1,
    });
  }

  /** Images must be padded to a multiple of this. */
  get sizeDivisor(): number {
    return this.strides[this.strides.length - 1];
  }

  featmapSizes(height: number, width: number): FeatmapSize[] {
    if (height % this.sizeDivisor || width % this.sizeDivisor)
      throw new Error(`detector: input ${height}×${width} must be a multiple of ${this.sizeDivisor} (pad the batch)`);
    return this.strides.map((s) => [height / s, width / s] as const);
  }

  priors(height: number, width: number): MultiLevelPriors {
    return this.anchorGenerator.gridPriors(this.featmapSizes(height, width));
  }

  /** FPN features of a batch [N, 3, H, W]. */
  features(images: Tensor): Tensor[] {
    return this.neck.forward(this.backbone.forward(images));
  }

  forward(images: Tensor, opts: { keepFeats?: boolean } = {}): HeadOutputs & { fpn: Tensor[] } {
    const fpn = this.features(images);
    return { ...this.bboxHead.forward(fpn, opts), fpn };
  }

  /**
   * Detections per image (CPU post-processing after one readback of the decoded batch).
   * `imageSizes` are the un-padded [height, width] of each image.
   */
  async predict(images: Tensor, imageSizes: readonly (readonly [number, number])[], config?: Partial<PostprocessConfig>): Promise<Detections[]> {
    const [n, , h, w] = images.shape;
    if (imageSizes.length !== n) throw new Error(`predict: ${imageSizes.length} image sizes for a batch of ${n}`);
    const priors = this.priors(h, w);
    const P = priors.levelOf.length;
    const centers = new Float32Array(n * P * 2);
    const strides = new Float32Array(n * P);
    for (let i = 0; i < n; i++)
      for (let p = 0; p < P; p++) {
        const a = 4 * p;
        centers[2 * (i * P + p)] = (priors.priors[a] + priors.priors[a + 2]) / 2;
        centers[2 * (i * P + p) + 1] = (priors.priors[a + 1] + priors.priors[a + 3]) / 2;
        strides[i * P + p] = this.strides[priors.levelOf[p]];
      }
    const decoded = E.scope(() => {
      const out = E.noGrad(() => this.forward(images));
      return this.bboxHead.decode(out, E.tensor(centers, [n * P, 2]), E.tensor(strides, [n * P, 1]));
    });
    const [scores, boxes] = await Promise.all([decoded.scores.data(), decoded.boxes.data()]);
    decoded.scores.dispose();
    decoded.boxes.dispose();
    const C = this.cfg.numClasses;
    return imageSizes.map((size, i) => {
      const levels = priors.numLevelPriors.map((count, l) => {
        const start = i * P + priors.levelStart[l];
        return {
          scores: scores.subarray(start * C, (start + count) * C),
          bboxes: boxes.subarray(start * 4, (start + count) * 4),
        };
      });
      return postprocessImage(levels, C, { imageSize: [size[0], size[1]], config });
    });
  }
}
