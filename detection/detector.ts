/**
 * A one-stage dense detector: backbone → FPN → head, with mmdetection's top-level names
 * (`backbone.*`, `neck.*`, `bbox_head.*`), its priors, and inference to detections.
 */
import * as E from '../engine/index.ts';
import { Module, InitSeeds, type CopyInto, type StateValue } from '../engine/nn/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { buildBackbone, renameLegacyResNetKey, type Backbone, type BackboneConfig } from './models/backbone.ts';
import { FPN, type FpnConfig } from './models/fpn.ts';
import type { DenseHead, HeadOutputs, PriorTensors } from './heads/dense.ts';
import type { DenseTargets } from './heads/gflTargets.ts';
import { buildHead, priorGeneratorFor, headType, type HeadConfig } from './heads/index.ts';
import { AnchorGenerator, type FeatmapSize, type MultiLevelPriors, type PointGenerator } from './priors.ts';
import { postprocessImage, type Detections, type PostprocessConfig } from './postprocess.ts';
import type { DetectionBatch } from './data/loader.ts';

export interface DetectorConfig {
  numClasses: number;
  backbone: BackboneConfig;
  neck: FpnConfig;
  /** the head type (default 'gfl') and its settings (detection/heads/index.ts) */
  head: HeadConfig;
  /**
   * anchors of side octaveBaseScale·stride (GFL, ATSS, RetinaNet; default mmdetection's
   * 8, 8, 4); FCOS uses points instead
   */
  anchors?: { octaveBaseScale: number };
  /** seed of the weight initialisation */
  seed: number;
}

/**
 * Checkpoint prefix of the modules trained with a detector that are not part of it
 * (CrossKD's adapter: `distill.adapter.cls.weight`, ...). They are saved with the detector
 * so that a run resumes exactly; a detector without them (inference, a teacher) skips
 * those tensors on load.
 */
export const TRAINING_ONLY_PREFIX = 'distill.';

/** Named modules under one prefix. */
class ModuleGroup extends Module {
  add<M extends Module>(name: string, m: M): M {
    return this.child(name, m);
  }
}

/** Strides of the FPN outputs: the backbone gives 8, 16, 32; extra levels double on. */
export function fpnStrides(numOuts: number): number[] {
  return Array.from({ length: numOuts }, (_, i) => 8 * 2 ** i);
}

export class Detector extends Module {
  readonly backbone: Backbone;
  readonly neck: FPN;
  readonly bboxHead: DenseHead;
  readonly strides: number[];
  readonly priorGenerator: AnchorGenerator | PointGenerator;

  constructor(readonly cfg: DetectorConfig) {
    super();
    const seeds = new InitSeeds(cfg.seed);
    this.backbone = this.child('backbone', buildBackbone(cfg.backbone, seeds));
    this.neck = this.child('neck', new FPN(this.backbone.outChannels, cfg.neck, seeds));
    this.bboxHead = this.child(
      'bbox_head',
      buildHead(cfg.head, { numClasses: cfg.numClasses, inChannels: cfg.neck.outChannels, numLevels: cfg.neck.numOuts }, seeds),
    );
    this.strides = fpnStrides(cfg.neck.numOuts);
    this.priorGenerator = priorGeneratorFor(headType(cfg.head), this.strides, cfg.anchors);
  }

  private trainingOnly: ModuleGroup | null = null;

  /**
   * Registers a module trained along with the detector but not used by its forward (e.g.
   * CrossKD's adapter): its parameters join the detector's (optimizer, clipping,
   * checkpoints, under TRAINING_ONLY_PREFIX + name). Attach before creating the optimizer.
   */
  attachTrainingModule<M extends Module>(name: string, m: M): M {
    this.trainingOnly ??= this.child(TRAINING_ONLY_PREFIX.slice(0, -1), new ModuleGroup());
    this.ownKeys = null;
    return this.trainingOnly.add(name, m);
  }

  /**
   * The name this detector has for a checkpoint key: the key itself, or, for a ResNet
   * checkpoint written before the torchvision naming (`backbone.stem.*`,
   * `backbone.layers.I.*`), today's name for it, so that older checkpoints, teachers and
   * optimizer states keep loading.
   */
  currentKey(key: string): string {
    const own = (this.ownKeys ??= new Set(this.stateDict().keys()));
    if (own.has(key)) return key;
    const renamed = renameLegacyResNetKey(key);
    return own.has(renamed) ? renamed : key;
  }
  private ownKeys: Set<string> | null = null;

  /**
   * As Module's (strict), except that training-only tensors this detector has no module
   * for are skipped and legacy backbone keys are renamed (currentKey).
   */
  override loadStateDict(values: Map<string, StateValue>, copyInto: CopyInto): void {
    const own = new Set(this.stateDict().keys());
    const current = [...values]
      .map(([name, v]) => [this.currentKey(name), v] as const)
      .filter(([name]) => !name.startsWith(TRAINING_ONLY_PREFIX) || own.has(name));
    super.loadStateDict(new Map(current), copyInto);
  }

  /** The anchors of an anchor-based head (GFL, ATSS, RetinaNet); FCOS has points only. */
  get anchorGenerator(): AnchorGenerator {
    if (!(this.priorGenerator instanceof AnchorGenerator))
      throw new Error(`detector: head type '${this.bboxHead.type}' has point priors, not anchors (use priorGenerator)`);
    return this.priorGenerator;
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
    return this.priorGenerator.gridPriors(this.featmapSizes(height, width));
  }

  /** The priors of an n-image batch as GPU constants, rows in the N·P flattening. */
  priorTensors(n: number, height: number, width: number): PriorTensors {
    const priors = this.priors(height, width);
    const P = priors.levelOf.length;
    const dim = priors.dim;
    const boxes = new Float32Array(n * P * dim);
    const centers = new Float32Array(n * P * 2);
    const strides = new Float32Array(n * P);
    for (let p = 0; p < P; p++) {
      const a = dim * p;
      const [cx, cy] =
        dim === 4
          ? [(priors.priors[a] + priors.priors[a + 2]) / 2, (priors.priors[a + 1] + priors.priors[a + 3]) / 2]
          : [priors.priors[a], priors.priors[a + 1]];
      for (let i = 0; i < n; i++) {
        const row = i * P + p;
        for (let k = 0; k < dim; k++) boxes[row * dim + k] = priors.priors[a + k];
        centers[2 * row] = cx;
        centers[2 * row + 1] = cy;
        strides[row] = this.strides[priors.levelOf[p]];
      }
    }
    return { priors: E.tensor(boxes, [n * P, dim]), centers: E.tensor(centers, [n * P, 2]), strides: E.tensor(strides, [n * P, 1]) };
  }

  /** The head's training targets of a batch (its assigner on its priors, CPU). */
  buildTargets(batch: Pick<DetectionBatch, 'padSize' | 'imageSizes' | 'gtBoxes' | 'gtLabels'>): DenseTargets {
    const [h, w] = batch.padSize;
    const featmaps = this.featmapSizes(h, w);
    return this.bboxHead.buildTargets(
      this.priorGenerator.gridPriors(featmaps),
      this.strides,
      batch.gtBoxes.map((gtBoxes, i) => ({ gtBoxes, gtLabels: batch.gtLabels[i], validFlags: this.priorGenerator.validFlags(featmaps, batch.imageSizes[i]) })),
    );
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
   * Detections per image (CPU post-processing after one readback of the decoded batch),
   * with the head's test settings. `imageSizes` are the un-padded [height, width] of each
   * image.
   */
  async predict(images: Tensor, imageSizes: readonly (readonly [number, number])[], config?: Partial<PostprocessConfig>): Promise<Detections[]> {
    const [n, , h, w] = images.shape;
    if (imageSizes.length !== n) throw new Error(`predict: ${imageSizes.length} image sizes for a batch of ${n}`);
    const priors = this.priors(h, w);
    const P = priors.levelOf.length;
    const decoded = E.scope(() => {
      const out = E.noGrad(() => this.forward(images));
      return this.bboxHead.decode(out, this.priorTensors(n, h, w));
    });
    const [scores, boxes, factors] = await Promise.all([decoded.scores.data(), decoded.boxes.data(), decoded.scoreFactors?.data()]);
    for (const t of [decoded.scores, decoded.boxes, decoded.scoreFactors]) t?.dispose();
    const C = this.cfg.numClasses;
    const settings = { ...this.bboxHead.testConfig, ...config };
    return imageSizes.map((size, i) => {
      const levels = priors.numLevelPriors.map((count, l) => {
        const start = i * P + priors.levelStart[l];
        return {
          scores: scores.subarray(start * C, (start + count) * C),
          bboxes: boxes.subarray(start * 4, (start + count) * 4),
          scoreFactors: factors?.subarray(start, start + count),
        };
      });
      return postprocessImage(levels, C, { imageSize: [size[0], size[1]], config: settings });
    });
  }
}
