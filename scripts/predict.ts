/** npm run predict -- --checkpoint FILE --image FILE.png --out FILE.png [--score-thr 0.3] */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { encode as encodePng } from 'fast-png';
import * as E from '../engine/index.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { decodePng, inMemoryCocoDataset } from '../detection/data/coco.ts';
import { DetectionLoader } from '../detection/data/loader.ts';
import { ANNOTATIONS_FILE } from '../detection/data/node.ts';
import { resolveSyntheticConfig, syntheticCategories } from '../detection/data/synthetic.ts';
import { drawDetections } from '../detection/draw.ts';
import { detectionsToCoco } from '../detection/eval/coco.ts';
import type { Detections } from '../detection/postprocess.ts';
import type { TrainConfig } from '../detection/train/config.ts';
import { EXIT, exitWithUsageCode, intArg, loadDetector, resolveCheckpoint, runCli } from './cli.ts';

const program = new Command()
  .name('predict')
  .description('Run a trained detector on one PNG image and draw its detections.')
  .requiredOption('--checkpoint <file>', 'checkpoint sidecar (checkpoint-*.json), its .safetensors weights, or a run folder (newest checkpoint)')
  .requiredOption('--image <file>', 'input PNG (at most the configured image size; it is padded, not resized)')
  .requiredOption('--out <file>', 'output PNG with the detections drawn')
  .option('--score-thr <x>', 'draw and list detections scoring at least this', '0.3')
  .option(
    '--json <file>',
    "also write those detections as COCO results JSON ([{image_id, category_id, bbox: [x, y, w, h], score}]; category ids 1…C in the config's class order)",
  )
  .option('--image-id <n>', 'the image_id written with --json', intArg(0), 1)
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments, checkpoint or image, 3 no WebGPU adapter, 5 GPU error.')
  .exitOverride(exitWithUsageCode);

/**
 * Class names of a checkpoint's config: the synthetic generator's categories, or those of
 * the training annotations when that file is still at the configured path; indices else.
 */
function classNames(cfg: TrainConfig): string[] {
  let names: string[] | undefined;
  try {
    if ('synthetic' in cfg.data) {
      const { numTrain: _t, numVal: _v, ...rest } = cfg.data.synthetic;
      names = syntheticCategories(resolveSyntheticConfig({ ...rest, numImages: 0 })).map((c) => c.name);
    } else {
      const json = JSON.parse(fs.readFileSync(path.join(cfg.data.train, ANNOTATIONS_FILE), 'utf8')) as { categories?: { id: number; name: string }[] };
      names = [...(json.categories ?? [])].sort((a, b) => a.id - b.id).map((c) => String(c.name));
    }
  } catch {
    names = undefined;
  }
  return names && names.length === cfg.numClasses ? names : Array.from({ length: cfg.numClasses }, (_, i) => String(i));
}

await runCli(async () => {
  program.parse();
  const o = program.opts<{ checkpoint: string; image: string; out: string; scoreThr: string; json?: string; imageId: number }>();
  const scoreThr = o.scoreThr.trim() === '' ? Number.NaN : Number(o.scoreThr);
  if (!(scoreThr >= 0 && scoreThr <= 1)) {
    console.error(`error: --score-thr must be a number in [0, 1], got '${o.scoreThr}'`);
    return EXIT.usage;
  }

  // Everything that can be checked without the GPU first.
  const ckpt = resolveCheckpoint(o.checkpoint);
  const cfg = ckpt.config;
  if (!fs.existsSync(o.image)) throw new Error(`image not found: ${o.image}`);
  const image = decodePng(new Uint8Array(fs.readFileSync(o.image)), o.image);
  const [padH, padW] = ckpt.padSize;
  if (image.width > padW || image.height > padH)
    throw new Error(
      `${o.image} is ${image.width}×${image.height}, larger than the model's input ${padW}×${padH} (config '${cfg.name}'); images are padded, not resized: crop or scale it to fit`,
    );
  const names = classNames(cfg);

  // One-image batch through the training loader: the same normalisation and padding.
  const dataset = inMemoryCocoDataset(
    {
      images: [{ id: 1, file_name: path.basename(o.image), width: image.width, height: image.height }],
      annotations: [],
      categories: names.map((name, i) => ({ id: i + 1, name })),
    },
    [image],
    o.image,
  );
  const batch = new DetectionLoader(dataset, { batchSize: 1, shuffle: false, flipProb: 0, padSize: ckpt.padSize }).next();

  await E.init();
  const detector = loadDetector(ckpt);
  const input = E.tensor(batch.images, batch.shape);
  const t0 = performance.now();
  const [dets] = await detector.predict(input, batch.imageSizes, { scoreThr });
  const ms = performance.now() - t0;
  input.dispose();
  detector.dispose();

  const canvas = { width: image.width, height: image.height, data: image.data.slice() };
  const drawn = drawDetections(canvas, dets, { scoreThr, classNames: names });
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  writeFileAtomic(o.out, encodePng({ width: canvas.width, height: canvas.height, data: canvas.data, channels: 3, depth: 8 }));

  console.log(
    `${o.image} (${image.width}×${image.height}), checkpoint ${ckpt.sidecarFile} (config '${cfg.name}', step ${ckpt.sidecar.step}); inference ${ms.toFixed(0)} ms`,
  );
  console.log(`${drawn.length} detection(s) with score ≥ ${scoreThr}:\n`);
  const rows = drawn.map((i, k) => {
    const b = dets.bboxes.subarray(4 * i, 4 * i + 4);
    return [String(k + 1), names[dets.labels[i]], dets.scores[i].toFixed(3), ...Array.from(b, (v) => v.toFixed(1))];
  });
  const head = ['#', 'class', 'score', 'x1', 'y1', 'x2', 'y2'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((s, c) => (c === 1 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log(`\nwrote ${o.out}`);
  if (o.json) {
    const keep: Detections = {
      bboxes: Float64Array.from(drawn.flatMap((i) => Array.from(dets.bboxes.subarray(4 * i, 4 * i + 4)))),
      scores: Float64Array.from(drawn, (i) => dets.scores[i]),
      labels: Int32Array.from(drawn, (i) => dets.labels[i]),
    };
    const coco = detectionsToCoco(
      o.imageId,
      keep,
      names.map((_, i) => i + 1),
    );
    fs.mkdirSync(path.dirname(path.resolve(o.json)), { recursive: true });
    writeFileAtomic(o.json, `${JSON.stringify(coco, null, 1)}\n`);
    console.log(`wrote ${coco.length} detections to ${o.json} (COCO results format)`);
  }
  return EXIT.ok;
});
