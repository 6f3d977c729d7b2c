/** npm run experiment -- --preset quick|full [--seeds N] [--json FILE] [--out DIR] [--teacher FILE] */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { EXPERIMENT_PRESETS, runExperiment } from '../crosskd/experiment.ts';
import { EXIT, runCli } from './cli.ts';

const program = new Command()
  .name('experiment')
  .description('Teacher, then the student with each distillation method; writes a markdown table, JSON, loss plots and report.html.')
  .requiredOption('--preset <name>', `one of ${Object.keys(EXPERIMENT_PRESETS).join(', ')}`)
  .option('--seeds <n>', 'seeds per configuration (quick: 1, full: 3)', (v) => Number.parseInt(v, 10))
  .option('--json <file>', 'also write the results JSON here')
  .option('--out <dir>', 'output folder (default runs/experiment-<preset>)')
  .option('--teacher <sidecar>', 'use this teacher checkpoint instead of the cached one')
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments, 3 no WebGPU adapter, 4 non-finite loss, 5 GPU error.')
  // commander's own argument errors exit with 2 like ours (its default is 1)
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

await runCli(async () => {
  program.parse();
  const o = program.opts<{ preset: string; seeds?: number; json?: string; out?: string; teacher?: string }>();
  const outDir = o.out ?? path.join('runs', `experiment-${o.preset}`);
  const started = performance.now();
  const r = await runExperiment({ preset: o.preset, seeds: o.seeds, outDir, teacherCheckpoint: o.teacher, progress: process.stdout.isTTY === true });
  console.log(`\n${r.markdown}`);
  console.log(`took ${((performance.now() - started) / 60000).toFixed(1)} min; results in ${outDir}/`);
  if (o.json) fs.writeFileSync(o.json, fs.readFileSync(path.join(outDir, 'experiment.json')));
  return EXIT.ok;
});
