/** npm run experiment -- --preset NAME [--seeds N] [--json FILE] [--out DIR] [--teacher FILE] [--report-only] */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { EXPERIMENT_PRESETS, runExperiment } from '../crosskd/experiment.ts';
import { EXIT, exitWithUsageCode, intArg, runCli } from './cli.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';

const program = new Command()
  .name('experiment')
  .description('Teacher, then the student with each distillation method; writes a markdown table, JSON, loss plots and report.html.')
  .requiredOption('--preset <name>', `one of ${Object.keys(EXPERIMENT_PRESETS).join(', ')}`)
  .option(
    '--seeds <n>',
    'seeds per configuration (full: 3; converged: 2 for baseline, mimicking and CrossKD; the others: 1); several seeds are tabulated as mean ± std',
    intArg(1),
  )
  .option('--json <file>', 'also write the results JSON here')
  .option('--out <dir>', 'output folder (default runs/experiment-<preset>)')
  .option('--teacher <sidecar>', 'use this checkpoint as the GFL teacher instead of the cached one')
  .option('--report-only', "train nothing: rebuild the tables and report from the study's record (converged), listing the runs not trained yet")
  .addHelpText(
    'after',
    [
      '',
      'Presets (estimated times on a 2-core machine with lavapipe alone, printed as the plan at the start; teachers are',
      'cached in .cache/teachers and reused, the generated data in .cache/data):',
      '  quick     the method comparison on GFL (baseline, pred_mimic, pkd, crosskd, crosskd+pkd): ~26 min from scratch',
      "  taps      CrossKD at tap 0…4: ~18 min with quick's teacher cached (~28 without)",
      '  conflict  direct mimicking vs CrossKD from a RetinaNet teacher (max-IoU assigner) and from the GFL teacher (ATSS)',
      "            for a GFL student: ~25 min with quick's teacher cached",
      '  hetero    a plain-backbone teacher for the ResNet student: ~19 min',
      '  heads     CrossKD on ATSS, RetinaNet and FCOS (teacher, baseline and CrossKD each): ~50 min',
      "  full      all of the above at the training presets' 16-epoch schedule, 3 seeds (mean ± std): ~48 h here",
      '  converged the 16-epoch quick-teacher; 16-epoch students with each method (2 seeds for baseline, mimicking and',
      '            CrossKD), CrossKD taps 0…4 and a 16-epoch RetinaNet teacher (mimicking vs CrossKD), each student',
      '            evaluated after epoch 1 and every 2 epochs: ~6 h here, over several sittings (rerun to continue;',
      '            its record in docs/results/converged lets a fresh clone continue; --report-only tabulates it)',
      '  smoke     seconds, for tests',
      '',
      'Exit codes: 0 ok, 2 bad arguments, 3 no WebGPU adapter, 4 non-finite loss, 5 GPU error.',
    ].join('\n'),
  )
  .exitOverride(exitWithUsageCode);

await runCli(async () => {
  program.parse();
  const o = program.opts<{ preset: string; seeds?: number; json?: string; out?: string; teacher?: string; reportOnly?: boolean }>();
  const outDir = o.out ?? path.join('runs', `experiment-${o.preset}`);
  const started = performance.now();
  const r = await runExperiment({
    preset: o.preset,
    seeds: o.seeds,
    outDir,
    teacherCheckpoint: o.teacher,
    reportOnly: o.reportOnly,
    progress: process.stdout.isTTY === true,
  });
  console.log(`\n${r.markdown}`);
  console.log(`took ${((performance.now() - started) / 60000).toFixed(1)} min; results in ${outDir}/`);
  if (o.json) writeFileAtomic(o.json, fs.readFileSync(path.join(outDir, 'experiment.json')));
  return EXIT.ok;
});
