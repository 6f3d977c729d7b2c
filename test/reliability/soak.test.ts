/**
 * Leaks: `npm run soak` samples live tensors and GPU bytes while training; after warm-up
 * they must stay flat. A short soak runs here; the 2 000-step figures are in
 * bench/RESULTS.md.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Detector } from '../../detection/detector.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { detectorConfig } from '../../detection/train/step.ts';
import { memoryGrowth, type SoakSample } from '../../detection/train/soak.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-soak-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const sample = (step: number, live: number, inUse: number, pooled: number): SoakSample => ({
  step,
  live_tensors: live,
  bytes_in_use: inUse,
  bytes_pooled: pooled,
});

describe('the flatness check', () => {
  it('accepts flat samples and ignores the warm-up', () => {
    expect(memoryGrowth([sample(10, 5, 900, 0), sample(20, 9, 1000, 500), sample(30, 9, 1000, 500), sample(40, 9, 1000, 500)], 10)).toEqual([]);
  });

  it('names each measure that moved after warm-up, with where', () => {
    const samples = [sample(50, 9, 1000, 500), sample(100, 9, 1000, 500), sample(150, 10, 1000, 500), sample(200, 11, 1256, 500)];
    expect(memoryGrowth(samples, 0)).toEqual([
      'live_tensors went from 9 at step 50 to 10 at step 150',
      'bytes_in_use went from 1000 at step 50 to 1256 at step 200',
    ]);
    expect(memoryGrowth([sample(50, 9, 1000, 500), sample(100, 9, 1000, 768)], 0)).toEqual(['bytes_pooled went from 500 at step 50 to 768 at step 100']);
  });
});

describe('npm run soak', () => {
  it('trains 60 steps and reports flat memory after warm-up, as JSON too', { timeout: 300_000 }, async () => {
    const json = path.join(root, 'soak.json');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/soak.ts', '--steps', '60', '--every', '10', '--warmup', '20', '--batch-size', '1', '--json', json],
        { cwd: ROOT, timeout: 300_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      ),
    );
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^flat after step 20: \d+ live tensors, \d+ bytes in use, \d+ bytes pooled$/m);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { samples: SoakSample[]; flat: boolean; warmup_steps: number };
    expect(report.flat).toBe(true);
    expect(report.warmup_steps).toBe(20);
    expect(report.samples.map((s) => s.step)).toEqual([10, 20, 30, 40, 50, 60]);
    for (const s of report.samples) expect(Object.keys(s).sort()).toEqual(['bytes_in_use', 'bytes_pooled', 'live_tensors', 'step']);
    // the model's parameters and the optimizer's arenas (parameters, gradients, momentum) at least are live throughout
    await E.init();
    const model = new Detector(detectorConfig(presetConfig('tiny')));
    const params = model.namedParameters().length;
    model.dispose();
    expect(report.samples[0].live_tensors).toBeGreaterThanOrEqual(params + 3);
    expect(report.samples[0].bytes_in_use).toBeGreaterThan(0);
  });
});
