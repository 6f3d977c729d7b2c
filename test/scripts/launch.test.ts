/**
 * scripts/launch.mjs, the npm scripts' launcher: it drops exactly Dawn's two adapter-limit
 * warnings from stderr, passes everything else through, and keeps the script's exit code
 * and arguments; a signal sent to it reaches the script.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURE = 'test/scripts/fixtures/noisyScript.ts';

function launch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/launch.mjs', FIXTURE, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('scripts/launch.mjs', () => {
  it('drops the two Dawn warnings, keeps every other line, the arguments and the exit code', async () => {
    const r = await launch(['7', '--flag', 'a b']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('args ["7","--flag","a b"]\n');
    expect(r.stderr).toBe(
      'error: something the user must see\nWarning: maxDynamicUniformBuffersPerPipelineLayout is mentioned here but this is another message\n',
    );
    expect((await launch(['0'])).code).toBe(0);
  });

  it('runs a command from the PATH, and says so when there is none', async () => {
    const ok = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, ['scripts/launch.mjs', 'node', '-e', 'console.log(42); process.exit(3)'], { cwd: ROOT }, (err, stdout) =>
        resolve({ code: err ? (err.code as number) : 0, stdout }),
      ),
    );
    expect(ok).toEqual({ code: 3, stdout: '42\n' });
    const missing = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, ['scripts/launch.mjs', 'no-such-command-here'], { cwd: ROOT }, (err, _o, stderr) =>
        resolve({ code: err ? (err.code as number) : 0, stderr }),
      ),
    );
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^launch: cannot run no-such-command-here: spawn no-such-command-here ENOENT$/m);
  });

  it('passes SIGTERM on to the script and ends by it', async () => {
    const child = spawn(process.execPath, ['scripts/launch.mjs', FIXTURE, 'hang'], { cwd: ROOT });
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => ((out += d), out.includes('args') && resolve())));
    child.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    expect(code).toBeNull();
    expect(signal).toBe('SIGTERM');
  });

  it('runs every npm script that starts a TypeScript file', () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const [name, cmd] of Object.entries(scripts))
      if (/\.ts\b/.test(cmd)) expect(cmd, `npm run ${name}`).toMatch(/^node scripts\/launch\.mjs (scripts|bench)\/\w+\.ts$/);
    expect(scripts.test).toBe('node scripts/launch.mjs vitest run');
  });
});
