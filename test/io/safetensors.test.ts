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
    ['a file shorter than its header length', (b: Uint8Array) => b.slice(0, 4), /too short/],
    ['a header length past the end', (b: Uint8Array) => { const c = b.slice(); new DataView(c.buffer).setBigUint64(0, 10n ** 9n, true); return c; }, /header claims/],
    ['a corrupt header', (b: Uint8Array) => { const c = b.slice(); c[9] = 0x7b; c[10] = 0x7b; return c; }, /not valid JSON/],
  ])('rejects %s with a clear error', (_n, corrupt, message) => {
    const bytes = encodeSafetensors(sample());
    expect(() => decodeSafetensors(corrupt(bytes), 'ckpt.safetensors')).toThrow(message);
  });

  it('names a tensor whose byte count does not match its shape', () => {
    const header = '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}';
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    expect(() => decodeSafetensors(bytes, 'x.safetensors')).toThrow(/x.safetensors: tensor 'w': 8 bytes for 3 F32 values/);
  });
});
