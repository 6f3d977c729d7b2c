/**
 * npm run demo: the main job on an embedded default. Generates a synthetic dataset,
 * trains a teacher and a student, distils a CrossKD student from the teacher, evaluates
 * all three on the validation set and prints them side by side (about 10 minutes on a
 * 2-core machine with lavapipe).
 */
import * as path from 'node:path';
import { Command } from 'commander';
import { presetConfig, parseConfig } from '../detection/train/config.ts';
import { train, type TrainResult } from '../detection/train/trainer.ts';
import { trainWithDistillation } from '../crosskd/train.ts';
import { EXIT, intArg, parseArgs, runCli } from './cli.ts';

const program = new Command()
  .name('demo')
  .description('Train a teacher, a student and a CrossKD student on synthetic data and compare them.')
  .option('--out <dir>', 'output folder', 'runs/demo')
  .option('--epochs <n>', 'epochs per model (default: the demo presets)', intArg(1))
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments, 3 no WebGPU adapter, 4 non-finite loss, 5 GPU error.');

await runCli(async () => {
  const o = parseArgs<{ out: string; epochs?: number }>(program);
  const withEpochs = <T extends ReturnType<typeof presetConfig>>(cfg: T): T =>
    o.epochs ? ({ ...cfg, train: { ...cfg.train, epochs: o.epochs, lrStepEpochs: cfg.train.lrStepEpochs.filter((e) => e < o.epochs!) } } as T) : cfg;
  const teacherCfg = withEpochs(presetConfig('demo-teacher'));
  const studentCfg = withEpochs(presetConfig('demo-student'));
  const log = (m: string) => console.log(m);
  const started = performance.now();
  const runs: [string, TrainResult][] = [];

  console.log('== teacher ==');
  const teacher = await train(teacherCfg, { outDir: path.join(o.out, 'teacher'), log });
  runs.push(['teacher', teacher]);
  console.log('== student ==');
  const student = await train(studentCfg, { outDir: path.join(o.out, 'student'), log, datasets: teacher.datasets });
  runs.push(['student', student]);
  console.log('== CrossKD student ==');
  const crossCfg = parseConfig({ ...studentCfg, name: 'demo-student-crosskd', distill: { method: 'crosskd', teacher: teacher.lastCheckpoint!, tap: 3 } });
  const crosskd = await trainWithDistillation(crossCfg, { outDir: path.join(o.out, 'student-crosskd'), log, datasets: teacher.datasets });
  runs.push(['student + CrossKD', crosskd]);

  const pct = (v: number | undefined) => (v === undefined || v < 0 ? '  –  ' : (100 * v).toFixed(1).padStart(5));
  console.log(`\nResults on ${teacher.datasets.val.records.length} validation images (COCO-style AP, %):\n`);
  console.log('| model              | params  |  mAP  | mAP50 | mAP75 | mAP_s | mAP_m | train s | img/s |');
  console.log('|--------------------|---------|-------|-------|-------|-------|-------|---------|-------|');
  for (const [name, r] of runs) {
    const e = r.eval!;
    const params = r.detector.parameters().reduce((a, p) => a + p.size, 0);
    console.log(
      `| ${name.padEnd(18)} | ${(params / 1e6).toFixed(2).padStart(5)} M | ${pct(e.mAP)} | ${pct(e.mAP50)} | ${pct(e.mAP75)} | ${pct(e.mAP_s)} | ${pct(e.mAP_m)} | ${r.seconds.toFixed(0).padStart(7)} | ${r.imagesPerSecond.toFixed(1).padStart(5)} |`,
    );
  }
  console.log(`\nTotal ${((performance.now() - started) / 60000).toFixed(1)} min. Checkpoints, metrics.json and logs in ${o.out}/.`);
  for (const [, r] of runs) r.detector.dispose();
  return EXIT.ok;
});
