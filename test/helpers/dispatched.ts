/** Records the kernels the runtime dispatches, for tests that check which kernels an op runs. */
import { vi } from 'vitest';
import * as E from '../../engine/index.ts';

/** Kernel names dispatched while fn runs, in order. */
export function dispatched(fn: () => void): string[] {
  const names: string[] = [];
  const rt = E.runtime();
  const real = rt.dispatch.bind(rt);
  const spy = vi.spyOn(rt, 'dispatch').mockImplementation((args) => {
    names.push(args.kernel);
    real(args);
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return names;
}

/** Kernel names dispatched while the promise of fn settles (kernels of any op it awaits). */
export async function dispatchedAsync(fn: () => Promise<unknown>): Promise<string[]> {
  const names: string[] = [];
  const rt = E.runtime();
  const real = rt.dispatch.bind(rt);
  const spy = vi.spyOn(rt, 'dispatch').mockImplementation((args) => {
    names.push(args.kernel);
    real(args);
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return names;
}
