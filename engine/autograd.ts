/**
 * Reverse-mode autograd on a dynamic tape. Each op that has an input requiring grad
 * records a GradNode on its output: the inputs and a backward rule. backward() walks the
 * nodes in reverse topological order, calling each rule once with the summed gradient
 * of its output. A rule is told which inputs need a gradient and returns null for the
 * others, so a frozen weight costs no kernel (the frozen-teacher path of CrossKD).
 */
import { keep, scope, type Tensor } from './tensor.ts';
import { fmt, sameShape } from './shape.ts';
import { runtime } from './runtime.ts';

export type BackwardRule = (grad: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];

export interface GradNode {
  op: string;
  inputs: readonly Tensor[];
  /** null once the graph was freed by a backward() without retainGraph */
  backward: BackwardRule | null;
}

let gradEnabled = true;
/** the op whose backward rule is running (anomaly reports name it), or null */
let backwardOf: string | null = null;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording anything on the tape. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attaches a backward rule to `out` when grad is on and some input requires grad. Every
 * op calls it, with or without a tape, so it also closes the op for the runtime (anomaly
 * mode checks `out` there).
 */
export function record(op: string, inputs: readonly Tensor[], out: Tensor, backward: BackwardRule): Tensor {
  runtime().opDone(op, [out], backwardOf);
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward };
  }
  return out;
}

/** The same data, cut from the tape (shares the buffer). */
export function detach(t: Tensor): Tensor {
  return t.view(t.shape);
}

/** Marks a tensor as a leaf that accumulates .grad. Returns it. */
export function requireGrad<T extends Tensor>(t: T, on = true): T {
  if (on && t.dtype !== 'float32') throw new Error(`requireGrad: ${t} has dtype ${t.dtype}; only float32 tensors can require grad`);
  t.requiresGrad = on;
  return t;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t.gradFn?.inputs ?? []) if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
  }
  return order.reverse(); // root first
}

export interface BackwardOptions {
  /** keep the graph so backward() can run through it again */
  retainGraph?: boolean;
}

/**
 * Accumulates d(root)/d(leaf) · upstream into every leaf's .grad. Without `upstream` the
 * root must have one element. Gradients are summed when a tensor feeds several ops.
 */
export function backward(root: Tensor, upstream?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error(`backward(): ${root} does not require grad (no input of its graph has requiresGrad)`);
  if (!upstream && root.size !== 1)
    throw new Error(`backward(): ${root} is not a scalar; pass an upstream gradient of shape ${fmt(root.shape)} or reduce it first`);
  if (upstream && !sameShape(upstream.shape, root.shape))
    throw new Error(`backward(): upstream gradient must have shape ${fmt(root.shape)}, got ${fmt(upstream.shape)}`);

  // Import cycle-free: the ops module registers how to make ones and add tensors.
  const { onesLike, addInPlaceable } = gradHelpers();
  const order = topoOrder(root);
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    // a view of the caller's upstream (no copy): disposing it later only drops a reference
    grads.set(root, upstream ? upstream.view(upstream.shape) : onesLike(root));
    const accumulate = (t: Tensor, g: Tensor) => {
      const prev = grads.get(t);
      if (!prev) grads.set(t, g);
      else {
        grads.set(t, addInPlaceable(prev, g));
        prev.dispose();
        g.dispose();
      }
    };
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (!node) {
        // a leaf: accumulate into .grad, which outlives any scope
        if (t.grad) {
          const sum = addInPlaceable(t.grad, g);
          t.grad.dispose();
          g.dispose();
          t.grad = keep(sum);
        } else t.grad = keep(g);
        continue;
      }
      if (!node.backward)
        throw new Error(
          `backward(): the graph through '${node.op}' (producing ${t}) was freed by an earlier backward(); ` +
            `pass { retainGraph: true } to the first call to run backward twice`,
        );
      const needs = node.inputs.map((i) => i.requiresGrad);
      let inGrads: readonly (Tensor | null)[];
      const outerBackward = backwardOf;
      backwardOf = node.op;
      try {
        inGrads = scope(() => node.backward!(g, needs) as (Tensor | null)[]);
      } catch (e) {
        throw new Error(`backward of '${node.op}' (producing ${t}) failed: ${(e as Error).message}`, { cause: e });
      } finally {
        backwardOf = outerBackward;
      }
      // A rule that launched kernels itself (conv, group norm, fused losses) has not closed
      // them with a record: close them here, so anomaly mode checks its gradients.
      const rt = runtime();
      if (rt.hasUnclosedLaunches)
        rt.opDone(
          `${node.op} backward`,
          inGrads.filter((x): x is Tensor => x !== null),
        );
      // A rule may pass `g` through, or return one tensor for two inputs (add): give each
      // input its own tensor before any is summed into an earlier gradient (which disposes
      // it), then free what no input took. null: the input does not affect the output.
      const owned = new Set<Tensor>();
      const taken = node.inputs.map((_, k) => {
        let gi = needs[k] ? inGrads[k] : null;
        if (gi && owned.has(gi)) gi = detachCopy(gi);
        if (gi) owned.add(gi);
        return gi;
      });
      for (const gi of new Set(inGrads)) if (gi && gi !== g && !owned.has(gi)) gi.dispose();
      node.inputs.forEach((input, k) => {
        const gi = taken[k];
        if (!gi) return;
        if (!sameShape(gi.shape, input.shape))
          throw new Error(`backward of '${node.op}': gradient for input ${k} has shape ${fmt(gi.shape)}, expected ${fmt(input.shape)}`);
        accumulate(input, gi);
      });
      if (!owned.has(g)) g.dispose();
      if (!opts.retainGraph) node.backward = null;
    }
  });
}

function detachCopy(t: Tensor): Tensor {
  return gradHelpers().copy(t);
}

interface GradHelpers {
  onesLike(t: Tensor): Tensor;
  addInPlaceable(a: Tensor, b: Tensor): Tensor;
  copy(t: Tensor): Tensor;
}
let helpers: GradHelpers | null = null;

/** Called once by the ops module, which owns the kernels these need. */
export function setGradHelpers(h: GradHelpers): void {
  helpers = h;
}

function gradHelpers(): GradHelpers {
  if (!helpers) throw new Error('autograd: ops not loaded (import the engine index, not autograd alone)');
  return helpers;
}
