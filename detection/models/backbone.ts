/**
 * Backbones. Two families, so heterogeneous teacher–student pairs exist:
 * - ResNet, with torchvision's and mmdetection's layout and key names (`conv1`, `bn1` or
 *   `gn1`, `layer1.0.conv1`, `layer1.0.downsample.0/1`, `running_mean`, ...): BasicBlocks
 *   (ResNet-18/34) or Bottlenecks (50/101, mmdetection's "pytorch" style: the stride on the
 *   3×3 conv), GroupNorm or BatchNorm, and either torchvision's stem (7×7 stride-2 conv +
 *   3×3 stride-2 max pool, stage 1 at stride 1) or the toy presets' (a 3×3 stride-2 conv,
 *   stage 1 strided). mmdetection's `norm_eval` (batch norms keep their running statistics
 *   while the rest trains) and `frozen_stages` (stem and the first stages frozen) too.
 * - PlainNet: a VGG-style stack of conv–norm–ReLU blocks, no residuals (`stem`, `layers`).
 * Both return the feature maps of the last three stages (strides 8, 16, 32), as
 * mmdetection's FPN with start_level 1 consumes them.
 */
import { BatchNorm2d, Conv2d, GroupNorm, MaxPool2d } from '../../engine/nn/layers.ts';
import { Module, ModuleList, type InitSeeds, kaimingNormalInit } from '../../engine/nn/index.ts';
import { add, relu } from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

export type BackboneNorm = 'GN' | 'BN';

export interface BackboneConfig {
  type: 'resnet' | 'plain';
  /** channels of the stem conv (stride 2) */
  stemChannels: number;
  /** output channels of the four stages (strides 4, 8, 16, 32) */
  stageChannels: [number, number, number, number];
  /** blocks per stage */
  depths: [number, number, number, number];
  /** GroupNorm groups (clamped to the channel count, which it must divide); GN only */
  gnGroups?: number;
  /** the normalisation (default GN: batch statistics are noise at the toy batch sizes) */
  norm?: BackboneNorm;
  /** 'conv3x3' (default, the toy presets') or torchvision's 'conv7x7_maxpool' */
  stem?: 'conv3x3' | 'conv7x7_maxpool';
  /** ResNet block (default 'basic'); a bottleneck's width is a quarter of its output */
  block?: 'basic' | 'bottleneck';
  /** batch norms stay in eval mode while training (mmdetection's norm_eval) */
  normEval?: boolean;
  /** -1 (default): none; 0: the stem; k: the stem and stages 1..k are frozen and in eval mode */
  frozenStages?: number;
}

export interface Backbone extends Module {
  /** channels of the returned maps (strides 8, 16, 32) */
  readonly outChannels: [number, number, number];
  forward(x: Tensor): Tensor[];
}

/** The torchvision ResNets: depths and stage widths (outputs) of each. */
export const TORCHVISION_RESNETS = {
  18: { block: 'basic', depths: [2, 2, 2, 2], stageChannels: [64, 128, 256, 512] },
  34: { block: 'basic', depths: [3, 4, 6, 3], stageChannels: [64, 128, 256, 512] },
  50: { block: 'bottleneck', depths: [3, 4, 6, 3], stageChannels: [256, 512, 1024, 2048] },
  101: { block: 'bottleneck', depths: [3, 4, 23, 3], stageChannels: [256, 512, 1024, 2048] },
} as const;

/** The config of torchvision's ResNet-`depth` (BN by default, as every pretrained one). */
export function torchvisionResNet(depth: keyof typeof TORCHVISION_RESNETS, extra: Partial<BackboneConfig> = {}): BackboneConfig {
  const r = TORCHVISION_RESNETS[depth];
  return {
    type: 'resnet',
    stem: 'conv7x7_maxpool',
    stemChannels: 64,
    block: r.block,
    depths: [...r.depths],
    stageChannels: [...r.stageChannels],
    norm: 'BN',
    ...extra,
  };
}

type Norm = GroupNorm | BatchNorm2d;

/** Builds the configured norm layer for `channels`. */
function normLayer(cfg: BackboneConfig, channels: number): Norm {
  if ((cfg.norm ?? 'GN') === 'BN') return new BatchNorm2d(channels);
  const g = Math.min(cfg.gnGroups!, channels);
  if (channels % g) throw new Error(`backbone: ${channels} channels are not divisible by ${g} GroupNorm groups`);
  return new GroupNorm(g, channels);
}

/** The norm's key: mmdetection's abbreviation and a postfix (`bn1`, `gn2`). */
const normName = (cfg: BackboneConfig, k: number | string) => `${(cfg.norm ?? 'GN') === 'BN' ? 'bn' : 'gn'}${k}`;

const conv = (cin: number, cout: number, k: number, stride: number, seeds: InitSeeds) =>
  new Conv2d(cin, cout, k, seeds, { stride, padding: (k - 1) / 2, bias: false, weightInit: kaimingNormalInit('fan_out') });

type Block = Module & { forward(x: Tensor): Tensor };

/** The projection shortcut, named as torchvision's `downsample.0` (conv) and `.1` (norm). */
class DownSample extends Module {
  private readonly proj: Conv2d;
  private readonly norm: Norm;
  constructor(cin: number, cout: number, stride: number, cfg: BackboneConfig, seeds: InitSeeds) {
    super();
    this.proj = this.child('0', conv(cin, cout, 1, stride, seeds));
    this.norm = this.child('1', normLayer(cfg, cout));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.proj.forward(x));
  }
}

/**
 * A residual block: convs `conv1..n` with norms `bn1..n`/`gn1..n` (ReLU after each but
 * the last), plus the identity or a projection (`downsample`), then ReLU.
 */
class ResidualBlock extends Module {
  private readonly convs: Conv2d[];
  private readonly norms: Norm[];
  private readonly downsample: DownSample | null;
  constructor(convs: Conv2d[], cfg: BackboneConfig, cin: number, stride: number, seeds: InitSeeds) {
    super();
    // registered as torchvision does, conv1, bn1, conv2, bn2, …: the parameter order
    this.convs = [];
    this.norms = [];
    convs.forEach((c, i) => {
      this.convs.push(this.child(`conv${i + 1}`, c));
      this.norms.push(this.child(normName(cfg, i + 1), normLayer(cfg, c.outChannels)));
    });
    const cout = convs[convs.length - 1].outChannels;
    this.downsample = stride !== 1 || cin !== cout ? this.child('downsample', new DownSample(cin, cout, stride, cfg, seeds)) : null;
  }
  forward(x: Tensor): Tensor {
    let h = x;
    const last = this.convs.length - 1;
    this.convs.forEach((c, i) => (h = this.norms[i].forward(c.forward(h), { relu: i < last })));
    return relu(add(h, this.downsample ? this.downsample.forward(x) : x));
  }
}

/** conv3x3–norm–ReLU–conv3x3–norm (+ shortcut), ReLU: ResNet-18/34's block. */
const basicBlock = (cin: number, cout: number, stride: number, cfg: BackboneConfig, seeds: InitSeeds) =>
  new ResidualBlock([conv(cin, cout, 3, stride, seeds), conv(cout, cout, 3, 1, seeds)], cfg, cin, stride, seeds);

/** conv1x1–conv3x3 (strided)–conv1x1 to 4× the width (+ shortcut): ResNet-50/101's block. */
function bottleneck(cin: number, cout: number, stride: number, cfg: BackboneConfig, seeds: InitSeeds): ResidualBlock {
  const width = cout / 4;
  return new ResidualBlock([conv(cin, width, 1, 1, seeds), conv(width, width, 3, stride, seeds), conv(width, cout, 1, 1, seeds)], cfg, cin, stride, seeds);
}

/** conv–norm–ReLU, the unit of the plain family (`conv`, `gn`/`bn`). */
export class ConvNormRelu extends Module {
  readonly conv: Conv2d;
  readonly norm: Norm;
  constructor(cin: number, cout: number, stride: number, cfg: BackboneConfig, seeds: InitSeeds) {
    super();
    this.conv = this.child('conv', conv(cin, cout, 3, stride, seeds));
    this.norm = this.child(normName(cfg, ''), normLayer(cfg, cout));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x), { relu: true });
  }
}

/** Every module in the tree under (and including) `m`. */
function* modulesOf(m: Module): Generator<Module> {
  yield m;
  for (const [, c] of m.namedChildren()) yield* modulesOf(c);
}

/** Four stages of blocks; the first block of a stage changes width and, but for a stride-4 stem's stage 1, strides by 2. */
function buildStages(cfg: BackboneConfig, stage1Stride: number, block: (cin: number, cout: number, stride: number) => Block): ModuleList<Block>[] {
  let cin = cfg.stemChannels;
  return cfg.stageChannels.map((cout, s) => {
    const blocks = Array.from({ length: cfg.depths[s] }, (_, b) => block(b === 0 ? cin : cout, cout, b > 0 ? 1 : s === 0 ? stage1Stride : 2));
    cin = cout;
    return new ModuleList(blocks);
  });
}

export class ResNet extends Module implements Backbone {
  readonly outChannels: [number, number, number];
  private readonly conv1: Conv2d;
  private readonly norm1: Norm;
  private readonly maxpool: MaxPool2d | null;
  private readonly stages: ModuleList<Block>[];

  constructor(
    readonly cfg: BackboneConfig,
    seeds: InitSeeds,
  ) {
    super();
    validateBackbone(cfg);
    const torchvisionStem = cfg.stem === 'conv7x7_maxpool';
    this.conv1 = this.child('conv1', conv(3, cfg.stemChannels, torchvisionStem ? 7 : 3, 2, seeds));
    this.norm1 = this.child(normName(cfg, 1), normLayer(cfg, cfg.stemChannels));
    this.maxpool = torchvisionStem ? new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }) : null;
    const make = cfg.block === 'bottleneck' ? bottleneck : basicBlock;
    this.stages = buildStages(cfg, torchvisionStem ? 1 : 2, (cin, cout, stride) => make(cin, cout, stride, cfg, seeds));
    this.stages.forEach((stage, s) => this.child(`layer${s + 1}`, stage));
    this.outChannels = [cfg.stageChannels[1], cfg.stageChannels[2], cfg.stageChannels[3]];
    for (const m of this.frozenModules()) m.freeze();
    this.train(true);
  }

  /** The stem and stages 1..frozenStages (mmdetection's _freeze_stages). */
  private frozenModules(): Module[] {
    const k = this.cfg.frozenStages ?? -1;
    return k < 0 ? [] : [this.conv1, this.norm1, ...this.stages.slice(0, k)];
  }

  /** Frozen parts stay in eval mode, and with normEval every batch norm does. */
  override train(on = true): this {
    super.train(on);
    if (!on) return this;
    for (const m of this.frozenModules()) m.eval();
    if (this.cfg.normEval) for (const m of modulesOf(this)) if (m instanceof BatchNorm2d) m.eval();
    return this;
  }

  forward(x: Tensor): Tensor[] {
    let h = this.norm1.forward(this.conv1.forward(x), { relu: true });
    if (this.maxpool) h = this.maxpool.forward(h);
    const outs: Tensor[] = [];
    this.stages.forEach((stage, s) => {
      for (const block of stage.items) h = block.forward(h);
      if (s >= 1) outs.push(h);
    });
    return outs;
  }
}

export class PlainNet extends Module implements Backbone {
  readonly outChannels: [number, number, number];
  private readonly stem: ConvNormRelu;
  private readonly stages: ModuleList<ModuleList<Block>>;
  constructor(cfg: BackboneConfig, seeds: InitSeeds) {
    super();
    validateBackbone(cfg);
    this.stem = this.child('stem', new ConvNormRelu(3, cfg.stemChannels, 2, cfg, seeds));
    this.stages = this.child('layers', new ModuleList(buildStages(cfg, 2, (cin, cout, stride) => new ConvNormRelu(cin, cout, stride, cfg, seeds))));
    this.outChannels = [cfg.stageChannels[1], cfg.stageChannels[2], cfg.stageChannels[3]];
  }
  forward(x: Tensor): Tensor[] {
    let h = this.stem.forward(x);
    const outs: Tensor[] = [];
    this.stages.items.forEach((stage, s) => {
      for (const block of stage.items) h = block.forward(h);
      if (s >= 1) outs.push(h);
    });
    return outs;
  }
}

/**
 * The key a ResNet checkpoint written before the torchvision naming used, in today's
 * names: `backbone.stem.conv.*` → `backbone.conv1.*`, `backbone.stem.gn.*` →
 * `backbone.gn1.*`, `backbone.layers.I.*` → `backbone.layer{I+1}.*` (the blocks inside
 * were already named `conv1`, `gn1`, `downsample.0/1`). Other keys come back unchanged.
 */
export function renameLegacyResNetKey(key: string): string {
  return key
    .replace(/^backbone\.stem\.conv\./, 'backbone.conv1.')
    .replace(/^backbone\.stem\.gn\./, 'backbone.gn1.')
    .replace(/^backbone\.layers\.(\d+)\./, (_m, i: string) => `backbone.layer${Number(i) + 1}.`);
}

export function validateBackbone(cfg: BackboneConfig): void {
  const where = 'backbone';
  if (cfg.type !== 'resnet' && cfg.type !== 'plain') throw new Error(`${where}.type must be 'resnet' or 'plain', got ${JSON.stringify(cfg.type)}`);
  const positiveInts = (name: string, v: unknown, n: number) => {
    if (!Array.isArray(v) || v.length !== n || !v.every((d) => Number.isInteger(d) && d > 0))
      throw new Error(`${where}.${name} must be ${n} positive integers, got ${JSON.stringify(v)}`);
  };
  positiveInts('stageChannels', cfg.stageChannels, 4);
  positiveInts('depths', cfg.depths, 4);
  if (!Number.isInteger(cfg.stemChannels) || cfg.stemChannels <= 0)
    throw new Error(`${where}.stemChannels must be a positive integer, got ${cfg.stemChannels}`);
  const norm = cfg.norm ?? 'GN';
  if (norm !== 'GN' && norm !== 'BN') throw new Error(`${where}.norm must be 'GN' or 'BN', got ${JSON.stringify(cfg.norm)}`);
  if (norm === 'GN' && !(Number.isInteger(cfg.gnGroups) && cfg.gnGroups! > 0))
    throw new Error(`${where}.gnGroups must be a positive integer with norm 'GN', got ${cfg.gnGroups}`);
  if (cfg.stem !== undefined && cfg.stem !== 'conv3x3' && cfg.stem !== 'conv7x7_maxpool')
    throw new Error(`${where}.stem must be 'conv3x3' or 'conv7x7_maxpool', got ${JSON.stringify(cfg.stem)}`);
  if (cfg.block !== undefined && cfg.block !== 'basic' && cfg.block !== 'bottleneck')
    throw new Error(`${where}.block must be 'basic' or 'bottleneck', got ${JSON.stringify(cfg.block)}`);
  if (cfg.type === 'plain') {
    for (const key of ['stem', 'block', 'normEval', 'frozenStages'] as const)
      if (cfg[key] !== undefined) throw new Error(`${where}.${key} is a ResNet option; the plain backbone has none`);
  }
  if (cfg.block === 'bottleneck') {
    const bad = cfg.stageChannels.find((c) => c % 4 !== 0);
    if (bad !== undefined) throw new Error(`${where}.stageChannels must be multiples of 4 with bottleneck blocks (width = channels / 4), got ${bad}`);
  }
  const k = cfg.frozenStages ?? -1;
  if (!Number.isInteger(k) || k < -1 || k > 4) throw new Error(`${where}.frozenStages must be an integer in [-1, 4], got ${cfg.frozenStages}`);
}

export function buildBackbone(cfg: BackboneConfig, seeds: InitSeeds): Backbone {
  return cfg.type === 'resnet' ? new ResNet(cfg, seeds) : new PlainNet(cfg, seeds);
}
