/**
 * PyTorch `.pth` checkpoints, both ways, without Python: the zip archive torch.save writes
 * (since 1.6) with its pickle (`<name>/data.pkl`) and one record per storage
 * (`<name>/data/<key>`). What is read is a state_dict — a bare one, or inside
 * mmdetection/mmengine's `{meta, state_dict, ...}` wrapper (a `module.` prefix of
 * DataParallel is stripped) — as tensors of their own dtype (float32, float64, float16,
 * bfloat16, int64, int32, int16, int8, uint8, bool), bit for bit.
 *
 * The pickle is read by a restricted unpickler (pickle.ts) that calls nothing: a class or
 * function other than the few a state_dict needs is reported by name. The entries next to
 * the weights (mmengine's message_hub, optimizer, param_schedulers; a custom hook's
 * objects) may hold such objects; those entries are listed in `skipped`, never built, and
 * in `meta` such an object reads as '<module.name>'. The legacy (pre-1.6) format
 * and TorchScript archives are refused with what to do instead.
 */
import { FileFormatError } from './format.ts';
import { describe, isTensor, Pickler, PyOpaque, PyTuple, unpickle, type PyTensorRef, type PyValue } from './pickle.ts';
import { isZip, readZip, writeZip } from './zip.ts';

export type PthDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export interface PthTensor {
  dtype: PthDType;
  shape: number[];
  /** the values in their own type; float16 and bfloat16 as their bit patterns, bool as 0/1 bytes */
  data: Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

const STORAGE: Record<string, { dtype: PthDType; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};
const STORAGE_OF: Record<PthDType, string> = Object.fromEntries(Object.entries(STORAGE).map(([k, v]) => [v.dtype, k])) as Record<PthDType, string>;

function typedArray(dtype: PthDType, buffer: ArrayBuffer): PthTensor['data'] {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    default:
      return new Uint8Array(buffer);
  }
}

/** mmengine's runtime state beside the weights: not read (it may hold arbitrary objects). */

export interface PthCheckpoint {
  stateDict: Map<string, PthTensor>;
  /** the wrapper's `meta` (mmengine: epoch, iter, dataset_meta, ...) as plain values; null without one */
  meta: unknown;
  /** whether every key had DataParallel's `module.` prefix, now removed */
  strippedModulePrefix: boolean;
  /** top-level entries of the wrapper left unread, with the classes they hold */
  skipped: string[];
}

/** Reads a torch.save file holding a state_dict (bare or wrapped). */
export function decodePth(bytes: Uint8Array, source: string): PthCheckpoint {
  const bad = (what: string) => new FileFormatError(`${source}: ${what}`);
  if (!isZip(bytes)) {
    if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5)
      throw bad(
        'a .pth in the legacy (pre-1.6, non-zip) torch.save format: not supported; load it in PyTorch and save it again (torch.save(torch.load(f), f2), PyTorch ≥ 1.6 writes zip)',
      );
    throw bad('not a .pth file: not a zip archive (torch.save since 1.6 writes zip; the first bytes are not a zip header)');
  }
  const records = readZip(bytes, source);
  if ([...records.keys()].some((n) => /^[^/]+\/(constants\.pkl|code\/)/.test(n)))
    throw bad('a TorchScript archive (torch.jit.save), not a state_dict: save model.state_dict() with torch.save instead');
  const pkl = [...records.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw bad(`not a torch.save archive: no <name>/data.pkl among its ${records.size} records`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const root = unpickle(records.get(pkl)!, `${source} (${pkl})`);

  // the state_dict: bare, or under 'state_dict' (mmengine, mmdetection) or 'model'
  let stateValue: PyValue = root;
  let meta: unknown = null;
  const skipped: string[] = [];
  if (root instanceof Map && !isStateDict(root)) {
    const key = ['state_dict', 'model'].find((k) => root.get(k) instanceof Map);
    if (!key)
      throw bad(
        `the pickle holds ${describe(root)} with keys ${[...root.keys()]
          .slice(0, 8)
          .map((k) => describe(k))
          .join(', ')}: neither a state_dict nor a wrapper with 'state_dict'`,
      );
    stateValue = root.get(key)!;
    // Beside the weights only `meta` is read. Entries holding objects this reader does not
    // build (training state, a custom hook's objects) are skipped and named, never built:
    // they cannot change the weights. In `meta` such an object reads as '<module.name>'.
    for (const [k, v] of root) {
      if (k === key) continue;
      if (k === 'meta') meta = toPlain(v);
      else {
        const opaque = opaqueClasses(v);
        if (opaque.length) skipped.push(`${String(k)} (holds ${opaque.slice(0, 4).join(', ')})`);
      }
    }
  }
  if (stateValue instanceof PyOpaque)
    throw bad(`the pickle holds an object of ${stateValue.qualifiedName}, not a state_dict (nothing in the file is executed)`);
  if (!(stateValue instanceof Map)) throw bad(`expected a state_dict (a dict of tensors), got ${describe(stateValue)}`);

  const stateDict = new Map<string, PthTensor>();
  for (const [k, v] of stateValue) {
    if (typeof k !== 'string') throw bad(`a state_dict key that is not a string: ${describe(k)}`);
    if (v instanceof PyOpaque) throw bad(`state_dict['${k}'] is an object of ${v.qualifiedName}, not a tensor (nothing in the file is executed)`);
    if (!isTensor(v)) throw bad(`state_dict['${k}'] is ${describe(v)}, not a tensor`);
    stateDict.set(k, materialize(v, records, prefix, `${source}: state_dict['${k}']`, bytes.length));
  }
  const keys = [...stateDict.keys()];
  const strip = keys.length > 0 && keys.every((k) => k.startsWith('module.'));
  return {
    stateDict: strip ? new Map([...stateDict].map(([k, t]) => [k.slice('module.'.length), t])) : stateDict,
    meta,
    strippedModulePrefix: strip,
    skipped,
  };
}

const isStateDict = (m: Map<PyValue, PyValue>) => m.size > 0 && [...m.values()].every((v) => isTensor(v));

/** The classes of the inert objects anywhere inside a value (bounded walk). */
function opaqueClasses(v: PyValue, found: string[] = [], depth = 0): string[] {
  if (found.length > 8 || depth > 64) return found;
  if (v instanceof PyOpaque) found.push(v.qualifiedName);
  else if (Array.isArray(v)) for (const x of v) opaqueClasses(x, found, depth + 1);
  else if (v instanceof PyTuple) for (const x of v.items) opaqueClasses(x, found, depth + 1);
  else if (v instanceof Map) for (const [k, x] of v) opaqueClasses(k, found, depth + 1), opaqueClasses(x, found, depth + 1);
  return found;
}

/** A pickled value as plain JS: dicts with string keys as objects, tuples and lists as arrays. */
function toPlain(v: PyValue, depth = 0): unknown {
  if (depth > 64) return '…';
  if (v instanceof PyTuple) return v.items.map((x) => toPlain(x, depth + 1));
  if (Array.isArray(v)) return v.map((x) => toPlain(x, depth + 1));
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toPlain(x, depth + 1)]));
  if (v instanceof PyOpaque) return `<${v.qualifiedName}>`;
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && 'kind' in v) return `<${v.kind}>`;
  return v;
}

/** A tensor's values, contiguous, from its storage record (offset and strides honoured; bounds checked first). */
function materialize(t: PyTensorRef, records: Map<string, Uint8Array>, prefix: string, where: string, fileBytes: number): PthTensor {
  const bad = (what: string) => new FileFormatError(`${where}: ${what}`);
  const spec = Object.hasOwn(STORAGE, t.storage.storageType) ? STORAGE[t.storage.storageType] : undefined;
  if (!spec) throw bad(`storage type torch.${t.storage.storageType} is not supported (known: ${Object.keys(STORAGE).join(', ')})`);
  const record = records.get(`${prefix}data/${t.storage.key}`);
  if (!record) throw bad(`its storage record ${prefix}data/${t.storage.key} is missing`);
  if (record.length !== t.storage.numel * spec.bytes)
    throw bad(`storage ${t.storage.key} (${t.storage.storageType}) declares ${t.storage.numel} elements, its record holds ${record.length} bytes`);
  const n = t.size.reduce((a, b) => a * b, 1);
  let last = t.offset;
  for (let d = 0; d < t.size.length; d++) if (t.size[d] > 0) last += (t.size[d] - 1) * t.stride[d];
  if (n > 0 && last >= t.storage.numel)
    throw bad(`size [${t.size}] with stride [${t.stride}] at offset ${t.offset} reaches element ${last} of a ${t.storage.numel}-element storage`);
  // an expanded (stride 0) view may be larger than its storage, but not larger than the file could describe
  if (n > t.storage.numel && n > 16 * fileBytes) throw bad(`${n} elements from a ${t.storage.numel}-element storage in a ${fileBytes}-byte file`);
  const buffer = new ArrayBuffer(n * spec.bytes);
  const src = record;
  const dst = new Uint8Array(buffer);
  const contiguous = isContiguous(t.size, t.stride);
  if (contiguous) dst.set(src.subarray(t.offset * spec.bytes, (t.offset + n) * spec.bytes));
  else {
    const idx = new Array<number>(t.size.length).fill(0);
    for (let i = 0; i < n; i++) {
      let e = t.offset;
      for (let d = 0; d < idx.length; d++) e += idx[d] * t.stride[d];
      dst.set(src.subarray(e * spec.bytes, (e + 1) * spec.bytes), i * spec.bytes);
      for (let d = idx.length - 1; d >= 0 && ++idx[d] === t.size[d]; d--) idx[d] = 0;
    }
  }
  return { dtype: spec.dtype, shape: [...t.size], data: typedArray(spec.dtype, buffer) };
}

function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/**
 * A torch.save archive of a state_dict: `{meta, state_dict}` (mmengine's layout) when
 * `meta` is given, else the bare OrderedDict. Each tensor gets its own storage. `name` is
 * the archive's top folder (torch uses the file's base name).
 */
export function encodePth(stateDict: ReadonlyMap<string, PthTensor>, opts: { meta?: unknown; name?: string } = {}): Uint8Array {
  const name = opts.name ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`encodePth: archive name '${name}' must be a plain file name`);
  const p = new Pickler();
  const storages: [string, Uint8Array][] = [];
  const writeStateDict = () => {
    p.global('collections', 'OrderedDict').byte(0x29, 0x52, 0x28); // OrderedDict() then MARK
    for (const [key, t] of stateDict) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (n !== t.data.length) throw new Error(`encodePth: '${key}' has shape [${t.shape}] but ${t.data.length} values`);
      if (!(t.dtype in STORAGE_OF)) throw new Error(`encodePth: '${key}' has dtype ${t.dtype} (known: ${Object.keys(STORAGE_OF).join(', ')})`);
      const storageKey = String(storages.length);
      storages.push([`${name}/data/${storageKey}`, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice()]);
      const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
      p.str(key).global('torch._utils', '_rebuild_tensor_v2').byte(0x28);
      p.byte(0x28).str('storage').global('torch', STORAGE_OF[t.dtype]).str(storageKey).str('cpu').int(n).byte(0x74, 0x51); // (…) BINPERSID
      p.int(0).value(new PyTuple(t.shape)).value(new PyTuple(stride)).byte(0x89); // offset, size, stride, requires_grad False
      p.global('collections', 'OrderedDict').byte(0x29, 0x52); // backward_hooks: OrderedDict()
      p.byte(0x74, 0x52); // TUPLE, REDUCE
    }
    p.byte(0x75); // SETITEMS
  };
  if (opts.meta === undefined) writeStateDict();
  else {
    p.byte(0x7d, 0x28).str('meta').value(opts.meta).str('state_dict');
    writeStateDict();
    p.byte(0x75);
  }
  if (storages.length + 3 > 0xffff) throw new Error(`encodePth: ${storages.length} tensors exceed a zip archive's 65535 records`);
  return writeZip([
    [`${name}/data.pkl`, p.bytes()],
    ...storages,
    [`${name}/byteorder`, new TextEncoder().encode('little')],
    [`${name}/version`, new TextEncoder().encode('3\n')],
  ]);
}

/** float16 bits → number (IEEE half). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** A tensor as float32 values for the engine: float16/bfloat16/float64 widened or narrowed, integers and bools converted. */
export function pthToFloat32(t: PthTensor): Float32Array {
  const d = t.data;
  if (t.dtype === 'float32') return d as Float32Array;
  if (t.dtype === 'float16') return Float32Array.from(d as Uint16Array, halfToFloat);
  if (t.dtype === 'bfloat16') return new Float32Array(Uint32Array.from(d as Uint16Array, (b) => b << 16).buffer);
  if (t.dtype === 'int64') return Float32Array.from(d as BigInt64Array, (v) => Number(v));
  return Float32Array.from(d as ArrayLike<number>);
}
