/**
 * The gradient check of one OpSpec case:
 *
 * 1. seeded inputs (float32-representable values from the case's InputGen) and seeded
 *    upstream gradients, one per output;
 * 2. the float64 reference: forward, vjp, and the vjp itself checked against central
 *    finite differences in float64 (fd_err);
 * 3. the op on the GPU: inputs that are differentiated get requireGrad; its outputs are
 *    compared with the reference forward (fwd_err), then backward() with the upstream
 *    gradients gives every input gradient, compared with the reference vjp (bwd_err).
 *
 * Errors are max|gpu − ref| / max|ref| over each array, the worst over outputs (fwd) and
 * over differentiated inputs (bwd); a zero reference needs an exact zero. The case passes
 * when fwd_err ≤ tol.fwd, bwd_err ≤ tol.bwd (the spec's float32 tolerances) and
 * fd_err ≤ FD_TOL.
 */
import * as E from '../index.ts';
import { Rng } from '../random.ts';
import { finiteDiffCheck } from '../reference/finiteDiff.ts';
import type { RefTensor } from '../reference/types.ts';
import type { Tensor } from '../tensor.ts';
import { diff, fmtNum, fmtShape, sameShape } from './compare.ts';
import type { GradcheckCase, InputGen, OpSpec } from './spec.ts';

/**
 * Bound on the reference's own vjp error against float64 central differences (relative to
 * max|numeric|). Steps are 1e-6 relative: truncation ~1e-12, roundoff ~1e-16/1e-6 per term,
 * so a right vjp lands near 1e-9; a wrong one is off by O(1). Curved losses need the margin.
 */
export const FD_TOL = 1e-5;

export interface GradcheckResult {
  op: string;
  case: string;
  pass: boolean;
  /** worst max|gpu − ref| / max|ref| over outputs */
  fwd_err: number;
  /** the same over the gradients of differentiated inputs (0 when none) */
  bwd_err: number;
  /** the reference vjp against finite differences (0 when nothing is differentiated) */
  fd_err: number;
  tol: { fwd: number; bwd: number; fd: number };
  /** per-array errors and anything that went wrong, for messages */
  detail: string;
  /** an exception thrown by the reference or the GPU run */
  error?: string;
}

/** FNV-1a of a string: a seed per (op, case) that does not shift when cases are added. */
export function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function generate(op: string, name: string, gen: InputGen, rng: Rng): Float64Array {
  const n = numel(gen.shape);
  const isInt = gen.dtype === 'int';
  let data: Float64Array;
  if (typeof gen.values === 'function') data = gen.values(rng, n);
  else if (Array.isArray(gen.values)) {
    const [lo, hi] = gen.values;
    data = isInt ? rng.int(n, lo, hi) : rng.uniform(n, lo, hi);
  } else if (isInt) throw new Error(`${op}: int input '${name}' needs values (a [lo, hi) range or a function)`);
  else data = rng.normal(n);
  if (data.length !== n) throw new Error(`${op}: input '${name}' generated ${data.length} values for shape ${fmtShape(gen.shape)}`);
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (isInt ? !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31 : !Number.isFinite(v))
      throw new Error(`${op}: input '${name}' value ${v} at ${i} is not a valid ${isInt ? 'int32' : 'finite float'}`);
  }
  // float32-representable: the GPU sees exactly what the reference sees
  return isInt ? data : data.map(Math.fround);
}

/** Whether the gradcheck differentiates input `name`. */
export function differentiates(spec: OpSpec, name: string, gen: InputGen): boolean {
  return gen.grad ?? (gen.dtype !== 'int' && !(spec.noGrad ?? []).includes(name));
}

/** The seeded inputs and upstream gradients of a case, and the reference results. */
export function prepareCase(spec: OpSpec, c: GradcheckCase) {
  const rng = new Rng(seedOf(`${spec.id}/${c.name}`));
  const inputs: Record<string, RefTensor> = {};
  const diffNames: string[] = [];
  for (const [name, gen] of Object.entries(c.inputs)) {
    if (!spec.inputs.includes(name)) throw new Error(`${spec.id}: case '${c.name}' has input '${name}', the spec accepts ${spec.inputs.join(', ')}`);
    inputs[name] = { shape: [...gen.shape], data: generate(spec.id, name, gen, rng) };
    if (differentiates(spec, name, gen)) diffNames.push(name);
  }
  for (const name of Object.keys(c.attrs))
    if (!spec.attributes.includes(name))
      throw new Error(`${spec.id}: case '${c.name}' has attribute '${name}', the spec accepts ${spec.attributes.join(', ') || 'none'}`);
  const outputs = spec.reference.forward(inputs, c.attrs);
  const upstream: Record<string, RefTensor> = {};
  for (const [name, o] of Object.entries(outputs)) upstream[name] = { shape: [...o.shape], data: rng.normal(o.data.length) };
  const grads = spec.reference.vjp(inputs, c.attrs, upstream);
  return { inputs, diffNames, outputs, upstream, grads };
}

/**
 * Runs `run` on GPU copies of `inputs` (requireGrad on `diffNames`), then backward with
 * `upstream` (by output name; outputs without one get no gradient) when anything is
 * differentiated. Returns the outputs and leaf gradients as CPU arrays (null: no gradient
 * reached the input). Every tensor it makes is disposed.
 */
export async function runOnGpu(
  run: OpSpec['run'],
  inputs: Record<string, { shape: readonly number[]; data: ArrayLike<number>; int?: boolean }>,
  attrs: Record<string, unknown>,
  diffNames: readonly string[],
  upstream: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>,
): Promise<{
  outputs: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint32Array }>;
  grads: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint32Array } | null>;
}> {
  const made: Tensor[] = [];
  try {
    const { outs, grads } = E.scope(() => {
      const gpuIn: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(inputs)) {
        gpuIn[name] = E.tensor(t.int ? Int32Array.from(t.data) : Float32Array.from(t.data), t.shape, t.int ? 'int32' : 'float32');
        if (diffNames.includes(name)) E.requireGrad(gpuIn[name]);
      }
      const outs = run(gpuIn, attrs);
      for (const [name, o] of Object.entries(outs))
        if (!(o instanceof E.Tensor)) throw new Error(`run returned ${String(o)} for output '${name}', not a Tensor`);
      const grads: Record<string, Tensor> = {};
      if (diffNames.length > 0) {
        const seeds: [Tensor, Tensor][] = [];
        for (const [name, u] of Object.entries(upstream)) {
          const o = outs[name];
          if (!o) throw new Error(`the op produced no output '${name}' (it produced ${Object.keys(outs).join(', ') || 'none'})`);
          if (!sameShape(o.shape, u.shape)) throw new Error(`output '${name}' has shape ${fmtShape(o.shape)}, the upstream gradient ${fmtShape(u.shape)}`);
          if (o.requiresGrad) seeds.push([o, E.tensor(Float32Array.from(u.data), u.shape)]);
        }
        if (seeds.length === 1) E.backward(seeds[0][0], seeds[0][1]);
        else if (seeds.length > 1) {
          // one scalar Σ_o sum(out_o · u_o): its gradient reaches each out_o as exactly u_o
          let loss = E.sum(E.mul(seeds[0][0], seeds[0][1]));
          for (const [o, u] of seeds.slice(1)) loss = E.add(loss, E.sum(E.mul(o, u)));
          E.backward(loss);
        }
        for (const name of diffNames) {
          const t = gpuIn[name];
          if (t.grad) {
            grads[name] = t.grad;
            t.grad = null; // ours now: disposing the leaf would free it
          }
        }
      }
      return { outs: { ...outs }, grads };
    });
    made.push(...Object.values(outs), ...Object.values(grads));
    const outputs: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint32Array }> = {};
    for (const [name, t] of Object.entries(outs)) outputs[name] = { shape: [...t.shape], data: await t.data() };
    const gradsOut: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint32Array } | null> = {};
    for (const name of diffNames) {
      const g = grads[name];
      gradsOut[name] = g ? { shape: [...g.shape], data: await g.data() } : null;
    }
    return { outputs, grads: gradsOut };
  } finally {
    for (const t of made) t.dispose();
  }
}

const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Checks one case of one spec. Never throws: failures are in the result. */
export async function gradcheckCase(spec: OpSpec, c: GradcheckCase): Promise<GradcheckResult> {
  const tol = { fwd: spec.tol.fwd, bwd: spec.tol.bwd, fd: FD_TOL };
  const result: GradcheckResult = { op: spec.id, case: c.name, pass: false, fwd_err: NaN, bwd_err: NaN, fd_err: NaN, tol, detail: '' };
  const notes: string[] = [];
  let prep: ReturnType<typeof prepareCase>;
  try {
    prep = prepareCase(spec, c);
    const skip = Object.keys(prep.inputs).filter((n) => !prep.diffNames.includes(n));
    const fd = prep.diffNames.length ? finiteDiffCheck(spec.reference, prep.inputs, c.attrs, prep.upstream, skip) : null;
    result.fd_err = fd ? fd.worstRelErr : 0;
    if (fd)
      notes.push(
        `fd ${Object.entries(fd.perInput)
          .map(([k, v]) => `${k} ${fmtNum(v)}`)
          .join(', ')}`,
      );
  } catch (e) {
    result.error = `reference: ${msg(e)}`;
    result.detail = result.error;
    return result;
  }
  const liveBefore = E.memory().liveTensors;
  try {
    const ints = new Set(
      Object.entries(c.inputs)
        .filter(([, g]) => g.dtype === 'int')
        .map(([n]) => n),
    );
    const gpuInputs = Object.fromEntries(Object.entries(prep.inputs).map(([n, t]) => [n, { shape: t.shape, data: t.data, int: ints.has(n) }]));
    const got = await runOnGpu(spec.run, gpuInputs, c.attrs, prep.diffNames, prep.upstream);
    let fwd = 0;
    for (const [name, want] of Object.entries(prep.outputs)) {
      const o = got.outputs[name];
      let err: number;
      if (!o) {
        err = Infinity;
        notes.push(`output '${name}' missing`);
      } else if (!sameShape(o.shape, want.shape)) {
        err = Infinity;
        notes.push(`output '${name}' shape ${fmtShape(o.shape)}, want ${fmtShape(want.shape)}`);
      } else {
        const d = diff(o.data, want.data);
        err = d.rel;
        notes.push(`out ${name} ${fmtNum(err)} (max|err| ${fmtNum(d.maxAbs)}, max|ref| ${fmtNum(d.maxRef)})`);
      }
      fwd = worst(fwd, err);
    }
    let bwd = 0;
    for (const name of prep.diffNames) {
      const want = prep.grads[name];
      const wantData = want ? want.data : new Float64Array(numel(prep.inputs[name].shape));
      const g = got.grads[name];
      let err: number;
      if (g && !sameShape(g.shape, prep.inputs[name].shape)) {
        err = Infinity;
        notes.push(`grad ${name} shape ${fmtShape(g.shape)}, want ${fmtShape(prep.inputs[name].shape)}`);
      } else {
        const d = diff(g ? g.data : new Float32Array(wantData.length), wantData);
        err = d.rel;
        notes.push(`grad ${name} ${fmtNum(err)}${g ? '' : ' (no gradient reached it)'} (max|err| ${fmtNum(d.maxAbs)}, max|ref| ${fmtNum(d.maxRef)})`);
      }
      bwd = worst(bwd, err);
    }
    result.fwd_err = fwd;
    result.bwd_err = bwd;
    // everything made for the case is disposed by now: a difference is a leak in the op
    const leaked = E.memory().liveTensors - liveBefore;
    if (leaked !== 0) {
      result.error = `gpu: ${leaked} tensor(s) leaked by forward/backward (live tensors before and after differ)`;
      notes.unshift(result.error);
    }
  } catch (e) {
    result.error = `gpu: ${msg(e)}`;
    notes.unshift(result.error);
  }
  result.detail = notes.join('; ');
  result.pass = result.error === undefined && result.fwd_err <= tol.fwd && result.bwd_err <= tol.bwd && result.fd_err <= tol.fd;
  return result;
}

/** The larger error, NaN winning. */
function worst(a: number, b: number): number {
  return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
}

/** Every case of every spec given, in order. */
export async function gradcheckAll(specs: readonly OpSpec[], onResult?: (r: GradcheckResult) => void): Promise<GradcheckResult[]> {
  const results: GradcheckResult[] = [];
  for (const spec of specs)
    for (const c of spec.cases) {
      const r = await gradcheckCase(spec, c);
      onResult?.(r);
      results.push(r);
    }
  return results;
}
