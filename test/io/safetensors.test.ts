import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../../engine/io/safetensors.ts';

function sample(): Map<string, NamedArray> {
  return new Map<string, NamedArray>([
    ['bbox_head.cls_convs.0.conv.weight', { dtype: 'F32', shape: [2, 1, 1, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-8, -7]) }],
    ['labels', { dtype: 'I32', shape: [3], data: new Int32Array([0, 5, -1]) }],
  ]);
}

/** A file written by hand, byte by byte, in the format's specification (independent of the encoder). */
function handWritten(): Uint8Array {
  const header = '{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"n":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}';
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + hb.length + 24);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  dv.setFloat64(8 + hb.length, 0.25, true);
  dv.setFloat64(8 + hb.length + 8, -3, true);
  dv.setBigInt64(8 + hb.length + 16, 42n, true);
  return out;
}

describe('safetensors', () => {
  it('round-trips names, shapes, dtypes, values and metadata', () => {
    const bytes = encodeSafetensors(sample(), { step: '12' });
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ step: '12' });
    for (const [name, t] of sample()) {
      const got = tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
    }
    // data begins 8-byte aligned
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
  });

  it('reads F64 and I64 written per the specification', () => {
    const { tensors } = decodeSafetensors(handWritten());
    expect(tensors.get('a')).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([0.25, -3]) });
    expect(Array.from(tensors.get('n')!.data)).toEqual([42]);
  });

  it.each([
    ['a truncated file', (b: Uint8Array) => b.slice(0, b.length - 5), /truncated/],
    ['a file shorter than its header length', (b: Uint8Array) => b.slice(0, 4), /not a safetensors file: 4 bytes, too short for the 8-byte header length/],
    [
      'a header length past the end',
      (b: Uint8Array) => {
        const c = b.slice();
        new DataView(c.buffer).setBigUint64(0, 10n ** 9n, true);
        return c;
      },
      /not a safetensors file: header length 1000000000 exceeds the file size/,
    ],
    [
      'a corrupt header',
      (b: Uint8Array) => {
        const c = b.slice();
        c[9] = 0x7b;
        c[10] = 0x7b;
        return c;
      },
      /not a safetensors file: its \d+-byte header is not valid UTF-8 JSON/,
    ],
  ])('rejects %s with a clear error', (_n, corrupt, message) => {
    const bytes = encodeSafetensors(sample());
    expect(() => decodeSafetensors(corrupt(bytes), 'ckpt.safetensors')).toThrow(message);
  });

  it('round-trips every dtype the engine writes bit for bit, 0-dim and empty tensors, any names, unicode metadata', () => {
    const f32 = new Float32Array([0, -0, 1.5, -3.25e-39 /* subnormal */, 3.4028234663852886e38, Infinity, -Infinity, NaN]);
    const tensors = new Map<string, NamedArray>([
      ['bbox_head.scales.0.scale', { dtype: 'F32', shape: [], data: new Float32Array([0.75]) }],
      ['f32 edge values', { dtype: 'F32', shape: [2, 4], data: f32 }],
      ['i32', { dtype: 'I32', shape: [4], data: new Int32Array([-2147483648, -1, 0, 2147483647]) }],
      ['u32', { dtype: 'U32', shape: [3], data: new Uint32Array([0, 1, 4294967295]) }],
      ['empty', { dtype: 'F32', shape: [2, 0], data: new Float32Array(0) }],
      ['param::momentum', { dtype: 'F32', shape: [1], data: new Float32Array([2]) }],
      ['ünïcödé.名前', { dtype: 'I32', shape: [1, 1], data: new Int32Array([7]) }],
    ]);
    const metadata = { format: 'pt', config: '{"a":[1,2],"b":"x"}', note: 'größe ≤ 1 — 日本' };
    const bytes = encodeSafetensors(tensors, metadata);
    const decoded = decodeSafetensors(bytes, 'all.safetensors');
    expect(decoded.metadata).toEqual(metadata);
    expect([...decoded.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const got = decoded.tensors.get(name)!;
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      expect(got.data.constructor, name).toBe(t.data.constructor);
      // bit patterns, so that -0 and NaN count
      expect(new Uint32Array(got.data.buffer, got.data.byteOffset, got.data.length), name).toEqual(
        new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length),
      );
    }
    // the header, read independently: offsets tile the data section without gaps, in name order
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, { data_offsets: [number, number] }][];
    entries.sort((x, y) => x[1].data_offsets[0] - y[1].data_offsets[0] || x[1].data_offsets[1] - y[1].data_offsets[1]);
    let end = 0;
    for (const [, e] of entries) {
      expect(e.data_offsets[0]).toBe(end);
      end = e.data_offsets[1];
    }
    expect(8 + headerLen + end).toBe(bytes.length);
  });

  it.each([
    ['F16', 2],
    ['BF16', 2],
    ['BOOL', 1],
    ['U8', 1],
  ])('refuses %s tensors, naming the dtype', (dtype, size) => {
    const header = `{"half":{"dtype":"${dtype}","shape":[2],"data_offsets":[0,${2 * size}]}}`;
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + 2 * size);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    expect(() => decodeSafetensors(bytes, 'h.safetensors')).toThrow(
      `h.safetensors: tensor 'half': dtype ${dtype} is not supported (use F32, F64, I32, I64 or U32)`,
    );
  });

  it('refuses an int64 that does not fit in int32, and metadata that is not strings', () => {
    const header = '{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}';
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + 8);
    const dv = new DataView(bytes.buffer);
    dv.setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    dv.setBigInt64(8 + hb.length, 2n ** 40n, true);
    expect(() => decodeSafetensors(bytes, 'n.safetensors')).toThrow(/tensor 'n': int64 value 1099511627776 does not fit in int32/);

    const withMeta = (meta: string) => {
      const text = new TextEncoder().encode(`{"__metadata__":${meta}}`);
      const out = new Uint8Array(8 + text.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
      out.set(text, 8);
      return out;
    };
    expect(() => decodeSafetensors(withMeta('{"step":12}'), 'm.safetensors')).toThrow(`m.safetensors: __metadata__ 'step' must be a string, got 12`);
    expect(() => decodeSafetensors(withMeta('[1]'), 'm.safetensors')).toThrow(/__metadata__ must be an object of strings/);
    expect(() => encodeSafetensors(sample(), { step: 12 as unknown as string })).toThrow(/metadata 'step' must be a string/);
  });

  it('names a tensor whose byte count does not match its shape', () => {
    const header = '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}';
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    expect(() => decodeSafetensors(bytes, 'x.safetensors')).toThrow(
      "x.safetensors: tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12",
    );
  });
});
