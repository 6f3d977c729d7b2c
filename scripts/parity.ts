/**
 * `npm run parity -- FILE...`: runs op case files (the format of docs/op-cases.md) through
 * the engine and checks every output and gradient with the docs/op-cases.md pass rule. One line
 * per case with its worst ratio err/(tol·max|ref|), then `N passed, M failed`; exits 1
 * when any case fails or a file cannot be parsed, 2 when a file does not exist, 3 when
 * there is no WebGPU adapter.
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { init, NoAdapterError } from '../engine/index.ts';
import { runParityFiles } from '../engine/checks/parity.ts';
import { EXIT, exitWithUsageCode } from './cli.ts';

const program = new Command()
  .name('npm run parity --')
  .description(
    'Check op case files (schema_version 1, see docs/op-cases.md) against the engine on WebGPU. A case passes when, for ' +
      'every output and gradient, max|got - ref| <= tol * max|ref| with tol = max(1e-5, 10 * error_vs_float64.max_rel_to_max); ' +
      'null gradients must come out exactly zero or absent.',
  )
  .argument('<files...>', 'case files (JSON)')
  .addHelpText(
    'after',
    '\nExit codes: 0 every case passed, 1 a case failed or a file could not be parsed, 2 bad arguments (a file that does not exist), 3 no WebGPU adapter.',
  )
  .exitOverride(exitWithUsageCode)
  .parse();

async function main(files: string[]): Promise<number> {
  const missing = files.filter((f) => !fs.existsSync(f) || !fs.statSync(f).isFile());
  if (missing.length > 0) {
    console.error(`error: case file${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')} (expected JSON case files, see docs/op-cases.md)`);
    return EXIT.usage;
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
  const { failed } = await runParityFiles(files);
  return failed > 0 ? EXIT.failed : EXIT.ok;
}

main(program.args).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
