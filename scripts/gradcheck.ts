/**
 * `npm run gradcheck [-- --op ID ... --json FILE]`: every case of every OpSpec in
 * engine/checks/registry.ts — GPU forward and backward against the float64 reference, and
 * the reference's vjp against finite differences. Prints a table and `N passed, M failed`;
 * exits 1 when a case fails.
 */
import { Command } from 'commander';
import { describeAdapter, init, NoAdapterError } from '../engine/index.ts';
import { EXIT, exitWithUsageCode } from './cli.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { fmtNum } from '../engine/checks/compare.ts';
import { gradcheckAll, type GradcheckResult } from '../engine/checks/gradcheck.ts';
import { allSpecs, specById } from '../engine/checks/registry.ts';

const opts = new Command()
  .name('npm run gradcheck --')
  .description(
    'Check every op against its float64 reference: GPU forward (fwd err), GPU backward (bwd err) and the ' +
      "reference's vjp against central finite differences (fd err). Errors are max|gpu - ref| / max|ref|.",
  )
  .option('--op <id...>', 'only these op ids')
  .option('--json <file>', 'also write the results as JSON to FILE')
  .option('--verbose', 'print per-array errors of every case, not only of failures')
  .addHelpText('after', '\nExit codes: 0 ok, 1 a check failed, 2 bad arguments or input files, 3 no WebGPU adapter.')
  .exitOverride(exitWithUsageCode)
  .parse()
  .opts<{ op?: string[]; json?: string; verbose?: boolean }>();

const COLS: [string, number][] = [
  ['op', 20],
  ['case', 36],
  ['fwd err', 9],
  ['bwd err', 9],
  ['fd err', 9],
  ['tol fwd/bwd', 17],
  ['pass', 4],
];

function row(cells: string[]): string {
  return cells.map((s, i) => (i < cells.length - 1 ? s.padEnd(COLS[i][1]) : s)).join(' ');
}

async function main(): Promise<number> {
  let specs = allSpecs;
  if (opts.op) {
    try {
      specs = opts.op.map(specById);
    } catch (e) {
      console.error(`error: --op: ${(e as Error).message}`);
      return EXIT.usage;
    }
  }
  try {
    await init();
  } catch (e) {
    if (e instanceof NoAdapterError) {
      console.error(e.message);
      return EXIT.noAdapter;
    }
    throw e;
  }
  console.log(row(COLS.map(([h]) => h)));
  const results: GradcheckResult[] = await gradcheckAll(specs, (r) => {
    console.log(
      row([r.op, r.case, fmtNum(r.fwd_err), fmtNum(r.bwd_err), fmtNum(r.fd_err), `${fmtNum(r.tol.fwd)}/${fmtNum(r.tol.bwd)}`, r.pass ? 'ok' : 'FAIL']),
    );
    if (!r.pass || opts.verbose) console.log(`    ${r.detail}`);
  });
  const passed = results.filter((r) => r.pass).length;
  const failed = results.length - passed;
  if (opts.json) {
    const adapter = await describeAdapter();
    const out = results.map(({ op, case: name, pass, fwd_err, bwd_err, fd_err, tol, error }) => ({
      op,
      case: name,
      pass,
      fwd_err,
      bwd_err,
      fd_err,
      tol,
      ...(error ? { error } : {}),
    }));
    writeFileAtomic(opts.json, `${JSON.stringify({ adapter, results: out }, null, 2)}\n`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? EXIT.failed : EXIT.ok;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
