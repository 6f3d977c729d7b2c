/**
 * `npm run bench [-- --quick] [--filter TEXT] [--json FILE]`: every workload of
 * bench/workloads on our engine and on TF.js's WebGPU backend, same process, same adapter.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { FULL_TIMING, QUICK_TIMING, formatTable, measure, type Row, type TimingOptions } from './harness.ts';
import { loadTfjs, setupNavigatorGpu, type TfjsInfo } from './tfjs.ts';
import { workloads } from './workloads/index.ts';
import { EXIT, exitWithUsageCode, intArg } from '../scripts/cli.ts';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';

const program = new Command()
  .name('npm run bench --')
  .description('Kernel benchmarks: our engine beside TensorFlow.js (WebGPU backend) on the same adapter.')
  .option('--json <file>', 'also write {header, rows} as JSON to FILE')
  .option(
    '--quick',
    `short run: ${QUICK_TIMING.warmup} warm-up + ${QUICK_TIMING.iterations} timed iterations (default ${FULL_TIMING.warmup} + ${FULL_TIMING.iterations})`,
  )
  .option('--filter <text>', 'only workloads whose name contains TEXT (case-insensitive)')
  .option('--iterations <n>', 'timed iterations per side (median is reported)', intArg(1))
  .option('--no-tfjs', 'measure our engine only')
  .option('--markdown', 'print the table as Markdown (for bench/RESULTS.md)')
  .addHelpText('after', '\nExit codes: 0 ok, 1 a measurement failed, 2 bad arguments, 3 no WebGPU adapter.')
  .exitOverride(exitWithUsageCode)
  .parse();

const opts = program.opts<{ json?: string; quick?: boolean; filter?: string; iterations?: number; tfjs: boolean; markdown?: boolean }>();

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1];
  } catch {
    // not Linux: fall back to the kernel name
  }
  return `${os.type()} ${os.release()}`;
}

function packageVersion(name: string): string | null {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  const timing: TimingOptions = { ...(opts.quick ? QUICK_TIMING : FULL_TIMING) };
  if (opts.iterations !== undefined) timing.iterations = opts.iterations;
  const filter = opts.filter?.toLowerCase();
  const selected = workloads.filter((w) => !filter || w.name.toLowerCase().includes(filter));
  if (selected.length === 0) {
    console.error(
      `error: no workload matches --filter '${opts.filter}' (case-insensitive substring of a name). Workloads:\n  ${workloads.map((w) => w.name).join('\n  ')}`,
    );
    return EXIT.usage;
  }

  // One GPU object on navigator.gpu first: the engine and TF.js then share its adapter.
  await setupNavigatorGpu();
  const E = await import('../engine/index.ts');
  try {
    await E.init();
  } catch (e) {
    if (e instanceof E.NoAdapterError) {
      console.error(e.message);
      return EXIT.noAdapter;
    }
    throw e;
  }
  const adapter = await E.describeAdapter();
  let tfjs: TfjsInfo | null = null;
  let tfjsError: string | null = null;
  if (opts.tfjs) {
    try {
      tfjs = await loadTfjs();
    } catch (e) {
      tfjsError = (e as Error).message;
    }
  }

  // Measured before TF.js has allocated anything, with the machine otherwise idle.
  const ceilings = adapter.isSoftware ? await (await import('./ceilings.ts')).measureCeilings() : null;

  const header = {
    date: new Date().toISOString(),
    adapter: {
      vendor: adapter.vendor,
      architecture: adapter.architecture,
      device: adapter.device,
      description: adapter.description,
      isSoftware: adapter.isSoftware,
    },
    tfjs: tfjs ? { version: tfjs.version, backend: tfjs.backend, adapter: tfjs.adapter } : { error: tfjsError ?? 'not run (--no-tfjs)' },
    machine: {
      os: osName(),
      kernel: `${os.type()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)),
      loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    },
    node: process.version,
    webgpu: packageVersion('webgpu'),
    timing,
    ceilings,
  };

  const a = header.adapter;
  console.log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.isSoftware ? 'software' : 'hardware'})`);
  if (tfjs) {
    console.log(`tfjs:    ${tfjs.version}, backend '${tfjs.backend}' on ${tfjs.adapter.vendor} / ${tfjs.adapter.architecture}`);
    if (tfjs.adapter.vendor !== adapter.vendor || tfjs.adapter.architecture !== adapter.architecture)
      console.warn('bench: warning: TF.js reports a different adapter from ours; ratios are not comparable');
  } else console.log(`tfjs:    ${tfjsError ? `failed to load: ${tfjsError}` : 'not run'}`);
  const m = header.machine;
  console.log(`machine: ${m.os}, ${m.cpus} × ${m.cpu_model}, load ${m.loadavg.join(' ')}; node ${header.node}, webgpu ${header.webgpu}`);
  if (ceilings)
    console.log(
      `ceiling: FMA probe ${ceilings.fma_gflops.toFixed(1)} GFLOP/s, streaming copy ${ceilings.copy_gbps.toFixed(2)} GB/s (bench/ceilings.ts; 'of ceiling' is against these)`,
    );
  console.log(`timing:  median of ${timing.iterations} after ${timing.warmup} warm-up, each iteration waits for the GPU\n`);

  const rows: Row[] = [];
  for (const w of selected) {
    process.stderr.write(`  ${w.name} (${w.pass}) ...`);
    const t0 = performance.now();
    rows.push(await measure(w, { ...timing, tf: tfjs?.tf ?? null, ceilings }));
    process.stderr.write(` ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  console.log(`\n${formatTable(rows, opts.markdown)}`);

  if (opts.json) {
    mkdirSync(dirname(opts.json), { recursive: true });
    writeFileAtomic(opts.json, `${JSON.stringify({ header, rows }, null, 2)}\n`);
    console.log(`\nwrote ${opts.json}`);
  }
  const failed = rows.filter((r) => r.ours_ms === null);
  if (failed.length) {
    console.error(`\nbench: ${failed.length} workload(s) failed on our engine: ${failed.map((r) => r.workload).join(', ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
