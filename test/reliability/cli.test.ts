/**
 * The bad-input catalogue, continued (docs/validation.md): the command lines.
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
const errorText = (r: Run) =>
  r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('Warning: '))
    .join('\n');

const tinyData = { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') };
let sidecar = '';

beforeAll(async () => {
  fs.writeFileSync(at('bad-key.json'), JSON.stringify({ ...presetConfig('tiny'), train: { ...presetConfig('tiny').train, batchsize: 4 } }));
  fs.writeFileSync(at('malformed.json'), '{"name": "tiny", "seed": ');
  // a config whose learning rate blows the weights up within a few steps
  const tiny = presetConfig('tiny');
  fs.writeFileSync(
    at('diverge.json'),
    JSON.stringify({
      ...tiny,
      data: tinyData,
      train: { ...tiny.train, epochs: 2, warmupIters: 0, clipGradNorm: null, optimizer: { ...tiny.train.optimizer, lr: 1e6 } },
    }),
  );
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
  // a checkpoint whose weights are not safetensors at all, and one whose sidecar points out of its folder
  fs.mkdirSync(at('garbage'));
  fs.copyFileSync(sidecar, at('garbage', path.basename(sidecar)));
  fs.writeFileSync(at('garbage', path.basename(sidecar).replace(/\.json$/, '.safetensors')), 'PK\x03\x04 a zip archive, not safetensors');
  fs.writeFileSync(at('garbage.pth'), 'PK\x03\x04 a zip archive, not a torch.save file');
  fs.mkdirSync(at('escape'));
  const escaping = JSON.parse(fs.readFileSync(sidecar, 'utf8'));
  fs.writeFileSync(at('escape', path.basename(sidecar)), JSON.stringify({ ...escaping, weights: `../ckpt/${escaping.weights}` }));
  fs.writeFileSync(at('photo.jpg'), Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]));
  // config-schema variants of the tiny config
  const variant = (file: string, edit: (c: Record<string, any>) => void) => {
    const c = JSON.parse(JSON.stringify({ ...tiny, data: tinyData }));
    edit(c);
    fs.writeFileSync(at(file), JSON.stringify(c));
  };
  variant('neg-lr.json', (c) => (c.train.optimizer.lr = -0.1));
  variant('no-epochs.json', (c) => delete c.train.epochs);
  variant('yolo.json', (c) => (c.model.head.type = 'yolo'));
  variant('classes.json', (c) => (c.numClasses = 3));
  variant('epochs-text.json', (c) => (c.train.epochs = 'ten'));
  fs.writeFileSync(at('array.json'), '[1, 2]');
  fs.mkdirSync(at('coco', 'images'), { recursive: true });
  fs.writeFileSync(at('coco', 'images', 'a.png'), png);
  const categories = Array.from({ length: 8 }, (_, i) => ({ id: i + 1, name: `c${i}` }));
  fs.writeFileSync(
    at('coco', 'annotations.json'),
    JSON.stringify({ images: [{ id: 1, file_name: 'a.png', width: 16, height: 16 }], annotations: [], categories }),
  );
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
  {
    what: 'train without --preset or --config',
    script: 'scripts/train.ts',
    args: () => [],
    code: EXIT.usage,
    error: /^error: give exactly one of --preset NAME or --config FILE$/m,
  },
  {
    what: 'train with an unknown --method, no teacher',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--method', 'foo'],
    code: EXIT.usage,
    error: /^error: option '--method <method>' argument 'foo' is invalid\. Allowed choices are pred_mimic, pkd, crosskd, crosskd\+pkd\.$/m,
  },
  {
    what: 'train with --method crosskd but no --teacher',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--method', 'crosskd'],
    code: EXIT.usage,
    error: /^error: --method crosskd needs --teacher CHECKPOINT \(the teacher to distil from\); without --teacher the student trains alone$/m,
  },
  {
    what: 'train with --tap but no --teacher',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--tap', '2'],
    code: EXIT.usage,
    error: /^error: --tap 2 needs --teacher CHECKPOINT/m,
  },
  {
    what: 'train with --tap for a method without taps',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--teacher', at('nope.json'), '--method', 'pkd', '--tap', '2'],
    code: EXIT.usage,
    error: /^error: --tap is for --method crosskd or crosskd\+pkd, got --method pkd$/m,
  },
  {
    what: 'train with an unknown option',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--bogus'],
    code: EXIT.usage,
    error: /^error: unknown option '--bogus'$/m,
  },
  {
    what: 'train with a non-integer --max-steps',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--max-steps', 'abc'],
    code: EXIT.usage,
    error: /^error: option '--max-steps <n>' argument 'abc' is invalid\. expected an integer ≥ 1, got 'abc'\.$/m,
  },
  {
    what: 'train with a missing config file',
    script: 'scripts/train.ts',
    args: () => ['--config', at('nope.json')],
    code: EXIT.usage,
    error: /^error: config file not found: .*nope\.json$/m,
  },
  {
    what: 'train with malformed config JSON',
    script: 'scripts/train.ts',
    args: () => ['--config', at('malformed.json')],
    code: EXIT.usage,
    error: /^error: config file .*malformed\.json is not valid JSON: /m,
  },
  {
    what: 'train with an unknown config key',
    script: 'scripts/train.ts',
    args: () => ['--config', at('bad-key.json')],
    code: EXIT.usage,
    error: /^error: .*bad-key\.json is not a valid training config:\n {2}train: .*\(train\.batchsize\)$/m,
  },
  {
    what: 'train with an unknown preset',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'huge'],
    code: EXIT.usage,
    error: /^error: unknown preset 'huge' \(known: .*tiny.*\)$/m,
  },
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
    error:
      /^error: No WebGPU adapter found \(requestAdapter\(\) returned null\)\.\nOn Debian\/Ubuntu without a GPU, install Mesa's software Vulkan driver \(lavapipe\):\n {2}sudo bash scripts\/setup-webgpu\.sh$/m,
    noOutput: () => [at('no-adapter')],
  },
  {
    what: 'train --anomaly on a diverging run names the first op with a non-finite output',
    script: 'scripts/train.ts',
    args: () => ['--config', at('diverge.json'), '--out', at('diverge'), '--no-progress', '--anomaly'],
    code: EXIT.nonFinite,
    error:
      /^error: anomaly mode: op '[^']+' (in the backward of '[^']+' )?\(kernels? [\w, ]+\) produced (NaN|Inf) in its output Tensor#\d+ .* \(raised reading the losses of training step \d+; (last good checkpoint: .*checkpoint-\d+\.json \(resume with --resume\)|no checkpoint was written before it)\)$/m,
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
  {
    what: 'soak with a non-integer step count',
    script: 'scripts/soak.ts',
    args: () => ['--steps', '1e3x'],
    code: EXIT.usage,
    error: /^error: option '--steps <n>' argument '1e3x' is invalid/m,
  },
  {
    what: 'eval with a zero batch size',
    script: 'scripts/eval.ts',
    args: () => ['--checkpoint', at('truncated'), '--data', at('coco'), '--batch-size', '0'],
    code: EXIT.usage,
    error: /^error: option '--batch-size <n>' argument '0' is invalid\. expected an integer ≥ 1, got '0'\.$/m,
  },
  {
    what: 'experiment with a non-integer seed count',
    script: 'scripts/experiment.ts',
    args: () => ['--preset', 'smoke', '--seeds', 'two', '--out', at('exp')],
    code: EXIT.usage,
    error: /^error: option '--seeds <n>' argument 'two' is invalid\. expected an integer ≥ 1, got 'two'\.$/m,
    noOutput: () => [at('exp')],
  },
  // --- the config schema: each names the key, the expectation and the value found
  {
    what: 'config: a learning rate ≤ 0',
    script: 'scripts/train.ts',
    args: () => ['--config', at('neg-lr.json')],
    code: EXIT.usage,
    error: /^ {2}train\.optimizer\.lr: Too small: expected number to be >0, got -0\.1$/m,
  },
  {
    what: 'config: a required key missing',
    script: 'scripts/train.ts',
    args: () => ['--config', at('no-epochs.json')],
    code: EXIT.usage,
    error: /^ {2}train\.epochs: Invalid input: expected number, but it is missing$/m,
  },
  {
    what: 'config: a string where a number belongs',
    script: 'scripts/train.ts',
    args: () => ['--config', at('epochs-text.json')],
    code: EXIT.usage,
    error: /^ {2}train\.epochs: Invalid input: expected number, got "ten"$/m,
  },
  {
    what: 'config: an unknown head type',
    script: 'scripts/train.ts',
    args: () => ['--config', at('yolo.json')],
    code: EXIT.usage,
    error: /^ {2}model\.head\.type: Invalid option: expected one of "gfl"\|"atss"\|"retina"\|"fcos", got "yolo"$/m,
  },
  {
    what: 'config: numClasses against the data',
    script: 'scripts/train.ts',
    args: () => ['--config', at('classes.json')],
    code: EXIT.usage,
    error: /^error: .*classes\.json: numClasses is 3 but data\.synthetic draws 8 classes \(circle, .*\)$/m,
  },
  {
    what: 'config: a JSON array, not an object',
    script: 'scripts/train.ts',
    args: () => ['--config', at('array.json')],
    code: EXIT.usage,
    error: /^ {2}\(root\): Invalid input: expected object, got \[1, 2\]$/m,
  },
  // --- train
  {
    what: 'train --eval-every past the last epoch',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--eval-every', '5', '--out', at('eval-every')],
    code: EXIT.usage,
    error: /^error: --eval-every 5 exceeds the run's 1 epoch\(s\)$/m,
    noOutput: () => [at('eval-every')],
  },
  {
    what: 'train --teacher whose weights file is not safetensors (a file error, not a mismatch)',
    script: 'scripts/train.ts',
    args: () => ['--preset', 'tiny', '--teacher', at('garbage', path.basename(sidecar)), '--out', at('garbage-teacher'), '--no-progress'],
    code: EXIT.usage,
    error:
      /^error: .*garbage\/checkpoint-0000001\.safetensors: not a safetensors file: header length \d+ exceeds the file size \(\d+ bytes; truncated, or another format\)$/m,
  },
  // --- eval
  {
    what: 'eval of weights that are not safetensors',
    script: 'scripts/eval.ts',
    args: () => ['--checkpoint', at('garbage'), '--data', at('coco')],
    code: EXIT.usage,
    error:
      /^error: .*garbage\/checkpoint-0000001\.safetensors: not a safetensors file: header length \d+ exceeds the file size \(\d+ bytes; truncated, or another format\)$/m,
  },
  {
    what: 'eval of a sidecar naming weights outside its folder',
    script: 'scripts/eval.ts',
    args: () => ['--checkpoint', at('escape'), '--data', at('coco')],
    code: EXIT.usage,
    error:
      /^error: .*escape\/checkpoint-0000001\.json: field 'weights' must be a \.safetensors file name in the same folder, got "\.\.\/ckpt\/checkpoint-0000001\.safetensors"$/m,
  },
  {
    what: 'eval without --checkpoint',
    script: 'scripts/eval.ts',
    args: () => ['--data', at('coco')],
    code: EXIT.usage,
    error: /^error: required option '--checkpoint <file>' not specified$/m,
  },
  {
    what: 'eval on a folder without annotations.json',
    script: 'scripts/eval.ts',
    args: () => ['--checkpoint', sidecar, '--data', at('empty-run')],
    code: EXIT.usage,
    error: /^error: .*empty-run: no annotations\.json in this folder$/m,
  },
  // --- predict
  {
    what: 'predict on a JPEG',
    script: 'scripts/predict.ts',
    args: () => ['--checkpoint', sidecar, '--image', at('photo.jpg'), '--out', at('jpeg-out.png')],
    code: EXIT.usage,
    error: /^error: .*photo\.jpg: not a PNG file \(only PNG images are supported\)$/m,
    noOutput: () => [at('jpeg-out.png')],
  },
  {
    what: 'predict with --score-thr outside [0, 1]',
    script: 'scripts/predict.ts',
    args: () => ['--checkpoint', sidecar, '--image', at('coco', 'images', 'a.png'), '--out', at('thr.png'), '--score-thr', '1.5'],
    code: EXIT.usage,
    error: /^error: --score-thr must be a number in \[0, 1\], got '1\.5'$/m,
    noOutput: () => [at('thr.png')],
  },
  {
    what: 'predict on an image that does not exist',
    script: 'scripts/predict.ts',
    args: () => ['--checkpoint', sidecar, '--image', at('nope.png'), '--out', at('nope-out.png')],
    code: EXIT.usage,
    error: /^error: image not found: .*nope\.png$/m,
  },
  // --- experiment
  {
    what: 'experiment with an unknown preset',
    script: 'scripts/experiment.ts',
    args: () => ['--preset', 'medium', '--out', at('exp-medium')],
    code: EXIT.usage,
    error: /^error: unknown experiment preset 'medium' \(known: smoke, quick, .*converged\)$/m,
    noOutput: () => [at('exp-medium')],
  },
  {
    what: 'experiment --report-only for a preset without a record',
    script: 'scripts/experiment.ts',
    args: () => ['--preset', 'smoke', '--report-only', '--out', at('exp-report')],
    code: EXIT.usage,
    error: /^error: --report-only tabulates a study's record, and preset 'smoke' keeps none \(presets with a record: converged\)$/m,
    noOutput: () => [at('exp-report')],
  },
  {
    what: 'experiment --teacher for a preset without a GFL teacher',
    script: 'scripts/experiment.ts',
    args: () => ['--preset', 'heads', '--teacher', sidecar, '--out', at('exp-heads')],
    code: EXIT.usage,
    error: /^error: --teacher replaces the GFL teacher, which preset 'heads' does not use \(its teachers: atss, retina, fcos\)$/m,
    noOutput: () => [at('exp-heads')],
  },
  {
    what: 'experiment --teacher that does not exist (refused before any run trains)',
    script: 'scripts/experiment.ts',
    args: () => ['--preset', 'smoke', '--teacher', at('nope.json'), '--out', at('exp-noteacher')],
    code: EXIT.usage,
    error: /^error: --teacher: checkpoint not found: .*nope\.json$/m,
    noOutput: () => [at('exp-noteacher')],
  },
  {
    what: 'experiment --teacher of other classes than the students',
    script: 'scripts/experiment.ts',
    args: () => ['--preset', 'quick', '--teacher', sidecar, '--out', at('exp-classes')],
    code: EXIT.usage,
    error: /^error: --teacher .*checkpoint-0000001\.json has 8 classes, the preset's student 'exp-student' 4$/m,
    noOutput: () => [at('exp-classes')],
  },
  // --- conflict
  {
    what: 'conflict with an unknown --split',
    script: 'scripts/conflict.ts',
    args: () => ['--teacher', sidecar, '--preset', 'tiny', '--split', 'test'],
    code: EXIT.usage,
    error: /^error: option '--split <split>' argument 'test' is invalid\. Allowed choices are train, val\.$/m,
  },
  {
    what: 'conflict with neither --data nor --preset',
    script: 'scripts/conflict.ts',
    args: () => ['--teacher', sidecar],
    code: EXIT.usage,
    error: /^error: give exactly one of --data DIR or --preset NAME$/m,
  },
  {
    what: 'conflict --split with --data',
    script: 'scripts/conflict.ts',
    args: () => ['--teacher', sidecar, '--data', at('coco'), '--split', 'train'],
    code: EXIT.usage,
    error: /^error: --split train chooses a split of --preset's data; --data .*coco is one dataset already$/m,
  },
  {
    what: 'conflict with an unknown student',
    script: 'scripts/conflict.ts',
    args: () => ['--teacher', sidecar, '--preset', 'tiny', '--student', 'nope'],
    code: EXIT.usage,
    error: /^error: --student must be a preset \(quick-teacher, .*\) or a JSON config file, got 'nope'$/m,
  },
  // --- bench
  {
    what: 'bench --filter matching no workload',
    script: 'bench/run.ts',
    args: () => ['--filter', 'nomatch', '--no-tfjs'],
    code: EXIT.usage,
    error: /^error: no workload matches --filter 'nomatch' \(case-insensitive substring of a name\)\. Workloads:\n {2}matmul /m,
  },
  {
    what: 'bench --iterations 0',
    script: 'bench/run.ts',
    args: () => ['--iterations', '0'],
    code: EXIT.usage,
    error: /^error: option '--iterations <n>' argument '0' is invalid\. expected an integer ≥ 1, got '0'\.$/m,
  },
  // --- profile
  {
    what: 'profile --method without a teacher',
    script: 'scripts/profile.ts',
    args: () => ['--preset', 'tiny', '--method', 'crosskd'],
    code: EXIT.usage,
    error: /^error: --method crosskd needs a teacher: --teacher CKPT or --teacher-preset NAME$/m,
  },
  {
    what: 'profile with two teachers',
    script: 'scripts/profile.ts',
    args: () => ['--preset', 'tiny', '--teacher', sidecar, '--teacher-preset', 'tiny'],
    code: EXIT.usage,
    error: /^error: give at most one of --teacher CKPT and --teacher-preset NAME, got both \(.*, tiny\)$/m,
  },
  {
    what: 'profile with an unknown --mode',
    script: 'scripts/profile.ts',
    args: () => ['--preset', 'tiny', '--mode', 'fast'],
    code: EXIT.usage,
    error: /^error: option '--mode <mode>' argument 'fast' is invalid\. Allowed choices are timestamp, replay\.$/m,
  },
  // --- import
  {
    what: 'import without --preset or --config',
    script: 'scripts/import.ts',
    args: () => ['--pth', at('nope.pth'), '--out', at('imported')],
    code: EXIT.usage,
    error: /^error: give exactly one of --preset NAME or --config FILE$/m,
  },
  {
    what: 'import of a .pth that does not exist',
    script: 'scripts/import.ts',
    args: () => ['--pth', at('nope.pth'), '--preset', 'tiny', '--out', at('imported')],
    code: EXIT.usage,
    error: /^error: --pth: file not found: .*nope\.pth$/m,
  },
  {
    what: 'import of a corrupt zip',
    script: 'scripts/import.ts',
    args: () => ['--pth', at('garbage.pth'), '--preset', 'tiny', '--out', at('imported')],
    code: EXIT.usage,
    error: /^error: .*garbage\.pth: corrupt zip archive: no end-of-central-directory record \(truncated\?\)$/m,
  },
  {
    what: 'import into a model of another architecture',
    script: 'scripts/import.ts',
    args: () => ['--pth', sidecar.replace(/\.json$/, '.safetensors'), '--preset', 'quick-teacher', '--out', at('imported')],
    code: EXIT.usage,
    error: /^error: .*\.safetensors: loadStateDict: checkpoint does not match the model; missing: backbone\.layer2\.1\.conv1\.weight/m,
  },
  // --- export
  {
    what: 'export of a checkpoint that does not exist',
    script: 'scripts/export.ts',
    args: () => ['--checkpoint', at('nope.json'), '--to', 'mmdet', '--out', at('exported')],
    code: EXIT.usage,
    error: /^error: checkpoint not found: .*nope\.json$/m,
  },
  {
    what: 'export to an unknown framework',
    script: 'scripts/export.ts',
    args: () => ['--checkpoint', sidecar, '--to', 'onnx', '--out', at('exported')],
    code: EXIT.usage,
    error: /^error: option '--to <format>' argument 'onnx' is invalid\. Allowed choices are mmdet\.$/m,
  },
  {
    what: 'export of a model mmdetection cannot build (the toy stem and widths)',
    script: 'scripts/export.ts',
    args: () => ['--checkpoint', sidecar, '--to', 'mmdet', '--out', at('exported')],
    code: EXIT.usage,
    error: /^error: the backbone has no mmdetection equivalent:\n {2}- backbone\.stem is 'conv3x3'/m,
  },
  // --- web, gradcheck, parity, fuzz, demo
  {
    what: 'web with a port out of range',
    script: 'scripts/web.ts',
    args: () => ['--port', '70000'],
    code: EXIT.usage,
    error: /^error: option '--port <n>' argument '70000' is invalid\. expected an integer port in \[0, 65535\], got '70000'$/m,
  },
  {
    what: 'gradcheck with an unknown op id',
    script: 'scripts/gradcheck.ts',
    args: () => ['--op', 'no_such_op'],
    code: EXIT.usage,
    error: /^error: --op: unknown op id 'no_such_op' \(known: abs, add, .*\)$/m,
  },
  {
    what: 'parity with a case file that does not exist',
    script: 'scripts/parity.ts',
    args: () => [at('nope-cases.json')],
    code: EXIT.usage,
    error: /^error: case file not found: .*nope-cases\.json \(expected JSON case files, see docs\/op-cases\.md\)$/m,
  },
  {
    what: 'fuzz with an unknown reader',
    script: 'scripts/fuzz.ts',
    args: () => ['--target', 'jpeg'],
    code: EXIT.usage,
    error:
      /^error: option '--target <name\.\.\.>' argument 'jpeg' is invalid\. Allowed choices are safetensors, checkpoint sidecar, COCO annotations, PNG, \.pth\.$/m,
  },
  {
    what: 'demo with zero epochs',
    script: 'scripts/demo.ts',
    args: () => ['--epochs', '0'],
    code: EXIT.usage,
    error: /^error: option '--epochs <n>' argument '0' is invalid\. expected an integer ≥ 1, got '0'\.$/m,
  },
];

describe('command lines: bad input exits with its code and one clear line', () => {
  it(`the command-line catalogue holds at least 40 cases over every script (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    const scripts = new Set(cases.map((c) => c.script));
    for (const s of ['train', 'eval', 'predict', 'experiment', 'conflict', 'profile', 'web', 'gradcheck', 'parity', 'fuzz', 'demo', 'soak', 'import', 'export'])
      expect(scripts).toContain(`scripts/${s}.ts`);
    expect(scripts).toContain('bench/run.ts');
  });

  it.concurrent.each(cases.map((c) => [c.what, c] as const))('%s', { timeout: 300_000 }, async (_what, c) => {
    const r = await run(c.script, c.args(), c.env);
    const text = errorText(r);
    expect(text).toMatch(c.error);
    expect(text).not.toMatch(/\n\s+at /); // no stack
    expect(r.code).toBe(c.code);
    for (const f of c.noOutput?.() ?? []) expect(fs.existsSync(f), `${f} should not exist`).toBe(false);
  });
});
