/**
 * The ResNet and plain backbones (detection/models/backbone.ts): the presets' key names
 * (torchvision's), older checkpoints and optimizer states under the pre-torchvision names
 * still loading, mmdetection's norm_eval and frozen_stages, batch norm's running
 * statistics in training, and config errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { loadOptimizerState, loadWeights, readSidecar, saveCheckpoint } from '../../engine/io/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors } from '../../engine/io/safetensors.ts';
import { BatchNorm2d, InitSeeds, type Module } from '../../engine/nn/index.ts';
import { SGD } from '../../engine/optim/index.ts';
import { Detector } from '../../detection/detector.ts';
import { buildBackbone, ResNet, torchvisionResNet, validateBackbone, type BackboneConfig } from '../../detection/models/backbone.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { detectorConfig } from '../../detection/train/step.ts';

let tmp: string;
beforeAll(async () => {
  await E.init();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-backbone-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const studentDetector = () => new Detector(detectorConfig(presetConfig('quick-student')));

describe('key names', () => {
  it("the presets' ResNets use torchvision's (with mmdetection's gn for GroupNorm)", () => {
    const det = studentDetector();
    const keys = [...det.stateDict().keys()].filter((k) => k.startsWith('backbone.'));
    expect(keys.slice(0, 3)).toEqual(['backbone.conv1.weight', 'backbone.gn1.weight', 'backbone.gn1.bias']);
    expect(keys).toContain('backbone.layer1.0.conv1.weight');
    expect(keys).toContain('backbone.layer4.0.gn2.bias');
    expect(keys).toContain('backbone.layer2.0.downsample.0.weight');
    expect(keys).toContain('backbone.layer2.0.downsample.1.weight');
    expect(keys.filter((k) => /stem|layers/.test(k))).toEqual([]);
    det.dispose();
  });

  it('the plain backbone keeps its own (stem, layers.i.j.conv/gn)', () => {
    const net = buildBackbone({ type: 'plain', stemChannels: 8, stageChannels: [8, 8, 8, 8], depths: [1, 1, 1, 1], gnGroups: 2 }, new InitSeeds(0));
    expect([...net.stateDict().keys()].slice(0, 4)).toEqual(['stem.conv.weight', 'stem.gn.weight', 'stem.gn.bias', 'layers.0.0.conv.weight']);
    net.dispose();
  });
});

/** A key as checkpoints written before the torchvision naming had it. */
const legacyKey = (k: string) =>
  k
    .replace(/^backbone\.conv1\./, 'backbone.stem.conv.')
    .replace(/^backbone\.gn1\./, 'backbone.stem.gn.')
    .replace(/^backbone\.layer(\d)\./, (_m, i: string) => `backbone.layers.${Number(i) - 1}.`);

function renameSafetensors(file: string, rename: (k: string) => string): void {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  fs.writeFileSync(file, encodeSafetensors(new Map([...tensors].map(([k, t]) => [rename(k), t])), metadata));
}

describe('checkpoints of the old names', () => {
  it('load, weights and optimizer state, into the renamed model', async () => {
    const a = studentDetector();
    const optA = new SGD(a.trainableParameters(), { lr: 0.01, momentum: 0.9 });
    const x = E.randNormal([1, 3, 128, 128], 1);
    E.scope(() => {
      const out = a.forward(x);
      E.backward(E.add(E.sum(out.cls[0]), E.sum(out.reg[1])));
    });
    optA.step();
    const sidecarFile = await saveCheckpoint({ dir: tmp, step: 1, model: a, optimizer: optA, config: {}, loader: null });
    const sidecar = readSidecar(sidecarFile);
    const dir = path.dirname(sidecarFile);
    renameSafetensors(path.join(dir, sidecar.weights), legacyKey);
    renameSafetensors(path.join(dir, sidecar.optimizer!.file), (k) => {
      const [param, slot] = k.split('::');
      return `${legacyKey(param)}::${slot}`;
    });
    expect(Object.keys(Object.fromEntries(decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, sidecar.weights)))).tensors))).toContain(
      'backbone.layers.0.0.conv1.weight',
    );

    const b = studentDetector();
    const optB = new SGD(b.trainableParameters(), { lr: 0.01, momentum: 0.9 });
    loadWeights(b, path.join(dir, sidecar.weights));
    loadOptimizerState(optB, sidecarFile, sidecar, (name) => b.currentKey(name));
    const sa = a.stateDict();
    for (const [k, t] of b.stateDict()) expect(Array.from(await t.data()), k).toEqual(Array.from(await sa.get(k)!.data()));
    const slotsA = optA.state().slots;
    const slotsB = optB.state().slots;
    expect([...slotsB.keys()]).toEqual([...slotsA.keys()]);
    for (const [param, perParam] of slotsB)
      for (const [slot, t] of perParam) expect(Array.from(await t.data()), `${param}::${slot}`).toEqual(Array.from(await slotsA.get(param)!.get(slot)!.data()));
    for (const m of [slotsA, slotsB]) for (const perParam of m.values()) for (const t of perParam.values()) t.dispose();
    for (const t of [a, b, x]) t.dispose();
  });
});

/** The batch norms of a module tree. */
function batchNorms(m: Module): BatchNorm2d[] {
  const out: BatchNorm2d[] = m instanceof BatchNorm2d ? [m] : [];
  for (const [, c] of m.namedChildren()) out.push(...batchNorms(c));
  return out;
}

const tinyBn = (extra: Partial<BackboneConfig> = {}): BackboneConfig => ({
  type: 'resnet',
  stem: 'conv7x7_maxpool',
  block: 'bottleneck',
  stemChannels: 8,
  stageChannels: [16, 16, 32, 32],
  depths: [1, 2, 1, 1],
  norm: 'BN',
  ...extra,
});

describe('batch norm in training', () => {
  it('a training forward moves the running statistics and counts the batch; eval does not', async () => {
    const net = new ResNet(tinyBn(), new InitSeeds(0));
    const bn = net.stateDict();
    const x = E.randNormal([2, 3, 64, 64], 3);
    E.noGrad(() => net.forward(x)).forEach((t) => t.dispose());
    expect(Array.from(await bn.get('layer3.0.bn2.num_batches_tracked')!.data())).toEqual([1]);
    const moved = Array.from(await bn.get('bn1.running_mean')!.data());
    expect(moved.some((v) => v !== 0)).toBe(true);
    net.eval();
    E.noGrad(() => net.forward(x)).forEach((t) => t.dispose());
    expect(Array.from(await bn.get('layer3.0.bn2.num_batches_tracked')!.data())).toEqual([1]);
    expect(Array.from(await bn.get('bn1.running_mean')!.data())).toEqual(moved);
    net.dispose();
    x.dispose();
  });

  it('norm_eval: every batch norm stays in eval mode while the rest trains, its γ and β still trainable', () => {
    const net = new ResNet(tinyBn({ normEval: true }), new InitSeeds(0)).train();
    expect(net.training).toBe(true);
    expect(batchNorms(net).every((m) => !m.training)).toBe(true);
    expect(batchNorms(net).every((m) => m.weight.requiresGrad)).toBe(true);
    net.dispose();
  });

  it('frozen_stages 1: the stem and stage 1 frozen and in eval mode, stage 2 on trains', () => {
    const net = new ResNet(tinyBn({ frozenStages: 1 }), new InitSeeds(0)).train();
    const trainable = new Set(net.trainableParameters().map(([k]) => k));
    for (const k of ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'layer1.0.downsample.1.bias']) expect(trainable.has(k), k).toBe(false);
    for (const k of ['layer2.0.conv1.weight', 'layer2.1.bn3.weight', 'layer4.0.conv3.weight']) expect(trainable.has(k), k).toBe(true);
    const mode = new Map(net.namedChildren());
    expect((mode.get('bn1') as BatchNorm2d).training).toBe(false);
    expect(batchNorms(mode.get('layer1')!).every((m) => !m.training)).toBe(true);
    expect(batchNorms(mode.get('layer2')!).every((m) => m.training)).toBe(true);
    net.dispose();
  });
});

describe('config errors', () => {
  const base = tinyBn();
  it.each([
    [{ ...base, stageChannels: [16, 18, 32, 32] }, /stageChannels must be multiples of 4 with bottleneck blocks .*got 18/],
    [{ ...base, norm: 'GN' }, /gnGroups must be a positive integer with norm 'GN', got undefined/],
    [{ ...base, frozenStages: 5 }, /frozenStages must be an integer in \[-1, 4\], got 5/],
    [{ ...base, stem: 'conv5x5' }, /stem must be 'conv3x3' or 'conv7x7_maxpool', got "conv5x5"/],
    [{ type: 'plain', stemChannels: 8, stageChannels: [8, 8, 8, 8], depths: [1, 1, 1, 1], gnGroups: 2, normEval: true }, /normEval is a ResNet option/],
  ] as [BackboneConfig, RegExp][])('%#', (cfg, message) => {
    expect(() => validateBackbone(cfg)).toThrow(message);
  });
  it('torchvisionResNet builds the published depths', () => {
    expect(torchvisionResNet(101).depths).toEqual([3, 4, 23, 3]);
    expect(torchvisionResNet(34, { norm: 'GN', gnGroups: 32 }).norm).toBe('GN');
  });
});
