/** npm run train -- --preset NAME | --config FILE.json [--out DIR] [--resume] */
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { parseConfig, presetConfig, PRESETS } from '../detection/train/config.ts';
import { trainWithDistillation } from '../crosskd/train.ts';
import { METHODS } from '../crosskd/distiller.ts';
import { formatCocoSummary } from '../detection/eval/coco.ts';
import { setAnomalyMode } from '../engine/runtime.ts';
import { EXIT, intArg, parseArgs, readJsonFile, runCli } from './cli.ts';

const program = new Command()
  .name('train')
  .description('Train a GFL detector on a synthetic or COCO-format dataset (with distillation when the config has a distill section).')
  .option('--preset <name>', `a built-in config: ${Object.keys(PRESETS).join(', ')}`)
  .option('--config <file>', 'a JSON training config (see detection/train/config.ts)')
  .option('--out <dir>', 'output folder for checkpoints and metrics (default runs/<name>)')
  .option('--resume', 'continue from the newest checkpoint in --out')
  .option('--max-steps <n>', 'stop after n steps of this run (it can be resumed)', intArg(1))
  .option('--eval-every <epochs>', 'also evaluate every this many epochs (a mAP curve in metrics.json)', intArg(1))
  .option('--no-progress', 'log lines instead of a progress bar')
  .option('--teacher <sidecar>', 'distil from this teacher checkpoint (checkpoint-*.json)')
  .addOption(new Option('--method <method>', 'distillation method, with --teacher (default crosskd)').choices(METHODS.filter((m) => m !== 'none')))
  .option('--tap <i>', 'CrossKD tap index (0 = FPN output)', intArg(0))
  .option('--anomaly', 'check every op output for NaN/Inf and name the first op that made one (slower; also CROSSKD_ANOMALY=1)')
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments/config/data, 3 no WebGPU adapter, 4 non-finite loss, 5 GPU error.');

await runCli(async () => {
  const o = parseArgs<{
    preset?: string;
    config?: string;
    out?: string;
    resume?: boolean;
    maxSteps?: number;
    evalEvery?: number;
    progress: boolean;
    teacher?: string;
    method?: string;
    tap?: number;
    anomaly?: boolean;
  }>(program);
  if (o.anomaly) setAnomalyMode(true);
  if (!o.preset === !o.config) {
    console.error('error: give exactly one of --preset NAME or --config FILE');
    return EXIT.usage;
  }
  // distillation flags only with a teacher: a method or tap without one would train a plain student silently
  if (!o.teacher && (o.method !== undefined || o.tap !== undefined)) {
    console.error(
      `error: ${o.method !== undefined ? `--method ${o.method}` : `--tap ${o.tap}`} needs --teacher CHECKPOINT (the teacher to distil from); without --teacher the student trains alone`,
    );
    return EXIT.usage;
  }
  const method = o.method ?? 'crosskd';
  if (o.tap !== undefined && !method.startsWith('crosskd')) {
    console.error(`error: --tap is for --method crosskd or crosskd+pkd, got --method ${method}`);
    return EXIT.usage;
  }
  let cfg = o.preset ? presetConfig(o.preset) : parseConfig(readJsonFile(o.config!, 'config file'), o.config!);
  if (o.teacher)
    cfg = parseConfig(
      { ...cfg, name: `${cfg.name}-${method}`, distill: { method, teacher: o.teacher, ...(o.tap !== undefined ? { tap: o.tap } : {}) } },
      'config with --teacher',
    );
  if (o.evalEvery !== undefined && o.evalEvery > cfg.train.epochs) {
    console.error(`error: --eval-every ${o.evalEvery} exceeds the run's ${cfg.train.epochs} epoch(s)`);
    return EXIT.usage;
  }
  const evalEpochs =
    o.evalEvery === undefined ? undefined : Array.from({ length: Math.floor(cfg.train.epochs / o.evalEvery) }, (_, k) => (k + 1) * o.evalEvery!);
  const outDir = o.out ?? path.join('runs', cfg.name);
  const result = await trainWithDistillation(cfg, { outDir, resume: o.resume, maxSteps: o.maxSteps, evalEpochs, progress: o.progress && process.stdout.isTTY });
  console.log(
    `trained ${result.losses.length ? result.losses[result.losses.length - 1].step + 1 : 0} steps in ${result.seconds.toFixed(0)} s (${result.imagesPerSecond.toFixed(1)} img/s); checkpoints, metrics.json and report.html in ${outDir}`,
  );
  if (result.eval) console.log(formatCocoSummary(result.eval));
  return EXIT.ok;
});
