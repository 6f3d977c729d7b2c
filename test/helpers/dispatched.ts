/** Records the kernels the runtime dispatches, for tests that check which kernels an op runs. */
import { vi } from 'vitest';
import * as E from '../../engine/index.ts';

/** Starts recording kernel names (in order, into `names`) until `stop()`. */
function record(): { names: string[]; stop: () => void } {
  const names: string[] = [];
  const rt = E.runtime();
  const real = rt.dispatch.bind(rt);
  const spy = vi.spyOn(rt, 'dispatch').mockImplementation((args) => {
    names.push(args.kernel);
    real(args);
  });
  return { names, stop: () => spy.mockRestore() };
}

/** Kernel names dispatched while fn runs, in order. */
export function dispatched(fn: () => void): string[] {
  const { names, stop } = record();
  try {
    fn();
  } finally {
    stop();
  }
  return names;
}

/** Kernel names dispatched while the promise of fn settles (kernels of any op it awaits). */
export async function dispatchedAsync(fn: () => Promise<unknown>): Promise<string[]> {
  const { names, stop } = record();
  try {
    await fn();
  } finally {
    stop();
  }
  return names;
}
