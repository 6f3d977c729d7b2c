/**
 * The bad-input catalogue, continued (README, "What is validated"): the command lines.
 * Each case runs the script as a user would and checks the exit code (scripts/cli.ts
 * EXIT), the one-line message naming what was wrong, and that no output file was left
 * behind.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { saveCheckpoint } from '../../engine/io/checkpoint.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { Detector } from '../../detection/detector.ts';
import { detectorConfig } from '../../detection/train/trainer.ts';
import { EXIT } from '../../scripts/cli.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-cli-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(root, ...p);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) =>
    // tsx as a loader in one Node process: half the start-up of the tsx command
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, timeout: 240_000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    ),
  );
}

/** The error line(s) of a run: stderr without Dawn's start-up warnings. */
const errorText = (r: Run) => r.stderr.split('\n').filter((l) => !l.startsWith('Warning: ')).join('\n');

const tinyData = { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') };
let sidecar = '';

beforeAll(async () => {
  fs.writeFileSync(at('bad-key.json'), JSON.stringify({ ...presetConfig('tiny'), train: { ...presetConfig('tiny').train, batchsize: 4 } }));
  fs.writeFileSync(at('malformed.json'), '{"name": "tiny", "seed": ');
  // a config whose learning rate blows the weights up within a few steps
  const tiny = presetConfig('tiny');
  fs.writeFileSync(at('diverge.json'), JSON.stringify({ ...tiny, data: tinyData, train: { ...tiny.train, epochs: 2, warmupIters: 0, clipGradNorm: null, optimizer: { ...tiny.train.optimizer, lr: 1e6 } } }));
  // an untrained tiny checkpoint, then the same with its weights file truncated
  await E.init();
  const detector = new Detector(detectorConfig(presetConfig('tiny')));
  sidecar = await saveCheckpoint({ dir: at('ckpt'), step: 1, model: detector, optimizer: null, config: presetConfig('tiny'), loader: null });
  detector.dispose();
  fs.mkdirSync(at('truncated'));
  fs.copyFileSync(sidecar, at('truncated', path.basename(sidecar)));
  const weights = fs.readFileSync(sidecar.replace(/\.json$/, '.safetensors'));
  fs.writeFileSync(at('truncated', path.basename(sidecar).replace(/\.json$/, '.safetensors')), weights.subarray(0, weights.length - 64));
  const png = encodePng({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3), channels: 3 });
  fs.writeFileSync(at('corrupt.png'), png.subarray(0, png.length - 20));
  fs.mkdirSync(at('empty-run'));
  // a valid COCO folder of the tiny config's 8 classes: one image without objects
  fs.mkdirSync(at('coco', 'images'), { recursive: true });
  fs.writeFileSync(at('coco', 'images', 'a.png'), png);
  const categories = Array.from({ length: 8 }, (_, i) => ({ id: i + 1, name: `c${i}` }));
  fs.writeFileSync(at('coco', 'annotations.json'), JSON.stringify({ images: [{ id: 1, file_name: 'a.png', width: 16, height: 16 }], annotations: [], categories }));
});

interface CliCase {
  what: string;
  script: string;
  args: () => string[];
  env?: Record<string, string>;
  code: number;
  error: RegExp;
  /** files the failed run must not have written */
  noOutput?: () => string[];
}

const cases: CliCase[] = [
  { what: 'train without --preset or --config', script: 'scripts/train.ts', args: () => [], code: EXIT.usage, error: /^error: give exactly one of --preset NAME or --config FILE$/m },
  { what: 'train with an unknown --method, no teacher', script: 'scripts/train.ts', args: () => ['--preset', 'tiny', '--method', 'foo'], code: EXIT.usage, error: /^error: option '--method <method>' argument 'foo' is invalid\. Allowed choices are pred_mimic, pkd, crosskd, crosskd\+pkd\.$/m },
  { what: 'train with --method crosskd but no --teacher', script: 'scripts/train.ts', args: () => ['--preset', 'tiny', '--method', 'crosskd'], code: EXIT.usage, error: /^error: --method crosskd needs --teacher CHECKPOINT \(the teacher to distil from\); without --teacher the student trains alone$/m },
  { what: 'train with --tap but no --teacher', script: 'scripts/train.ts', args: () => ['--preset', 'tiny', '--tap', '2'], code: EXIT.usage, error: /^error: --tap 2 needs --teacher CHECKPOINT/m },
  { what: 'train with --tap for a method without taps', script: 'scripts/train.ts', args: () => ['--preset', 'tiny', '--teacher', at('nope.json'), '--method', 'pkd', '--tap', '2'], code: EXIT.usage, error: /^error: --tap is for --method crosskd or crosskd\+pkd, got --method pkd$/m },
  { what: 'train with an unknown option', script: 'scripts/train.ts', args: () => ['--preset', 'tiny', '--bogus'], code: EXIT.usage, error: /^error: unknown option '--bogus'$/m },
  {
    what: 'train with a non-integer --max-steps',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--max-steps', 'abc'],
    code: EXIT.usage,
    error: /^error: option '--max-steps <n>' argument 'abc' is invalid\. expected an integer ≥ 1, got 'abc'\.$/m,
  },
  { what: 'train with a missing config file', script: 'scripts/train.ts', args: () => ['--config', at('nope.json')], code: EXIT.usage, error: /^error: config file not found: .*nope\.json$/m },
  { what: 'train with malformed config JSON', script: 'scripts/train.ts', args: () => ['--config', at('malformed.json')], code: EXIT.usage, error: /^error: config file .*malformed\.json is not valid JSON: /m },
  {
    what: 'train with an unknown config key',
    script: 'scripts/train.ts',
    args: () => ['--config', at('bad-key.json')],
    code: EXIT.usage,
    error: /^error: .*bad-key\.json is not a valid training config:\n {2}train: .*\(train\.batchsize\)$/m,
  },
  { what: 'train with an unknown preset', script: 'scripts/train.ts', args: () => ['--preset', 'huge'], code: EXIT.usage, error: /^error: unknown preset 'huge' \(known: .*tiny.*\)$/m },
  {
    what: 'train --resume in a folder without checkpoints',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--out', at('empty-run'), '--resume', '--no-progress'],
    code: EXIT.usage,
    error: /^error: --resume: no checkpoint in .*empty-run$/m,
  },
  {
    what: 'train without a WebGPU adapter (no Vulkan driver found)',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--out', at('no-adapter')],
    env: { VK_ICD_FILENAMES: '/nonexistent/icd.json' },
    code: EXIT.noAdapter,
    error: /^error: No WebGPU adapter found \(requestAdapter\(\) returned null\)\.\nOn Debian\/Ubuntu without a GPU, install Mesa's software Vulkan driver \(lavapipe\):\n {2}sudo bash scripts\/setup-webgpu\.sh$/m,
    noOutput: () => [at('no-adapter')],
  },
  {
    what: 'train --anomaly on a diverging run names the first op with a non-finite output',
    script: 'scripts/train.ts',
    args: () => ['--config', at('diverge.json'), '--out', at('diverge'), '--no-progress', '--anomaly'],
    code: EXIT.nonFinite,
    error: /^error: anomaly mode: op '[^']+' (in the backward of '[^']+' )?\(kernels? [\w, ]+\) produced (NaN|Inf) in its output Tensor#\d+ .* \(raised reading the losses of training step \d+; (last good checkpoint: .*checkpoint-\d+\.json \(resume with --resume\)|no checkpoint was written before it)\)$/m,
  },
  {
    what: 'eval of a checkpoint whose weights file is truncated',
    script: 'scripts/eval.ts',
    args: () => ['--checkpoint', at('truncated'), '--data', at('coco'), '--json', at('eval.json')],
    code: EXIT.usage,
    error: /^error: .*checkpoint-0000001\.safetensors.*truncated/m,
    noOutput: () => [at('eval.json')],
  },
  {
    what: 'predict on a corrupt PNG',
    script: 'scripts/predict.ts',
    args: () => ['--checkpoint', sidecar, '--image', at('corrupt.png'), '--out', at('predicted.png')],
    code: EXIT.usage,
    error: /^error: .*corrupt\.png: corrupt PNG/m,
    noOutput: () => [at('predicted.png')],
  },
  {
    what: 'soak too short to check',
    script: 'scripts/soak.ts',
    args: () => ['--steps', '100', '--warmup', '100'],
    code: EXIT.usage,
    error: /^error: soak: 100 steps leave fewer than two samples after a warm-up of 100 steps sampled every 50$/m,
  },
  { what: 'soak with a non-integer step count', script: 'scripts/soak.ts', args: () => ['--steps', '1e3x'], code: EXIT.usage, error: /^error: option '--steps <n>' argument '1e3x' is invalid/m },
  { what: 'eval with a zero batch size', script: 'scripts/eval.ts', args: () => ['--checkpoint', at('truncated'), '--data', at('coco'), '--batch-size', '0'], code: EXIT.usage, error: /^error: option '--batch-size <n>' argument '0' is invalid\. expected an integer ≥ 1, got '0'\.$/m },
  { what: 'experiment with a non-integer seed count', script: 'scripts/experiment.ts', args: () => ['--preset', 'smoke', '--seeds', 'two', '--out', at('exp')], code: EXIT.usage, error: /^error: option '--seeds <n>' argument 'two' is invalid\. expected an integer ≥ 1, got 'two'\.$/m, noOutput: () => [at('exp')] },
];

describe('command lines: bad input exits with its code and one clear line', () => {
  it.concurrent.each(cases.map((c) => [c.what, c] as const))('%s', { timeout: 300_000 }, async (_what, c) => {
    const r = await run(c.script, c.args(), c.env);
    const text = errorText(r);
    expect(text).toMatch(c.error);
    expect(text).not.toMatch(/\n\s+at /); // no stack
    expect(r.code).toBe(c.code);
    for (const f of c.noOutput?.() ?? []) expect(fs.existsSync(f), `${f} should not exist`).toBe(false);
  });
});
