// The npm scripts' launcher: `node scripts/launch.mjs SCRIPT.ts ARGS...` runs the script
// under tsx in a child process (`node scripts/launch.mjs COMMAND ARGS...`, e.g. `vitest
// run`, runs a command from the PATH) and passes its stderr through, minus the two warnings Dawn
// prints when it opens an adapter ("maxDynamic{Uniform,Storage}BuffersPerPipelineLayout
// artificially reduced ... to fit dynamic offset allocation limit"). Dawn writes them from
// native code straight to file descriptor 2, where no JavaScript hook can reach, and
// offers no switch to silence them; they describe a limit the engine never comes near
// (it uses one dynamic uniform buffer per pipeline). stdin and stdout are the terminal's
// own, so progress bars (written to stdout) still see a TTY. The child's exit code (or
// signal) is the launcher's.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const DAWN_LIMIT_WARNING =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: node scripts/launch.mjs SCRIPT.ts|COMMAND [ARGS...]');
  process.exit(2);
}

const [command, commandArgs] = script.endsWith('.ts') ? [process.execPath, ['--import', 'tsx', script, ...args]] : [script, args];
const child = spawn(command, commandArgs, { stdio: ['inherit', 'inherit', 'pipe'] });
child.on('error', (e) => {
  console.error(`launch: cannot run ${script}: ${e.message}`);
  process.exit(127);
});
createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
  if (!DAWN_LIMIT_WARNING.test(line)) process.stderr.write(`${line}\n`);
});

// Ctrl-C reaches the whole process group, the child included: the launcher waits for the
// child's exit instead of dying first. Signals sent to the launcher alone are passed on.
process.on('SIGINT', () => {});
for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));

child.on('close', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
