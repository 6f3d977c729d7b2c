/**
 * Benchmark harness: a workload is measured on our engine and on TF.js's WebGPU backend,
 * in the same process and on the same adapter, and reported as medians, ratios and
 * achieved GFLOP/s (or GB/s) against the adapter's practical ceilings.
 *
 * A workload file exports an array of Workload; bench/workloads/index.ts lists the files.
 */
import type { TF } from './tfjs.ts';
import type { Ceilings } from './ceilings.ts';

/** One prepared benchmark: inputs allocated, ready to run repeatedly. */
export interface Case {
  /** One iteration, which returns only once the GPU work is complete (tiny readback or sync). */
  run(): Promise<void>;
  /** Frees the inputs. */
  dispose(): void;
  /**
   * Optional figures beyond the timed iteration (e.g. a per-phase split, dispatches),
   * measured after it; kept in the row's `extra` and printed in the note column.
   */
  extra?(opts: TimingOptions): Promise<Record<string, number>>;
}

export type Pass = 'fwd' | 'dx' | 'dw' | 'fwd+bwd' | 'step';

export interface Workload {
  /** e.g. "matmul [1,1024,1024]x[1,1024,1024]" */
  name: string;
  pass: Pass;
  /** floating-point operations of one iteration (an FMA counts as 2) */
  flops?: number;
  /** bytes moved by one iteration, for memory-bound workloads (reported as GB/s) */
  bytes?: number;
  /** dispatches per iteration, when the point is per-dispatch overhead (reported as µs each) */
  dispatches?: number;
  ours(): Promise<Case>;
  tfjs?(tf: TF): Promise<Case>;
}

export interface TimingOptions {
  warmup: number;
  iterations: number;
}

export const FULL_TIMING: TimingOptions = { warmup: 2, iterations: 10 };
export const QUICK_TIMING: TimingOptions = { warmup: 1, iterations: 3 };

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a case `warmup` times untimed, then `iterations` times; returns each time in ms. */
export async function time(c: Case, opts: TimingOptions): Promise<number[]> {
  for (let i = 0; i < opts.warmup; i++) await c.run();
  const times: number[] = [];
  for (let i = 0; i < opts.iterations; i++) {
    const t0 = performance.now();
    await c.run();
    times.push(performance.now() - t0);
  }
  return times;
}

export interface SideResult {
  ms: number | null;
  samples: number[];
  extra?: Record<string, number>;
  error?: string;
}

async function measureSide(make: () => Promise<Case>, opts: TimingOptions): Promise<SideResult> {
  let c: Case | null = null;
  try {
    c = await make();
    const samples = await time(c, opts);
    const extra = await c.extra?.(opts);
    return { ms: median(samples), samples, ...(extra ? { extra } : {}) };
  } catch (e) {
    return { ms: null, samples: [], error: (e as Error).message.split('\n')[0] };
  } finally {
    try {
      c?.dispose();
    } catch {
      // a failed case may not dispose cleanly; the error above is what matters
    }
  }
}

export interface Row {
  workload: string;
  pass: Pass;
  ours_ms: number | null;
  tfjs_ms: number | null;
  /** ours; null when the workload counts no flops */
  gflops: number | null;
  gbps?: number | null;
  /** tfjs_ms / ours_ms: above 1 means we are faster */
  ratio?: number | null;
  tfjs_gflops?: number | null;
  us_per_dispatch?: number | null;
  tfjs_us_per_dispatch?: number | null;
  /** fraction of the measured ceilings (FMA probe for gflops, copy probe for gbps), software adapters only */
  of_ceiling?: number | null;
  samples_ms?: { ours: number[]; tfjs: number[] };
  /** the workload's own figures (Case.extra), e.g. fwd_ms, bwd_ms, opt_ms, dispatches, img_per_s */
  extra?: Record<string, number>;
  error?: string;
}

export interface MeasureOptions extends TimingOptions {
  /** the TF.js module, or null to measure ours alone */
  tf: TF | null;
  /**
   * the adapter's measured ceilings (bench/ceilings.ts), or null: measured on software
   * adapters only, where the probes' sizes saturate the CPU cores; a GPU needs far more
   * work per probe, and a wrong ceiling would be worse than none
   */
  ceilings: Ceilings | null;
}

const round = (x: number | null, digits: number) => (x === null ? null : Number(x.toFixed(digits)));

export async function measure(w: Workload, opts: MeasureOptions): Promise<Row> {
  const ours = await measureSide(() => w.ours(), opts);
  const tf = opts.tf;
  const tfjs: SideResult = tf && w.tfjs ? await measureSide(() => w.tfjs!(tf), opts) : { ms: null, samples: [] };
  const rate = (amount: number | undefined, ms: number | null) => (amount !== undefined && ms !== null && ms > 0 ? amount / (ms * 1e6) : null);
  const gflops = rate(w.flops, ours.ms);
  const gbps = rate(w.bytes, ours.ms);
  const perDispatch = (ms: number | null) => (w.dispatches && ms !== null ? (ms * 1000) / w.dispatches : null);
  let ofCeiling: number | null = null;
  if (opts.ceilings) {
    if (gflops !== null) ofCeiling = gflops / opts.ceilings.fma_gflops;
    else if (gbps !== null) ofCeiling = gbps / opts.ceilings.copy_gbps;
  }
  const errors = [ours.error && `ours: ${ours.error}`, tfjs.error && `tfjs: ${tfjs.error}`].filter(Boolean);
  const row: Row = {
    workload: w.name,
    pass: w.pass,
    ours_ms: round(ours.ms, 3),
    tfjs_ms: round(tfjs.ms, 3),
    gflops: round(gflops, 3),
    gbps: round(gbps, 3),
    ratio: ours.ms !== null && tfjs.ms !== null ? round(tfjs.ms / ours.ms, 3) : null,
    tfjs_gflops: round(rate(w.flops, tfjs.ms), 3),
    of_ceiling: round(ofCeiling, 4),
    samples_ms: { ours: ours.samples.map((x) => round(x, 3)!), tfjs: tfjs.samples.map((x) => round(x, 3)!) },
  };
  if (w.dispatches) {
    row.us_per_dispatch = round(perDispatch(ours.ms), 2);
    row.tfjs_us_per_dispatch = round(perDispatch(tfjs.ms), 2);
  }
  if (ours.extra) row.extra = Object.fromEntries(Object.entries(ours.extra).map(([k, v]) => [k, round(v, 3)!]));
  if (errors.length) row.error = errors.join('; ');
  return row;
}

// ------------------------------------------------------------------ table

const fmtNum = (x: number | null | undefined, digits: number) => (x === null || x === undefined ? '—' : x.toFixed(digits));

/** The table printed by `npm run bench` (and pasted into bench/RESULTS.md). */
export function formatTable(rows: readonly Row[], markdown = false): string {
  const head = ['workload', 'pass', 'ours ms', 'tfjs ms', 'ratio', 'GFLOP/s', 'GB/s', 'of ceiling', 'note'];
  const body = rows.map((r) => {
    const notes: string[] = [];
    if (r.us_per_dispatch != null) notes.push(`${fmtNum(r.us_per_dispatch, 1)} µs/dispatch (tfjs ${fmtNum(r.tfjs_us_per_dispatch, 1)})`);
    if (r.tfjs_gflops != null) notes.push(`tfjs ${fmtNum(r.tfjs_gflops, 2)} GFLOP/s`);
    if (r.extra)
      notes.push(
        Object.entries(r.extra)
          .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`)
          .join(', '),
      );
    if (r.error) notes.push(r.error);
    return [
      r.workload,
      r.pass,
      fmtNum(r.ours_ms, 2),
      fmtNum(r.tfjs_ms, 2),
      r.ratio == null ? '—' : `${r.ratio.toFixed(2)}×`,
      fmtNum(r.gflops, 2),
      fmtNum(r.gbps, 2),
      r.of_ceiling == null ? '—' : `${(r.of_ceiling * 100).toFixed(1)}%`,
      notes.join('; '),
    ];
  });
  const numeric = [false, false, true, true, true, true, true, true, false];
  if (markdown) {
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    const rule = `|${numeric.map((n) => (n ? '---:' : ':---')).join('|')}|`;
    return [line(head), rule, ...body.map(line)].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const pad = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [pad(head), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(pad)].join('\n');
}
