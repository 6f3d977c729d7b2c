/**
 * Conventions shared by the command-line scripts: exit codes scripts can rely on, and
 * one clear line (no stack) for expected failures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { NoAdapterError } from '../engine/device.ts';
import { latestCheckpoint, loadWeights, readSidecar, type CheckpointSidecar } from '../engine/io/checkpoint.ts';
import { FileFormatError } from '../engine/io/format.ts';
import { Detector, fpnStrides } from '../detection/detector.ts';
import { parseConfig, type TrainConfig } from '../detection/train/config.ts';
import { detectorConfig } from '../detection/train/trainer.ts';

export const EXIT = {
  ok: 0,
  /** a check failed (tests, gradcheck, parity) */
  failed: 1,
  /** bad arguments, config or input files */
  usage: 2,
  /** no WebGPU adapter */
  noAdapter: 3,
  /** training stopped on a non-finite loss (or anomaly mode found a non-finite op output) */
  nonFinite: 4,
  /** WebGPU validation error or device loss */
  gpu: 5,
} as const;

/** Errors (by name: their classes live in the trainer, the runtime and checkpoint I/O) of exit code 4. */
const NON_FINITE_ERRORS = new Set(['NonFiniteLossError', 'AnomalyError', 'NonFiniteCheckpointError']);

/** Runs main; maps known errors to exit codes with a one-line message. */
export async function runCli(main: () => Promise<number | void>): Promise<never> {
  let code: number = EXIT.ok;
  try {
    code = (await main()) ?? EXIT.ok;
  } catch (e) {
    const err = e as Error;
    if (err instanceof NoAdapterError) code = EXIT.noAdapter;
    else if (NON_FINITE_ERRORS.has(err.name)) code = EXIT.nonFinite;
    else if (err.name === 'GpuError') code = EXIT.gpu;
    else code = EXIT.usage;
    console.error(`error: ${err.message}`);
    if (process.env.CROSSKD_DEBUG) console.error(err.stack);
  }
  process.exit(code);
}

/**
 * commander's exitOverride for every script: an unknown option or a bad value exits with
 * EXIT.usage (commander on its own would exit with 1, the code of a failed check);
 * --help and --version exit 0.
 */
export function exitWithUsageCode(err: { exitCode: number }): never {
  process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
}

/** Parses the command line inside runCli, exiting as exitWithUsageCode says on bad arguments. */
export function parseArgs<T extends object>(program: Command): T {
  program.exitOverride(exitWithUsageCode);
  program.parse();
  return program.opts<T>();
}

/** An option parser for integers ≥ min: `--steps abc` is an error, not NaN. */
export function intArg(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got '${value}'.`);
    return n;
  };
}

export function readJsonFile(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new Error(`${what} not found: ${file}`);
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A plain-text table: columns padded to their widest cell, numeric ones right-aligned, a rule under the head. */
export function textTable(head: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[] = []): string {
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, k) => (numeric[k] ? c.padStart(widths[k]) : c.padEnd(widths[k])))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ------------------------------------------------------------------ checkpoints

export interface ResolvedCheckpoint {
  sidecarFile: string;
  weightsFile: string;
  sidecar: CheckpointSidecar<TrainConfig, unknown>;
  /** the sidecar's training config, validated */
  config: TrainConfig;
  /** [H, W] every input is padded to: the config's image size rounded up to the largest stride */
  padSize: [number, number];
}

/**
 * `--checkpoint FILE` of eval and predict: a sidecar (checkpoint-*.json), its weights
 * (checkpoint-*.safetensors, the sidecar is found next to it) or a run folder (its newest
 * checkpoint). Reads and validates the sidecar and its config; needs no GPU.
 */
export function resolveCheckpoint(file: string): ResolvedCheckpoint {
  if (!fs.existsSync(file)) throw new Error(`checkpoint not found: ${file}`);
  let sidecarFile = file;
  if (fs.statSync(file).isDirectory()) {
    const latest = latestCheckpoint(file);
    if (!latest) throw new Error(`${file}: a folder with no checkpoint-*.json in it`);
    sidecarFile = latest;
  } else if (file.endsWith('.optim.safetensors')) {
    throw new Error(`${file} holds optimizer state, not weights; give the checkpoint's .json sidecar or its .safetensors weights`);
  } else if (file.endsWith('.safetensors')) {
    sidecarFile = `${file.slice(0, -'.safetensors'.length)}.json`;
    if (!fs.existsSync(sidecarFile))
      throw new Error(`${file}: no checkpoint sidecar next to it (expected ${sidecarFile}, which holds the model config the weights need)`);
  }
  const sidecar = readSidecar<unknown, unknown>(sidecarFile);
  const config = parseConfig(sidecar.config, `${sidecarFile} (its config)`);
  const weightsFile = path.join(path.dirname(sidecarFile), sidecar.weights);
  if (sidecarFile !== file && file.endsWith('.safetensors') && path.resolve(weightsFile) !== path.resolve(file))
    throw new Error(`${sidecarFile} names the weights ${sidecar.weights}, not ${path.basename(file)}`);
  if (!fs.existsSync(weightsFile)) throw new Error(`${sidecarFile}: its weights file ${weightsFile} is missing`);
  const imageSize = 'synthetic' in config.data ? config.data.synthetic.imageSize : config.data.imageSize;
  const divisor = fpnStrides(config.model.neck.numOuts).at(-1)!;
  const side = Math.ceil(imageSize / divisor) * divisor;
  return { sidecarFile, weightsFile, sidecar: sidecar as CheckpointSidecar<TrainConfig, unknown>, config, padSize: [side, side] };
}

/** The detector of a checkpoint's config with its weights, in eval mode (after E.init()). */
export function loadDetector(ckpt: ResolvedCheckpoint): Detector {
  const detector = new Detector(detectorConfig(ckpt.config));
  try {
    loadWeights(detector, ckpt.weightsFile);
  } catch (e) {
    detector.dispose();
    // a corrupt or truncated file says so itself; "do not match" is for well-formed weights of another model
    if (e instanceof FileFormatError) throw e;
    throw new Error(`the weights do not match the model config in ${ckpt.sidecarFile}: ${(e as Error).message}`);
  }
  if (ckpt.padSize[0] % detector.sizeDivisor)
    throw new Error(`internal: pad size ${ckpt.padSize[0]} is not a multiple of the detector's size divisor ${detector.sizeDivisor}`);
  return detector.eval();
}
