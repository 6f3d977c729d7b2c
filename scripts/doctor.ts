/**
 * `npm run doctor [-- --json]`: which WebGPU adapter this machine gives the engine — vendor,
 * architecture, device, description, software or hardware, limits and features — with
 * the Node and `webgpu` package versions. Exits 3 (EXIT.noAdapter) with NoAdapterError's fix when none.
 */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { describeAdapter, init, NoAdapterError } from '../engine/index.ts';
import { EXIT, exitWithUsageCode } from './cli.ts';

const opts = new Command()
  .name('npm run doctor --')
  .description('Print the WebGPU adapter the engine runs on, its limits and features.')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExit codes: 0 an adapter is usable, 2 bad arguments, 3 no WebGPU adapter (the message says how to get one).')
  .exitOverride(exitWithUsageCode)
  .parse()
  .opts<{ json?: boolean }>();

function packageVersion(name: string): string | null {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  const versions = { node: process.version, webgpu: packageVersion('webgpu'), platform: `${process.platform}-${process.arch}` };
  try {
    await init();
  } catch (e) {
    if (!(e instanceof NoAdapterError)) throw e;
    if (opts.json) console.log(JSON.stringify({ ok: false, error: e.message, ...versions }, null, 2));
    else console.error(e.message);
    return EXIT.noAdapter;
  }
  const a = await describeAdapter();
  if (opts.json) {
    console.log(JSON.stringify({ ok: true, adapter: a, ...versions }, null, 2));
    return 0;
  }
  const kind = a.isSoftware ? 'software (a CPU implementation: expect CPU speed)' : 'hardware';
  const out = [
    'WebGPU adapter',
    `  vendor        ${a.vendor || '—'}`,
    `  architecture  ${a.architecture || '—'}`,
    `  device        ${a.device || '—'}`,
    `  description   ${a.description || '—'}`,
    `  kind          ${kind}`,
    '',
    `node ${versions.node} (${versions.platform}), webgpu package ${versions.webgpu ?? 'not found'}`,
    '',
    'limits',
    ...Object.entries(a.limits)
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([k, v]) => `  ${k.padEnd(44)} ${v}`),
    '',
    `features (${a.features.length})`,
    ...a.features.map((f) => `  ${f}`),
  ];
  console.log(out.join('\n'));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
