/**
 * Interrupted runs lose nothing: `npm run train` (scripts/train.ts) is killed with SIGKILL
 * after its first checkpoint, resumed with --resume, and ends with exactly the losses of
 * an uninterrupted run of the same config and seed.
 *
 * Exact, not within a tolerance: the resumed run restores the weights, the optimizer's
 * momentum and step, the loader's epoch and position (hence the shuffle and the flips)
 * and the learning-rate step, and every kernel is deterministic (fixed reduction orders,
 * no float atomics), so each step repeats bit for bit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors } from '../../engine/io/safetensors.ts';
import { readSidecar } from '../../engine/io/checkpoint.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { Detector } from '../../detection/detector.ts';
import { detectorConfig, train, type LossRecord } from '../../detection/train/trainer.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-kill-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// 8 steps of 4 images; a checkpoint every 2 steps, losses read every step
const tiny = presetConfig('tiny');
const cfg = {
  ...tiny,
  name: 'kill-resume',
  data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
  train: { ...tiny.train, epochs: 2 },
};
const configFile = path.join(root, 'config.json');

function startTrain(
  out: string,
  ...extra: string[]
): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  // one Node process (tsx as a loader), so SIGKILL reaches the trainer itself
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/train.ts', '--config', configFile, '--out', out, '--no-progress', ...extra], {
    cwd: ROOT,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

async function waitForFile(file: string, exited: Promise<unknown>, timeoutMs: number): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const until = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (gone) throw new Error(`the run ended before ${file} appeared`);
    if (Date.now() > until) throw new Error(`${file} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let reference: LossRecord[];
beforeAll(async () => {
  fs.writeFileSync(configFile, JSON.stringify(cfg));
  await E.init();
  const r = await train(cfg, { outDir: path.join(root, 'uninterrupted'), log: () => {}, progress: false, evaluate: false });
  reference = r.losses;
  r.detector.dispose();
});

describe('kill -9 mid-training, then --resume', () => {
  it('continues to exactly the losses of an uninterrupted run', async () => {
    expect(reference.map((l) => l.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const out = path.join(root, 'killed');

    // 1. run until the first checkpoint exists, then SIGKILL it
    const first = startTrain(out);
    await waitForFile(path.join(out, 'checkpoint-0000002.json'), first.done, 60_000);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.existsSync(path.join(out, 'metrics.json'))).toBe(false); // it did not finish

    // 2. the newest checkpoint is complete and holds the optimizer and data-order state
    const files = fs.readdirSync(out);
    const sidecars = files.filter((f) => /^checkpoint-\d+\.json$/.test(f)).sort();
    const newest = path.join(out, sidecars[sidecars.length - 1]);
    const sidecar = readSidecar<typeof cfg, { epoch: number; position: number; numImages: number; seed: number }>(newest);
    expect(sidecar.step).toBeLessThan(8);
    expect(sidecar.loader).toEqual({ epoch: Math.floor(sidecar.step / 4), position: (4 * sidecar.step) % 16, numImages: 16, seed: 0 });
    expect(sidecar.optimizer).toMatchObject({ step: sidecar.step });
    const slots = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(out, sidecar.optimizer!.file))), 'optim').tensors;
    const detector = new Detector(detectorConfig(cfg));
    const params = detector.trainableParameters().map(([n]) => n);
    detector.dispose();
    expect([...slots.keys()].sort()).toEqual(params.map((n) => `${n}::momentum_buffer`).sort());
    expect((sidecar.extra.losses as LossRecord[]).map((l) => l.total)).toEqual(reference.slice(0, sidecar.step).map((l) => l.total));

    // 3. resume to the end
    const resumed = await startTrain(out, '--resume').done;
    expect(resumed.stderr).not.toMatch(/^error:/m);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`resumed from ${newest} at step ${sidecar.step}`);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8')) as { loss: LossRecord[] };
    expect(metrics.loss).toEqual(reference);
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
