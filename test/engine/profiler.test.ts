/**
 * The GPU profiler (engine/profiler.ts via Runtime.startProfile): every dispatch of the
 * profiled stretch is recorded with its op, kernel, phase, FLOPs and bound bytes and gets a
 * GPU time, in both timing modes, and profiling does not change any result.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { keyAverages, phaseTotals, type DispatchTiming, type ProfileMode } from '../../engine/profiler.ts';

let rt: E.Runtime;
beforeAll(async () => {
  rt = await E.init();
});

/** conv2d 3×3 (stride 1, pad 1) on [2,8,16,16] → 12 channels, then a 256² matmul and an add. */
function work(): { conv: E.Tensor; mm: E.Tensor; sum: E.Tensor } {
  const x = E.randNormal([2, 8, 16, 16], 1);
  const w = E.randNormal([12, 8, 3, 3], 2);
  const a = E.randNormal([256, 256], 3);
  const b = E.randNormal([256, 256], 4);
  rt.profilePhase('conv');
  const conv = E.conv2d(x, w, null, { padding: 1 });
  rt.profilePhase('matmul');
  const mm = E.matmul(a, b);
  rt.profilePhase('add');
  const sum = E.add(conv, conv);
  return { conv: E.keep(conv), mm: E.keep(mm), sum: E.keep(sum) };
}

async function values(t: { conv: E.Tensor; mm: E.Tensor; sum: E.Tensor }) {
  const out = [await t.conv.array(), await t.mm.array(), await t.sum.array()];
  for (const v of Object.values(t)) v.dispose();
  return out;
}

const modes: ProfileMode[] = ['timestamp', 'replay'];

describe.each(modes)('profile (%s mode)', (mode) => {
  it('times every dispatch, names its op, kernel and phase, and leaves results unchanged', async () => {
    if (mode === 'timestamp') expect(rt.device.features.has('timestamp-query')).toBe(true); // lavapipe offers it
    const plain = await values(E.scope(work));
    const d0 = rt.stats.dispatches;
    expect(rt.startProfile(mode)).toBe(mode);
    expect(rt.isProfiling).toBe(true);
    const t = E.scope(work);
    const profile = await rt.stopProfile();
    expect(rt.isProfiling).toBe(false);
    expect(profile.mode).toBe(mode);
    expect(profile.dispatches.length).toBe(rt.stats.dispatches - d0);
    expect(await values(t)).toEqual(plain);

    const by = (kernel: string) => profile.dispatches.filter((d) => d.kernel === kernel);
    const [fwd] = by('conv2d_fwd');
    expect(fwd.phase).toBe('conv');
    expect(fwd.op).toBe('conv2d');
    expect(fwd.flops).toBe(2 * 2 * 12 * 16 * 16 * 8 * 3 * 3);
    const [mm] = by('matmul');
    expect(mm.phase).toBe('matmul');
    expect(mm.flops).toBe(2 * 256 * 256 * 256);
    const [add] = by('binary');
    expect(add.phase).toBe('add');
    expect(add.flops).toBeNull();
    // add binds conv (read twice, counted once) and its output: 2 × 2·12·16·16 floats
    expect(add.bytes).toBe(2 * 4 * 2 * 12 * 16 * 16);
    for (const d of profile.dispatches) expect(d.ns).toBeGreaterThanOrEqual(0);
    // a 33.5 MFLOP matmul cannot take less GPU time than a 6 K-element add: the times are real
    expect(mm.ns).toBeGreaterThan(add.ns);
    expect(mm.ns).toBeGreaterThan(0);
    const phases = phaseTotals(profile).map((p) => p.name);
    expect(phases).toEqual(expect.arrayContaining(['conv', 'matmul', 'add']));
  });
});

describe('profile errors', () => {
  it('refuses a second startProfile and a stopProfile without one', async () => {
    rt.startProfile();
    expect(() => rt.startProfile()).toThrow(/a profile is already open; call stopProfile\(\) first/);
    await rt.stopProfile();
    await expect(rt.stopProfile()).rejects.toThrow(/no profile is open; call startProfile\(\) first/);
  });

  it('profilePhase outside a profile does nothing', () => {
    expect(() => rt.profilePhase('forward')).not.toThrow();
    expect(rt.isProfiling).toBe(false);
  });
});

describe('keyAverages and phaseTotals', () => {
  const d = (kernel: string, phase: string, ns: number, flops: number | null, bytes: number): DispatchTiming => ({
    op: kernel === 'conv2d_fwd' ? 'conv2d' : kernel,
    kernel,
    phase,
    workgroups: [1, 1, 1],
    flops,
    bytes,
    ns,
  });
  const profile = {
    mode: 'timestamp' as const,
    note: '',
    dispatches: [d('conv2d_fwd', 'forward', 3000, 6000, 100), d('conv2d_fwd', 'forward', 1000, 2000, 100), d('binary', 'backward', 4000, null, 8000)],
    phases: [
      { name: 'forward', cpuMs: 1.5 },
      { name: 'backward', cpuMs: 0.5 },
    ],
  };

  it('groups by op and kernel, slowest first, with shares and rates', () => {
    const rows = keyAverages(profile);
    expect(rows.map((r) => r.name)).toEqual(['conv2d · conv2d_fwd', 'binary']);
    // conv: 4000 ns total (tie broken by insertion), 8000 FLOP / 4000 ns = 2 GFLOP/s; binary: 8000 B / 4000 ns = 2 GB/s
    expect(rows[0]).toMatchObject({ calls: 2, totalMs: 0.004, percent: 50, meanUs: 2, gflops: 2, gbps: null });
    expect(rows[1]).toMatchObject({ calls: 1, totalMs: 0.004, percent: 50, meanUs: 4, gflops: null, gbps: 2 });
  });

  it('totals GPU time, dispatches and CPU time per phase', () => {
    expect(phaseTotals(profile)).toEqual([
      { name: 'forward', gpuMs: 0.004, dispatches: 2, cpuMs: 1.5 },
      { name: 'backward', gpuMs: 0.004, dispatches: 1, cpuMs: 0.5 },
    ]);
  });
});
