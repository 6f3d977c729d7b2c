/**
 * npm run conflict -- --teacher CKPT [--teacher CKPT ...] (--data DIR | --preset NAME)
 *   [--student PRESET|FILE.json] [--out FILE.png] [--json FILE]
 *
 * Target conflict (docs/crosskd.md §6) of each teacher with the student's assigner on a
 * dataset: the share of locations where max over classes of |σ(teacher logit) − one-hot
 * assigned target| exceeds 0.5, split by assigned positives and negatives, and the
 * histogram of that difference (crosskd/conflict.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import * as E from '../engine/index.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { Detector, fpnStrides } from '../detection/detector.ts';
import { loadCocoDir } from '../detection/data/node.ts';
import type { CocoDataset } from '../detection/data/coco.ts';
import { parseConfig, presetConfig, PRESETS, type TrainConfig } from '../detection/train/config.ts';
import { prepareDatasets } from '../detection/train/data.ts';
import { detectorConfig } from '../detection/train/trainer.ts';
import { histogramPlotPng, PALETTE } from '../detection/plot.ts';
import { CONFLICT_THRESHOLD, measureTargetConflict, type ConflictStats } from '../crosskd/conflict.ts';
import { EXIT, exitWithUsageCode, intArg, loadDetector, readJsonFile, resolveCheckpoint, runCli, type ResolvedCheckpoint } from './cli.ts';

const DEFAULT_STUDENT = 'quick-student';

const program = new Command()
  .name('conflict')
  .description(
    "Target conflict of teachers with a student's assigner: per location, max over classes of |teacher score − the student's one-hot assigned target|; " +
      `prints the share above ${CONFLICT_THRESHOLD} and the histogram, and plots them.`,
  )
  .requiredOption('--teacher <sidecar...>', 'teacher checkpoint(s): sidecar (checkpoint-*.json), its .safetensors or a run folder; repeat to compare teachers')
  .option('--data <dir>', 'COCO-format dataset folder (annotations.json + images/)')
  .option('--preset <name>', `the synthetic data of a training preset instead: ${Object.keys(PRESETS).join(', ')}`)
  .addOption(new Option('--split <split>', 'with --preset: which split (default val)').choices(['train', 'val']))
  .option('--student <preset|file>', `the student whose assigner (and priors) give the targets: a preset name or a JSON config`, DEFAULT_STUDENT)
  .option('--batch-size <n>', 'images per teacher batch', intArg(1), 8)
  .option('--bins <n>', 'histogram bins over [0, 1]', intArg(1), 20)
  .option('--out <file.png>', 'write the histogram plot here')
  .option('--json <file>', 'write the results as JSON here')
  .addHelpText(
    'after',
    "\nThe target is one-hot (the paper's analysis): 1 at the class the student's assigner gives a positive, 0 elsewhere and at background." +
      '\nTeachers with several anchors per location count the highest score over them.' +
      '\n\nExit codes: 0 ok, 2 bad arguments, checkpoint or data, 3 no WebGPU adapter, 5 GPU error.',
  )
  .exitOverride(exitWithUsageCode);

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

function studentConfig(arg: string): TrainConfig {
  if (arg in PRESETS) return presetConfig(arg);
  if (arg.endsWith('.json')) return parseConfig(readJsonFile(arg, 'student config'), arg);
  throw new Error(`--student must be a preset (${Object.keys(PRESETS).join(', ')}) or a JSON config file, got '${arg}'`);
}

function loadData(o: { data?: string; preset?: string; split?: 'train' | 'val' }, sizeDivisor: number): { dataset: CocoDataset; where: string } {
  if (o.data) {
    if (!fs.existsSync(o.data)) throw new Error(`data folder not found: ${o.data}`);
    return { dataset: loadCocoDir(o.data), where: o.data };
  }
  const split = o.split ?? 'val';
  const ds = prepareDatasets(presetConfig(o.preset!), sizeDivisor, (m) => console.log(m));
  return { dataset: ds[split], where: split === 'train' ? ds.trainDir : ds.valDir };
}

function formatTable(rows: { name: string; stats: ConflictStats }[]): string {
  const head = ['teacher', 'locations', `> ${CONFLICT_THRESHOLD}`, 'positives', 'negatives'];
  const body = rows.map(({ name, stats: s }) => [
    name,
    String(s.all.locations),
    pct(s.all.share),
    `${pct(s.positives.share)} of ${s.positives.locations}`,
    `${pct(s.negatives.share)} of ${s.negatives.locations}`,
  ]);
  const widths = head.map((h, k) => Math.max(h.length, ...body.map((r) => r[k].length)));
  return [head, ...body].map((r) => r.map((c, k) => c.padEnd(widths[k])).join('  ')).join('\n');
}

function formatHistogram(rows: { name: string; stats: ConflictStats }[]): string {
  const bins = rows[0].stats.histogram.length;
  const lines = [`histogram (share of locations per bin of max_c |score − target|):`, ['bin', ...rows.map((_, k) => `teacher ${k + 1}`)].join('\t')];
  for (let b = 0; b < bins; b++) {
    const label = `[${(b / bins).toFixed(2)}, ${((b + 1) / bins).toFixed(2)}${b === bins - 1 ? ']' : ')'}`;
    lines.push([label, ...rows.map((r) => pct(r.stats.histogram[b] / Math.max(r.stats.all.locations, 1)))].join('\t'));
  }
  return lines.join('\n');
}

await runCli(async () => {
  program.parse();
  const o = program.opts<{
    teacher: string[];
    data?: string;
    preset?: string;
    split?: 'train' | 'val';
    student: string;
    batchSize: number;
    bins: number;
    out?: string;
    json?: string;
  }>();
  const { batchSize, bins } = o;
  if (o.out && !o.out.endsWith('.png')) throw new Error(`--out must name a .png file, got '${o.out}'`);
  if (!o.data === !o.preset) throw new Error('give exactly one of --data DIR or --preset NAME');
  if (o.data && o.split) throw new Error(`--split ${o.split} chooses a split of --preset's data; --data ${o.data} is one dataset already`);
  if (o.preset && !PRESETS[o.preset]) throw new Error(`--preset: unknown preset '${o.preset}' (known: ${Object.keys(PRESETS).join(', ')})`);

  // Everything that can be checked without the GPU first.
  const teachers: ResolvedCheckpoint[] = o.teacher.map((t) => resolveCheckpoint(t));
  const student = studentConfig(o.student);
  for (const t of teachers)
    if (t.config.numClasses !== student.numClasses)
      throw new Error(`teacher ${t.sidecarFile} has ${t.config.numClasses} classes, the student config '${student.name}' ${student.numClasses}`);
  const sizeDivisor = Math.max(...[student, ...teachers.map((t) => t.config)].map((c) => fpnStrides(c.model.neck.numOuts).at(-1)!));
  const { dataset, where } = loadData(o, sizeDivisor);
  if (dataset.categories.length !== student.numClasses)
    throw new Error(`${where} has ${dataset.categories.length} categories, the student config '${student.name}' has ${student.numClasses} classes`);
  const side = Math.ceil(Math.max(...dataset.records.map((r) => Math.max(r.width, r.height))) / sizeDivisor) * sizeDivisor;

  await E.init();
  // only the student's priors and assigner are used, not its weights
  const studentModel = new Detector(detectorConfig(student));
  console.log(
    `student '${student.name}' (the assigner of its ${studentModel.bboxHead.type} head gives the targets); ${dataset.records.length} images of ${where}, padded to ${side}×${side}`,
  );
  const rows: { name: string; checkpoint: string; config: string; stats: ConflictStats }[] = [];
  for (const [k, ckpt] of teachers.entries()) {
    const teacher = loadDetector(ckpt);
    const t0 = performance.now();
    const stats = await measureTargetConflict({ teacher, student: studentModel, dataset, padSize: [side, side], batchSize, bins });
    teacher.dispose();
    const name = `${k + 1}: ${ckpt.config.name}`;
    rows.push({ name, checkpoint: path.resolve(ckpt.sidecarFile), config: ckpt.config.name, stats });
    console.log(`teacher ${name} (${ckpt.sidecarFile}) measured in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  studentModel.dispose();
  console.log(`\n${formatTable(rows)}\n\n${formatHistogram(rows)}`);

  if (o.out) {
    fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
    const series = rows.map((r) => ({ name: r.name, values: r.stats.histogram.map((c) => c / Math.max(r.stats.all.locations, 1)) }));
    writeFileAtomic(o.out, histogramPlotPng(series, { marker: CONFLICT_THRESHOLD }));
    const legend = rows.map((r, k) => `${r.name} rgb(${PALETTE[k % PALETTE.length].join(',')})`).join('; ');
    console.log(`\nwrote ${o.out} (share of locations per bin, log scale; the line marks ${CONFLICT_THRESHOLD}; ${legend})`);
  }
  if (o.json) {
    const out = {
      definition: 'per location: max over classes of |sigmoid(teacher logit) - one-hot target of the student assigner|; invalid (padding) locations excluded',
      threshold: CONFLICT_THRESHOLD,
      student: student.name,
      data: path.resolve(where),
      num_images: dataset.records.length,
      teachers: rows,
    };
    fs.mkdirSync(path.dirname(path.resolve(o.json)), { recursive: true });
    writeFileAtomic(o.json, `${JSON.stringify(out, null, 1)}\n`);
    console.log(`wrote ${o.json}`);
  }
  return EXIT.ok;
});
