/**
 * The parity runner: reads op case files in the format of docs/op-cases.md (schema 1),
 * runs every case through the engine by its OpSpec (engine/checks/registry.ts) and checks
 * outputs and gradients against the file's reference with the docs/op-cases.md pass rule:
 *
 *   max|got − ref| ≤ tol · max|ref|,  tol = max(1e-5, 10 · error_vs_float64.max_rel_to_max)
 *   (1e-5 when the float32 block does not give it); a `null` gradient must be exactly
 *   zero or absent.
 *
 * A file that is not valid JSON or lacks the file fields fails as a whole; a malformed
 * case, an unknown op id, attribute or input name fails that case with an error naming
 * the file, the case and the field. Nothing is skipped.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { diff, fmtNum, fmtShape, sameShape } from './compare.ts';
import { runOnGpu } from './gradcheck.ts';
import { specById } from './registry.ts';
import type { OpSpec } from './spec.ts';

export const SCHEMA_VERSION = 1;
export const MIN_TOL = 1e-5;

/** A structural problem of a case file, naming the file, the case and the field. */
export class CaseFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaseFileError';
  }
}

export interface CaseFile {
  path: string;
  family: string;
  reference?: string;
  /** the cases as read, validated only when run */
  cases: unknown[];
}

interface ParsedTensor {
  shape: number[];
  data: number[];
}
interface ParsedInput extends ParsedTensor {
  dtype: 'float' | 'int64';
  requires_grad: boolean;
}

export interface ParsedCase {
  name: string;
  op: string;
  spec: OpSpec;
  attributes: Record<string, unknown>;
  inputs: Record<string, ParsedInput>;
  outputs: Record<string, ParsedTensor>;
  upstream: Record<string, ParsedTensor>;
  grads: Record<string, ParsedTensor | null>;
  /** error_vs_float64 max_rel_to_max by "outputs.<name>" / "grads.<name>" */
  f32Rel: Record<string, number>;
}

export interface ArrayCheck {
  /** "outputs.<name>" or "grads.<name>" */
  key: string;
  maxAbs: number;
  maxRef: number;
  tol: number;
  /** maxAbs / (tol · maxRef): ≤ 1 passes; 0/0 is 0, x/0 is Infinity */
  ratio: number;
  note?: string;
}

export interface CaseResult {
  file: string;
  name: string;
  op?: string;
  pass: boolean;
  /** the worst ratio over arrays (Infinity when an error stopped the case) */
  worst: number;
  checks: ArrayCheck[];
  error?: string;
}

// ------------------------------------------------------------------ reading

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string): boolean => Object.hasOwn(o, k);

/** Reads and checks a case file's outer structure; throws CaseFileError naming the file. */
export function loadCaseFile(path: string): CaseFile {
  const file = basename(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CaseFileError(`${path}: cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CaseFileError(`${file}: malformed JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new CaseFileError(`${file}: the file must hold a JSON object { schema_version, family, cases }`);
  for (const field of ['schema_version', 'family', 'cases']) if (!own(json, field)) throw new CaseFileError(`${file}: missing field '${field}'`);
  if (json.schema_version !== SCHEMA_VERSION)
    throw new CaseFileError(`${file}: field 'schema_version' must be ${SCHEMA_VERSION}, got ${JSON.stringify(json.schema_version)}`);
  if (typeof json.family !== 'string') throw new CaseFileError(`${file}: field 'family' must be a string`);
  if (own(json, 'reference') && typeof json.reference !== 'string') throw new CaseFileError(`${file}: field 'reference' must be a string`);
  if (!Array.isArray(json.cases)) throw new CaseFileError(`${file}: field 'cases' must be a list`);
  return { path, family: json.family, reference: json.reference as string | undefined, cases: json.cases };
}

/** The display name of case i: its name when it has one. */
export function caseName(file: CaseFile, i: number): string {
  const c = file.cases[i];
  return isObject(c) && typeof c.name === 'string' && c.name !== '' ? c.name : `#${i}`;
}

/** Validates case i of a file against the format and its op's spec. Throws CaseFileError. */
export function parseCase(file: CaseFile, i: number): ParsedCase {
  const fname = basename(file.path);
  const raw = file.cases[i];
  const name = caseName(file, i);
  const where = `${fname}: case '${name}'`;
  const fail = (what: string): never => {
    throw new CaseFileError(`${where}: ${what}`);
  };
  if (!isObject(raw)) fail(`case #${i} must be a JSON object`);
  const c = raw as Record<string, unknown>;
  for (const field of ['name', 'op', 'inputs', 'outputs']) if (!own(c, field)) fail(`missing field '${field}'`);
  if (typeof c.name !== 'string' || c.name === '') fail(`field 'name' must be a non-empty string`);
  const dup = file.cases.findIndex((o, k) => k !== i && isObject(o) && o.name === c.name);
  if (dup >= 0) fail(`the name is used by cases #${Math.min(i, dup)} and #${Math.max(i, dup)}; names must be unique`);
  if (typeof c.op !== 'string') fail(`field 'op' must be a string`);
  if (own(c, 'description') && typeof c.description !== 'string') fail(`field 'description' must be a string`);
  const attributes = own(c, 'attributes') ? c.attributes : {};
  if (!isObject(attributes)) fail(`field 'attributes' must be an object`);

  // the op and the names it accepts
  let spec: OpSpec;
  try {
    spec = specById(c.op as string);
  } catch (e) {
    return fail((e as Error).message);
  }
  for (const a of Object.keys(attributes as object))
    if (!spec.attributes.includes(a)) fail(`unknown attribute '${a}' for op '${spec.id}' (accepted: ${spec.attributes.join(', ') || 'none'})`);

  const tensorAt = (field: string, v: unknown, withInputFields: boolean): ParsedInput => {
    if (!isObject(v)) return fail(`field '${field}' must be an object { ${withInputFields ? 'dtype, shape, requires_grad, data' : 'shape, data'} }`);
    const required = withInputFields ? ['dtype', 'shape', 'requires_grad', 'data'] : ['shape', 'data'];
    for (const f of required) if (!own(v, f)) fail(`missing field '${field}.${f}'`);
    const shape = v.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      fail(`field '${field}.shape' must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    const data = v.data;
    if (!Array.isArray(data)) return fail(`field '${field}.data' must be a list of numbers`);
    const n = (shape as number[]).reduce((p, d) => p * d, 1);
    if (data.length !== n) fail(`data length mismatch in '${field}': shape ${fmtShape(shape as number[])} needs ${n} values, got ${data.length}`);
    const bad = data.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
    if (bad >= 0) fail(`field '${field}.data[${bad}]' must be a finite number, got ${JSON.stringify(data[bad])}`);
    let dtype: 'float' | 'int64' = 'float';
    let requiresGrad = false;
    if (withInputFields) {
      if (v.dtype !== 'float' && v.dtype !== 'int64') fail(`field '${field}.dtype' must be "float" or "int64", got ${JSON.stringify(v.dtype)}`);
      dtype = v.dtype as 'float' | 'int64';
      if (typeof v.requires_grad !== 'boolean') fail(`field '${field}.requires_grad' must be true or false`);
      requiresGrad = v.requires_grad as boolean;
      if (dtype === 'int64') {
        if (requiresGrad) fail(`input '${field}' is int64 and cannot require grad`);
        const k = (data as number[]).findIndex((x) => !Number.isInteger(x));
        if (k >= 0) fail(`field '${field}.data[${k}]' must be an integer (dtype int64), got ${data[k]}`);
        const r = (data as number[]).findIndex((x) => x < -(2 ** 31) || x > 2 ** 31 - 1);
        if (r >= 0) fail(`field '${field}.data[${r}]' = ${data[r]} is out of the int32 range the engine's integer tensors hold`);
      }
    }
    return { shape: shape as number[], data: data as number[], dtype, requires_grad: requiresGrad };
  };

  // inputs
  if (!isObject(c.inputs)) fail(`field 'inputs' must be an object of tensors by input name`);
  const inputs: Record<string, ParsedInput> = {};
  for (const [k, v] of Object.entries(c.inputs as object)) {
    if (!spec.inputs.includes(k)) fail(`unknown input '${k}' for op '${spec.id}' (accepted: ${spec.inputs.join(', ')})`);
    inputs[k] = tensorAt(`inputs.${k}`, v, true);
  }
  // outputs
  if (!isObject(c.outputs) || Object.keys(c.outputs).length === 0) fail(`field 'outputs' must be a non-empty object of tensors by output name`);
  const outputs: Record<string, ParsedTensor> = {};
  for (const [k, v] of Object.entries(c.outputs as object)) outputs[k] = tensorAt(`outputs.${k}`, v, false);
  // gradients
  const needGrad = Object.keys(inputs).filter((k) => inputs[k].requires_grad);
  const upstream: Record<string, ParsedTensor> = {};
  const grads: Record<string, ParsedTensor | null> = {};
  if (needGrad.length > 0) {
    for (const field of ['upstream_grads', 'grads']) if (!own(c, field)) fail(`missing field '${field}' (inputs ${needGrad.join(', ')} require grad)`);
  }
  if (own(c, 'upstream_grads')) {
    if (!isObject(c.upstream_grads)) fail(`field 'upstream_grads' must be an object of tensors by output name`);
    for (const [k, v] of Object.entries(c.upstream_grads as object)) {
      if (!own(outputs, k)) fail(`field 'upstream_grads.${k}' names no output (outputs: ${Object.keys(outputs).join(', ')})`);
      const u = tensorAt(`upstream_grads.${k}`, v, false);
      if (!sameShape(u.shape, outputs[k].shape))
        fail(`field 'upstream_grads.${k}' has shape ${fmtShape(u.shape)}, output '${k}' has ${fmtShape(outputs[k].shape)}`);
      upstream[k] = { shape: u.shape, data: u.data };
    }
  }
  if (own(c, 'grads')) {
    if (!isObject(c.grads)) fail(`field 'grads' must be an object of tensors (or null) by input name`);
    const g = c.grads as Record<string, unknown>;
    for (const k of needGrad) if (!own(g, k)) fail(`missing field 'grads.${k}' (input '${k}' requires grad)`);
    for (const [k, v] of Object.entries(g)) {
      if (!own(inputs, k)) fail(`field 'grads.${k}' names no input (inputs: ${Object.keys(inputs).join(', ')})`);
      if (!inputs[k].requires_grad) fail(`field 'grads.${k}' is given but input '${k}' has requires_grad false`);
      if (v === null) grads[k] = null;
      else {
        const t = tensorAt(`grads.${k}`, v, false);
        if (!sameShape(t.shape, inputs[k].shape)) fail(`field 'grads.${k}' has shape ${fmtShape(t.shape)}, input '${k}' has ${fmtShape(inputs[k].shape)}`);
        grads[k] = { shape: t.shape, data: t.data };
      }
    }
  }
  // float32 block: only error_vs_float64 matters here
  const f32Rel: Record<string, number> = {};
  if (own(c, 'float32')) {
    const f = c.float32;
    if (!isObject(f)) fail(`field 'float32' must be an object`);
    const ev = (f as Record<string, unknown>).error_vs_float64;
    if (ev !== undefined) {
      if (!isObject(ev)) fail(`field 'float32.error_vs_float64' must be an object`);
      for (const [k, v] of Object.entries(ev as object)) {
        const r = isObject(v) ? v.max_rel_to_max : undefined;
        if (typeof r !== 'number' || !(r >= 0))
          fail(`field 'float32.error_vs_float64.${k}.max_rel_to_max' must be a non-negative number, got ${JSON.stringify(r)}`);
        f32Rel[k] = r as number;
      }
    }
  }
  return {
    name,
    op: spec.id,
    spec,
    attributes: attributes as Record<string, unknown>,
    inputs,
    outputs,
    upstream,
    grads,
    f32Rel,
  };
}

// ------------------------------------------------------------------ running

/** The docs/op-cases.md tolerance of one array. */
export function toleranceFor(f32Rel: Record<string, number>, key: string): number {
  const r = f32Rel[key];
  return r === undefined ? MIN_TOL : Math.max(MIN_TOL, 10 * r);
}

function check(key: string, got: { shape: readonly number[]; data: ArrayLike<number> } | null, want: ParsedTensor, tol: number): ArrayCheck {
  if (got && !sameShape(got.shape, want.shape))
    return { key, maxAbs: NaN, maxRef: NaN, tol, ratio: Infinity, note: `shape ${fmtShape(got.shape)}, want ${fmtShape(want.shape)}` };
  const d = diff(got ? got.data : new Float64Array(want.data.length), want.data);
  const ratio = Number.isNaN(d.rel) ? NaN : d.maxAbs === 0 ? 0 : d.maxAbs / (tol * d.maxRef);
  return { key, maxAbs: d.maxAbs, maxRef: d.maxRef, tol, ratio, ...(got ? {} : { note: 'no gradient reached it' }) };
}

/** Runs one parsed case on the GPU and applies the pass rule. */
export async function runCase(file: string, pc: ParsedCase): Promise<CaseResult> {
  const diffNames = Object.keys(pc.inputs).filter((k) => pc.inputs[k].requires_grad);
  const gpuInputs = Object.fromEntries(Object.entries(pc.inputs).map(([k, t]) => [k, { shape: t.shape, data: t.data, int: t.dtype === 'int64' }]));
  const got = await runOnGpu(pc.spec.run, gpuInputs, pc.attributes, diffNames, pc.upstream);
  const checks: ArrayCheck[] = [];
  for (const [k, want] of Object.entries(pc.outputs)) {
    const o = got.outputs[k];
    if (!o) throw new Error(`op '${pc.op}' produced no output '${k}' (it produced ${Object.keys(got.outputs).join(', ') || 'none'})`);
    checks.push(check(`outputs.${k}`, o, want, toleranceFor(pc.f32Rel, `outputs.${k}`)));
  }
  for (const [k, want] of Object.entries(pc.grads)) {
    const g = got.grads[k] ?? null;
    const key = `grads.${k}`;
    if (want === null) {
      // "null means exactly zero": absent or all zeros
      const nonzero = g ? Array.from(g.data).findIndex((v) => v !== 0) : -1;
      checks.push(
        nonzero < 0
          ? { key, maxAbs: 0, maxRef: 0, tol: 0, ratio: 0, note: g ? 'zero, as null requires' : 'absent, as null allows' }
          : {
              key,
              maxAbs: Math.abs(g!.data[nonzero]),
              maxRef: 0,
              tol: 0,
              ratio: Infinity,
              note: `null requires exactly zero, got ${g!.data[nonzero]} at ${nonzero}`,
            },
      );
    } else checks.push(check(key, g, want, toleranceFor(pc.f32Rel, key)));
  }
  const worst = checks.reduce((w, ch) => (Number.isNaN(w) || Number.isNaN(ch.ratio) ? NaN : Math.max(w, ch.ratio)), 0);
  return { file, name: pc.name, op: pc.op, pass: worst <= 1, worst, checks };
}

/** Validates and runs case i of a file. Never throws: errors are in the result. */
export async function checkCase(file: CaseFile, i: number): Promise<CaseResult> {
  const fname = basename(file.path);
  const name = caseName(file, i);
  let pc: ParsedCase;
  try {
    pc = parseCase(file, i);
  } catch (e) {
    return { file: fname, name, pass: false, worst: Infinity, checks: [], error: (e as Error).message };
  }
  try {
    return await runCase(fname, pc);
  } catch (e) {
    return { file: fname, name, op: pc.op, pass: false, worst: Infinity, checks: [], error: `${fname}: case '${name}': ${(e as Error).message}` };
  }
}

// ------------------------------------------------------------------ reporting

/** One line for a case: status, file:case, its worst ratio and where. */
export function formatResult(r: CaseResult): string {
  const status = r.pass ? 'ok  ' : 'FAIL';
  if (r.error) return `${status} ${r.file}:${r.name}  error: ${r.error}`;
  const w = r.checks.reduce<ArrayCheck | null>((a, ch) => (!a || !(ch.ratio <= a.ratio) ? ch : a), null);
  const where = w ? ` (${w.key}: max|err| ${fmtNum(w.maxAbs)}, max|ref| ${fmtNum(w.maxRef)}, tol ${fmtNum(w.tol)}${w.note ? `; ${w.note}` : ''})` : '';
  return `${status} ${r.file}:${r.name}  worst ${fmtNum(r.worst)}${where}`;
}

/** Every case of every file; `log` gets one line per case, then `N passed, M failed`. */
export async function runParityFiles(
  paths: readonly string[],
  log: (line: string) => void = console.log,
): Promise<{ passed: number; failed: number; results: CaseResult[] }> {
  const results: CaseResult[] = [];
  let passed = 0;
  let failed = 0;
  for (const path of paths) {
    let file: CaseFile;
    try {
      file = loadCaseFile(path);
    } catch (e) {
      failed++;
      log(`FAIL ${basename(path)}  error: ${(e as Error).message}`);
      continue;
    }
    for (let i = 0; i < file.cases.length; i++) {
      const r = await checkCase(file, i);
      results.push(r);
      if (r.pass) passed++;
      else failed++;
      log(formatResult(r));
    }
  }
  log(`${passed} passed, ${failed} failed`);
  return { passed, failed, results };
}
