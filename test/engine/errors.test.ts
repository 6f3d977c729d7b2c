import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';

beforeAll(async () => {
  await E.init();
});

describe('bad input gives a clear error', () => {
  const a23 = () => E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);

  it.each([
    ['shape mismatch in a binary op', () => E.add(a23(), E.tensor([1, 2])), /add: shapes \[2,3\] and \[2\] cannot be broadcast/],
    ['dtype mismatch', () => E.exp(E.tensor([1, 2], [2], 'int32')), /exp: x must have dtype float32, got int32/],
    ['axis out of range', () => E.sum(a23(), 2), /sum: axes must be an integer in \[-2, 1\], got 2/],
    ['repeated axis', () => E.sum(a23(), [0, -2]), /sum: axes .* name an axis twice/],
    ['tensor data length', () => E.tensor([1, 2, 3], [2, 2]), /tensor: shape \[2,2\] holds 4 values, got 3/],
    ['non-integer label', () => E.tensor([0, 1.5], [2], 'int32'), /value 1.5 at index 1 is not a valid int32/],
    ['bad reshape', () => E.reshape(a23(), [4, 2]), /reshape: cannot reshape .* to \[4,2\]/],
    ['two -1 in reshape', () => E.reshape(a23(), [-1, -1]), /at most one -1/],
    ['bad permutation', () => E.permute(a23(), [0, 0]), /permute: dims must be a permutation of 0..1/],
    ['slice out of range', () => E.slice(a23(), [0, 1], [2, 4]), /slice: dim 1 needs 0 ≤ start ≤ end ≤ 3, got \[1, 4\)/],
    ['concat shapes', () => E.concat([a23(), E.ones([3, 2])], 0), /concat: tensor 1 has shape \[3,2\], expected \[2,3\] except along axis 0/],
    ['pad pairs', () => E.pad(a23(), [[1, 1]]), /pad: pads needs 2 \[before, after\] pairs/],
    ['upsample rank', () => E.upsampleNearest2x(a23()), /upsampleNearest2x: x must be \[N,C,H,W\], got \[2,3\]/],
    ['clamp bounds', () => E.clamp(a23(), 3, 1), /clamp: min \(3\) must be ≤ max \(1\)/],
    ['grad on an int tensor', () => E.requireGrad(E.tensor([1], [1], 'int32')), /only float32 tensors can require grad/],
    ['bad seed', () => E.randNormal([2], -1), /randNormal: seed must be an integer in \[0, 2\^32\)/],
  ])('%s', (_name, fn, message) => {
    expect(fn).toThrow(message);
  });

  it('names a disposed tensor when it is used', () => {
    const t = E.tensor([1, 2]);
    t.dispose();
    expect(() => E.exp(t)).toThrow(/Tensor#\d+ float32 \[2\] was disposed and cannot be used/);
  });

  it('rejects a readback of a disposed tensor', async () => {
    const t = E.tensor([1, 2]);
    t.dispose();
    await expect(t.data()).rejects.toThrow(/was disposed/);
  });

  it('rejects item() on a tensor of several elements', async () => {
    await expect(E.tensor([1, 2]).item()).rejects.toThrow(/item\(\): .* has 2 elements, expected 1/);
  });

  it('rejects dispatches over the per-dimension workgroup limit', () => {
    const t = E.zeros([4]);
    expect(() =>
      E.runtime().dispatch({ op: 'neg', kernel: 'unary', uniforms: { n: 4, a: 0, b: 0 }, buffers: { x: t.buffer, out: t.buffer }, workgroups: [70000] }),
    ).toThrow(/op 'neg' \(kernel unary\): 70000×1×1 workgroups exceed 65535 per dimension/);
  });

  it('folds large launches into two dimensions', async () => {
    // 20M elements = 78 125 workgroups of 256: over 65535 in one dimension
    const n = 20_000_000;
    const x = E.full([n], 2);
    const y = E.sum(E.scale(x, 0.5));
    expect(await y.item()).toBe(n);
    x.dispose();
  });
});
