/**
 * The package as another project sees it: `npm run build` output installed under a
 * node_modules folder, every target of package.json's `exports` present, the Node entries
 * importable by plain Node (one engine shared by all of them, kernels inlined), and their
 * declarations type-checking a consumer under Node's module resolution. Also docs/library.md's
 * library example (examples/api.ts), run as a user runs it.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../scripts/build.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | Record<string, string>> };

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('the built package', () => {
  // inside the repository, so that the package's own dependencies resolve from its node_modules
  const home = path.join(ROOT, '.cache', `package-test-${process.pid}`);
  const installed = path.join(home, 'node_modules', pkg.name);

  beforeAll(async () => {
    fs.rmSync(home, { recursive: true, force: true });
    fs.mkdirSync(installed, { recursive: true });
    await buildPackage(path.join(installed, 'dist'));
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(installed, 'package.json'));
    // the consumer is its own package (else Node would resolve the name to this repository itself)
    fs.writeFileSync(path.join(home, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  });
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  it('has a file for every target of the exports map (the built ones in the package, the source ones in the repository)', () => {
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './browser', './crosskd', './detection', './io', './package.json']);
    for (const [entry, targets] of Object.entries(pkg.exports)) {
      if (typeof targets === 'string') continue;
      expect(Object.keys(targets), entry).toContain('types');
      expect(Object.keys(targets).at(-1), `${entry}: 'default' comes last`).toBe('default');
      for (const [condition, target] of Object.entries(targets)) {
        const base = condition === 'crosskd-source' ? ROOT : installed;
        expect(fs.existsSync(path.join(base, target)), `${entry} → ${condition}: ${target}`).toBe(true);
      }
    }
  });

  it('imports under plain Node: one engine behind every entry, kernels inlined, computing on the GPU', async () => {
    fs.writeFileSync(
      path.join(home, 'consumer.mjs'),
      `
import * as engine from '${pkg.name}';
import * as io from '${pkg.name}/io';
import * as detection from '${pkg.name}/detection';
import * as crosskd from '${pkg.name}/crosskd';
await engine.init();
const head = new detection.GFLHead({ numClasses: 2, inChannels: 8, featChannels: 8, stackedConvs: 1, gnGroups: 2, regMax: 4, numLevels: 1 }, new engine.InitSeeds(1));
// a tensor made through the main entry, run through a module of the detection entry:
// works only if both use the same engine (and its initialised device)
const out = head.forward([engine.randNormal([1, 8, 4, 4], 3)]);
console.log(JSON.stringify({
  sum: await engine.sum(engine.mul(engine.tensor([1, 2, 3]), engine.tensor([4, 5, 6]))).item(),
  clsShape: out.cls[0].shape,
  exports: {
    engine: ['init', 'tensor', 'backward', 'Conv2d', 'SGD', 'encodeSafetensors'].filter((k) => typeof engine[k] === 'function'),
    io: ['saveWeights', 'loadWeights', 'saveCheckpoint'].filter((k) => typeof io[k] === 'function'),
    detection: ['Detector', 'GFLHead', 'train', 'evaluateCoco', 'buildRunReport'].filter((k) => typeof detection[k] === 'function'),
    crosskd: ['crossHeadForward', 'gflKdLosses', 'trainWithDistillation'].filter((k) => typeof crosskd[k] === 'function'),
  },
}));
`,
    );
    const r = await run(process.execPath, ['consumer.mjs'], home);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(got.sum).toBe(32);
    expect(got.clsShape).toEqual([1, 2, 4, 4]);
    expect(got.exports).toEqual({
      engine: ['init', 'tensor', 'backward', 'Conv2d', 'SGD', 'encodeSafetensors'],
      io: ['saveWeights', 'loadWeights', 'saveCheckpoint'],
      detection: ['Detector', 'GFLHead', 'train', 'evaluateCoco', 'buildRunReport'],
      crosskd: ['crossHeadForward', 'gflKdLosses', 'trainWithDistillation'],
    });
    // the kernels travel inside the build: no kernels/ folder next to it
    expect(fs.existsSync(path.join(installed, 'kernels'))).toBe(false);
  });

  it("its declarations type-check a consumer under Node's module resolution, and reject a wrong call", async () => {
    fs.writeFileSync(
      path.join(home, 'consumer.ts'),
      `
import { init, tensor, SGD, type Tensor } from '${pkg.name}';
import { init as browserInit } from '${pkg.name}/browser';
import { loadWeights } from '${pkg.name}/io';
import { GFLHead, type CocoEvalResult } from '${pkg.name}/detection';
import { gflKdLosses } from '${pkg.name}/crosskd';
export async function main(): Promise<number> {
  await init();
  await browserInit();
  const t: Tensor = tensor([1, 2, 3], [3]);
  const opt = new SGD([['t', t]], { lr: 0.1, momentum: 0, weightDecay: 0 });
  const metadata: Record<string, string> = loadWeights(new GFLHead({ numClasses: 1, inChannels: 8, featChannels: 8, stackedConvs: 1, gnGroups: 2, regMax: 4, numLevels: 1 }, null as never), 'w.safetensors');
  const ap: number = ({} as CocoEvalResult).mAP50;
  // @ts-expect-error: tensor() takes numbers, not strings (the declarations are real types, not any)
  tensor('not numbers');
  void gflKdLosses;
  void opt;
  return ap + Object.keys(metadata).length;
}
`,
    );
    fs.writeFileSync(
      path.join(home, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    );
    const r = await run(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], home);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe("docs/library.md's example", () => {
  it('is examples/api.ts, word for word', () => {
    const example = fs.readFileSync(path.join(ROOT, 'examples', 'api.ts'), 'utf8');
    const code = example.slice(example.indexOf('import {')).trimEnd();
    expect(fs.readFileSync(path.join(ROOT, 'docs', 'library.md'), 'utf8')).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });

  it('runs (examples/api.ts): eight CrossKD steps on a head PyTorch wrote, the loss going down', async () => {
    const r = await run('npx', ['tsx', '--conditions=crosskd-source', 'examples/api.ts'], ROOT);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const losses = [...r.stdout.matchAll(/^step (\d) CrossKD loss (\d+\.\d+)$/gm)].map((m) => Number(m[2]));
    expect(losses).toHaveLength(8);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(losses[7]).toBeLessThan(losses[0]);
  });
});
