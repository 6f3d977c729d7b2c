/**
 * Optimizers with fused WGSL update kernels (kernels/sgd.wgsl, adamw.wgsl), multi-tensor:
 * every parameter, gradient and state slot has a fixed range in one flat arena per kind,
 * so a step is a handful of dispatches whatever the parameter count — the gradients are
 * copied into their arena (buffer copies, no dispatch), gradient-norm clipping reduces that
 * arena once, one update kernel runs over it (one launch per contiguous run of parameters
 * that have gradients; usually one), and the parameters are copied back. Copies cost a
 * memcpy each; a dispatch per tensor cost ~100 µs of launch on lavapipe. Parameters stay
 * separate tensors (the model owns them) and are copied into the arena each step, so
 * weights loaded into the model after the optimizer was built are honoured.
 * The learning rate is a plain number set each step (from a schedule).
 */
import { runtime } from '../runtime.ts';
import { keep, empty, type Tensor } from '../tensor.ts';
import { full, zeros } from '../ops/creation.ts';
import { elementwiseGroups } from '../ops/util.ts';
import { clipFactor, type ClipResult } from './clip.ts';

export interface OptimizerState {
  step: number;
  /** per parameter name, per slot ("momentum", "exp_avg", ...) */
  slots: Map<string, Map<string, Tensor>>;
}

/** A contiguous range of the arenas that one update launch covers. */
export interface ArenaRun {
  /** first element */
  offset: number;
  /** elements */
  n: number;
  /** the parameters it covers, for error messages and anomaly mode */
  names: string[];
}

export abstract class Optimizer {
  lr: number;
  stepCount = 0;
  private readonly one: Tensor;
  /** element offset of each parameter in every arena */
  private readonly offsets: number[] = [];
  private readonly paramArena: Tensor;
  private readonly gradArena: Tensor;
  /** one arena per state slot, zero until the first step or loadState */
  private readonly slotArenas = new Map<string, Tensor>();
  /** whether the slots hold state (after a step or loadState); before, state() has none */
  private hasState = false;

  constructor(
    readonly params: readonly [string, Tensor][],
    lr: number,
    slotNames: readonly string[],
  ) {
    if (!(lr >= 0)) throw new Error(`optimizer: lr must be ≥ 0, got ${lr}`);
    const names = new Set<string>();
    let total = 0;
    for (const [name, p] of params) {
      if (names.has(name)) throw new Error(`optimizer: parameter '${name}' given twice`);
      names.add(name);
      if (!p.requiresGrad) throw new Error(`optimizer: parameter '${name}' is frozen (requiresGrad false); leave it out`);
      if (p.dtype !== 'float32') throw new Error(`optimizer: parameter '${name}' must have dtype float32, got ${p.dtype}`);
      this.offsets.push(total);
      total += p.size;
    }
    this.lr = lr;
    this.one = keep(full([1], 1));
    // at least one element: an optimizer over no parameters is legal and does nothing
    this.paramArena = keep(empty([Math.max(1, total)]));
    this.gradArena = keep(zeros([Math.max(1, total)]));
    for (const slot of slotNames) this.slotArenas.set(slot, keep(zeros([Math.max(1, total)])));
  }

  /** The arena of one state slot (bound by the update kernels). */
  protected slotArena(slot: string): Tensor {
    const t = this.slotArenas.get(slot);
    if (!t) throw new Error(`optimizer: no state slot '${slot}'`);
    return t;
  }

  /**
   * Applies one update to every parameter that has a gradient (the others are left alone,
   * state included, as in PyTorch). `gradScale` (a GPU scalar, e.g. from clipGradNorm)
   * multiplies every gradient.
   */
  step(gradScale?: Tensor): void {
    const runs = this.packGradients();
    this.apply(runs, gradScale ?? this.one);
  }

  /**
   * Gradient-norm clipping and the update in one: the total L2 norm of all gradients is
   * reduced from the packed gradients, and every gradient is scaled by
   * min(1, maxNorm / (norm + 1e-6)) inside the update kernel (clip.ts, on the GPU).
   */
  stepWithClipping(maxNorm: number): ClipResult {
    if (!(maxNorm > 0)) throw new Error(`stepWithClipping: maxNorm must be > 0, got ${maxNorm}`);
    const runs = this.packGradients();
    const clip = clipFactor([this.gradArena], maxNorm);
    this.apply(runs, clip.factor);
    return clip;
  }

  /**
   * Copies each gradient into its range of the gradient arena (zeros where a parameter has
   * none, so the norm ignores it) and each parameter into the parameter arena; returns the
   * contiguous runs of parameters that have gradients.
   */
  private packGradients(): ArenaRun[] {
    const rt = runtime();
    const runs: ArenaRun[] = [];
    let run: ArenaRun | null = null;
    this.params.forEach(([name, p], i) => {
      const at = this.offsets[i] * 4;
      const g = p.grad;
      if (g) {
        if (g.size !== p.size) throw new Error(`optimizer: gradient of '${name}' has ${g.size} elements, the parameter ${p.size}`);
        rt.copy(g.buffer, 0, this.gradArena.buffer, at, p.size * 4);
        rt.copy(p.buffer, 0, this.paramArena.buffer, at, p.size * 4);
        if (run && run.offset + run.n === this.offsets[i]) {
          run.n += p.size;
          run.names.push(name);
        } else runs.push((run = { offset: this.offsets[i], n: p.size, names: [name] }));
      } else {
        rt.clear(this.gradArena.buffer, at, p.size * 4);
        run = null;
      }
    });
    return runs.filter((r) => r.n > 0);
  }

  private apply(runs: readonly ArenaRun[], gradScale: Tensor): void {
    this.stepCount++;
    if (runs.length === 0) return;
    this.hasState = true;
    const rt = runtime();
    for (const run of runs) {
      const op = `${this.kind} update (${run.names.length === 1 ? run.names[0] : `${run.names.length} parameters: ${run.names[0]} … ${run.names[run.names.length - 1]}`})`;
      rt.dispatch({
        op,
        kernel: this.kind, // kernels/sgd.wgsl or kernels/adamw.wgsl
        uniforms: { offset: run.offset, n: run.n, ...this.hyperparameters() },
        buffers: { param: this.paramArena.buffer, grad: this.gradArena.buffer, grad_scale: gradScale.buffer, ...this.slotBuffers() },
        workgroups: elementwiseGroups(run.n),
      });
      rt.opDone(op, [this.paramArena]);
    }
    // copy back only what was updated
    this.params.forEach(([, p], i) => {
      if (p.grad) rt.copy(this.paramArena.buffer, this.offsets[i] * 4, p.buffer, 0, p.size * 4);
    });
  }

  /** The update kernel's name: 'sgd' or 'adamw'. */
  protected abstract readonly kind: 'sgd' | 'adamw';
  /** The kernel's uniforms beyond offset and n, for this step. */
  protected abstract hyperparameters(): Record<string, number>;
  /** The kernel's state bindings. */
  protected abstract slotBuffers(): Record<string, GPUBuffer>;

  zeroGrad(): void {
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Slots and step count, for checkpoints: one new tensor per parameter and slot, copied
   * out of the arenas now. The caller owns them (dispose them once read).
   */
  state(): OptimizerState {
    const slots = new Map<string, Map<string, Tensor>>();
    if (!this.hasState) return { step: this.stepCount, slots };
    const rt = runtime();
    this.params.forEach(([name, p], i) => {
      const perParam = new Map<string, Tensor>();
      for (const [slot, arena] of this.slotArenas) {
        const t = keep(empty(p.shape));
        if (p.size > 0) rt.copy(arena.buffer, this.offsets[i] * 4, t.buffer, 0, p.size * 4);
        perParam.set(slot, t);
      }
      slots.set(name, perParam);
    });
    return { step: this.stepCount, slots };
  }

  /** Restores slots saved by state(); every slot must match its parameter's shape. */
  loadState(step: number, slots: Map<string, Map<string, { shape: readonly number[]; data: Float32Array }>>): void {
    const index = new Map(this.params.map(([name], i) => [name, i]));
    for (const [name, perParam] of slots) {
      const i = index.get(name);
      if (i === undefined) throw new Error(`optimizer state: unknown parameter '${name}'`);
      const p = this.params[i][1];
      for (const [slotName, v] of perParam) {
        if (!this.slotArenas.has(slotName))
          throw new Error(`optimizer state: '${name}.${slotName}' is not a slot of ${this.kind} (its slots: ${[...this.slotArenas.keys()].join(', ')})`);
        if (v.shape.length !== p.shape.length || v.shape.some((d, k) => d !== p.shape[k]))
          throw new Error(`optimizer state: '${name}.${slotName}' has shape [${v.shape}], parameter has [${p.shape}]`);
      }
    }
    const rt = runtime();
    rt.flush(); // writeBuffer runs before recorded commands: submit those first
    for (const [name, perParam] of slots) {
      const i = index.get(name)!;
      for (const [slotName, v] of perParam) rt.write(this.slotArena(slotName).buffer, v.data, this.offsets[i] * 4);
    }
    this.stepCount = step;
    this.hasState = slots.size > 0 || this.hasState;
  }

  dispose(): void {
    for (const t of this.slotArenas.values()) t.dispose();
    this.slotArenas.clear();
    this.paramArena.dispose();
    this.gradArena.dispose();
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
    super(params, opts.lr, ['momentum_buffer']);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    if (this.momentum < 0 || this.momentum >= 1) throw new Error(`SGD: momentum must be in [0, 1), got ${this.momentum}`);
    if (this.weightDecay < 0) throw new Error(`SGD: weightDecay must be ≥ 0, got ${this.weightDecay}`);
  }
  protected readonly kind = 'sgd';
  protected hyperparameters(): Record<string, number> {
    // the velocity starts at zero, so the first step's momentum·0 + d is torch's buf = d
    return { lr: this.lr, momentum: this.momentum, weight_decay: this.weightDecay };
  }
  protected slotBuffers(): Record<string, GPUBuffer> {
    return { velocity: this.slotArena('momentum_buffer').buffer };
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
    super(params, opts.lr, ['exp_avg', 'exp_avg_sq']);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    for (const [k, v] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const)
      if (!(v >= 0 && v < 1)) throw new Error(`AdamW: ${k} must be in [0, 1), got ${v}`);
  }
  protected readonly kind = 'adamw';
  protected hyperparameters(): Record<string, number> {
    const t = this.stepCount; // already counts this step
    return {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weight_decay: this.weightDecay,
      c1: 1 - this.beta1 ** t,
      c2: 1 - this.beta2 ** t,
    };
  }
  protected slotBuffers(): Record<string, GPUBuffer> {
    return { m1: this.slotArena('exp_avg').buffer, m2: this.slotArena('exp_avg_sq').buffer };
  }
}
