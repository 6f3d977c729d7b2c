/**
 * npm run build [-- --out DIR]: the package as package.json's `exports` map describes it.
 *
 *   DIR/lib/{engine,io,detection,crosskd}.js  Node ES modules (esbuild); the entries share
 *       one copy of the engine through split chunks, every kernel is inlined (no file
 *       reads at run time), and the npm dependencies stay imports
 *   DIR/engine.browser.js  the browser bundle of `npm run bundle` (navigator.gpu)
 *   DIR/types/**.d.ts      declarations from the TypeScript sources (tsc, tsconfig.build.json)
 *
 * The project itself runs its TypeScript directly (tsx); the build is what another
 * package imports.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import * as esbuild from 'esbuild';
import { bundleEngine, collectKernelSources } from './bundle.ts';
import { EXIT, exitWithUsageCode, runCli } from './cli.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The Node entry points: output name → source. */
export const NODE_ENTRIES: Record<string, string> = {
  engine: 'engine/index.ts',
  io: 'engine/io/index.ts',
  detection: 'detection/index.ts',
  crosskd: 'crosskd/index.ts',
};

/** Registers every kernel at the end of kernelSources.ts, so built code never reads kernels/ from disk. */
const inlineKernelsPlugin: esbuild.Plugin = {
  name: 'inline-kernels',
  setup(build) {
    build.onLoad({ filter: /[\\/]engine[\\/]kernelSources\.ts$/ }, (args) => ({
      contents: `${fs.readFileSync(args.path, 'utf8')}\nregisterKernelSources(${JSON.stringify(collectKernelSources())});\n`,
      loader: 'ts',
    }));
  },
};

export async function buildPackage(outDir: string, log: (m: string) => void = () => {}): Promise<void> {
  fs.rmSync(outDir, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.entries(NODE_ENTRIES).map(([out, src]) => ({ out, in: src })),
    outdir: path.join(outDir, 'lib'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    plugins: [inlineKernelsPlugin],
    logLevel: 'warning',
  });
  log(`wrote ${path.join(outDir, 'lib')}: ${Object.keys(NODE_ENTRIES).join(', ')} (Node)`);
  await bundleEngine(path.join(outDir, 'engine.browser.js'));
  log(`wrote ${path.join(outDir, 'engine.browser.js')} (browser)`);
  const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
  try {
    execFileSync(tsc, ['-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(outDir, 'types')], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`declarations (tsc -p tsconfig.build.json) failed:\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`);
  }
  // the declarations use the WebGPU types (GPUBuffer, ...): each entry pulls them in
  for (const entry of [...Object.values(NODE_ENTRIES), 'engine/browser.ts']) {
    const dts = path.join(outDir, 'types', entry.replace(/\.ts$/, '.d.ts'));
    fs.writeFileSync(dts, `/// <reference types="@webgpu/types" />\n${fs.readFileSync(dts, 'utf8')}`);
  }
  log(`wrote ${path.join(outDir, 'types')} (declarations)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const program = new Command()
    .name('build')
    .description('Build the package: Node ES modules, the browser bundle and type declarations (what package.json exports).')
    .option('--out <dir>', 'output folder', path.join(root, 'dist'))
    .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments or the build failed (the message says where).')
    .exitOverride(exitWithUsageCode);
  await runCli(async () => {
    program.parse();
    await buildPackage(path.resolve(program.opts<{ out: string }>().out), (m) => console.log(m));
    return EXIT.ok;
  });
}
