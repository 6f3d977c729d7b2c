/** npm run soak -- --steps N [--json FILE]: trains N steps and checks that GPU memory stays flat. */
import { Command } from 'commander';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import { soak } from '../detection/train/soak.ts';
import { EXIT, intArg, parseArgs, runCli } from './cli.ts';

const program = new Command()
  .name('soak')
  .description(
    'Train a small detector for N steps, sampling live tensors, bytes in use and bytes pooled; ' +
      'after the warm-up all three must stay flat (a leak makes them grow).',
  )
  .requiredOption('--steps <n>', 'training steps', intArg(1))
  .option('--every <n>', 'sample every n steps', intArg(1), 50)
  .option('--warmup <n>', 'steps before the first checked sample (the buffer pool fills meanwhile)', intArg(0), 100)
  .option('--image-size <px>', 'synthetic image size', intArg(8), 64)
  .option('--batch-size <n>', 'images per step', intArg(1), 4)
  .option('--out <dir>', 'keep the run (checkpoints, metrics.json) here instead of a temporary folder')
  .option('--json <file>', 'write {"samples": [{"step", "live_tensors", "bytes_in_use", "bytes_pooled"}], ...} to FILE')
  .addHelpText('after', '\nExit codes: 0 flat, 1 memory grew after warm-up, 2 bad arguments, 3 no WebGPU adapter, 4 non-finite loss, 5 GPU error.');

await runCli(async () => {
  const o = parseArgs<{ steps: number; every: number; warmup: number; imageSize: number; batchSize: number; out?: string; json?: string }>(program);
  const result = await soak({ ...o, outDir: o.out, log: (m) => console.log(m) });
  const flat = result.growth.length === 0;
  if (o.json)
    writeFileAtomic(
      o.json,
      `${JSON.stringify({ samples: result.samples, steps: o.steps, warmup_steps: o.warmup, flat, growth: result.growth, seconds: result.seconds }, null, 1)}\n`,
    );
  console.log(`${o.steps} steps in ${result.seconds.toFixed(0)} s`);
  if (!flat) {
    console.error(`error: memory grew after the warm-up of ${o.warmup} steps:\n  ${result.growth.join('\n  ')}`);
    return EXIT.failed;
  }
  const last = result.samples[result.samples.length - 1];
  console.log(`flat after step ${o.warmup}: ${last.live_tensors} live tensors, ${last.bytes_in_use} bytes in use, ${last.bytes_pooled} bytes pooled`);
  return EXIT.ok;
});
