/**
 * A GPU profile of one training step (engine/profiler.ts does the timing): the step of a
 * StepRig run under Runtime.startProfile, summarised per kernel and per phase — data
 * (loader), targets (ATSS/FCOS targets on the CPU), forward, backward, optimizer.
 */
import * as E from '../../engine/index.ts';
import { keyAverages, phaseTotals, type Profile, type ProfileMode, type ProfileRow } from '../../engine/profiler.ts';
import { PALETTE } from '../plot.ts';
import { escapeHtml } from '../report.ts';
import type { StepRig } from './stepRig.ts';

export interface StepProfile {
  profile: Profile;
  rows: ProfileRow[];
  phases: ReturnType<typeof phaseTotals>;
  dispatches: number;
  /** sum of all dispatches' GPU time */
  gpuMs: number;
  /** wall time of the profiled step, recording to last result (per-dispatch passes included) */
  wallMs: number;
  /** FLOPs of the FLOP-counted launches (convolutions and matmuls) */
  flops: number;
}

/** Runs `warmup` unprofiled steps (pipelines compiled, pool filled), then profiles one. */
export async function profileStep(rig: StepRig, opts: { warmup?: number; mode?: ProfileMode } = {}): Promise<StepProfile> {
  const rt = E.runtime();
  for (let i = 0; i < (opts.warmup ?? 1); i++) {
    rig.step().values.dispose();
    await rt.sync();
  }
  rt.startProfile(opts.mode);
  const t = performance.now();
  let profile: Profile;
  try {
    rig.step().values.dispose();
  } finally {
    profile = await rt.stopProfile();
  }
  const wallMs = performance.now() - t;
  let flops = 0;
  let gpuNs = 0;
  for (const d of profile.dispatches) {
    flops += d.flops ?? 0;
    gpuNs += d.ns;
  }
  return {
    profile,
    rows: keyAverages(profile),
    phases: phaseTotals(profile),
    dispatches: profile.dispatches.length,
    gpuMs: gpuNs / 1e6,
    wallMs,
    flops,
  };
}

const PHASE_ORDER = ['data', 'targets', 'forward', 'backward', 'optimizer', 'other'];

/** The phases in step order (unknown names last), with GPU and CPU milliseconds. */
export function orderedPhases(p: StepProfile): StepProfile['phases'] {
  const rank = (n: string) => (PHASE_ORDER.includes(n) ? PHASE_ORDER.indexOf(n) : PHASE_ORDER.length);
  return [...p.phases].sort((a, b) => rank(a.name) - rank(b.name));
}

/** Plain-text key-averages table (the `npm run profile` output), `top` rows of kernels. */
export function formatStepProfile(p: StepProfile, opts: { top?: number; fmaCeiling?: number | null } = {}): string {
  const top = opts.top ?? 25;
  const rows = p.rows.slice(0, top);
  const rest = p.rows.slice(top);
  const cells = rows.map((r) => [
    r.name,
    String(r.calls),
    r.totalMs.toFixed(2),
    `${r.percent.toFixed(1)}%`,
    r.meanUs.toFixed(0),
    r.gflops !== null ? `${r.gflops.toFixed(2)} GFLOP/s` : r.gbps !== null ? `${r.gbps.toFixed(2)} GB/s` : '—',
  ]);
  if (rest.length) {
    const ms = rest.reduce((s, r) => s + r.totalMs, 0);
    const calls = rest.reduce((s, r) => s + r.calls, 0);
    cells.push([
      `(${rest.length} more)`,
      String(calls),
      ms.toFixed(2),
      `${((100 * ms) / Math.max(p.gpuMs, 1e-9)).toFixed(1)}%`,
      ((ms * 1000) / calls).toFixed(0),
      '',
    ]);
  }
  const head = ['op · kernel', 'calls', 'total ms', '% GPU', 'mean µs', 'achieved'];
  const numeric = [false, true, true, true, true, true];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (numeric[i] ? x.padStart(widths[i]) : x.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.map(line), ''];
  out.push('phase       GPU ms  dispatches  CPU ms (recording, host work)');
  for (const ph of orderedPhases(p))
    out.push(`${ph.name.padEnd(10)} ${ph.gpuMs.toFixed(1).padStart(7)}  ${String(ph.dispatches).padStart(10)}  ${ph.cpuMs.toFixed(1).padStart(6)}`);
  const rate = p.flops / (p.gpuMs * 1e6);
  const ceiling = opts.fmaCeiling ? ` = ${((100 * rate) / opts.fmaCeiling).toFixed(0)}% of the FMA ceiling (${opts.fmaCeiling.toFixed(1)} GFLOP/s)` : '';
  out.push(
    '',
    `step: ${p.dispatches} dispatches, ${p.gpuMs.toFixed(1)} ms of GPU time, ${p.wallMs.toFixed(1)} ms wall (profiled); ` +
      `conv+matmul ${(p.flops / 1e9).toFixed(2)} GFLOP → ${rate.toFixed(2)} GFLOP/s over the GPU time${ceiling}`,
    `timing: ${p.profile.mode} — ${p.profile.note}`,
  );
  return out.join('\n');
}

const esc = escapeHtml;
const COLOURS = PALETTE.map(([r, g, b]) => `rgb(${r},${g},${b})`);

/** A self-contained report.html: the step's phases as one stacked bar, then the kernels' shares. */
export function stepProfileHtml(p: StepProfile, title: string, opts: { top?: number; fmaCeiling?: number | null } = {}): string {
  const phases = orderedPhases(p).filter((ph) => ph.gpuMs > 0);
  const width = 800;
  let x = 0;
  const stacked = phases
    .map((ph, i) => {
      const w = (width * ph.gpuMs) / Math.max(p.gpuMs, 1e-9);
      const rect = `<rect x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="28" fill="${COLOURS[i % COLOURS.length]}"><title>${esc(ph.name)}: ${ph.gpuMs.toFixed(1)} ms, ${ph.dispatches} dispatches</title></rect>`;
      x += w;
      return rect;
    })
    .join('');
  const legend = phases
    .map(
      (ph, i) =>
        `<span style="color:${COLOURS[i % COLOURS.length]}">■</span> ${esc(ph.name)} ${ph.gpuMs.toFixed(1)} ms (${ph.dispatches} dispatches, CPU ${ph.cpuMs.toFixed(1)} ms)`,
    )
    .join(' &nbsp; ');
  const rows = p.rows.slice(0, opts.top ?? 25);
  const max = Math.max(...rows.map((r) => r.totalMs), 1e-9);
  const barH = 18;
  const bars = rows
    .map((r, i) => {
      const w = (520 * r.totalMs) / max;
      const rate = r.gflops !== null ? `${r.gflops.toFixed(2)} GFLOP/s` : r.gbps !== null ? `${r.gbps.toFixed(2)} GB/s` : '';
      const y = i * (barH + 4);
      return (
        `<text x="0" y="${y + 13}" font-size="11">${esc(r.name.length > 52 ? `${r.name.slice(0, 51)}…` : r.name)}</text>` +
        `<rect x="330" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLOURS[0]}"/>` +
        `<text x="${(336 + w).toFixed(1)}" y="${y + 13}" font-size="11">${r.totalMs.toFixed(1)} ms · ${r.calls}× · ${r.percent.toFixed(1)}% ${rate}</text>`
      );
    })
    .join('');
  return `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
<h1>${esc(title)}</h1>
<h2>Where the step's GPU time goes</h2>
<svg width="${width}" height="28">${stacked}</svg>
<p>${legend}</p>
<h2>Kernels (key averages, top ${rows.length})</h2>
<svg width="1100" height="${rows.length * (barH + 4)}">${bars}</svg>
<h2>Table</h2>
<pre>${esc(formatStepProfile(p, opts))}</pre>
`;
}

/** The JSON written by `npm run profile -- --json FILE`. */
export function stepProfileJson(p: StepProfile, meta: Record<string, unknown>): Record<string, unknown> {
  return {
    ...meta,
    mode: p.profile.mode,
    note: p.profile.note,
    dispatches: p.dispatches,
    gpu_ms: p.gpuMs,
    wall_ms: p.wallMs,
    conv_flops: p.flops,
    phases: orderedPhases(p).map((ph) => ({ name: ph.name, gpu_ms: ph.gpuMs, dispatches: ph.dispatches, cpu_ms: ph.cpuMs })),
    kernels: p.rows.map((r) => ({ name: r.name, calls: r.calls, total_ms: r.totalMs, percent: r.percent, mean_us: r.meanUs, gflops: r.gflops, gbps: r.gbps })),
    trace: p.profile.dispatches,
  };
}
