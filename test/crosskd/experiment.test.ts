import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { runExperiment } from '../../crosskd/experiment.ts';

beforeAll(async () => {
  await E.init();
});

describe('experiment runner', () => {
  it('trains a cached teacher, the students per method, and writes table, JSON and plot', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-exp-'));
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-teachers-'));
    const logs: string[] = [];
    const r = await runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, log: (m) => logs.push(m) });
    expect(r.runs.map((x) => x.method)).toEqual(['none', 'crosskd']);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'experiment.json'), 'utf8'));
    expect(Object.keys(json)).toEqual(['teacher', 'runs']);
    for (const run of json.runs) for (const k of ['method', 'head', 'tap', 'seed', 'mAP', 'mAP50', 'mAP75']) expect(run).toHaveProperty(k);
    expect(fs.readFileSync(path.join(out, 'experiment.md'), 'utf8')).toMatch(/\| teacher \| crosskd \| 3 \| 1 \|/);
    const png = decode(fs.readFileSync(path.join(out, 'losses.png')));
    expect([png.width, png.height]).toEqual([640, 360]);
    // a second run reuses the cached teacher
    const again: string[] = [];
    await runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, log: (m) => again.push(m) });
    expect(again.some((m) => m.startsWith('reusing teacher'))).toBe(true);
  });

  it('rejects an unknown preset and a bad seed count', async () => {
    await expect(runExperiment({ preset: 'medium', outDir: os.tmpdir() })).rejects.toThrow(/unknown experiment preset 'medium' \(known: smoke, quick, full\)/);
    await expect(runExperiment({ preset: 'smoke', seeds: 0, outDir: os.tmpdir() })).rejects.toThrow(/--seeds must be a positive integer, got 0/);
  });
});
