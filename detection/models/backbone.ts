/**
 * Backbones with GroupNorm (batch statistics are meaningless at the small batches of
 * these toy runs). Two families, so heterogeneous teacher–student pairs exist:
 * - ResNetGN: torchvision-style ResNet with BasicBlocks (`layer1.0.conv1.weight`, ...).
 * - PlainNetGN: a VGG-style stack of conv–GN–ReLU blocks, no residuals.
 * Both return the feature maps of the last three stages (strides 8, 16, 32).
 */
import { Module, ModuleList, InitSeeds, kaimingNormalInit } from '../../engine/nn/index.ts';
import { Conv2d, GroupNorm } from '../../engine/nn/layers.ts';
import { add, relu } from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

export interface BackboneConfig {
  type: 'resnet' | 'plain';
  /** channels of the stem conv (stride 2) */
  stemChannels: number;
  /** channels of the four stages (strides 4, 8, 16, 32) */
  stageChannels: [number, number, number, number];
  /** blocks per stage */
  depths: [number, number, number, number];
  /** GroupNorm groups (clamped to the channel count, which it must divide) */
  gnGroups: number;
}

export interface Backbone extends Module {
  /** channels of the returned maps (strides 8, 16, 32) */
  readonly outChannels: [number, number, number];
  forward(x: Tensor): Tensor[];
}

const groupsFor = (channels: number, wanted: number): number => {
  const g = Math.min(wanted, channels);
  if (channels % g) throw new Error(`backbone: ${channels} channels are not divisible by ${g} GroupNorm groups`);
  return g;
};

const conv = (cin: number, cout: number, k: number, stride: number, seeds: InitSeeds) =>
  new Conv2d(cin, cout, k, seeds, { stride, padding: (k - 1) / 2, bias: false, weightInit: kaimingNormalInit('fan_out') });

/** conv3x3–GN–ReLU–conv3x3–GN, plus the identity (or a strided 1×1 projection), then ReLU. */
class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly gn1: GroupNorm;
  readonly conv2: Conv2d;
  readonly gn2: GroupNorm;
  readonly downsample: DownSample | null;
  constructor(cin: number, cout: number, stride: number, gnGroups: number, seeds: InitSeeds) {
    super();
    this.conv1 = this.child('conv1', conv(cin, cout, 3, stride, seeds));
    this.gn1 = this.child('gn1', new GroupNorm(groupsFor(cout, gnGroups), cout));
    this.conv2 = this.child('conv2', conv(cout, cout, 3, 1, seeds));
    this.gn2 = this.child('gn2', new GroupNorm(groupsFor(cout, gnGroups), cout));
    this.downsample = stride !== 1 || cin !== cout ? this.child('downsample', new DownSample(cin, cout, stride, gnGroups, seeds)) : null;
  }
  forward(x: Tensor): Tensor {
    const h = this.gn1.forward(this.conv1.forward(x), { relu: true });
    const out = this.gn2.forward(this.conv2.forward(h));
    return relu(add(out, this.downsample ? this.downsample.forward(x) : x));
  }
}

/** The projection shortcut, named as torchvision's `downsample.0` (conv) and `.1` (norm). */
class DownSample extends Module {
  private readonly proj: Conv2d;
  private readonly norm: GroupNorm;
  constructor(cin: number, cout: number, stride: number, gnGroups: number, seeds: InitSeeds) {
    super();
    this.proj = this.child('0', conv(cin, cout, 1, stride, seeds));
    this.norm = this.child('1', new GroupNorm(groupsFor(cout, gnGroups), cout));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.proj.forward(x));
  }
}

/** conv–GN–ReLU, the unit of the plain family. */
export class ConvGnRelu extends Module {
  readonly conv: Conv2d;
  readonly gn: GroupNorm;
  constructor(cin: number, cout: number, stride: number, gnGroups: number, seeds: InitSeeds) {
    super();
    this.conv = this.child('conv', conv(cin, cout, 3, stride, seeds));
    this.gn = this.child('gn', new GroupNorm(groupsFor(cout, gnGroups), cout));
  }
  forward(x: Tensor): Tensor {
    return this.gn.forward(this.conv.forward(x), { relu: true });
  }
}

abstract class StagedBackbone extends Module implements Backbone {
  readonly outChannels: [number, number, number];
  protected readonly stem: ConvGnRelu;
  protected readonly stages: ModuleList<ModuleList<Module & { forward(x: Tensor): Tensor }>>;

  constructor(cfg: BackboneConfig, seeds: InitSeeds, block: (cin: number, cout: number, stride: number) => Module & { forward(x: Tensor): Tensor }) {
    super();
    validateBackbone(cfg);
    this.stem = this.child('stem', new ConvGnRelu(3, cfg.stemChannels, 2, cfg.gnGroups, seeds));
    let cin = cfg.stemChannels;
    const stages = cfg.stageChannels.map((cout, s) => {
      const blocks = Array.from({ length: cfg.depths[s] }, (_, b) => {
        const m = block(b === 0 ? cin : cout, cout, b === 0 ? 2 : 1);
        return m;
      });
      cin = cout;
      return new ModuleList(blocks);
    });
    this.stages = this.child('layers', new ModuleList(stages));
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

export class ResNetGN extends StagedBackbone {
  constructor(cfg: BackboneConfig, seeds: InitSeeds) {
    super(cfg, seeds, (cin, cout, stride) => new BasicBlock(cin, cout, stride, cfg.gnGroups, seeds));
  }
}

export class PlainNetGN extends StagedBackbone {
  constructor(cfg: BackboneConfig, seeds: InitSeeds) {
    super(cfg, seeds, (cin, cout, stride) => new ConvGnRelu(cin, cout, stride, cfg.gnGroups, seeds));
  }
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
  if (!Number.isInteger(cfg.stemChannels) || cfg.stemChannels <= 0) throw new Error(`${where}.stemChannels must be a positive integer, got ${cfg.stemChannels}`);
  if (!Number.isInteger(cfg.gnGroups) || cfg.gnGroups <= 0) throw new Error(`${where}.gnGroups must be a positive integer, got ${cfg.gnGroups}`);
}

export function buildBackbone(cfg: BackboneConfig, seeds: InitSeeds): Backbone {
  return cfg.type === 'resnet' ? new ResNetGN(cfg, seeds) : new PlainNetGN(cfg, seeds);
}
