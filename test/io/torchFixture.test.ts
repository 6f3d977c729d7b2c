/**
 * A GFL head written by PyTorch (scripts/gen_torch_fixture.py: mmdetection's module
 * structure and names, `bbox_head.` prefix, the Integral buffer, 0-dim Scale parameters)
 * loads into the engine's GFLHead, and the engine's outputs on the same input match
 * PyTorch's float64 forward pass.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { diff } from '../../engine/checks/compare.ts';
import { loadWeights, readSafetensorsFile, saveWeights } from '../../engine/io/checkpoint.ts';
import { encodeSafetensors, type NamedArray } from '../../engine/io/safetensors.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { GFLHead, type GflHeadConfig } from '../../detection/heads/gfl.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const WEIGHTS = path.join(FIXTURES, 'gfl_head_torch.safetensors');
const IO = path.join(FIXTURES, 'gfl_head_torch_io.safetensors');

const weights = readSafetensorsFile(WEIGHTS);
const config = JSON.parse(weights.metadata.config) as GflHeadConfig;
const io = readSafetensorsFile(IO).tensors;

let tmp: string;
beforeAll(async () => {
  await E.init();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-torch-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The fixture's tensors with `edit` applied, written to a temporary file. */
function variant(name: string, edit: (t: Map<string, NamedArray>) => void): string {
  const tensors = new Map(weights.tensors);
  edit(tensors);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, encodeSafetensors(tensors, weights.metadata));
  return file;
}

describe('a GFL head written by PyTorch', () => {
  it('has the names and dtypes of an mmdetection checkpoint', () => {
    expect(weights.metadata.format).toBe('pt');
    const names = [...weights.tensors.keys()];
    expect(names).toContain('bbox_head.cls_convs.0.conv.weight');
    expect(names).toContain('bbox_head.reg_convs.1.gn.bias');
    expect(names).toContain('bbox_head.integral.project');
    expect(weights.tensors.get('bbox_head.scales.1.scale')!.shape).toEqual([]);
    for (const t of weights.tensors.values()) expect(t.dtype).toBe('F32');
  });

  it("loads into GFLHead, and the head's outputs match PyTorch's float64 forward", async () => {
    const head = new GFLHead(config, new InitSeeds(1));
    const meta = loadWeights(head, WEIGHTS, { prefix: 'bbox_head.' });
    expect(meta.generator).toBe('scripts/gen_torch_fixture.py');
    // every parameter now holds the file's values (the init seed is irrelevant)
    for (const [name, p] of head.namedParameters()) expect(Array.from(await p.data())).toEqual(Array.from(weights.tensors.get(`bbox_head.${name}`)!.data));

    const feats = Array.from({ length: config.numLevels }, (_, l) => {
      const x = io.get(`in.${l}`)!;
      return E.tensor(x.data as Float32Array, x.shape);
    });
    const out = E.noGrad(() => head.forward(feats));
    // The parity rule of the op case files: max|ours − torch| ≤ tol·max|torch| with
    // tol = max(1e-5, 10 × PyTorch's own float32 error against float64 on these outputs).
    const tol = Math.max(1e-5, 10 * Number(weights.metadata.f32_error_vs_f64));
    for (let l = 0; l < config.numLevels; l++) {
      for (const [kind, got] of [
        ['cls', out.cls[l]],
        ['reg', out.reg[l]],
      ] as const) {
        const ref = io.get(`${kind}.${l}`)!;
        expect(got.shape, `${kind}.${l}`).toEqual(ref.shape);
        const d = diff(await got.data(), ref.data);
        expect(d.maxRef, `${kind}.${l} is not all zeros`).toBeGreaterThan(0.1);
        expect(d.rel, `${kind}.${l}: max|ours − torch| / max|torch|`).toBeLessThanOrEqual(tol);
      }
    }
    for (const t of [...feats, ...out.cls, ...out.reg]) t.dispose();
    head.dispose();
  });

  it('saveWeights then loadWeights restores every parameter of a head and the metadata (our own round trip)', async () => {
    const head = new GFLHead(config, new InitSeeds(1));
    loadWeights(head, WEIGHTS, { prefix: 'bbox_head.' });
    const file = path.join(tmp, 'ours.safetensors');
    await saveWeights(head, file, { step: '3' });
    const other = new GFLHead(config, new InitSeeds(99));
    expect(loadWeights(other, file)).toEqual({ step: '3' });
    for (const [name, p] of other.namedParameters())
      expect(Array.from(await p.data()), name).toEqual(Array.from(weights.tensors.get(`bbox_head.${name}`)!.data));
    head.dispose();
    other.dispose();
  });

  it('refuses a checkpoint whose Integral belongs to another reg_max, and one with a stray tensor', () => {
    const otherRegMax = variant('regmax.safetensors', (t) =>
      t.set('bbox_head.integral.project', {
        dtype: 'F32',
        shape: [config.regMax + 1],
        data: Float32Array.from({ length: config.regMax + 1 }, (_, i) => i * 2),
      }),
    );
    const head = new GFLHead(config, new InitSeeds(1));
    expect(() => loadWeights(head, otherRegMax, { prefix: 'bbox_head.' })).toThrow(
      /constant 'integral\.project' holds 2 at index 1 in the checkpoint, the model's value is 1/,
    );
    const stray = variant('stray.safetensors', (t) => t.set('bbox_head.gfl_centerness.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) }));
    expect(() => loadWeights(head, stray, { prefix: 'bbox_head.' })).toThrow(/unexpected: gfl_centerness\.weight/);
    const scaleShape = variant('scale.safetensors', (t) => t.set('bbox_head.scales.0.scale', { dtype: 'F32', shape: [2], data: new Float32Array(2) }));
    expect(() => loadWeights(head, scaleShape, { prefix: 'bbox_head.' })).toThrow(
      /'scales\.0\.scale' has shape \[2\] in the checkpoint, the model expects \[1\]/,
    );
    head.dispose();
  });
});
