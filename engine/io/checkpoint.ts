/**
 * Checkpoints on disk (Node): model weights as safetensors with mmdetection-style names,
 * optimizer slots in a second safetensors file, and a JSON sidecar (config, step, loader
 * and optimizer state). Every file is written atomically (temporary file, then rename),
 * and the sidecar last: a checkpoint exists once its sidecar does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import type { Module, StateValue } from '../nn/module.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from './safetensors.ts';
import { describeValue, FileFormatError } from './format.ts';
import { decodePth, pthToFloat32, type PthTensor } from './pth.ts';

export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** A checkpoint was not written because a tensor in it holds NaN or ±Inf. */
export class NonFiniteCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteCheckpointError';
  }
}

/**
 * Reads tensors back for writing. With `finiteFor`, a float tensor holding NaN or ±Inf
 * is an error naming it: a checkpoint is only ever a good one to resume from.
 */
async function toArrays(named: Iterable<[string, Tensor]>, finiteFor?: string): Promise<Map<string, NamedArray>> {
  const out = new Map<string, NamedArray>();
  for (const [name, t] of named) {
    const data = await t.data();
    if (finiteFor && data instanceof Float32Array) {
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new NonFiniteCheckpointError(`${finiteFor} not written: '${name}' holds ${data[bad]} at element ${bad}`);
    }
    out.set(name, { dtype: t.dtype === 'float32' ? 'F32' : t.dtype === 'int32' ? 'I32' : 'U32', shape: [...t.shape], data });
  }
  return out;
}

/** Writes a module's parameters to a safetensors file. */
export async function saveWeights(module: Module, file: string, metadata: Record<string, string> = {}): Promise<void> {
  writeFileAtomic(file, encodeSafetensors(await toArrays(module.stateDict()), metadata));
}

export function readSafetensorsFile(file: string): ReturnType<typeof decodeSafetensors> {
  if (!fs.existsSync(file)) throw new Error(`checkpoint file not found: ${file}`);
  return decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
}

/** Copies CPU values into a parameter in stream order (after pending work that reads it). */
export function assignParameter(p: Tensor, data: Float32Array | Int32Array): void {
  const rt = runtime();
  rt.flush();
  rt.write(p.buffer, data);
}

/** Whether the bytes are a zip archive: a torch.save file (`.pth`), not safetensors. */
const isZip = (b: Uint8Array) => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;

/** A .pth tensor as a state value: floats as float32, integers (counters) as int32. */
function pthValue(file: string, name: string, t: PthTensor): StateValue {
  if (t.dtype.startsWith('float') || t.dtype === 'bfloat16') return { shape: t.shape, data: pthToFloat32(t) };
  const values = t.dtype === 'int64' ? Array.from(t.data as BigInt64Array, Number) : Array.from(t.data as ArrayLike<number>);
  const at = values.findIndex((v) => !Number.isSafeInteger(v) || Math.abs(v) >= 2 ** 31);
  if (at >= 0)
    throw new FileFormatError(`${file}: tensor '${name}' (${t.dtype}) holds ${String((t.data as ArrayLike<unknown>)[at])} at index ${at}, outside int32`);
  return { shape: t.shape, data: Int32Array.from(values) };
}

/**
 * The named tensors of a weights file: safetensors (F32, and I32 counters) or a PyTorch
 * `.pth` (torch.save's zip; mmdetection's `{meta, state_dict}` wrapper and `module.`
 * prefixes are handled by decodePth). A `.safetensors` name is read as safetensors (so a
 * damaged one is reported as such), any other name by its content: a zip is a `.pth`.
 */
export function readWeightsFile(file: string): { values: Map<string, StateValue>; metadata: Record<string, string> } {
  if (!fs.existsSync(file)) throw new Error(`checkpoint file not found: ${file}`);
  const bytes = new Uint8Array(fs.readFileSync(file));
  const values = new Map<string, StateValue>();
  if (!file.endsWith('.safetensors') && isZip(bytes)) {
    const ckpt = decodePth(bytes, file);
    for (const [name, t] of ckpt.stateDict) values.set(name, pthValue(file, name, t));
    return { values, metadata: {} };
  }
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw new Error(`${file}: tensor '${name}' is ${t.dtype}, parameters are F32 (and counters I32)`);
    values.set(name, { shape: t.shape, data: t.data as Float32Array | Int32Array });
  }
  return { values, metadata };
}

/**
 * Loads weights by name from a safetensors or `.pth` file (only the tensors under
 * `prefix`, with it removed); a missing, unexpected or mis-shaped tensor is an error naming it.
 */
export function loadWeights(module: Module, file: string, opts: { prefix?: string } = {}): Record<string, string> {
  const { values: all, metadata } = readWeightsFile(file);
  const prefix = opts.prefix ?? '';
  const values = new Map<string, StateValue>();
  for (const [name, v] of all) if (name.startsWith(prefix)) values.set(name.slice(prefix.length), v);
  try {
    module.loadStateDict(values, assignParameter);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return metadata;
}

export interface CheckpointSidecar<C = unknown, L = unknown> {
  format: 'crosskd-checkpoint';
  version: 1;
  step: number;
  config: C;
  weights: string;
  optimizer: { file: string; step: number; lr: number } | null;
  loader: L;
  /** anything else the trainer wants back on resume (loss history, timings) */
  extra: Record<string, unknown>;
}

export interface SaveCheckpointArgs<C, L> {
  dir: string;
  step: number;
  model: Module;
  optimizer: Optimizer | null;
  config: C;
  loader: L;
  extra?: Record<string, unknown>;
}

const pad = (step: number) => String(step).padStart(7, '0');

/**
 * Writes weights, optimizer slots and the sidecar. Everything is read back and checked
 * to be finite before the first file is written, so a failed save leaves no files.
 */
export async function saveCheckpoint<C, L>(args: SaveCheckpointArgs<C, L>): Promise<string> {
  fs.mkdirSync(args.dir, { recursive: true });
  const base = path.join(args.dir, `checkpoint-${pad(args.step)}`);
  const what = `checkpoint of step ${args.step}`;
  const weights = await toArrays(args.model.stateDict(), what);
  let slotArrays: Map<string, NamedArray> | null = null;
  if (args.optimizer) {
    const slots: [string, Tensor][] = [];
    for (const [param, perParam] of args.optimizer.state().slots) for (const [slot, t] of perParam) slots.push([`${param}::${slot}`, t]);
    try {
      slotArrays = await toArrays(slots, what);
    } finally {
      for (const [, t] of slots) t.dispose(); // state() hands out copies
    }
  }
  writeFileAtomic(`${base}.safetensors`, encodeSafetensors(weights, { step: String(args.step) }));
  let optimizer: CheckpointSidecar['optimizer'] = null;
  if (args.optimizer && slotArrays) {
    writeFileAtomic(`${base}.optim.safetensors`, encodeSafetensors(slotArrays));
    optimizer = { file: path.basename(`${base}.optim.safetensors`), step: args.optimizer.stepCount, lr: args.optimizer.lr };
  }
  const sidecar: CheckpointSidecar<C, L> = {
    format: 'crosskd-checkpoint',
    version: 1,
    step: args.step,
    config: args.config,
    weights: path.basename(`${base}.safetensors`),
    optimizer,
    loader: args.loader,
    extra: args.extra ?? {},
  };
  writeFileAtomic(`${base}.json`, JSON.stringify(sidecar, null, 1));
  return `${base}.json`;
}

/** The sidecar of the newest complete checkpoint in dir, or null. */
export function latestCheckpoint(dir: string): string | null {
  if (!fs.existsSync(dir)) return null;
  const sidecars = fs
    .readdirSync(dir)
    .filter((f) => /^checkpoint-\d+\.json$/.test(f))
    .sort();
  return sidecars.length ? path.join(dir, sidecars[sidecars.length - 1]) : null;
}

/** A file name in the sidecar's own folder: no path, so a sidecar cannot point elsewhere. */
const isPlainFileName = (v: unknown, ext: string): v is string =>
  typeof v === 'string' && v.endsWith(ext) && v.length > ext.length && !/[\\/\0]/.test(v) && v !== '.' && v !== '..';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads and checks a checkpoint sidecar: every field the trainer and loaders use has its
 * type (a FileFormatError names the first that does not), and the weight and optimizer
 * files it names are plain file names next to it.
 */
export function readSidecar<C, L>(file: string): CheckpointSidecar<C, L> {
  if (!fs.existsSync(file)) throw new Error(`checkpoint not found: ${file}`);
  return parseSidecar(fs.readFileSync(file, 'utf8'), file);
}

/** The checks of readSidecar on a sidecar's text; `file` names it in errors. */
export function parseSidecar<C, L>(text: string, file: string): CheckpointSidecar<C, L> {
  const bad = (what: string) => new FileFormatError(`${file}: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(value) || value.format !== 'crosskd-checkpoint' || value.version !== 1)
    throw bad(
      `not a checkpoint sidecar of this project (expected format "crosskd-checkpoint", version 1; got ${isObject(value) ? `format ${describeValue(value.format)}, version ${describeValue(value.version)}` : `a JSON ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}`})`,
    );
  const field = (k: string, ok: boolean, expected: string) => {
    if (!(k in value)) throw bad(`missing field '${k}' (${expected})`);
    if (!ok) throw bad(`field '${k}' must be ${expected}, got ${describeValue(value[k])}`);
  };
  field('step', Number.isSafeInteger(value.step) && (value.step as number) >= 0, 'an integer ≥ 0');
  field('config', isObject(value.config), 'an object');
  field('weights', isPlainFileName(value.weights, '.safetensors'), 'a .safetensors file name in the same folder');
  field('extra', isObject(value.extra), 'an object');
  field('loader', true, 'the data loader state or null');
  const o = value.optimizer;
  field(
    'optimizer',
    o === null ||
      (isObject(o) &&
        isPlainFileName(o.file, '.safetensors') &&
        Number.isSafeInteger(o.step) &&
        (o.step as number) >= 0 &&
        typeof o.lr === 'number' &&
        Number.isFinite(o.lr)),
    'null or {file: a .safetensors file name in the same folder, step: an integer ≥ 0, lr: a finite number}',
  );
  return value as unknown as CheckpointSidecar<C, L>;
}

/**
 * Restores the optimizer slots saved next to a sidecar. `currentName` maps a parameter
 * name of the file to the model's (a model that renamed its parameters since, e.g.
 * Detector.currentKey); default: unchanged.
 */
export function loadOptimizerState(
  optimizer: Optimizer,
  sidecarFile: string,
  sidecar: CheckpointSidecar,
  currentName: (name: string) => string = (n) => n,
): void {
  if (!sidecar.optimizer) throw new Error(`${sidecarFile}: has no optimizer state`);
  const file = path.join(path.dirname(sidecarFile), sidecar.optimizer.file);
  const { tensors } = readSafetensorsFile(file);
  const slots = new Map<string, Map<string, { shape: readonly number[]; data: Float32Array }>>();
  for (const [name, t] of tensors) {
    const [param, slot] = name.split('::');
    if (!slot) throw new Error(`${file}: tensor '${name}' is not named <param>::<slot>`);
    let perParam = slots.get(currentName(param));
    if (!perParam) slots.set(currentName(param), (perParam = new Map()));
    perParam.set(slot, { shape: t.shape, data: t.data as Float32Array });
  }
  optimizer.loadState(sidecar.optimizer.step, slots);
  optimizer.lr = sidecar.optimizer.lr;
}
