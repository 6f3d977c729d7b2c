/**
 * npm run profile -- --preset NAME | --config FILE [--teacher CKPT | --teacher-preset NAME]
 *                    [--method M] [--tap I] [--warmup N] [--mode timestamp|replay]
 *                    [--top N] [--json FILE] [--html FILE]
 *
 * A per-kernel GPU profile of one training step (the trainer's own step, on the config's
 * data): key averages per op and kernel, the phase totals (data, targets, forward,
 * backward, optimizer) and the dispatch count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import * as E from '../engine/index.ts';
import { initialTeacher, loadTeacher } from '../crosskd/train.ts';
import { distillationLoss, METHODS, type Method } from '../crosskd/distiller.ts';
import type { Detector } from '../detection/detector.ts';
import { parseConfig, presetConfig, PRESETS, type TrainConfig } from '../detection/train/config.ts';
import { formatStepProfile, profileStep, stepProfileHtml, stepProfileJson } from '../detection/train/profile.ts';
import { stepRig } from '../detection/train/stepRig.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { EXIT, intArg, parseArgs, readJsonFile, runCli } from './cli.ts';

const program = new Command()
  .name('npm run profile --')
  .description('GPU profile of one training step: time per kernel, per phase, dispatch count.')
  .option('--preset <name>', `a built-in config: ${Object.keys(PRESETS).join(', ')}`)
  .option('--config <file>', 'a JSON training config (see detection/train/config.ts)')
  .option('--teacher <sidecar>', 'profile a distillation step from this teacher checkpoint (checkpoint-*.json)')
  .option('--teacher-preset <name>', 'profile a distillation step from a teacher of this preset with its initial weights (a step costs the same)')
  .addOption(new Option('--method <method>', 'distillation method (needs a teacher)').choices(METHODS.filter((m) => m !== 'none')))
  .option('--tap <i>', "CrossKD tap index (0 = FPN output; default the head's)", intArg(0))
  .option('--warmup <n>', 'unprofiled steps first (pipelines compiled, buffer pool filled)', intArg(0), 2)
  .addOption(
    new Option('--mode <mode>', 'timestamp (needs timestamp-query) or replay; default: timestamp where the adapter has it').choices(['timestamp', 'replay']),
  )
  .option('--top <n>', 'kernel rows in the table', intArg(1), 25)
  .option('--json <file>', 'write the profile (phases, kernels, every dispatch) as JSON')
  .option('--html <file>', "write report.html with charts of where the step's time goes")
  .option('--no-ceiling', 'skip measuring the FMA ceiling (software adapters only)')
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments/config, 3 no WebGPU adapter, 5 GPU error.');

await runCli(async () => {
  const o = parseArgs<{
    preset?: string;
    config?: string;
    teacher?: string;
    teacherPreset?: string;
    method?: Method;
    tap?: number;
    warmup: number;
    mode?: 'timestamp' | 'replay';
    top: number;
    json?: string;
    html?: string;
    ceiling: boolean;
  }>(program);
  if (!o.preset === !o.config) {
    console.error('error: give exactly one of --preset NAME or --config FILE');
    return EXIT.usage;
  }
  if (o.teacher && o.teacherPreset) {
    console.error(`error: give at most one of --teacher CKPT and --teacher-preset NAME, got both (${o.teacher}, ${o.teacherPreset})`);
    return EXIT.usage;
  }
  const hasTeacher = Boolean(o.teacher || o.teacherPreset);
  if (hasTeacher !== (o.method !== undefined)) {
    console.error(
      hasTeacher
        ? `error: a teacher (${o.teacher ?? o.teacherPreset}) needs --method (one of ${METHODS.filter((m) => m !== 'none').join(', ')})`
        : `error: --method ${o.method} needs a teacher: --teacher CKPT or --teacher-preset NAME`,
    );
    return EXIT.usage;
  }
  if (o.tap !== undefined && !o.method?.startsWith('crosskd')) {
    console.error(`error: --tap is for --method crosskd or crosskd+pkd, got ${o.method ? `--method ${o.method}` : 'no --method'}`);
    return EXIT.usage;
  }
  const cfg: TrainConfig = o.preset ? presetConfig(o.preset) : parseConfig(readJsonFile(o.config!, 'config file'), o.config!);
  const teacherCfg = o.teacherPreset ? presetConfig(o.teacherPreset) : null; // validates the name before any GPU work
  for (const f of [o.json, o.html]) if (f) fs.mkdirSync(path.dirname(path.resolve(f)), { recursive: true });

  await E.init();
  const adapter = await E.describeAdapter();
  let teacher: Detector | null = null;
  const rig = stepRig(cfg, {
    setupExtraLoss: o.method
      ? (student) => {
          teacher = o.teacher ? loadTeacher(o.teacher) : initialTeacher(teacherCfg!);
          return distillationLoss(student, teacher, { method: o.method!, ...(o.tap !== undefined ? { tap: o.tap } : {}) });
        }
      : undefined,
  });
  try {
    const result = await profileStep(rig, { warmup: o.warmup, mode: o.mode });
    const fma = o.ceiling && adapter.isSoftware ? (await (await import('../bench/ceilings.ts')).measureCeilings()).fma_gflops : null;
    const who = o.method
      ? `${cfg.name} distilled (${o.method}${o.tap !== undefined ? `, tap ${o.tap}` : ''}) from ${o.teacher ?? `${o.teacherPreset} (initial weights)`}`
      : cfg.name;
    const title = `training step profile: ${who}, batch ${cfg.train.batchSize}`;
    console.log(`${title}\nadapter: ${adapter.vendor} / ${adapter.architecture} / ${adapter.description}\n`);
    console.log(formatStepProfile(result, { top: o.top, fmaCeiling: fma }));
    const meta = {
      title,
      config: cfg.name,
      method: o.method ?? null,
      batch: cfg.train.batchSize,
      adapter: adapter.description,
      date: new Date().toISOString(),
      fma_ceiling_gflops: fma,
    };
    if (o.json) {
      writeFileAtomic(o.json, JSON.stringify(stepProfileJson(result, meta), null, 1));
      console.log(`wrote ${o.json}`);
    }
    if (o.html) {
      writeFileAtomic(o.html, stepProfileHtml(result, title, { top: o.top, fmaCeiling: fma }));
      console.log(`wrote ${o.html}`);
    }
  } finally {
    rig.dispose();
    (teacher as Detector | null)?.dispose();
  }
  return EXIT.ok;
});
