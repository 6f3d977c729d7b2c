/** npm run eval -- --checkpoint FILE --data DIR [--batch-size N] [--json FILE] [--confusion] */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as E from '../engine/index.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { loadCocoDir } from '../detection/data/node.ts';
import { evaluateDetector } from '../detection/train/evaluate.ts';
import { formatCocoSummary } from '../detection/eval/coco.ts';
import { classConfusion, formatConfusion } from '../detection/eval/confusion.ts';
import { EXIT, exitWithUsageCode, intArg, loadDetector, resolveCheckpoint, runCli } from './cli.ts';

const program = new Command()
  .name('eval')
  .description('COCO-style evaluation of a trained detector on a COCO-format folder (DIR/annotations.json + DIR/images/).')
  .requiredOption('--checkpoint <file>', 'checkpoint sidecar (checkpoint-*.json), its .safetensors weights, or a run folder (newest checkpoint)')
  .requiredOption('--data <dir>', 'COCO-format dataset folder: annotations.json and images/')
  .option('--batch-size <n>', "images per inference batch (default: the config's training batch size)", intArg(1))
  .option('--json <file>', 'also write the results as JSON to FILE')
  .option(
    '--detections <file>',
    "write the detections as COCO results JSON ([{image_id, category_id, bbox: [x, y, w, h], score}], pycocotools' loadRes format)",
  )
  .option(
    '--confusion',
    'also print the class confusion: per object, the class of the best detection of any class at IoU ≥ 0.5 (localisation vs classification)',
  )
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments, checkpoint or data, 3 no WebGPU adapter, 5 GPU error.')
  .exitOverride(exitWithUsageCode);

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, `${JSON.stringify(value, null, 1)}\n`);
}

await runCli(async () => {
  program.parse();
  const o = program.opts<{ checkpoint: string; data: string; batchSize?: number; json?: string; detections?: string; confusion?: boolean }>();

  // Everything that can be checked without the GPU first.
  const ckpt = resolveCheckpoint(o.checkpoint);
  const cfg = ckpt.config;
  if (!fs.existsSync(o.data)) throw new Error(`data folder not found: ${o.data}`);
  const dataset = loadCocoDir(o.data);
  if (dataset.categories.length !== cfg.numClasses)
    throw new Error(
      `${o.data} has ${dataset.categories.length} categories, the checkpoint's model has ${cfg.numClasses} classes (config '${cfg.name}'); evaluate on data with the same categories`,
    );
  const [padH, padW] = ckpt.padSize;
  const tooLarge = dataset.records.filter((r) => r.width > padW || r.height > padH);
  if (tooLarge.length)
    throw new Error(
      `${tooLarge.length} image(s) of ${o.data} are larger than the model's input ${padW}×${padH} (images are padded, not resized), e.g. ${tooLarge[0].fileName} is ${tooLarge[0].width}×${tooLarge[0].height}`,
    );
  const batchSize = o.batchSize ?? cfg.train.batchSize;

  await E.init();
  const detector = loadDetector(ckpt);
  console.log(
    `checkpoint ${ckpt.sidecarFile} (config '${cfg.name}', step ${ckpt.sidecar.step}); ${dataset.records.length} images of ${o.data}, padded to ${padW}×${padH}`,
  );
  const t0 = performance.now();
  const tty = process.stderr.isTTY;
  const { result, detections, cocoDetections } = await evaluateDetector(detector, dataset, {
    padSize: ckpt.padSize,
    batchSize,
    onBatch: (done, total) => {
      if (tty) process.stderr.write(`\r  batch ${done}/${total}${done === total ? '\n' : ''}`);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  detector.dispose();
  console.log(`evaluated in ${seconds.toFixed(1)} s (${(dataset.records.length / seconds).toFixed(1)} img/s)\n`);
  console.log(formatCocoSummary(result));
  const confusion = o.confusion ? classConfusion(dataset.records, detections, cfg.numClasses) : null;
  if (confusion)
    console.log(
      `\n${formatConfusion(
        confusion,
        dataset.categories.map((c) => c.name),
      )}`,
    );

  if (o.detections) {
    writeJson(o.detections, cocoDetections);
    console.log(`\nwrote ${cocoDetections.length} detections to ${o.detections} (COCO results format)`);
  }
  if (o.json) {
    const out = {
      checkpoint: path.resolve(ckpt.sidecarFile),
      config: cfg.name,
      step: ckpt.sidecar.step,
      data: path.resolve(o.data),
      num_images: dataset.records.length,
      pad_size: ckpt.padSize,
      seconds,
      eval: {
        mAP: result.mAP,
        mAP50: result.mAP50,
        mAP75: result.mAP75,
        mAP_s: result.mAP_s,
        mAP_m: result.mAP_m,
        mAP_l: result.mAP_l,
        per_class: result.per_class,
      },
      stats: result.stats,
      ...(confusion ? { confusion } : {}),
    };
    writeJson(o.json, out);
    console.log(`\nwrote ${o.json}`);
  }
  return EXIT.ok;
});
