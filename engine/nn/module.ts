/**
 * Module: a tree of named children and parameters, named the PyTorch/mmdetection way
 * (`bbox_head.cls_convs.0.conv.weight`), so checkpoints interoperate with those tools.
 */
import { requireGrad } from '../autograd.ts';
import { keep, type Tensor } from '../tensor.ts';
import { fmt, sameShape } from '../shape.ts';

/** A tensor's values as a checkpoint reader hands them over. */
export interface StateValue {
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

/** Writes CPU values into a parameter or buffer (in stream order). */
export type CopyInto = (t: Tensor, data: Float32Array | Int32Array) => void;

/** `data` as the dtype of `t`: integer values only into an int32 buffer (a counter). */
function asDtypeOf(name: string, t: Tensor, data: Float32Array | Int32Array): Float32Array | Int32Array {
  if (t.dtype === 'float32') return data instanceof Float32Array ? data : Float32Array.from(data);
  if (data instanceof Int32Array) return data;
  const at = data.findIndex((v) => !Number.isInteger(v) || Math.abs(v) >= 2 ** 31);
  if (at >= 0) throw new Error(`loadStateDict: '${name}' is an integer buffer, the checkpoint holds ${data[at]} at index ${at}`);
  return Int32Array.from(data);
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private readonly constants = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  private readonly buffers = new Map<string, Tensor>();

  private checkNew(name: string): void {
    if (this.params.has(name) || this.children.has(name) || this.constants.has(name) || this.buffers.has(name))
      throw new Error(`Module: '${name}' is registered twice`);
  }

  /** Registers a parameter: a leaf that requires grad and survives scopes. */
  protected param(name: string, t: Tensor): Tensor {
    this.checkNew(name);
    keep(requireGrad(t));
    this.params.set(name, t);
    return t;
  }

  /**
   * Registers a buffer, PyTorch's word for state that is saved and loaded with the
   * parameters but not trained (batch norm's running statistics and batch counter): it
   * survives scopes, never requires grad, and the ops that own it update it in place.
   */
  protected buffer(name: string, t: Tensor): Tensor {
    this.checkNew(name);
    keep(t);
    this.buffers.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.checkNew(name);
    this.children.set(name, m);
    return m;
  }

  /**
   * Registers a fixed tensor that other frameworks keep in their checkpoints (a PyTorch
   * buffer, e.g. mmdetection's `integral.project`) but the engine computes itself: it is
   * not a parameter and not saved; a checkpoint may carry it, and loading then checks that
   * its value is this one (a different value means a different model).
   */
  protected constant(name: string, shape: readonly number[], data: Float32Array): void {
    this.checkNew(name);
    this.constants.set(name, { shape: [...shape], data });
  }

  namedConstants(prefix = ''): [string, { shape: readonly number[]; data: Float32Array }][] {
    const out: [string, { shape: readonly number[]; data: Float32Array }][] = [];
    for (const [n, c] of this.constants) out.push([prefix + n, c]);
    for (const [n, c] of this.children) out.push(...c.namedConstants(`${prefix}${n}.`));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this.buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters that the optimizer should update (not frozen). */
  trainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, p]) => p.requiresGrad);
  }

  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  train(on = true): this {
    this.training = on;
    for (const c of this.children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Stops gradients to every parameter: ops then launch no weight-gradient kernels. */
  freeze(): this {
    for (const p of this.parameters()) {
      p.requiresGrad = false;
      p.grad?.dispose();
      p.grad = null;
    }
    return this;
  }

  /** Name → tensor for every parameter and buffer (shared, not copied): what a checkpoint holds. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedState());
  }

  /** Parameters, then buffers, of each module before its children: PyTorch's state_dict order. */
  private namedState(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, b] of this.buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.children) out.push(...c.namedState(`${prefix}${n}.`));
    return out;
  }

  /**
   * Copies values into the parameters and buffers by name. Every one must be present with
   * the same shape, and no unknown name may appear (strict, so a wrong architecture fails).
   * Constants may be present and must then hold their value. A 0-dim tensor loads into a
   * one-element parameter of shape [1] (PyTorch's scalar parameters, e.g. mmcv's Scale).
   */
  loadStateDict(values: Map<string, StateValue>, copyInto: CopyInto): void {
    const own = this.stateDict();
    const constants = new Map(this.namedConstants());
    const missing = [...own.keys()].filter((k) => !values.has(k));
    const unexpected = [...values.keys()].filter((k) => !own.has(k) && !constants.has(k));
    if (missing.length || unexpected.length)
      throw new Error(
        `loadStateDict: checkpoint does not match the model` +
          (missing.length ? `; missing: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8})` : ''}` : '') +
          (unexpected.length ? `; unexpected: ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ` (+${unexpected.length - 8})` : ''}` : ''),
      );
    const scalarIntoOne = (file: readonly number[], model: readonly number[]) => file.length === 0 && model.length === 1 && model[0] === 1;
    for (const [name, c] of constants) {
      const v = values.get(name);
      if (!v) continue;
      if (!sameShape(v.shape, c.shape))
        throw new Error(`loadStateDict: constant '${name}' has shape ${fmt(v.shape)} in the checkpoint, the model's is ${fmt(c.shape)}`);
      const at = c.data.findIndex((x, i) => Math.abs(x - v.data[i]) > 1e-6 * Math.max(1, Math.abs(x)));
      if (at >= 0)
        throw new Error(
          `loadStateDict: constant '${name}' holds ${v.data[at]} at index ${at} in the checkpoint, the model's value is ${c.data[at]} (another configuration?)`,
        );
    }
    for (const [name, p] of own) {
      const v = values.get(name)!;
      if (!sameShape(v.shape, p.shape) && !scalarIntoOne(v.shape, p.shape))
        throw new Error(`loadStateDict: '${name}' has shape ${fmt(v.shape)} in the checkpoint, the model expects ${fmt(p.shape)}`);
      copyInto(p, asDtypeOf(name, p, v.data));
    }
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const b of this.buffers.values()) b.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}

/** Children run in order (names "0", "1", ...). */
export class Sequential extends Module {
  readonly layers: ((x: Tensor) => Tensor)[] = [];
  constructor(modules: (Module & { forward(x: Tensor): Tensor })[]) {
    super();
    modules.forEach((m, i) => {
      this.child(String(i), m);
      this.layers.push((x) => m.forward(x));
    });
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, f) => f(h), x);
  }
}

/** An indexed list of modules (names "0", "1", ...), like nn.ModuleList. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new Error(`ModuleList: index ${i} out of range [0, ${this.items.length})`);
    return m;
  }
}
