/**
 * Optimizers with fused WGSL update kernels (kernels/sgd.wgsl, adamw.wgsl): one dispatch
 * per parameter per step, in place, no readback. The learning rate is a plain number
 * set each step (from a schedule), so changing it costs nothing.
 */
import { runtime } from '../runtime.ts';
import { keep, type Tensor } from '../tensor.ts';
import { full, zeros } from '../ops/creation.ts';
import { elementwiseGroups } from '../ops/util.ts';

export interface OptimizerState {
  step: number;
  /** per parameter name, per slot ("momentum", "exp_avg", ...) */
  slots: Map<string, Map<string, Tensor>>;
}

export abstract class Optimizer {
  lr: number;
  stepCount = 0;
  protected readonly slots = new Map<string, Map<string, Tensor>>();
  private readonly one: Tensor;

  constructor(
    readonly params: readonly [string, Tensor][],
    lr: number,
  ) {
    if (!(lr >= 0)) throw new Error(`optimizer: lr must be ≥ 0, got ${lr}`);
    const names = new Set<string>();
    for (const [name, p] of params) {
      if (names.has(name)) throw new Error(`optimizer: parameter '${name}' given twice`);
      names.add(name);
      if (!p.requiresGrad) throw new Error(`optimizer: parameter '${name}' is frozen (requiresGrad false); leave it out`);
    }
    this.lr = lr;
    this.one = keep(full([1], 1));
  }

  protected slot(name: string, slotName: string, like: Tensor): Tensor {
    let perParam = this.slots.get(name);
    if (!perParam) this.slots.set(name, (perParam = new Map()));
    let t = perParam.get(slotName);
    if (!t) {
      t = keep(zeros(like.shape));
      perParam.set(slotName, t);
    }
    return t;
  }

  /**
   * Applies one update to every parameter that has a gradient. `gradScale` (a GPU scalar,
   * e.g. from clipGradNorm) multiplies every gradient.
   */
  step(gradScale?: Tensor): void {
    this.stepCount++;
    for (const [name, p] of this.params) {
      if (!p.grad) continue;
      this.update(name, p, p.grad, gradScale ?? this.one);
    }
  }

  protected abstract update(name: string, p: Tensor, g: Tensor, gradScale: Tensor): void;

  zeroGrad(): void {
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Slots and step count, for checkpoints (tensors are shared, not copied). */
  state(): OptimizerState {
    return { step: this.stepCount, slots: this.slots };
  }

  /** Restores slots saved by state(); every slot must match its parameter's shape. */
  loadState(step: number, slots: Map<string, Map<string, { shape: readonly number[]; data: Float32Array }>>): void {
    const known = new Map(this.params);
    this.stepCount = step;
    for (const [name, perParam] of slots) {
      const p = known.get(name);
      if (!p) throw new Error(`optimizer state: unknown parameter '${name}'`);
      for (const [slotName, v] of perParam) {
        if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i]))
          throw new Error(`optimizer state: '${name}.${slotName}' has shape [${v.shape}], parameter has [${p.shape}]`);
        const t = this.slot(name, slotName, p);
        runtime().flush();
        runtime().write(t.buffer, v.data);
      }
    }
  }

  dispose(): void {
    for (const perParam of this.slots.values()) for (const t of perParam.values()) t.dispose();
    this.slots.clear();
    this.one.dispose();
  }
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

/** SGD with momentum and weight decay, as torch.optim.SGD (dampening 0, no Nesterov). */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  constructor(params: readonly [string, Tensor][], opts: SgdOptions) {
    super(params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    if (this.momentum < 0 || this.momentum >= 1) throw new Error(`SGD: momentum must be in [0, 1), got ${this.momentum}`);
    if (this.weightDecay < 0) throw new Error(`SGD: weightDecay must be ≥ 0, got ${this.weightDecay}`);
  }
  protected update(name: string, p: Tensor, g: Tensor, gradScale: Tensor): void {
    const hadSlot = this.slots.get(name)?.has('momentum_buffer') ?? false;
    const velocity = this.slot(name, 'momentum_buffer', p);
    const op = `sgd update (${name})`;
    runtime().dispatch({
      op,
      kernel: 'sgd',
      uniforms: { n: p.size, first: hadSlot ? 0 : 1, lr: this.lr, momentum: this.momentum, weight_decay: this.weightDecay },
      buffers: { param: p.buffer, grad: g.buffer, velocity: velocity.buffer, grad_scale: gradScale.buffer },
      workgroups: elementwiseGroups(p.size),
    });
    runtime().opDone(op, [p]);
  }
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** AdamW (decoupled weight decay), as torch.optim.AdamW. */
export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  constructor(params: readonly [string, Tensor][], opts: AdamWOptions) {
    super(params, opts.lr);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    for (const [k, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const)
      if (!(v >= 0 && v < 1)) throw new Error(`AdamW: ${k} must be in [0, 1), got ${v}`);
  }
  protected update(name: string, p: Tensor, g: Tensor, gradScale: Tensor): void {
    const t = this.stepCount;
    const op = `adamw update (${name})`;
    runtime().dispatch({
      op,
      kernel: 'adamw',
      uniforms: {
        n: p.size,
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weight_decay: this.weightDecay,
        c1: 1 - this.beta1 ** t,
        c2: 1 - this.beta2 ** t,
      },
      buffers: {
        param: p.buffer,
        grad: g.buffer,
        m1: this.slot(name, 'exp_avg', p).buffer,
        m2: this.slot(name, 'exp_avg_sq', p).buffer,
        grad_scale: gradScale.buffer,
      },
      workgroups: elementwiseGroups(p.size),
    });
    runtime().opDone(op, [p]);
  }
}
