/**
 * npm run bundle [-- --out FILE]: the engine for browsers, one ES module (esbuild), with
 * every kernel of kernels/ inlined by a plugin that serves `virtual:kernel-sources`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** name → WGSL text for kernels/**\/*.wgsl ('binary', 'lib/index', ...). */
export function collectKernelSources(dir = path.join(root, 'kernels')): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.wgsl'))
        out[
          path
            .relative(dir, p)
            .replace(/\\/g, '/')
            .replace(/\.wgsl$/, '')
        ] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

const kernelSourcesPlugin: esbuild.Plugin = {
  name: 'kernel-sources',
  setup(build) {
    build.onResolve({ filter: /^virtual:kernel-sources$/ }, () => ({ path: 'kernel-sources', namespace: 'virtual' }));
    build.onLoad({ filter: /.*/, namespace: 'virtual' }, () => ({
      contents: `export default ${JSON.stringify(collectKernelSources())};`,
      loader: 'js',
      watchFiles: Object.keys(collectKernelSources()).map((k) => path.join(root, 'kernels', `${k}.wgsl`)),
    }));
  },
};

/**
 * esbuild options for one browser ES module from `entry`, kernels inlined. The entry must
 * import engine/browser.ts (which registers the kernels) before using the engine.
 */
export function browserBuildOptions(entry: string, outfile: string) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    // Dawn (and V8's gc for it) is the Node path only; in a browser navigator.gpu is used and these imports never run
    external: ['webgpu', 'node:v8', 'node:vm'],
    plugins: [kernelSourcesPlugin],
    logLevel: 'warning',
  } satisfies esbuild.BuildOptions;
}

export async function bundleEngine(outfile: string, entry = path.join(root, 'engine/browser.ts')): Promise<void> {
  await esbuild.build(browserBuildOptions(entry, outfile));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // loaded here, not at the top: importers of bundleEngine need neither
  const { Command } = await import('commander');
  const { EXIT, exitWithUsageCode, runCli } = await import('./cli.ts');
  const program = new Command()
    .name('bundle')
    .description('The engine for browsers: one ES module (esbuild) with every kernel of kernels/ inlined.')
    .option('--out <file>', 'output file', path.join(root, 'dist/engine.browser.js'))
    .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments or the bundle failed (the message says why).')
    .exitOverride(exitWithUsageCode);
  await runCli(async () => {
    program.parse();
    const out = program.opts<{ out: string }>().out;
    await bundleEngine(out);
    console.log(`wrote ${out} (${(fs.statSync(out).size / 1024).toFixed(0)} KiB, ${Object.keys(collectKernelSources()).length} kernels inlined)`);
    return EXIT.ok;
  });
}
