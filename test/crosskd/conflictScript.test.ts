/** npm run conflict as a user runs it (a subprocess on a tiny teacher's checkpoint), and its bad-input exits. */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { train } from '../../detection/train/trainer.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function runConflict(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'scripts/conflict.ts', ...args], { cwd: ROOT, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('npm run conflict', () => {
  let tmp: string;
  let sidecar: string;
  let valDir: string;

  beforeAll(async () => {
    await E.init();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-conflict-'));
    const cfg = {
      ...presetConfig('tiny'),
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    const r = await train(cfg, { outDir: path.join(tmp, 'teacher'), log: () => {}, progress: false, evaluate: false, maxSteps: 2 });
    r.detector.dispose();
    sidecar = r.lastCheckpoint!;
    valDir = r.datasets.valDir;
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('prints the share and histogram per teacher and writes the plot and JSON', async () => {
    const [png, json] = [path.join(tmp, 'c.png'), path.join(tmp, 'c.json')];
    // the same teacher twice: two identical rows
    const r = await runConflict([
      '--teacher',
      sidecar,
      '--teacher',
      sidecar,
      '--data',
      valDir,
      '--student',
      'tiny',
      '--bins',
      '10',
      '--out',
      png,
      '--json',
      json,
    ]);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("student 'tiny' (the assigner of its gfl head gives the targets); 8 images of");
    expect(r.stdout).toMatch(/^teacher +locations +> 0\.5 +positives +negatives/m);
    expect(r.stdout).toMatch(/^\[0\.90, 1\.00\]\t\d+\.\d\d%\t\d+\.\d\d%$/m);
    const out = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(out.threshold).toBe(0.5);
    expect(out.teachers).toHaveLength(2);
    expect(out.teachers[1].stats).toEqual(out.teachers[0].stats);
    const s = out.teachers[0].stats;
    expect(s.histogram).toHaveLength(10);
    expect(s.histogram.reduce((a: number, v: number) => a + v, 0)).toBe(s.all.locations);
    expect(s.positives.locations + s.negatives.locations).toBe(s.all.locations);
    const image = decode(fs.readFileSync(png));
    expect([image.width, image.height]).toEqual([640, 360]);
  });

  it('exits 2 with one line on bad arguments (a few; each is a subprocess start)', async () => {
    const cases: [string[], RegExp][] = [
      [['--data', valDir], /required option '--teacher <sidecar...>' not specified/],
      [['--teacher', sidecar, '--data', valDir, '--preset', 'tiny'], /give exactly one of --data DIR or --preset NAME/],
      [['--teacher', path.join(tmp, 'none.json'), '--data', valDir], /checkpoint not found: .*none\.json/],
      [['--teacher', sidecar, '--data', valDir, '--bins', '0'], /option '--bins <n>' argument '0' is invalid\. expected an integer ≥ 1/],
    ];
    for (const [args, message] of cases) {
      const r = await runConflict(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
