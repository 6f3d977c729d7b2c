/**
 * Leak soak: trains a small detector for many steps and samples the engine's memory
 * accounting every few steps. After a warm-up (the buffer pool fills with the size
 * classes the step needs), live tensors, bytes in use and bytes pooled must stay exactly
 * where they were: any growth is a leak of tensors or of pooled buffers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { presetConfig, type TrainConfig } from './config.ts';
import { train } from './trainer.ts';

export interface SoakSample {
  step: number;
  live_tensors: number;
  bytes_in_use: number;
  bytes_pooled: number;
}

export interface SoakOptions {
  steps: number;
  /** sample every this many steps */
  every: number;
  /** samples at or before this step are warm-up, not checked */
  warmup: number;
  imageSize: number;
  batchSize: number;
  /** keep checkpoints and metrics here (default: a temporary folder, removed after) */
  outDir?: string;
  log?: (msg: string) => void;
}

export interface SoakResult {
  samples: SoakSample[];
  /** what grew after warm-up, one line each; empty when flat */
  growth: string[];
  seconds: number;
}

const MEASURES = ['live_tensors', 'bytes_in_use', 'bytes_pooled'] as const;

/**
 * The tiny preset's model for `steps` steps, losses read every 10 steps and a checkpoint
 * every 500 as in a real run, so those paths soak too. The training set is one batch of
 * images, never flipped: every step then has the same positives and needs the same
 * buffers, so after warm-up any growth is a leak — with varied batches the pool would
 * also grow, boundedly, whenever a step first needs a larger size class.
 */
export function soakConfig(opts: Pick<SoakOptions, 'steps' | 'imageSize' | 'batchSize'>): TrainConfig {
  const tiny = presetConfig('tiny');
  return {
    ...tiny,
    name: 'soak',
    data: { synthetic: { seed: 7, numTrain: opts.batchSize, numVal: 1, imageSize: opts.imageSize } },
    train: { ...tiny.train, batchSize: opts.batchSize, epochs: opts.steps, logEvery: 10, checkpointEvery: 500, flipProb: 0 },
  };
}

/** Lines naming every measure that moved after warm-up, from its first checked value. */
export function memoryGrowth(samples: readonly SoakSample[], warmup: number): string[] {
  const checked = samples.filter((s) => s.step > warmup);
  if (checked.length < 2) return [];
  const base = checked[0];
  const out: string[] = [];
  for (const m of MEASURES) {
    const moved = checked.find((s) => s[m] !== base[m]);
    if (moved) out.push(`${m} went from ${base[m]} at step ${base.step} to ${moved[m]} at step ${moved.step}`);
  }
  return out;
}

export async function soak(opts: SoakOptions): Promise<SoakResult> {
  for (const [name, v, min] of [
    ['steps', opts.steps, 1],
    ['every', opts.every, 1],
    ['warmup', opts.warmup, 0],
    ['imageSize', opts.imageSize, 1],
    ['batchSize', opts.batchSize, 1],
  ] as const)
    if (!Number.isInteger(v) || v < min) throw new Error(`soak: ${name} must be an integer ≥ ${min}, got ${v}`);
  if (opts.warmup + 2 * opts.every > opts.steps)
    throw new Error(`soak: ${opts.steps} steps leave fewer than two samples after a warm-up of ${opts.warmup} steps sampled every ${opts.every}`);
  const log = opts.log ?? (() => {});
  const cfg = soakConfig(opts);
  const outDir = opts.outDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-soak-'));
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  try {
    const result = await train(cfg, {
      outDir,
      maxSteps: opts.steps,
      evaluate: false,
      progress: false,
      log: () => {},
      onStep: async (done) => {
        if (done % opts.every !== 0) return;
        await E.runtime().sync(); // everything submitted and finished: released buffers are back in the pool
        const m = E.memory();
        const sample = { step: done, live_tensors: m.liveTensors, bytes_in_use: m.bytesInUse, bytes_pooled: m.bytesPooled };
        samples.push(sample);
        log(`step ${done}: ${sample.live_tensors} live tensors, ${sample.bytes_in_use} bytes in use, ${sample.bytes_pooled} bytes pooled`);
      },
    });
    result.detector.dispose();
  } finally {
    if (!opts.outDir) fs.rmSync(outDir, { recursive: true, force: true });
  }
  return { samples, growth: memoryGrowth(samples, opts.warmup), seconds: (performance.now() - t0) / 1000 };
}
