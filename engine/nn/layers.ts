/**
 * The layers dense detectors are made of: Conv2d, GroupNorm, BatchNorm2d, MaxPool2d, ReLU,
 * Scale, ConvModule.
 */
import { conv2d, type Conv2dOptions } from '../ops/conv.ts';
import { full, zeros } from '../ops/creation.ts';
import { maxPool2d, type MaxPool2dOptions } from '../ops/movement.ts';
import { batchNorm, groupNorm } from '../ops/norm.ts';
import { relu, mul } from '../ops/elementwise.ts';
import { tensor, type Tensor } from '../tensor.ts';
import { Module } from './module.ts';
import { constantInit, type Initializer, type InitSeeds, normalInit } from './init.ts';

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export interface Conv2dConfig extends Conv2dOptions {
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dOptions;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | readonly [number, number],
    seeds: InitSeeds,
    cfg: Conv2dConfig = {},
  ) {
    super();
    const [kh, kw] = pair(kernelSize);
    const groups = cfg.groups ?? 1;
    if (inChannels % groups || outChannels % groups)
      throw new Error(`Conv2d: in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${groups})`);
    this.options = { stride: cfg.stride ?? 1, padding: cfg.padding ?? 0, dilation: cfg.dilation ?? 1, groups };
    this.weight = this.param('weight', (cfg.weightInit ?? normalInit(0.01))([outChannels, inChannels / groups, kh, kw], seeds.next()));
    this.bias = cfg.bias === false ? null : this.param('bias', (cfg.biasInit ?? constantInit(0))([outChannels], seeds.next()));
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias ?? undefined, this.options);
  }
}

export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
  ) {
    super();
    if (numChannels % numGroups) throw new Error(`GroupNorm: channels (${numChannels}) must be divisible by groups (${numGroups})`);
    this.weight = this.param('weight', constantInit(1)([numChannels], 0));
    this.bias = this.param('bias', constantInit(0)([numChannels], 0));
  }
  /** With relu, the ReLU is fused into the normalisation kernel. */
  forward(x: Tensor, opts: { relu?: boolean } = {}): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.eps, relu: opts.relu ?? false });
  }
}

/**
 * PyTorch's BatchNorm2d: weight and bias (parameters), running_mean, running_var and
 * num_batches_tracked (buffers, in the checkpoint). In training mode (the module's
 * `training`) it normalises with the batch's statistics and moves the running ones; in
 * eval mode it uses the running ones, as a teacher or an mmdetection backbone with
 * norm_eval does while the rest trains.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  readonly eps: number;
  readonly momentum: number;
  constructor(
    readonly numChannels: number,
    { eps = 1e-5, momentum = 0.1 }: { eps?: number; momentum?: number } = {},
  ) {
    super();
    if (!Number.isInteger(numChannels) || numChannels < 1) throw new Error(`BatchNorm2d: channels must be a positive integer, got ${numChannels}`);
    this.eps = eps;
    this.momentum = momentum;
    this.weight = this.param('weight', constantInit(1)([numChannels], 0));
    this.bias = this.param('bias', constantInit(0)([numChannels], 0));
    this.runningMean = this.buffer('running_mean', zeros([numChannels]));
    this.runningVar = this.buffer('running_var', full([numChannels], 1));
    this.numBatchesTracked = this.buffer('num_batches_tracked', tensor(Int32Array.from([0]), [], 'int32'));
  }
  /** With relu, the ReLU is fused into the normalisation kernel. */
  forward(x: Tensor, opts: { relu?: boolean } = {}): Tensor {
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
      relu: opts.relu ?? false,
      numBatchesTracked: this.numBatchesTracked,
    });
  }
}

/** Max pooling (no parameters), as torch.nn.MaxPool2d with dilation 1 and floor mode. */
export class MaxPool2d extends Module {
  constructor(readonly options: MaxPool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** A learnable scalar multiplier (per FPN level in GFL/FCOS heads). */
export class Scale extends Module {
  readonly scale: Tensor;
  constructor(init = 1) {
    super();
    this.scale = this.param('scale', constantInit(init)([1], 0));
  }
  forward(x: Tensor): Tensor {
    return mul(x, this.scale);
  }
}

/**
 * mmcv's ConvModule: conv (no bias when normalised) → GroupNorm → ReLU, with the
 * parameter names mmdetection checkpoints use (`conv.weight`, `gn.weight`, `gn.bias`).
 */
export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly gn: GroupNorm | null;
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    seeds: InitSeeds,
    cfg: Conv2dConfig & { gnGroups?: number | null; activation?: boolean } = {},
  ) {
    super();
    const norm = cfg.gnGroups !== undefined && cfg.gnGroups !== null;
    this.conv = this.child('conv', new Conv2d(inChannels, outChannels, kernelSize, seeds, { ...cfg, bias: cfg.bias ?? !norm }));
    this.gn = norm ? this.child('gn', new GroupNorm(cfg.gnGroups!, outChannels)) : null;
    this.activation = cfg.activation ?? true;
  }
  private readonly activation: boolean;
  forward(x: Tensor): Tensor {
    const h = this.conv.forward(x);
    if (this.gn) return this.gn.forward(h, { relu: this.activation });
    return this.activation ? relu(h) : h;
  }
}
