/**
 * Numerical faults: anomaly mode names the first op that produced a NaN or ±Inf; a
 * non-finite loss stops training with the step, the term and the last good checkpoint;
 * a checkpoint is never written with non-finite values.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Scale } from '../../engine/nn/index.ts';
import { SGD } from '../../engine/optim/index.ts';
import { assignParameter, loadWeights, readSidecar, saveCheckpoint } from '../../engine/io/checkpoint.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { Detector } from '../../detection/detector.ts';
import { detectorConfig, NonFiniteLossError, train } from '../../detection/train/trainer.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-numerics-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const tmp = (name: string) => fs.mkdtempSync(path.join(root, `${name}-`));

beforeAll(async () => {
  await E.init();
});
afterEach(() => E.setAnomalyMode(false));

/** x → 2x → log → exp → sum: with a negative x, log is where the NaN appears. */
const smallGraph = (x: E.Tensor) => E.sum(E.exp(E.log(E.scale(x, 2))));

describe('anomaly mode', () => {
  it('is off by default: a log of a negative number just gives NaN', async () => {
    expect(E.anomalyMode()).toBe(false);
    expect(await smallGraph(E.tensor([1, 2, -3])).item()).toBeNaN();
  });

  it('names the first op that produced a non-finite value: log, not the exp and sum after it', async () => {
    E.setAnomalyMode(true);
    const y = smallGraph(E.tensor([1, 2, -3]));
    let error: unknown;
    try {
      await y.item();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(E.AnomalyError);
    const a = error as E.AnomalyError;
    expect(a.op).toBe('log');
    expect(a.kernels).toEqual(['unary']);
    expect(a.kind).toBe('NaN');
    expect(a.message).toMatch(
      /^anomaly mode: op 'log' \(kernel unary\) produced NaN in its output Tensor#\d+ float32 \[3\]; it is the first non-finite output of the 4 op outputs checked since the previous readback$/,
    );
  });

  it('names an op inside a backward rule, and the op whose backward it is', async () => {
    E.setAnomalyMode(true);
    const x = E.requireGrad(E.tensor([0, 4]));
    const y = E.sum(E.sqrt(x));
    expect(await y.item()).toBe(2); // the forward is finite
    E.backward(y); // d sqrt(x)/dx = 1 / (2 sqrt(x)): Inf at 0
    await expect(x.grad!.data()).rejects.toThrow(
      /^anomaly mode: op 'div' in the backward of 'sqrt' \(kernel binary\) produced Inf in its output Tensor#\d+ float32 \[2\]/,
    );
  });

  it('names an in-place optimizer update', async () => {
    E.setAnomalyMode(true);
    const layer = new Scale(1);
    const opt = new SGD(layer.namedParameters(), { lr: 3e38 });
    E.backward(E.sum(layer.forward(E.tensor([1e30])))); // gradient 1e30: the step overflows
    opt.step();
    await expect(E.runtime().sync()).rejects.toThrow(
      /^anomaly mode: op 'sgd update \(scale\)' \(kernel sgd\) produced Inf in its output Tensor#\d+ float32 \[1\]/,
    );
    opt.dispose();
    layer.dispose();
  });

  it('recovers: after an anomaly is reported, finite work reads back normally', async () => {
    E.setAnomalyMode(true);
    await expect(smallGraph(E.tensor([-1])).item()).rejects.toThrow(/op 'log'/);
    expect(await smallGraph(E.tensor([1, 2])).item()).toBeCloseTo(6, 5);
    E.setAnomalyMode(false);
    expect(await smallGraph(E.tensor([-1])).item()).toBeNaN();
  });

  it('finds nothing in a healthy training step of the tiny detector', async () => {
    E.setAnomalyMode(true);
    const cfg = {
      ...presetConfig('tiny'),
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    const checksBefore = E.runtime().stats.byKernel.get('finite_check') ?? 0;
    const r = await train(cfg, { outDir: tmp('healthy'), log: () => {}, progress: false, maxSteps: 2, evaluate: false });
    // every op of the step was checked: the checks outnumber the steps by far
    expect((E.runtime().stats.byKernel.get('finite_check') ?? 0) - checksBefore).toBeGreaterThan(200);
    expect(r.losses.every((l) => Number.isFinite(l.total))).toBe(true);
    r.detector.dispose();
  });
});

describe('a non-finite loss stops training', () => {
  const cfg = {
    ...presetConfig('tiny'),
    data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
  };

  it('naming the step, the term and the last good checkpoint, which loads', async () => {
    const out = tmp('nonfinite');
    // an extra loss term that is log(1) = 0, except log(-1) = NaN in the third step
    const run = train(cfg, {
      outDir: out,
      log: () => {},
      progress: false,
      setupExtraLoss: () => (ctx) => ({ probe: E.log(E.full([], ctx.step === 2 ? -1 : 1)) }),
    });
    const error = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NonFiniteLossError);
    const sidecar = path.join(out, 'checkpoint-0000002.json');
    expect((error as Error).message).toBe(
      `non-finite loss in training step 3 (loss record step 2): term 'probe' = NaN; last good checkpoint: ${sidecar} (resume with --resume)`,
    );
    expect(error).toMatchObject({ step: 2, term: 'probe', lastCheckpoint: sidecar });
    // the checkpoint it names is complete and loads; nothing was written after it
    expect(readSidecar(sidecar).step).toBe(2);
    const detector = new Detector(detectorConfig(cfg));
    loadWeights(detector, path.join(out, 'checkpoint-0000002.safetensors'));
    detector.dispose();
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint-0000002.json', 'checkpoint-0000002.optim.safetensors', 'checkpoint-0000002.safetensors']);
  });

  it('before any checkpoint, says that none was written', () => {
    expect(new NonFiniteLossError(0, 'qfl', Number.POSITIVE_INFINITY, null).message).toBe(
      "non-finite loss in training step 1 (loss record step 0): term 'qfl' = Infinity; no checkpoint was written before it",
    );
  });

  it('a checkpoint holding a non-finite value is refused before any file is written', async () => {
    const layer = new Scale(1);
    assignParameter(layer.namedParameters()[0][1], Float32Array.from([Number.NEGATIVE_INFINITY]));
    const dir = tmp('refused');
    await expect(saveCheckpoint({ dir, step: 7, model: layer, optimizer: null, config: {}, loader: null })).rejects.toThrow(
      /^checkpoint of step 7 not written: 'scale' holds -Infinity at element 0$/,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
    layer.dispose();
  });
});
