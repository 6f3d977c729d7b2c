/**
 * .pth both ways against files torch.save wrote and read (scripts/gen_pth_fixtures.py,
 * Debian's python3-torch 1.13): every dtype bit for bit, views with strides and storage
 * offsets, mmengine's wrapper, and refusals that name what the file is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../../engine/io/format.ts';
import { decodePth, encodePth, halfToFloat, pthToFloat32, type PthTensor } from '../../engine/io/pth.ts';
import { readZip, writeZip } from '../../engine/io/zip.ts';
import { fixtureTensors, type ExpectedTensor } from './pthFixture.ts';

const DIR = path.join(import.meta.dirname, 'fixtures', 'pth');
const read = (name: string) => new Uint8Array(fs.readFileSync(path.join(DIR, name)));
const expected = fixtureTensors(JSON.parse(fs.readFileSync(path.join(DIR, 'state.json'), 'utf8')) as Record<string, ExpectedTensor>);
const META = { epoch: 3, iter: 600, mmengine_version: '0.10.4', dataset_meta: { classes: ['circle', 'square'] }, lr: 0.25 };

/** Same keys in the same order, dtypes, shapes and bytes. */
function expectSameTensors(got: ReadonlyMap<string, PthTensor>, want: ReadonlyMap<string, PthTensor>) {
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    expect([g.dtype, g.shape], k).toEqual([w.dtype, w.shape]);
    expect(g.data.constructor, k).toBe(w.data.constructor);
    expect(new Uint8Array(g.data.buffer, g.data.byteOffset, g.data.byteLength), k).toEqual(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  }
}

describe('.pth: reading what torch.save writes', () => {
  it('a bare state_dict: every dtype bit for bit, 0-dim and empty tensors, a transposed view and a slice sharing its storage', () => {
    const r = decodePth(read('state.pth'), 'state.pth');
    expectSameTensors(r.stateDict, expected);
    expect([r.meta, r.strippedModulePrefix, r.skipped]).toEqual([null, false, []]);
    // the transposed view is materialised row-major: element [i][j] is base[j][i]
    const t = r.stateDict.get('head.transposed')!;
    const rows = r.stateDict.get('head.rows')!; // base[1:3]
    expect(t.shape).toEqual([6, 4]);
    expect((t.data as Float32Array)[0 * 4 + 1]).toBe((rows.data as Float32Array)[0]); // base[1][0]
    expect((t.data as Float32Array)[5 * 4 + 2]).toBe((rows.data as Float32Array)[6 + 5]); // base[2][5]
  });

  it("mmengine's wrapper: meta as plain values, 'module.' stripped, runtime state with foreign objects skipped and named", () => {
    const r = decodePth(read('mmdet.pth'), 'mmdet.pth');
    expectSameTensors(r.stateDict, expected);
    expect(r.meta).toEqual(META);
    expect(r.strippedModulePrefix).toBe(true);
    expect(r.skipped).toEqual(['message_hub (holds numpy.core.multiarray.scalar)']);
  });

  it("mmdetection 2.x's wrapper: a numpy value in meta and an object of the training script's class next to the weights", () => {
    const r = decodePth(read('mmcv.pth'), 'mmcv.pth');
    expectSameTensors(r.stateDict, expected);
    expect(r.meta).toEqual({
      mmcv_version: '1.7.1',
      epoch: 12,
      iter: 10000,
      CLASSES: ['circle', 'square'],
      hook_msgs: { last_ckpt: 'work_dirs/gfl/epoch_12.pth', best_score: '<numpy.core.multiarray.scalar>' },
    });
    expect(r.strippedModulePrefix).toBe(false);
    expect(r.skipped).toEqual(['custom_hook (holds __main__.TrainingScriptObject)']);
  });

  it('float16 and bfloat16 widen to float32 as IEEE says', () => {
    const f = pthToFloat32(expected.get('neck.half')!);
    expect([f[0], f[1], f[2], f[4]]).toEqual([1.5, -2, 65504, 0]);
    expect(f[3]).toBeCloseTo(6.1e-5, 7);
    expect([halfToFloat(0x3c00), halfToFloat(0xc000), halfToFloat(0x7bff), halfToFloat(0x0001), halfToFloat(0x7c00), halfToFloat(0x8000)]).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      Infinity,
      -0,
    ]);
    expect(Array.from(pthToFloat32(expected.get('neck.bf16')!)).slice(0, 2)).toEqual([1, -3.140625]);
    expect(Array.from(pthToFloat32(expected.get('backbone.bn1.num_batches_tracked')!))).toEqual([Math.fround(1234567890123)]);
  });

  it('refuses the legacy format, TorchScript, and a pickle that would run code (never run)', () => {
    expect(() => decodePth(read('legacy.pth'), 'legacy.pth')).toThrow(
      /^legacy\.pth: a \.pth in the legacy \(pre-1\.6, non-zip\) torch\.save format: not supported; load it in PyTorch and save it again/,
    );
    expect(() => decodePth(read('torchscript.pt'), 'm.pt')).toThrow(
      'm.pt: a TorchScript archive (torch.jit.save), not a state_dict: save model.state_dict() with torch.save instead',
    );
    expect(() => decodePth(read('evil.pth'), 'evil.pth')).toThrow(
      "evil.pth: state_dict['w'] is an object of posix.system, not a tensor (nothing in the file is executed)",
    );
    expect(() => decodePth(new TextEncoder().encode('{"not": "a pth"}'), 'j.pth')).toThrow(FileFormatError);
  });
});

describe('.pth: writing what torch.load reads', () => {
  it('TypeScript → torch → TypeScript: the file torch re-saved from ours reads back exactly, meta included', () => {
    const r = decodePth(read('ts_resaved.pth'), 'ts_resaved.pth');
    expectSameTensors(r.stateDict, expected);
    expect(r.meta).toEqual(META);
  });

  it('the writer still writes the bytes torch was checked to read (both directions)', () => {
    // torch.load of these two files was checked by gen_pth_fixtures.py (weights_only=True for the second)
    expect(encodePth(expected, { meta: META, name: 'ts_written' })).toEqual(read('ts_written.pth'));
    expect(encodePth(decodePth(read('state.pth'), 'state.pth').stateDict, { name: 'ts_reencoded' })).toEqual(read('ts_reencoded.pth'));
  });

  it('round-trips in TypeScript, with the data records 64-byte aligned as torch writes them', () => {
    const bytes = encodePth(expected, { meta: { note: 'größe', big: 2n ** 70n, neg: -(2 ** 40), t: [1, [2, 3]], none: null } });
    const r = decodePth(bytes, 'rt.pth');
    expectSameTensors(r.stateDict, expected);
    expect(r.meta).toEqual({ note: 'größe', big: 2n ** 70n, neg: -(2 ** 40), t: [1, [2, 3]], none: null });
    const records = readZip(bytes, 'rt.pth');
    expect([...records.keys()].slice(0, 2)).toEqual(['archive/data.pkl', 'archive/data/0']);
    for (const [name, data] of records) if (name.includes('/data/')) expect(data.byteOffset % 64, name).toBe(0);
    expect(() => encodePth(new Map([['x', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]]))).toThrow("encodePth: 'x' has shape [3] but 2 values");
  });

  it('zip: stored and deflated records, CRCs checked, truncation named', () => {
    const zip = writeZip([['a/x', new Uint8Array([1, 2, 3])]]);
    expect(readZip(zip, 'z').get('a/x')).toEqual(new Uint8Array([1, 2, 3]));
    const flipped = zip.slice();
    flipped[zip.indexOf(2, 64)] ^= 1; // a data byte
    expect(() => readZip(flipped, 'z')).toThrow("z: record 'a/x': CRC mismatch (corrupt)");
    expect(() => readZip(zip.slice(0, zip.length - 30), 'z')).toThrow('z: corrupt zip archive: no end-of-central-directory record (truncated?)');
  });
});
