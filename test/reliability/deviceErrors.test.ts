/**
 * WebGPU validation errors and device loss become exceptions naming the op and kernel;
 * a training script that loses its device exits with EXIT.gpu (5) and its last
 * checkpoint intact. The in-process device loss comes last: it ends this file's device
 * (vitest gives every test file its own process).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { loadOptimizerState, loadWeights, readSidecar } from '../../engine/io/checkpoint.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { Detector } from '../../detection/detector.ts';
import { detectorConfig } from '../../detection/train/trainer.ts';
import { SGD } from '../../engine/optim/index.ts';
import { EXIT } from '../../scripts/cli.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-device-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let rt: E.Runtime;
beforeAll(async () => {
  rt = await E.init();
});

describe('a training script that loses its device', () => {
  it('exits with EXIT.gpu, naming the op and kernel, and leaves its last checkpoint intact', async () => {
    const cfg = {
      ...presetConfig('tiny'),
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    cfg.train = { ...cfg.train, epochs: 2 }; // 8 steps, checkpoints after steps 2, 4, 6, 8
    const configFile = path.join(root, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(cfg));
    const out = path.join(root, 'run');
    // the device is destroyed inside the fifth step (index 4), after checkpoint-0000004
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', 'test/reliability/fixtures/trainLosingDevice.ts', configFile, out, '4'],
        { cwd: ROOT, timeout: 120_000 },
        (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
      ),
    );
    expect(run.code).toBe(EXIT.gpu);
    expect(run.stderr).toMatch(
      /^error: WebGPU device lost \(destroyed: [^)]*\) before (op '[^']+' \(kernel \w+\)|this readback; the last batch submitted ran op '[^']+' \(kernel \w+\))/m,
    );
    expect(run.stderr).not.toMatch(/\n\s+at /); // one line, no stack

    // nothing after checkpoint 4 was written, and checkpoint 4 is complete and loads
    expect(fs.readdirSync(out).sort()).toEqual([
      'checkpoint-0000002.json',
      'checkpoint-0000002.optim.safetensors',
      'checkpoint-0000002.safetensors',
      'checkpoint-0000004.json',
      'checkpoint-0000004.optim.safetensors',
      'checkpoint-0000004.safetensors',
    ]);
    const sidecarFile = path.join(out, 'checkpoint-0000004.json');
    const sidecar = readSidecar(sidecarFile);
    expect(sidecar.step).toBe(4);
    const detector = new Detector(detectorConfig(cfg));
    loadWeights(detector, path.join(out, sidecar.weights));
    const optimizer = new SGD(detector.trainableParameters(), { lr: 0.01, momentum: 0.9 });
    loadOptimizerState(optimizer, sidecarFile, sidecar);
    expect(optimizer.stepCount).toBe(4);
    optimizer.dispose();
    detector.dispose();
  });
});

describe('validation errors', () => {
  it('at a creation, name the op and kernel exactly', async () => {
    const out = E.zeros([4]);
    await rt.sync();
    // a buffer that cannot be bound as storage (as a bug in an op might pass)
    const notStorage = rt.device.createBuffer({ size: 256, usage: GPUBufferUsage.COPY_DST, label: 'not-storage' });
    rt.dispatch({
      op: 'square',
      kernel: 'unary',
      constants: { OP: 13 },
      uniforms: { n: 4, a: 2, b: 0 },
      buffers: { x: notStorage, out: out.buffer },
      workgroups: [1],
    });
    await expect(out.data()).rejects.toThrow(
      /^WebGPU validation error binding the buffers of op 'square' \(kernel unary\): .*\[Buffer "not-storage"\].*Storage/s,
    );
    notStorage.destroy();
  });

  it('at a submit, name the ops and kernels of the batch', async () => {
    const t = E.tensor([1, 2, 3]);
    await rt.sync();
    t.buffer.destroy(); // a tensor whose buffer is gone (a use-after-free bug)
    const y = E.exp(t);
    await expect(y.data()).rejects.toThrow(
      /^WebGPU validation error in a batch running op 'exp' \(kernel unary\): \[Buffer "tensor \[3\]"\] used in submit while destroyed/,
    );
  });

  it('leave the engine usable', async () => {
    expect(Array.from(await E.affine(E.tensor([1, 2]), 3, 1).data())).toEqual([4, 7]);
  });
});

describe('device loss', () => {
  it('fails the readback naming the last batch, and every later op by name', async () => {
    const x = E.tensor([0, 1]);
    await rt.sync();
    rt.device.destroy(); // as a driver reset would: noticed asynchronously
    const y = E.exp(x);
    await expect(y.data()).rejects.toThrow(
      /^WebGPU device lost \(destroyed: [^)]*\) before this readback; the last batch submitted ran op 'exp' \(kernel unary\)$/,
    );
    expect(() => E.sigmoid(x)).toThrow(/^WebGPU device lost \(destroyed: [^)]*\) before op 'sigmoid' \(kernel unary\)$/);
    await expect(rt.sync()).rejects.toThrow(/device lost/);
  });
});
