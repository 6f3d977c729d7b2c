/**
 * Conventions every command-line script keeps (docs/usage.md): `--help` prints a
 * usage line and the exit codes and exits 0; a bad argument exits 2 (EXIT.usage) with a
 * one-line error; a config file is checked against the schema before anything runs, and
 * every unknown or mistyped key is reported with its path. No GPU work happens here.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../../detection/train/config.ts';
import { EXIT } from '../../scripts/cli.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The command-line scripts: every scripts/*.ts except the shared modules (cli.ts, fuzzTargets.ts), and the benchmark runner. */
const SCRIPTS = [
  ...fs
    .readdirSync(path.join(ROOT, 'scripts'))
    .filter((f) => f.endsWith('.ts') && f !== 'cli.ts' && f !== 'fuzzTargets.ts')
    .map((f) => `scripts/${f}`),
  'bench/run.ts',
].sort();

interface Run {
  script: string;
  code: number;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    // tsx as a loader in one Node process: half the start-up of the tsx command
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ script, code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Runs every script with `args`, two at a time (each start compiles its imports: about a second of CPU). */
async function runAll(args: string[]): Promise<Run[]> {
  const out: Run[] = [];
  for (let i = 0; i < SCRIPTS.length; i += 2) out.push(...(await Promise.all(SCRIPTS.slice(i, i + 2).map((s) => run(s, args)))));
  return out;
}

describe('command-line scripts', () => {
  it('are the ones this test knows to look for', () => {
    for (const s of [
      'scripts/train.ts',
      'scripts/eval.ts',
      'scripts/predict.ts',
      'scripts/demo.ts',
      'scripts/experiment.ts',
      'scripts/doctor.ts',
      'scripts/gradcheck.ts',
      'scripts/parity.ts',
      'scripts/bundle.ts',
      'scripts/build.ts',
      'bench/run.ts',
    ])
      expect(SCRIPTS).toContain(s);
  });

  it('--help: exit 0, a usage line, the options and the exit codes, nothing on stderr', async () => {
    for (const r of await runAll(['--help'])) {
      expect(r.code, `${r.script} --help: ${r.stderr}`).toBe(EXIT.ok);
      expect(r.stdout, r.script).toMatch(/^Usage: \S+.* \[options\]/m);
      expect(r.stdout, r.script).toMatch(/^Options:\n(.*\n)*\s+-h, --help\s+display help for command$/m);
      expect(r.stdout, `${r.script} lists its exit codes`).toMatch(/^Exit codes: 0 .*, 2 bad arguments/m);
      expect(r.stderr, r.script).toBe('');
    }
  });

  it('an unknown option: exit 2 (EXIT.usage) with one error line, before any work', async () => {
    for (const r of await runAll(['--no-such-option'])) {
      expect(r.code, `${r.script}: ${r.stdout}${r.stderr}`).toBe(EXIT.usage);
      // commander checks required options first, then unknown ones: either way one error line
      expect(r.stderr, r.script).toMatch(/^error: (unknown option '--no-such-option'|required option .* not specified)$/m);
      expect(r.stderr, r.script).not.toMatch(/^\s+at /m);
    }
  });

  it('train --config: every unknown and mistyped key is reported with its path, exit 2, before the GPU starts', async () => {
    const cfg = JSON.parse(JSON.stringify(presetConfig('tiny')));
    cfg.train.batchsize = 4; // unknown (batchSize)
    cfg.model.head.regmax = 16; // unknown (regMax)
    cfg.train.optimizer.lr = '0.01'; // a string, not a number
    cfg.data.synthetic.numVal = -8; // out of range, inside the data union
    cfg.data.synthetic.colour = 'red'; // unknown, inside the data union
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-cli-')), 'bad.json');
    fs.writeFileSync(file, JSON.stringify(cfg));
    const r = await run('scripts/train.ts', ['--config', file]);
    expect(r.code).toBe(EXIT.usage);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  '));
    expect(r.stderr).toContain(`error: ${file} is not a valid training config:`);
    expect(lines).toHaveLength(5);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}train: Unrecognized key: "batchsize" \(train\.batchsize\)$/),
        expect.stringMatching(/^ {2}model\.head: Unrecognized key: "regmax" \(model\.head\.regmax\)$/),
        expect.stringMatching(/^ {2}train\.optimizer\.lr: .*expected number, got "0\.01"$/),
        expect.stringMatching(/^ {2}data\.synthetic\.numVal: .*>0/),
        expect.stringMatching(/^ {2}data\.synthetic: Unrecognized key: "colour" \(data\.synthetic\.colour\)$/),
      ]),
    );
    expect(r.stdout).not.toMatch(/step|adapter/i);
  });
});
