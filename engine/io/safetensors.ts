/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {str: str} },
 * then the raw little-endian tensor bytes. The format PyTorch and mmdetection tools share.
 * Reading validates everything and names what is wrong; nothing is silently dropped.
 */
import { describeValue, FileFormatError } from './format.ts';

export type SafeDType = 'F32' | 'I32' | 'U32' | 'F64' | 'I64' | 'F16' | 'BF16' | 'U8' | 'I8' | 'BOOL';

export interface NamedArray {
  dtype: 'F32' | 'I32' | 'U32';
  shape: number[];
  data: Float32Array | Int32Array | Uint32Array;
}

const BYTES: Record<SafeDType, number> = { F32: 4, I32: 4, U32: 4, F64: 8, I64: 8, F16: 2, BF16: 2, U8: 1, I8: 1, BOOL: 1 };

export function encodeSafetensors(tensors: Map<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array {
  for (const [k, v] of Object.entries(metadata))
    if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string (the format stores strings only), got ${typeof v}`);
  if (tensors.has('__metadata__')) throw new Error("safetensors: '__metadata__' is reserved for the metadata and cannot name a tensor");
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`safetensors: '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // pad the header with spaces so the data starts 8-byte aligned (as the reference writer)
  while ((8 + new TextEncoder().encode(json).length) % 8) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

/**
 * Parses a safetensors file. F64 tensors are narrowed to F32 and I64 to I32 (with a range
 * check) because the engine computes in 32 bits; other dtypes are rejected by name. As the
 * reference reader, the tensors' byte ranges must tile the data section exactly (no gaps,
 * overlaps or trailing bytes). Every problem with the bytes is a FileFormatError; nothing
 * is allocated from a declared size before it is checked against the file's size.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): DecodedSafetensors {
  const bad = (what: string) => new FileFormatError(`${source}: ${what}`);
  if (bytes.length < 8) throw bad(`not a safetensors file: ${bytes.length} bytes, too short for the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(bytes.length - 8))
    throw bad(`not a safetensors file: header length ${declared} exceeds the file size (${bytes.length} bytes; truncated, or another format)`);
  const headerLen = Number(declared);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw bad(`not a safetensors file: its ${headerLen}-byte header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    throw bad(`corrupt safetensors header: expected a JSON object, got ${describeValue(header)}`);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, NamedArray>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw bad(`__metadata__ must be an object of strings, got ${describeValue(entry)}`);
      for (const [k, v] of Object.entries(entry)) if (typeof v !== 'string') throw bad(`__metadata__ '${k}' must be a string, got ${describeValue(v)}`);
      metadata = entry as Record<string, string>;
      continue;
    }
    const where = `tensor '${name}'`;
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw bad(`${where}: expected {dtype, shape, data_offsets}, got ${describeValue(entry)}`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !Object.hasOwn(BYTES, e.dtype))
      throw bad(`${where}: unknown dtype ${describeValue(e.dtype)} (known: ${Object.keys(BYTES).join(', ')})`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(`${where}: shape must be a list of non-negative integers, got ${describeValue(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0) || offs[0] > offs[1])
      throw bad(`${where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${describeValue(offs)}`);
    const dtype = e.dtype as SafeDType;
    const shape = e.shape as number[];
    // in floating point: a product of declared dimensions can exceed 2^53, and then it cannot equal the byte count
    const n = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offs as [number, number];
    if (end - begin !== n * BYTES[dtype])
      throw bad(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape}] of ${dtype} needs ${n * BYTES[dtype]}`);
    if (end > dataLen) throw bad(`${where}: data ends at byte ${end}, past the end of the file's ${dataLen} data bytes (truncated)`);
    ranges.push({ name, begin, end });
    if (dtype !== 'F32' && dtype !== 'I32' && dtype !== 'U32' && dtype !== 'F64' && dtype !== 'I64')
      throw bad(`${where}: dtype ${dtype} is not supported (use F32, F64, I32, I64 or U32)`);
    tensors.set(
      name,
      readTensor(bytes.subarray(dataStart + begin, dataStart + end), dtype, shape, n, () => bad(where)),
    );
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const r of ranges) {
    if (r.begin !== covered)
      throw bad(
        `corrupt safetensors file: tensor '${r.name}' starts at data byte ${r.begin}, expected ${covered} (${r.begin < covered ? 'it overlaps the tensor before it' : 'a gap before it'})`,
      );
    covered = r.end;
  }
  if (covered !== dataLen) throw bad(`corrupt safetensors file: the tensors cover ${covered} of the ${dataLen} data bytes after the header`);
  return { tensors, metadata };
}

function readTensor(raw: Uint8Array, dtype: 'F32' | 'I32' | 'U32' | 'F64' | 'I64', shape: number[], n: number, where: () => FileFormatError): NamedArray {
  // copy: the source bytes may not be aligned for a typed-array view
  const copy = raw.slice();
  const dv = new DataView(copy.buffer);
  if (dtype === 'F32') return { dtype: 'F32', shape, data: new Float32Array(copy.buffer) };
  if (dtype === 'I32') return { dtype: 'I32', shape, data: new Int32Array(copy.buffer) };
  if (dtype === 'U32') return { dtype: 'U32', shape, data: new Uint32Array(copy.buffer) };
  if (dtype === 'F64') {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = dv.getFloat64(8 * i, true);
    return { dtype: 'F32', shape, data };
  }
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = dv.getBigInt64(8 * i, true);
    if (v > 2147483647n || v < -2147483648n) {
      const err = where();
      err.message += `: int64 value ${v} does not fit in int32`;
      throw err;
    }
    data[i] = Number(v);
  }
  return { dtype: 'I32', shape, data };
}
