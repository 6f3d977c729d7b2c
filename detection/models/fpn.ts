/**
 * Feature pyramid (mmdetection's FPN): lateral 1×1 convs, a top-down path of nearest ×2
 * upsampling and addition, 3×3 output convs, and extra levels by stride-2 3×3 convs on
 * the last output ("on_output"). Names: `lateral_convs.i.conv`, `fpn_convs.i.conv`.
 */
import { Module, ModuleList, type InitSeeds, xavierUniformInit } from '../../engine/nn/index.ts';
import { ConvModule } from '../../engine/nn/layers.ts';
import { add, relu, upsampleNearest2x } from '../../engine/ops/index.ts';
import { fmt } from '../../engine/shape.ts';
import type { Tensor } from '../../engine/tensor.ts';

export interface FpnConfig {
  outChannels: number;
  /** total output levels; those beyond the inputs are extra stride-2 convs */
  numOuts: number;
  /** ReLU before each extra conv (mmdetection's relu_before_extra_convs) */
  reluBeforeExtraConvs?: boolean;
}

export class FPN extends Module {
  private readonly lateral: ModuleList<ConvModule>;
  private readonly output: ModuleList<ConvModule>;
  constructor(
    readonly inChannels: readonly number[],
    readonly cfg: FpnConfig,
    seeds: InitSeeds,
  ) {
    super();
    if (cfg.numOuts < inChannels.length) throw new Error(`fpn.numOuts (${cfg.numOuts}) must be at least the number of input levels (${inChannels.length})`);
    const plain = { activation: false, gnGroups: null, weightInit: xavierUniformInit() };
    this.lateral = this.child('lateral_convs', new ModuleList(inChannels.map((c) => new ConvModule(c, cfg.outChannels, 1, seeds, plain))));
    const outs: ConvModule[] = inChannels.map(() => new ConvModule(cfg.outChannels, cfg.outChannels, 3, seeds, { ...plain, padding: 1 }));
    for (let i = inChannels.length; i < cfg.numOuts; i++)
      outs.push(new ConvModule(cfg.outChannels, cfg.outChannels, 3, seeds, { ...plain, padding: 1, stride: 2 }));
    this.output = this.child('fpn_convs', new ModuleList(outs));
  }

  forward(inputs: readonly Tensor[]): Tensor[] {
    if (inputs.length !== this.inChannels.length) throw new Error(`fpn: expected ${this.inChannels.length} input levels, got ${inputs.length}`);
    const laterals = inputs.map((x, i) => this.lateral.at(i).forward(x));
    for (let i = laterals.length - 1; i > 0; i--) {
      const up = upsampleNearest2x(laterals[i]);
      const [h, w] = [laterals[i - 1].shape[2], laterals[i - 1].shape[3]];
      if (up.shape[2] !== h || up.shape[3] !== w)
        throw new Error(
          `fpn: level ${i} upsampled to ${fmt(up.shape)} does not match level ${i - 1} (${h}×${w}); pad images to a multiple of the largest stride`,
        );
      laterals[i - 1] = add(laterals[i - 1], up);
    }
    const outs = laterals.map((l, i) => this.output.at(i).forward(l));
    for (let i = laterals.length; i < this.cfg.numOuts; i++) {
      const prev = outs[outs.length - 1];
      outs.push(this.output.at(i).forward(this.cfg.reluBeforeExtraConvs ? relu(prev) : prev));
    }
    return outs;
  }
}
