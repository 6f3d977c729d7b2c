/** npm run fuzz -- [--iterations N] [--seed S] [--target NAME...] [--json FILE] */
import { Command, Option } from 'commander';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { FUZZ_TARGETS, fuzzReaders } from './fuzzTargets.ts';
import { EXIT, intArg, parseArgs, runCli, textTable } from './cli.ts';

const program = new Command()
  .name('fuzz')
  .description(
    'Feeds each reader of untrusted files mutated inputs from a fixed seed; every input must be read or refused with a clear error, in bounded time.',
  )
  .option('--iterations <n>', 'inputs per reader (the test suite runs 1500)', intArg(1), 20000)
  .option('--seed <s>', "the mutations' seed", intArg(0), 1)
  .addOption(new Option('--target <name...>', 'only these readers').choices(FUZZ_TARGETS.map((t) => t.name)))
  .option('--max-ms <ms>', 'time bound per input', intArg(1), 1000)
  .option('--json <file>', 'write the reports (failures with their inputs in base64) here')
  .addHelpText('after', '\nExit codes: 0 every input read or refused clearly, 1 a failure (listed), 2 bad arguments.');

await runCli(async () => {
  const o = parseArgs<{ iterations: number; seed: number; target?: string[]; maxMs: number; json?: string }>(program);
  const reports = fuzzReaders({ iterations: o.iterations, seed: o.seed, targets: o.target, maxMsPerInput: o.maxMs });
  const rows = reports.map((r) => [r.target, String(r.iterations), String(r.read), String(r.refused), String(r.failures.length), r.slowestMs.toFixed(1)]);
  console.log(textTable(['reader', 'inputs', 'read', 'refused clearly', 'failures', 'slowest ms'], rows, [false, true, true, true, true, true]));
  for (const r of reports)
    for (const f of r.failures)
      console.log(`${r.target} #${f.iteration} (${f.mutation}): ${f.problem}\n  input (base64): ${f.input.slice(0, 200)}${f.input.length > 200 ? '…' : ''}`);
  if (o.json) writeFileAtomic(o.json, JSON.stringify(reports, null, 1));
  return reports.some((r) => r.failures.length > 0) ? EXIT.failed : EXIT.ok;
});
