/**
 * npm run eval and npm run predict as a user runs them (subprocesses on a checkpoint of a
 * tiny training run), their bad-input exits, and the drawing functions they use.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodePng, type RgbImage } from '../../detection/data/coco.ts';
import { classColor, drawBox, drawDetections, drawLabel, drawText, fillRect, labelSize, textColorOn, textWidth } from '../../detection/draw.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { train } from '../../detection/train/trainer.ts';
import { evaluateCoco } from '../../detection/eval/coco.ts';
import { readSafetensorsFile } from '../../engine/io/checkpoint.ts';
import { encodeSafetensors } from '../../engine/io/safetensors.ts';
import { encodePth, type PthTensor } from '../../engine/io/pth.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', script, ...args], { cwd: ROOT, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run eval / predict', () => {
  let tmp: string;
  let sidecar: string;
  let valDir: string;

  beforeAll(async () => {
    await E.init();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-scripts-'));
    const cfg = {
      ...presetConfig('tiny'),
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    const r = await train(cfg, { outDir: path.join(tmp, 'run'), log: () => {}, progress: false, evaluate: false });
    r.detector.dispose();
    sidecar = r.lastCheckpoint!;
    valDir = r.datasets.valDir;
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('eval prints the COCO table (and with --confusion the class confusion) and writes JSON', async () => {
    const json = path.join(tmp, 'eval.json');
    const detectionsFile = path.join(tmp, 'results', 'detections.json');
    // 4 training steps leave every score near the prior (0.01), under the test-time threshold:
    // the same weights with the classifier's bias raised give detections to write
    const confident = path.join(tmp, 'confident');
    fs.mkdirSync(confident);
    fs.copyFileSync(sidecar, path.join(confident, path.basename(sidecar)));
    const weights = readSafetensorsFile(sidecar.replace(/\.json$/, '.safetensors'));
    (weights.tensors.get('bbox_head.gfl_cls.bias')!.data as Float32Array).fill(1);
    fs.writeFileSync(path.join(confident, path.basename(sidecar).replace(/\.json$/, '.safetensors')), encodeSafetensors(weights.tensors, weights.metadata));
    const r = await runScript('scripts/eval.ts', [
      '--checkpoint',
      confident,
      '--data',
      valDir,
      '--batch-size',
      '4',
      '--json',
      json,
      '--confusion',
      '--detections',
      detectionsFile,
    ]);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("config 'tiny', step 4");
    expect(r.stdout).toMatch(/Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = -?\d\.\d{3}/);
    expect(r.stdout).toMatch(/^category +AP$/m);
    expect(r.stdout).toMatch(/^circle +(\d\.\d{3}| {2}- {2})$/m);
    const out = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(out.num_images).toBe(8);
    expect(out.pad_size).toEqual([64, 64]);
    expect(typeof out.eval.mAP).toBe('number');
    expect(Object.keys(out.eval.per_class)).toHaveLength(8);
    expect(r.stdout).toMatch(/^gt \\ pred +circle .* missed$/m);
    const annotations = JSON.parse(fs.readFileSync(path.join(valDir, 'annotations.json'), 'utf8')).annotations as unknown[];
    expect(out.confusion.objects).toBe(annotations.length);
    expect(out.confusion.matrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(annotations.length);
    // --detections: pycocotools' results format, and the very detections the metric was computed on
    const gt = JSON.parse(fs.readFileSync(path.join(valDir, 'annotations.json'), 'utf8'));
    const results = JSON.parse(fs.readFileSync(detectionsFile, 'utf8')) as { image_id: number; category_id: number; bbox: number[]; score: number }[];
    expect(results.length).toBeGreaterThan(0);
    const imageIds = new Set(gt.images.map((i: { id: number }) => i.id));
    const categoryIds = new Set(gt.categories.map((c: { id: number }) => c.id));
    for (const d of results) {
      expect(Object.keys(d)).toEqual(['image_id', 'category_id', 'bbox', 'score']);
      expect(imageIds.has(d.image_id) && categoryIds.has(d.category_id)).toBe(true);
      expect(d.bbox).toHaveLength(4);
      expect(d.bbox[2] >= 0 && d.bbox[3] >= 0 && d.score >= 0 && d.score <= 1).toBe(true);
    }
    expect(evaluateCoco(gt, results).mAP).toBe(out.eval.mAP);
  });

  it('predict draws the detections into a PNG of the same size and lists them', async () => {
    const image = path.join(valDir, 'images', '000001.png');
    const input = decodePng(new Uint8Array(fs.readFileSync(image)), image);
    const outFile = path.join(tmp, 'pred', 'out.png');
    // the weights (not the sidecar) are given: the sidecar is found next to them
    const weights = sidecar.replace(/\.json$/, '.safetensors');
    // 4 steps of training leave scores near the prior (0.01): threshold 0 draws some
    const jsonFile = path.join(tmp, 'pred', 'dets.json');
    const r = await runScript('scripts/predict.ts', [
      '--checkpoint',
      weights,
      '--image',
      image,
      '--out',
      outFile,
      '--score-thr',
      '0',
      '--json',
      jsonFile,
      '--image-id',
      '42',
    ]);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^#\s+class\s+score\s+x1\s+y1\s+x2\s+y2$/m);
    const n = Number(/(\d+) detection\(s\) with score ≥ 0/.exec(r.stdout)?.[1]);
    expect(n).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/^\s*1\s+(circle|ellipse|square|triangle|ring|cross|star|lshape)\s+0\.\d{3}(\s+\d+\.\d){4}$/m);
    const out = decodePng(new Uint8Array(fs.readFileSync(outFile)), outFile);
    expect([out.width, out.height]).toEqual([input.width, input.height]);
    expect(Buffer.compare(Buffer.from(out.data), Buffer.from(input.data))).not.toBe(0);
    // --json: the listed detections in COCO results format, in the printed order
    const coco = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { image_id: number; category_id: number; bbox: number[]; score: number }[];
    expect(coco).toHaveLength(n);
    const first = /^\s*1\s+\S+\s+(0\.\d{3})\s+(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d)$/m.exec(r.stdout)!;
    expect(coco[0].image_id).toBe(42);
    expect(coco[0].score.toFixed(3)).toBe(first[1]);
    expect([
      coco[0].bbox[0].toFixed(1),
      coco[0].bbox[1].toFixed(1),
      (coco[0].bbox[0] + coco[0].bbox[2]).toFixed(1),
      (coco[0].bbox[1] + coco[0].bbox[3]).toFixed(1),
    ]).toEqual(first.slice(2));
    for (const d of coco) expect(d.category_id >= 1 && d.category_id <= 8).toBe(true);
  });

  it('import: a .pth of the weights (mmdetection layout) becomes a checkpoint that eval scores the same, predict and train --teacher use', async () => {
    // the tiny run's weights as PyTorch would save them from a DataParallel model, with mmdetection's meta
    const { tensors } = readSafetensorsFile(sidecar.replace(/\.json$/, '.safetensors'));
    const state = new Map<string, PthTensor>(
      [...tensors].map(([k, t]) => [`module.${k}`, { dtype: t.dtype === 'I32' ? 'int32' : 'float32', shape: t.shape, data: t.data as Float32Array }]),
    );
    const pth = path.join(tmp, 'exported.pth');
    fs.writeFileSync(pth, encodePth(state, { meta: { mmdet_version: '3.3.0', epoch: 1 } }));
    const configFile = path.join(tmp, 'tiny.json');
    fs.writeFileSync(configFile, JSON.stringify(JSON.parse(fs.readFileSync(sidecar, 'utf8')).config));
    const out = path.join(tmp, 'imported');
    const imp = await runScript('scripts/import.ts', ['--pth', pth, '--config', configFile, '--out', out]);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/^imported \d+ tensors from .*exported\.pth \(config 'tiny'\) into .*checkpoint-0000000\.json$/m);
    const imported = path.join(out, 'checkpoint-0000000.json');
    const [a, b] = await Promise.all([sidecar, imported].map((c) => runScript('scripts/eval.ts', ['--checkpoint', c, '--data', valDir, '--batch-size', '4'])));
    expect(b.code, b.stderr).toBe(0);
    const table = (s: string) => s.split('\n').filter((l) => /Average (Precision|Recall)/.test(l));
    expect(table(b.stdout)).toHaveLength(12);
    expect(table(b.stdout)).toEqual(table(a.stdout));
    const image = path.join(valDir, 'images', '000001.png');
    const pred = await runScript('scripts/predict.ts', [
      '--checkpoint',
      imported,
      '--image',
      image,
      '--out',
      path.join(tmp, 'imported.png'),
      '--score-thr',
      '0',
    ]);
    expect(pred.code, pred.stderr).toBe(0);
    const distil = await runScript('scripts/train.ts', [
      '--preset',
      'tiny',
      '--teacher',
      imported,
      '--method',
      'crosskd',
      '--max-steps',
      '1',
      '--out',
      path.join(tmp, 'distilled'),
      '--no-progress',
    ]);
    expect(distil.code, distil.stderr).toBe(0);
    // a model that does not match names what differs
    const wrong = await runScript('scripts/import.ts', ['--pth', pth, '--preset', 'quick-teacher', '--out', path.join(tmp, 'wrong')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: .*exported\.pth: loadStateDict: checkpoint does not match the model; missing: backbone\.layer2\.1\.conv1\.weight/m);
  });

  it('profile: one distillation step per kernel and phase, as a table, JSON and report.html', async () => {
    const json = path.join(tmp, 'profile.json');
    const html = path.join(tmp, 'profile.html');
    const r = await runScript('scripts/profile.ts', [
      '--preset',
      'tiny',
      '--teacher',
      sidecar,
      '--method',
      'crosskd',
      '--warmup',
      '1',
      '--no-ceiling',
      '--json',
      json,
      '--html',
      html,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^op · kernel +calls +total ms +% GPU +mean µs +achieved$/m);
    expect(r.stdout).toMatch(/^conv2d · conv2d_fwd +\d+ +[\d.]+ +[\d.]+% +\d+ +[\d.]+ GFLOP\/s$/m);
    for (const phase of ['data', 'targets', 'forward', 'backward', 'optimizer'])
      expect(r.stdout).toMatch(new RegExp(`^${phase} +[\\d.]+ +\\d+ +[\\d.]+$`, 'm'));
    expect(r.stdout).toMatch(/^timing: timestamp — GPU timestamps/m);
    const p = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(p.method).toBe('crosskd');
    expect(p.trace.length).toBe(p.dispatches);
    expect(p.phases.reduce((s: number, ph: { dispatches: number }) => s + ph.dispatches, 0)).toBe(p.dispatches);
    expect(p.kernels.reduce((s: number, k: { calls: number }) => s + k.calls, 0)).toBe(p.dispatches);
    // the teacher's forward and the cross-head path add dispatches to the forward phase
    const fwd = p.phases.find((ph: { name: string }) => ph.name === 'forward');
    expect(fwd.dispatches).toBeGreaterThan(0);
    expect(p.conv_flops).toBeGreaterThan(0);
    expect(fs.readFileSync(html, 'utf8')).toMatch(/<svg[^>]*>.*<rect/s);

    const bad = await runScript('scripts/profile.ts', ['--preset', 'tiny', '--method', 'crosskd']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--method crosskd needs a teacher: --teacher CKPT or --teacher-preset NAME/);
    const noMethod = await runScript('scripts/profile.ts', ['--preset', 'tiny', '--teacher-preset', 'tiny']);
    expect(noMethod.code).toBe(2);
    expect(noMethod.stderr).toMatch(/a teacher \(tiny\) needs --method \(one of pred_mimic, pkd, crosskd, crosskd\+pkd\)/);
  });

  it('bad input: a missing checkpoint or an image larger than the configured size exits 2 with a clear message', async () => {
    const big = path.join(tmp, 'big.png');
    fs.writeFileSync(big, encodePng({ width: 100, height: 80, data: new Uint8Array(100 * 80 * 3), channels: 3, depth: 8 }));
    const missing = path.join(tmp, 'no-such-checkpoint.json');
    const [evalMissing, predictMissing, tooBig] = await Promise.all([
      runScript('scripts/eval.ts', ['--checkpoint', missing, '--data', valDir]),
      runScript('scripts/predict.ts', ['--checkpoint', missing, '--image', big, '--out', path.join(tmp, 'x.png')]),
      runScript('scripts/predict.ts', ['--checkpoint', sidecar, '--image', big, '--out', path.join(tmp, 'y.png')]),
    ]);
    for (const r of [evalMissing, predictMissing]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`checkpoint not found: ${missing}`);
    }
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toMatch(/big\.png is 100×80, larger than the model's input 64×64/);
    expect(fs.existsSync(path.join(tmp, 'y.png'))).toBe(false);
  });
});

// ------------------------------------------------------------------ drawing

const blank = (width: number, height: number, v = 0): RgbImage => ({ width, height, data: new Uint8Array(3 * width * height).fill(v) });

/** [x, y] of every pixel that differs from `v` in all of r, g, b (sorted row-major). */
function changed(img: RgbImage, v = 0): [number, number][] {
  const out: [number, number][] = [];
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      const o = 3 * (y * img.width + x);
      if (img.data[o] !== v || img.data[o + 1] !== v || img.data[o + 2] !== v) out.push([x, y]);
    }
  return out;
}

const pixel = (img: RgbImage, x: number, y: number) => Array.from(img.data.subarray(3 * (y * img.width + x), 3 * (y * img.width + x) + 3));

describe('drawing', () => {
  it('drawBox changes exactly the 2-px outline inside the box', () => {
    const img = blank(40, 50);
    drawBox(img, [10, 20, 30, 40], [255, 0, 0], 2);
    const expected: [number, number][] = [];
    for (let y = 20; y < 40; y++) for (let x = 10; x < 30; x++) if (x < 12 || x >= 28 || y < 22 || y >= 38) expected.push([x, y]);
    expect(changed(img)).toEqual(expected);
    expect(expected).toHaveLength(20 * 20 - 16 * 16);
    expect(pixel(img, 10, 20)).toEqual([255, 0, 0]);
    expect(pixel(img, 29, 39)).toEqual([255, 0, 0]);
    expect(pixel(img, 12, 22)).toEqual([0, 0, 0]);
  });

  it('drawBox rounds fractional coordinates, clips to the image and fills boxes thinner than the outline', () => {
    const img = blank(10, 10);
    drawBox(img, [-5.2, 7.6, 3.4, 20], [9, 9, 9], 2); // → pixels x 0..2, y 8..9, all within 2 px of an edge
    expect(changed(img)).toEqual([
      [0, 8],
      [1, 8],
      [2, 8],
      [0, 9],
      [1, 9],
      [2, 9],
    ]);
    const empty = blank(10, 10);
    drawBox(empty, [5, 5, 5.2, 9], [9, 9, 9]);
    expect(changed(empty)).toEqual([]);
  });

  it('fillRect is half-open and clipped', () => {
    const img = blank(4, 3);
    fillRect(img, 2, -1, 9, 1, [1, 2, 3]);
    expect(changed(img)).toEqual([
      [2, 0],
      [3, 0],
    ]);
    expect(pixel(img, 3, 0)).toEqual([1, 2, 3]);
  });

  it('drawText writes the 3×5 glyphs one pixel apart', () => {
    const img = blank(12, 7);
    drawText(img, 1, 1, '1L', [200, 200, 200]);
    // '1' = 010 110 010 010 111 at x 1..3; 'L' = 100 100 100 100 111 at x 5..7
    const rows = Array.from({ length: 7 }, (_, y) => Array.from({ length: 12 }, (_, x) => (img.data[3 * (y * 12 + x)] ? '#' : '.')).join(''));
    expect(rows).toEqual(['............', '..#..#......', '.##..#......', '..#..#......', '..#..#......', '.###.###....', '............']);
    expect(textWidth('1L')).toBe(7);
    expect(textWidth('ab', 2)).toBe(14);
    // lower case is drawn as upper case; unknown characters as '?'
    const a = blank(4, 5);
    const b = blank(4, 5);
    drawText(a, 0, 0, 'q', [1, 1, 1]);
    drawText(b, 0, 0, 'Q', [1, 1, 1]);
    expect(a.data).toEqual(b.data);
  });

  it('drawLabel puts the tag above the box, inside it at the top edge, and stacks tags that would overlap', () => {
    const img = blank(64, 64);
    const { width, height } = labelSize('AB');
    expect([width, height]).toEqual([9, 7]);
    expect(drawLabel(img, 10, 20, 'AB', [255, 255, 255])).toEqual([10, 13, 19, 20]);
    expect(pixel(img, 10, 13)).toEqual([255, 255, 255]); // padding: background colour
    expect(pixel(img, 12, 14)).toEqual([0, 0, 0]); // 'A' top middle pixel, black on white
    expect(drawLabel(img, 10, 3, 'AB', [0, 0, 255])).toEqual([10, 3, 19, 10]); // no room above
    expect(drawLabel(img, 60, 30, 'AB', [0, 0, 255])).toEqual([55, 23, 64, 30]); // kept inside on the right
    const placed: [number, number, number, number][] = [];
    drawLabel(img, 30, 40, 'AB', [0, 255, 0], 1, placed);
    drawLabel(img, 32, 40, 'CD', [0, 255, 0], 1, placed);
    expect(placed).toEqual([
      [30, 33, 39, 40],
      [32, 40, 41, 47],
    ]);
    expect(textColorOn([255, 225, 25])).toEqual([0, 0, 0]);
    expect(textColorOn([0, 0, 128])).toEqual([255, 255, 255]);
  });

  it('drawDetections draws only detections at or above the threshold, in their class colour', () => {
    const img = blank(64, 64);
    const dets = {
      bboxes: Float64Array.from([4, 20, 24, 40, 30, 30, 60, 60, 40, 10, 50, 20]),
      scores: Float64Array.from([0.9, 0.5, 0.2]),
      labels: Int32Array.from([1, 3, 0]),
    };
    const drawn = drawDetections(img, dets, { scoreThr: 0.3, classNames: ['a', 'b', 'c', 'd'] });
    expect(drawn).toEqual([0, 1]);
    expect(pixel(img, 4, 39)).toEqual([...classColor(1)]); // bottom-left of box 0
    expect(pixel(img, 59, 59)).toEqual([...classColor(3)]); // bottom-right of box 1
    expect(pixel(img, 45, 19)).toEqual([0, 0, 0]); // box 2 (score 0.2) is not drawn
    expect(pixel(img, 4, 13)).toEqual([...classColor(1)]); // its tag sits above box 0
    expect(changed(img).every(([x, y]) => y >= 13 && y < 60 && x >= 4 && x < 60)).toBe(true);
    expect(classColor(0)).not.toEqual(classColor(1));
    expect(classColor(40)).toHaveLength(3);
  });
});
