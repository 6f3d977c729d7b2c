/**
 * Conventions shared by the command-line scripts: exit codes scripts can rely on, and
 * one clear line (no stack) for expected failures.
 */
import * as fs from 'node:fs';
import { NoAdapterError } from '../engine/device.ts';

export const EXIT = {
  ok: 0,
  /** a check failed (tests, gradcheck, parity) */
  failed: 1,
  /** bad arguments, config or input files */
  usage: 2,
  /** no WebGPU adapter */
  noAdapter: 3,
  /** training stopped on a non-finite loss */
  nonFinite: 4,
  /** WebGPU validation error or device loss */
  gpu: 5,
} as const;

/** Runs main; maps known errors to exit codes with a one-line message. */
export async function runCli(main: () => Promise<number | void>): Promise<never> {
  let code: number = EXIT.ok;
  try {
    code = (await main()) ?? EXIT.ok;
  } catch (e) {
    const err = e as Error;
    if (err instanceof NoAdapterError) code = EXIT.noAdapter;
    else if (err.name === 'NonFiniteLossError') code = EXIT.nonFinite;
    else if (err.name === 'GpuError') code = EXIT.gpu;
    else code = EXIT.usage;
    console.error(`error: ${err.message}`);
    if (process.env.CROSSKD_DEBUG) console.error(err.stack);
  }
  process.exit(code);
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
