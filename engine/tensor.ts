/**
 * Tensor: a shape, a dtype and a GPU buffer, plus what autograd needs (requiresGrad,
 * grad, the op that made it). Data reaches the CPU only through `await t.data()`.
 *
 * Lifetime is explicit: `dispose()`, or `scope(fn)`, which frees every tensor created
 * inside fn except those it returns or `keep()`s. Buffers go back to the pool.
 */
import { runtime } from './runtime.ts';
import { fmt, sizeOf } from './shape.ts';
import type { GradNode } from './autograd.ts';

export type DType = 'float32' | 'int32' | 'uint32';
export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32'];

type TypedArrayOf<D extends DType> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : Uint32Array;
export type TensorData = Float32Array | Int32Array | Uint32Array;

/** A GPU buffer shared by a tensor and its reshaped views. */
export class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
}

let nextId = 1;
const scopeStack: Set<Tensor>[] = [];

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  requiresGrad = false;
  /** accumulated gradient of a leaf tensor after backward() */
  grad: Tensor | null = null;
  /** the op that produced this tensor, when recorded on the tape */
  gradFn: GradNode | null = null;
  /** optional name for error messages (parameters get theirs) */
  name?: string;
  private storage: Storage | null;

  constructor(
    storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {
    this.storage = storage;
    this.size = sizeOf(shape);
    runtime().liveTensors++;
    scopeStack[scopeStack.length - 1]?.add(this);
  }

  /** "Tensor#12 'w' float32 [2,3] (from mul)" — how errors name a tensor. */
  toString(): string {
    const n = this.name ? ` '${this.name}'` : '';
    const from = this.gradFn ? ` (from ${this.gradFn.op})` : '';
    return `Tensor#${this.id}${n} ${this.dtype} ${fmt(this.shape)}${from}`;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`${this} was disposed and cannot be used`);
    return this.storage.buffer;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Copy to the CPU. Submits pending work and waits for it. */
  async data(): Promise<TensorData> {
    const bytes = this.size * 4;
    const raw = await runtime().read(this.buffer, bytes);
    if (this.dtype === 'float32') return new Float32Array(raw);
    if (this.dtype === 'int32') return new Int32Array(raw);
    return new Uint32Array(raw);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): ${this} has ${this.size} elements, expected 1`);
    return (await this.data())[0];
  }

  /** Nested arrays are not built; data() plus the shape describe the tensor. */
  async array(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /** A tensor sharing this one's buffer with another shape of the same size. */
  view(shape: readonly number[]): Tensor {
    const storage = this.storage;
    if (!storage) throw new Error(`${this} was disposed and cannot be used`);
    if (sizeOf(shape) !== this.size) throw new Error(`view: ${fmt(shape)} does not hold ${this.size} elements of ${this}`);
    storage.refs++;
    return new Tensor(storage, [...shape], this.dtype);
  }

  dispose(): void {
    const storage = this.storage;
    if (!storage) return;
    this.storage = null;
    const rt = runtime();
    rt.liveTensors--;
    if (--storage.refs === 0) rt.pool.release(storage.buffer, rt.hasPending);
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    scopeStack[scopeStack.length - 1]?.delete(this);
  }
}

/** A new tensor with an uninitialised pooled buffer (ops write every element). */
export function empty(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new Error(`empty: shape ${fmt(shape)} must hold non-negative integers`);
  const bytes = Math.max(4, sizeOf(shape) * 4);
  return new Tensor(new Storage(runtime().acquire(bytes, `tensor ${fmt(shape)}`), bytes), [...shape], dtype);
}

/** Tensor from CPU values (row-major). Integer dtypes require integer values in range. */
export function tensor(values: ArrayLike<number>, shape?: readonly number[], dtype: DType = 'float32'): Tensor {
  const sh = shape ?? [values.length];
  if (!DTYPES.includes(dtype)) throw new Error(`tensor: dtype must be one of ${DTYPES.join(', ')}, got '${dtype}'`);
  if (sizeOf(sh) !== values.length) throw new Error(`tensor: shape ${fmt(sh)} holds ${sizeOf(sh)} values, got ${values.length}`);
  let data: TensorData;
  if (dtype === 'float32') data = values instanceof Float32Array ? values : Float32Array.from(values);
  else {
    const [lo, hi] = dtype === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`tensor: value ${v} at index ${i} is not a valid ${dtype}`);
    }
    data = dtype === 'int32' ? Int32Array.from(values) : Uint32Array.from(values);
  }
  const t = empty(sh, dtype);
  if (data.length > 0) runtime().write(t.buffer, data);
  return t;
}

export function scalar(value: number): Tensor {
  return tensor([value], []);
}

// ------------------------------------------------------------------ scopes

/** What a scope() callback may return: its tensors (also inside arrays and plain objects) survive the scope. */
export type Returned = Tensor | readonly Returned[] | { readonly [k: string]: Returned } | void | number | string | boolean | null | undefined;

function collect(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, into);
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, into);
}

/**
 * Runs fn and disposes every tensor it created, except the ones it returns (in arrays or
 * plain objects too) and the ones passed to keep(). Scopes nest; fn must be synchronous.
 */
export function scope<T extends Returned>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopeStack.push(created);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('scope(): fn must be synchronous (await data() outside the scope)');
  } finally {
    scopeStack.pop();
  }
  const returned = new Set<Tensor>();
  collect(result, returned);
  const parent = scopeStack[scopeStack.length - 1];
  for (const t of created) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempts a tensor from the enclosing scopes' disposal. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopeStack) s.delete(t);
  return t;
}

export function memory() {
  return runtime().memory();
}

export type { TypedArrayOf };
