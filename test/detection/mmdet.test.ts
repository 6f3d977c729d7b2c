/**
 * torchvision-layout ResNets and mmdetection's GFL R50-FPN against their PyTorch replicas
 * (scripts/gen_mmdet_fixture.py; test/io/fixtures/mmdet/): the exact state_dict key sets,
 * shapes and order of torchvision's ResNet-18/50 and mmdetection's GFL R50-FPN; the
 * ResNet-18 forward (BasicBlocks, BN in eval mode, 7×7 stem + max pool) and the whole GFL
 * R50-FPN forward (Bottlenecks, FPN, head: class scores and box distances) on hashed
 * weights, the detector loaded from a `.pth` in mmdetection's `{meta, state_dict}` layout
 * with DataParallel's `module.` prefix, written by the engine's encoder; and mmdetection's
 * ATSS, RetinaNet and FCOS heads on their own (keys, and their outputs on given features).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { diff } from '../../engine/checks/compare.ts';
import { loadWeights, readSafetensorsFile } from '../../engine/io/checkpoint.ts';
import { encodePth, pthToFloat32 } from '../../engine/io/pth.ts';
import { InitSeeds } from '../../engine/nn/index.ts';
import { Detector } from '../../detection/detector.ts';
import { ResNet, torchvisionResNet } from '../../detection/models/backbone.ts';
import { mmdetGflR50Fpn } from '../../detection/models/mmdet.ts';
import { buildHead } from '../../detection/heads/index.ts';
import { hashedStateDict } from './hashedWeights.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'io', 'fixtures', 'mmdet');
type Entry = [string, number[], string];
const KEYS = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'keys.json'), 'utf8')) as Record<'resnet18' | 'resnet50' | 'gfl_r50_fpn', Entry[]>;

let tmp: string;
beforeAll(async () => {
  await E.init();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-mmdet-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Our (key, shape, dtype) entries in state_dict order, dtypes named as torch's; constants (integral.project) included. */
function ourEntries(m: E.Module, prefix = ''): Entry[] {
  const torchDtype = (t: E.Tensor) => (t.dtype === 'int32' ? 'int64' : 'float32');
  const state: Entry[] = [...m.stateDict()].map(([k, t]) => [prefix + k, [...t.shape], torchDtype(t)]);
  const constants: Entry[] = m.namedConstants().map(([k, c]) => [prefix + k, [...c.shape], 'float32']);
  return [...state, ...constants];
}

/** As torch lists them, with mmcv's 0-dim Scale parameters as our [1]. */
const asOurs = (entries: Entry[]): Entry[] => entries.map(([k, s, d]) => [k, k.endsWith('.scale') && s.length === 0 ? [1] : s, d]);

describe('state_dict layout', () => {
  for (const depth of [18, 50] as const)
    it(`torchvision ResNet-${depth}: the same keys, shapes, dtypes and order`, () => {
      const net = new ResNet(torchvisionResNet(depth), new InitSeeds(0));
      expect(ourEntries(net)).toEqual(KEYS[`resnet${depth}`]);
      net.dispose();
    });

  it("mmdetection's GFL R50-FPN: the same keys, shapes, dtypes and order", () => {
    const det = new Detector(mmdetGflR50Fpn());
    expect(ourEntries(det)).toEqual(asOurs(KEYS.gfl_r50_fpn));
    det.dispose();
  });
});

/** max|got − ref| / max|ref| */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>) => diff(got, ref).rel;

function tolerance(file: { metadata: Record<string, string> }): number {
  // float32 PyTorch's own error against float64 on the same weights, ×10 (the parity rule), at least 1e-5
  return Math.max(1e-5, 10 * Math.max(...(JSON.parse(file.metadata.float32_rel_err) as number[])));
}

describe('forward parity with PyTorch (hashed weights, eval mode)', () => {
  it('ResNet-18: C3, C4, C5', async () => {
    const io = readSafetensorsFile(path.join(FIXTURES, 'resnet18_forward.safetensors'));
    const net = new ResNet(torchvisionResNet(18), new InitSeeds(0));
    const file = path.join(tmp, 'resnet18.pth');
    fs.writeFileSync(file, encodePth(hashedStateDict(KEYS.resnet18)));
    loadWeights(net, file);
    net.eval();
    const input = io.tensors.get('input')!;
    const feats = E.noGrad(() => net.forward(E.tensor(input.data as Float32Array, input.shape)));
    const tol = tolerance(io);
    for (const [i, f] of feats.entries()) {
      const want = io.tensors.get(`c${i + 3}`)!;
      expect(f.shape).toEqual(want.shape);
      expect(relErr(await f.data(), want.data as unknown as Float64Array), `c${i + 3}`).toBeLessThan(tol);
      f.dispose();
    }
    net.dispose();
  });

  it('GFL R50-FPN from an mmdetection-style .pth: class scores and box distances at every level', async () => {
    const io = readSafetensorsFile(path.join(FIXTURES, 'gfl_r50_forward.safetensors'));
    const det = new Detector(mmdetGflR50Fpn());
    const file = path.join(tmp, 'gfl_r50_fpn.pth');
    // as mmdetection saves it (meta beside the weights), from a DataParallel-wrapped model
    const meta = { mmdet_version: '3.3.0', dataset_meta: { classes: Array.from({ length: 80 }, (_, i) => `class${i}`) }, epoch: 12 };
    fs.writeFileSync(file, encodePth(hashedStateDict(KEYS.gfl_r50_fpn, 'module.'), { meta }));
    loadWeights(det, file);
    det.eval();
    const input = io.tensors.get('input')!;
    const out = E.noGrad(() => det.forward(E.tensor(input.data as Float32Array, input.shape)));
    const tol = tolerance(io);
    const regMax = 16;
    for (let l = 0; l < 5; l++) {
      const scores = io.tensors.get(`level${l}.scores`)!;
      const distances = io.tensors.get(`level${l}.distances`)!;
      const logits = await out.cls[l].data();
      expect(out.cls[l].shape).toEqual(scores.shape);
      expect(
        relErr(
          Float64Array.from(logits, (v) => 1 / (1 + Math.exp(-v))),
          scores.data as unknown as Float64Array,
        ),
        `level ${l} scores`,
      ).toBeLessThan(tol);
      // the distribution [1, 4·17, H, W] → expected bin position × stride, as mmdetection's predict
      const reg = await out.reg[l].data();
      const [, , h, w] = distances.shape;
      const got = new Float64Array(4 * h * w);
      for (let side = 0; side < 4; side++)
        for (let p = 0; p < h * w; p++) {
          const bins = Array.from({ length: regMax + 1 }, (_, b) => reg[(side * (regMax + 1) + b) * h * w + p]);
          const top = Math.max(...bins);
          const e = bins.map((v) => Math.exp(v - top));
          got[side * h * w + p] = (e.reduce((a, v, b) => a + v * b, 0) / e.reduce((a, v) => a + v, 0)) * det.strides[l];
        }
      expect(relErr(got, distances.data as unknown as Float64Array), `level ${l} distances`).toBeLessThan(tol);
    }
    for (const t of [...out.cls, ...out.reg, ...out.fpn]) t.dispose();
    det.dispose();
  });
});

describe("mmdetection's ATSS, RetinaNet and FCOS heads (head only, hashed weights)", () => {
  const HEAD_KEYS = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'heads_keys.json'), 'utf8')) as Record<'atss' | 'retina' | 'fcos', Entry[]>;
  const small = { featChannels: 16, stackedConvs: 2 };
  const configs = {
    atss: { type: 'atss', ...small, gnGroups: 4 },
    retina: { type: 'retina', ...small },
    fcos: { type: 'fcos', ...small, gnGroups: 4 },
  } as const;
  for (const kind of ['atss', 'retina', 'fcos'] as const)
    it(`${kind}: the same keys, shapes and order; cls, reg${kind === 'retina' ? '' : ' and centerness'} at every level from an mmdetection .pth`, async () => {
      const head = buildHead(configs[kind], { numClasses: 3, inChannels: 16, numLevels: 3 }, new InitSeeds(0));
      expect(ourEntries(head, 'bbox_head.')).toEqual(asOurs(HEAD_KEYS[kind]));
      const file = path.join(tmp, `${kind}-head.pth`);
      fs.writeFileSync(file, encodePth(hashedStateDict(HEAD_KEYS[kind])));
      loadWeights(head, file, { prefix: 'bbox_head.' });
      head.eval();
      const io = readSafetensorsFile(path.join(FIXTURES, 'heads_forward.safetensors'));
      const tol = Math.max(1e-5, 10 * Math.max(...(JSON.parse(io.metadata[`${kind}.float32_rel_err`]) as number[])));
      const feats = [0, 1, 2].map((l) => {
        const f = io.tensors.get(`${kind}.feat${l}`)!;
        return E.tensor(f.data as Float32Array, f.shape);
      });
      const out = E.noGrad(() => head.forward(feats));
      for (let l = 0; l < 3; l++)
        for (const part of ['cls', 'reg', 'centerness'] as const) {
          const want = io.tensors.get(`${kind}.level${l}.${part}`);
          const got = out[part]?.[l];
          expect(!!got, `${part} at level ${l}`).toBe(!!want);
          if (!want || !got) continue;
          expect(got.shape).toEqual(want.shape);
          expect(relErr(await got.data(), want.data as unknown as Float64Array), `${kind} level ${l} ${part}`).toBeLessThan(tol);
        }
      for (const t of [...feats, ...out.cls, ...out.reg, ...(out.centerness ?? [])]) t.dispose();
      head.dispose();
    });
});

describe('loading mmdetection checkpoints', () => {
  it('keeps the BN statistics and counters of the file', async () => {
    const net = new ResNet(torchvisionResNet(18), new InitSeeds(0));
    const state = hashedStateDict(KEYS.resnet18);
    const file = path.join(tmp, 'r18-state.pth');
    fs.writeFileSync(file, encodePth(state));
    loadWeights(net, file);
    const own = net.stateDict();
    expect(Array.from(await own.get('layer2.0.bn1.running_var')!.data())).toEqual(Array.from(pthToFloat32(state.get('layer2.0.bn1.running_var')!)));
    expect(Array.from(await own.get('bn1.num_batches_tracked')!.data())).toEqual([1000]);
    net.dispose();
  });

  it('names what differs in a checkpoint of another model', () => {
    const net = new ResNet(torchvisionResNet(18), new InitSeeds(0));
    const file = path.join(tmp, 'r50-into-r18.pth');
    fs.writeFileSync(file, encodePth(hashedStateDict(KEYS.resnet50)));
    expect(() => loadWeights(net, file)).toThrow(/r50-into-r18\.pth: loadStateDict: checkpoint does not match the model; unexpected: layer1\.0\.conv3\.weight/);
    net.dispose();
  });
});
