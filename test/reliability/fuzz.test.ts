/**
 * The readers of untrusted files under mutated input (engine/checks/fuzz.ts,
 * scripts/fuzzTargets.ts): every input is either read or refused with the reader's own
 * clear error, within a time bound, and nothing read is larger than the input allows.
 * `npm run fuzz -- --iterations 100000` runs the same longer.
 */
import { encode as encodePng } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { BYTE_MUTATIONS, JSON_MUTATIONS, fuzz, seededRandom } from '../../engine/checks/fuzz.ts';
import { FileFormatError } from '../../engine/io/format.ts';
import { decodeSafetensors } from '../../engine/io/safetensors.ts';
import { parseSidecar } from '../../engine/io/checkpoint.ts';
import { CocoError, decodePng } from '../../detection/data/coco.ts';
import { FUZZ_TARGETS } from '../../scripts/fuzzTargets.ts';

/** inputs per reader in CI (a few seconds each) */
const ITERATIONS = 3000;

describe('fuzzed readers: read, or refused with a clear error, in bounded time', () => {
  it.each(FUZZ_TARGETS.map((t) => [t.name, t] as const))('%s', (_name, target) => {
    const r = fuzz(target, { iterations: ITERATIONS, seed: 20261207, maxMsPerInput: 2000 });
    expect(r.failures, JSON.stringify(r.failures.slice(0, 3), null, 1)).toEqual([]);
    expect(r.read + r.refused).toBe(ITERATIONS);
    // the fuzzer did its job: some inputs still read, most refused, every mutation used
    expect(r.read).toBeGreaterThan(10);
    expect(r.refused).toBeGreaterThan(ITERATIONS / 2);
    const used = Object.keys(r.byMutation).join(' + ');
    for (const m of [...Object.keys(BYTE_MUTATIONS), ...Object.keys(target.mutations ?? {}), ...(target.json ? Object.keys(JSON_MUTATIONS) : [])])
      expect(used).toContain(m);
  });

  it('the harness reports an unclear error, a slow input and an oversized result as failures', () => {
    const seeds = [new Uint8Array([1, 2, 3, 4])];
    const isClearError = (e: unknown) => e instanceof FileFormatError;
    const typeError = fuzz(
      {
        name: 't',
        seeds,
        read: () => {
          throw new TypeError('x is undefined');
        },
        isClearError,
      },
      { iterations: 5, seed: 1 },
    );
    expect(typeError.failures.map((f) => f.problem)).toEqual(Array(5).fill('threw TypeError: x is undefined'));
    const slow = fuzz(
      {
        name: 't',
        seeds,
        read: () => {
          const t = performance.now();
          while (performance.now() - t < 30);
          return 0;
        },
        isClearError,
      },
      { iterations: 2, seed: 1, maxMsPerInput: 10 },
    );
    expect(slow.failures[0].problem).toMatch(/^took \d+ ms \(bound 10 ms\)$/);
    const big = fuzz({ name: 't', seeds, read: () => 1 << 20, isClearError }, { iterations: 1, seed: 1 });
    expect(big.failures[0].problem).toMatch(/^read, but its result holds 1048576 bytes from a \d+-byte input$/);
    // the same seed gives the same inputs
    const inputs = (seed: number) =>
      fuzz({ name: 't', seeds, read: () => 0, isClearError, maxExpansion: -1e9 }, { iterations: 3, seed }).failures.map((f) => f.input);
    expect(inputs(7)).toEqual(inputs(7));
    expect(inputs(7)).not.toEqual(inputs(8));
    expect(seededRandom(3)()).toBe(seededRandom(3)());
  });
});

describe('malformed files say what is wrong with the file', () => {
  const header = (text: string, dataBytes = 0) => {
    const t = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + t.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(t.length), true);
    out.set(t, 8);
    return out;
  };

  it('safetensors: garbage, a huge header length, gaps and overlaps are format errors, not mismatches', () => {
    const garbage = new TextEncoder().encode('PK\x03\x04 this is a zip, not safetensors........');
    expect(() => decodeSafetensors(garbage, 'w.safetensors')).toThrow(FileFormatError);
    expect(() => decodeSafetensors(garbage, 'w.safetensors')).toThrow(
      /^w\.safetensors: not a safetensors file: header length \d+ exceeds the file size \(43 bytes; truncated, or another format\)$/,
    );
    const gap = header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8);
    expect(() => decodeSafetensors(gap, 'g')).toThrow("g: corrupt safetensors file: tensor 'a' starts at data byte 4, expected 0 (a gap before it)");
    const overlap = header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8);
    expect(() => decodeSafetensors(overlap, 'o')).toThrow(
      "o: corrupt safetensors file: tensor 'b' starts at data byte 4, expected 8 (it overlaps the tensor before it)",
    );
    const trailing = header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 12);
    expect(() => decodeSafetensors(trailing, 't')).toThrow('t: corrupt safetensors file: the tensors cover 4 of the 12 data bytes after the header');
    const hugeShape = header('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}', 4);
    expect(() => decodeSafetensors(hugeShape, 'h')).toThrow(
      "h: tensor 'a': data_offsets [0, 4] hold 4 bytes, but shape [4294967296,4294967296] of F32 needs 73786976294838210000",
    );
    const notUtf8 = header('{"a":1}');
    notUtf8[9] = 0xff;
    expect(() => decodeSafetensors(notUtf8, 'u')).toThrow(/^u: not a safetensors file: its 7-byte header is not valid UTF-8 JSON/);
  });

  it('sidecar: wrong field types and paths out of its folder are named', () => {
    const ok = { format: 'crosskd-checkpoint', version: 1, step: 3, config: {}, weights: 'c.safetensors', optimizer: null, loader: null, extra: {} };
    expect(parseSidecar(JSON.stringify(ok), 's.json').step).toBe(3);
    const bad = (patch: object) => () => parseSidecar(JSON.stringify({ ...ok, ...patch }), 's.json');
    expect(bad({ weights: '../../secret.safetensors' })).toThrow(
      `s.json: field 'weights' must be a .safetensors file name in the same folder, got "../../secret.safetensors"`,
    );
    expect(bad({ step: -1 })).toThrow("s.json: field 'step' must be an integer ≥ 0, got -1");
    expect(bad({ optimizer: { file: 'o.safetensors', step: 1, lr: 'fast' } })).toThrow(
      /^s\.json: field 'optimizer' must be null or \{file: .*\}, got \{"file": "o\.safetensors", "step": 1, "lr": "fast"\}$/,
    );
    expect(bad({ extra: undefined })).toThrow("s.json: missing field 'extra' (an object)");
    expect(() => parseSidecar('[1]', 's.json')).toThrow(
      's.json: not a checkpoint sidecar of this project (expected format "crosskd-checkpoint", version 1; got a JSON array)',
    );
    expect(() => parseSidecar(`{"format":${'['.repeat(50000)}${']'.repeat(50000)}}`, 's.json')).toThrow(
      /^s\.json: not a checkpoint sidecar .*got format \[\[\[\[…\]\]\]\], version undefined\)$/,
    );
  });

  it('PNG: a header declaring more pixels than the file can hold is refused before decoding', () => {
    const png = encodePng({ width: 4, height: 4, data: new Uint8Array(48), channels: 3 });
    const c = png.slice();
    new DataView(c.buffer).setUint32(16, 46341); // 46341 × 4 RGB: 556 kB of pixels from 70-odd bytes
    expect(() => decodePng(c, 'p.png')).toThrow(CocoError);
    expect(() => decodePng(c, 'p.png')).toThrow(
      /^p\.png: corrupt PNG: IHDR declares 46341×4 \(556096 bytes of pixel data\), more than \d+ compressed bytes can hold \(truncated or corrupt\)$/,
    );
    new DataView(c.buffer).setUint32(20, 46341);
    expect(() => decodePng(c, 'p.png')).toThrow('p.png: a 46341×46341 PNG is larger than the 64 Mpixel images this loader decodes');
    const flipped = png.slice();
    flipped[png.length - 20] ^= 4; // inside IDAT: its CRC no longer matches
    expect(() => decodePng(flipped, 'f.png')).toThrow(/^f\.png: corrupt PNG: /);
  });
});
