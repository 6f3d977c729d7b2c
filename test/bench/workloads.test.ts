/**
 * Every benchmark workload runs once on our engine (one iteration, no TF.js), so a broken
 * workload fails CI instead of `npm run bench`. Figures are not checked here: speed belongs
 * to the benchmark, not to tests.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { workloads } from '../../bench/workloads/index.ts';

beforeAll(async () => {
  await E.init();
});

describe('bench workloads', () => {
  it('lists the three training-step rows', () => {
    const steps = workloads.filter((w) => w.pass === 'step').map((w) => w.name);
    expect(steps).toEqual([
      expect.stringMatching(/^train step teacher \(quick-teacher\)/),
      expect.stringMatching(/^train step student \(quick-student\)/),
      expect.stringMatching(/^train step crosskd student \(quick-student ← quick-teacher, crosskd tap 3\)/),
    ]);
  });

  it.each(workloads.map((w, i) => [`${i}: ${w.name} (${w.pass})`, w] as const))('%s runs once', async (_name, w) => {
    const live = E.memory().liveTensors;
    const c = await w.ours();
    try {
      await c.run();
      const extra = await c.extra?.({ warmup: 0, iterations: 1 });
      if (extra) for (const [k, v] of Object.entries(extra)) expect(Number.isFinite(v), `${k} = ${v}`).toBe(true);
      if (w.pass === 'step') {
        expect(extra).toBeDefined();
        expect(extra!.dispatches).toBeGreaterThan(0);
        expect(w.flops).toBeGreaterThan(0);
      }
    } finally {
      c.dispose();
    }
    await E.runtime().sync();
    expect(E.memory().liveTensors).toBe(live);
  });
});
