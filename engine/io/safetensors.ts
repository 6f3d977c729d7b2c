/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {str: str} },
 * then the raw little-endian tensor bytes. The format PyTorch and mmdetection tools share.
 * Reading validates everything and names what is wrong; nothing is silently dropped.
 */

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
 * check) because the engine computes in 32 bits; other dtypes are rejected by name.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): DecodedSafetensors {
  if (bytes.length < 8) throw new Error(`${source}: file is ${bytes.length} bytes, too short for a safetensors header (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8)
    throw new Error(`${source}: header claims ${headerLen} bytes but only ${bytes.length - 8} follow (truncated or not safetensors)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new Error(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${source}: header must be a JSON object`);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new Error(`${source}: __metadata__ must be an object of strings, got ${JSON.stringify(entry)}`);
      for (const [k, v] of Object.entries(entry))
        if (typeof v !== 'string') throw new Error(`${source}: __metadata__ '${k}' must be a string, got ${JSON.stringify(v)}`);
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `${source}: tensor '${name}'`;
    if (typeof e?.dtype !== 'string' || !(e.dtype in BYTES)) throw new Error(`${where}: unknown dtype ${JSON.stringify(e?.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[0] > offs[1])
      throw new Error(`${where}: data_offsets must be [begin, end], got ${JSON.stringify(offs)}`);
    const dtype = e.dtype as SafeDType;
    const shape = e.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offs as [number, number];
    if (end - begin !== n * BYTES[dtype]) throw new Error(`${where}: ${end - begin} bytes for ${n} ${dtype} values`);
    if (end > dataLen) throw new Error(`${where}: data ends at byte ${end}, past the end of the file's data (${dataLen}): truncated`);
    // copy: the source bytes may not be aligned for a typed-array view
    const raw = bytes.slice(dataStart + begin, dataStart + end);
    const dv = new DataView(raw.buffer);
    let data: Float32Array | Int32Array | Uint32Array;
    let outType: NamedArray['dtype'];
    if (dtype === 'F32') [data, outType] = [new Float32Array(raw.buffer), 'F32'];
    else if (dtype === 'I32') [data, outType] = [new Int32Array(raw.buffer), 'I32'];
    else if (dtype === 'U32') [data, outType] = [new Uint32Array(raw.buffer), 'U32'];
    else if (dtype === 'F64') {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat64(8 * i, true);
      outType = 'F32';
    } else if (dtype === 'I64') {
      data = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = dv.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) throw new Error(`${where}: int64 value ${v} does not fit in int32`);
        data[i] = Number(v);
      }
      outType = 'I32';
    } else throw new Error(`${where}: dtype ${dtype} is not supported (use F32, F64, I32, I64 or U32)`);
    tensors.set(name, { dtype: outType, shape, data });
  }
  return { tensors, metadata };
}
