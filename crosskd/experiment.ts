/**
 * The paper's experiments in miniature: a teacher (trained once and cached by its
 * config), then the student with each distillation method, evaluated on the same
 * validation set. Writes experiment.md, experiment.json, loss plots and report.html (the
 * runs side by side: loss curves, mAP and per-class tables, predictions on sample images).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { latestCheckpoint, readSidecar, writeFileAtomic } from '../engine/io/checkpoint.ts';
import { parseConfig, presetConfig, type TrainConfig } from '../detection/train/config.ts';
import { formatDuration, train } from '../detection/train/trainer.ts';
import type { DetectionDataset } from '../detection/data/coco.ts';
import type { Detections } from '../detection/postprocess.ts';
import { PALETTE } from '../detection/plot.ts';
import { buildExperimentReport, type ReportMetrics } from '../detection/report.ts';
import { trainWithDistillation } from './train.ts';
import { METHODS, type Method } from './distiller.ts';

export interface ExperimentRun {
  method: Method;
  head: 'gfl';
  tap: number | null;
  seed: number;
  teacher: string;
}

export interface ExperimentPreset {
  teacher: TrainConfig;
  /** other teachers by name (heterogeneous pair) */
  extraTeachers?: Record<string, TrainConfig>;
  student: TrainConfig;
  runs: (seeds: number) => ExperimentRun[];
  defaultSeeds: number;
}

function studentSchedule(epochs: number, stepAt: number[]): TrainConfig {
  const s = presetConfig('quick-student');
  return parseConfig({ ...s, name: 'exp-student', train: { ...s.train, epochs, lrStepEpochs: stepAt } });
}

const methodRuns = (seeds: number, teacher = 'teacher'): ExperimentRun[] =>
  Array.from({ length: seeds }, (_, seed) =>
    METHODS.map((method) => ({ method, head: 'gfl' as const, tap: method.startsWith('crosskd') ? 3 : null, seed, teacher })),
  ).flat();

export const EXPERIMENT_PRESETS: Record<string, () => ExperimentPreset> = {
  /** seconds-long, for tests: the tiny configs, baseline and CrossKD */
  smoke: () => ({
    teacher: { ...presetConfig('tiny'), name: 'tiny-teacher', seed: 5 },
    student: presetConfig('tiny'),
    runs: (seeds) => methodRuns(seeds).filter((r) => r.method === 'none' || r.method === 'crosskd'),
    defaultSeeds: 1,
  }),
  /** the method comparison on GFL, one seed, a short student schedule (< 30 min with a cached teacher) */
  quick: () => ({
    teacher: presetConfig('quick-teacher'),
    student: studentSchedule(3, [2]),
    runs: (seeds) => methodRuns(seeds),
    defaultSeeds: 1,
  }),
  /** methods, the tap ablation i = 0…4 and a heterogeneous (plain-backbone) teacher, over seeds */
  full: () => ({
    teacher: presetConfig('quick-teacher'),
    extraTeachers: { plain: presetConfig('quick-plain-teacher') },
    student: studentSchedule(12, [8, 11]),
    runs: (seeds) => [
      ...methodRuns(seeds),
      ...Array.from({ length: seeds }, (_, seed) =>
        [0, 1, 2, 4].map((tap) => ({ method: 'crosskd' as const, head: 'gfl' as const, tap, seed, teacher: 'teacher' })),
      ).flat(),
      ...Array.from({ length: seeds }, (_, seed) =>
        (['none', 'pred_mimic', 'crosskd'] as const).map((method) => ({ method, head: 'gfl' as const, tap: method === 'crosskd' ? 3 : null, seed, teacher: 'plain' })),
      ).flat(),
    ],
    defaultSeeds: 3,
  }),
};

const configKey = (cfg: TrainConfig) => createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 12);

/** A finished teacher checkpoint for cfg: reused from the cache, or trained into it. */
export async function cachedTeacher(cfg: TrainConfig, cacheDir: string, log: (m: string) => void): Promise<string> {
  const dir = path.join(cacheDir, `${cfg.name}-${configKey(cfg)}`);
  const latest = latestCheckpoint(dir);
  if (latest && fs.existsSync(path.join(dir, 'metrics.json'))) {
    const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    if (metrics.steps === metrics.total_steps && metrics.eval) {
      log(`reusing teacher ${latest}`);
      return latest;
    }
  }
  log(`training teacher '${cfg.name}' into ${dir}`);
  const r = await train(cfg, { outDir: dir, log, resume: latest !== null });
  r.detector.dispose();
  return r.lastCheckpoint!;
}

export interface RunResult extends ExperimentRun, ReportMetrics {
  seconds: number;
  losses: { step: number; total: number }[];
  /** detections on the first validation images, for the report */
  sampleDetections: Detections[];
}

/** How many validation images the experiment report shows per run. */
const REPORT_SAMPLES = 3;

export async function runExperiment(args: {
  preset: string;
  seeds?: number;
  outDir: string;
  cacheDir?: string;
  /** reuse this teacher checkpoint instead of the cached/trained one */
  teacherCheckpoint?: string;
  log?: (m: string) => void;
  /** a progress bar with ETA per training run (on a terminal) instead of log lines */
  progress?: boolean;
}): Promise<{ teacher: Record<string, unknown>; runs: RunResult[]; markdown: string }> {
  const log = args.log ?? ((m: string) => console.log(m));
  const make = EXPERIMENT_PRESETS[args.preset];
  if (!make) throw new Error(`unknown experiment preset '${args.preset}' (known: ${Object.keys(EXPERIMENT_PRESETS).join(', ')})`);
  const preset = make();
  const seeds = args.seeds ?? preset.defaultSeeds;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${seeds}`);
  const cacheDir = args.cacheDir ?? '.cache/teachers';
  fs.mkdirSync(args.outDir, { recursive: true });

  const teachers: Record<string, string> = {
    teacher: args.teacherCheckpoint ?? (await cachedTeacher(preset.teacher, cacheDir, log)),
  };
  for (const [name, cfg] of Object.entries(preset.extraTeachers ?? {})) teachers[name] = await cachedTeacher(cfg, cacheDir, log);
  const teacherInfo: Record<string, unknown> = {};
  for (const [name, file] of Object.entries(teachers)) {
    const metricsFile = path.join(path.dirname(file), 'metrics.json');
    const metrics = fs.existsSync(metricsFile) ? JSON.parse(fs.readFileSync(metricsFile, 'utf8')) : null;
    teacherInfo[name] = { checkpoint: file, config: readSidecar<TrainConfig, unknown>(file).config.name, ...(metrics?.eval ?? {}) };
  }

  const runs: RunResult[] = [];
  const planned = preset.runs(seeds);
  let valSet: DetectionDataset | null = null;
  const started = performance.now();
  for (const [k, run] of planned.entries()) {
    const name = `${run.teacher}-${run.method}${run.tap !== null ? `-tap${run.tap}` : ''}-seed${run.seed}`;
    const cfg = parseConfig({
      ...preset.student,
      name,
      seed: run.seed,
      ...(run.method === 'none' ? {} : { distill: { method: run.method, teacher: teachers[run.teacher], ...(run.tap !== null ? { tap: run.tap } : {}) } }),
    });
    // the remaining time, from the mean wall time of the runs so far
    const elapsed = (performance.now() - started) / 1000;
    const eta = k > 0 ? `, about ${formatDuration((elapsed / k) * (planned.length - k))} left` : '';
    log(`== ${name} (run ${k + 1} of ${planned.length}${eta}) ==`);
    const r = await trainWithDistillation(cfg, { outDir: path.join(args.outDir, name), log, progress: args.progress ?? false });
    const e = r.eval!;
    runs.push({
      ...run,
      mAP: e.mAP,
      mAP50: e.mAP50,
      mAP75: e.mAP75,
      mAP_s: e.mAP_s,
      mAP_m: e.mAP_m,
      mAP_l: e.mAP_l,
      per_class: e.per_class,
      seconds: r.seconds,
      losses: r.losses.map((l) => ({ step: l.step, total: l.total })),
      sampleDetections: r.evalDetections!.slice(0, REPORT_SAMPLES),
    });
    valSet = r.datasets.val;
    r.detector.dispose();
    writeResults(args.outDir, teacherInfo, runs, valSet, args.preset);
  }
  const markdown = writeResults(args.outDir, teacherInfo, runs, valSet, args.preset);
  return { teacher: teacherInfo, runs, markdown };
}

const pct = (v: number) => (v < 0 ? '–' : (100 * v).toFixed(1));
const meanStd = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  return v.length > 1 ? `${pct(m)} ± ${(100 * s).toFixed(1)}` : pct(m);
};

const runName = (r: ExperimentRun) => `${r.teacher}-${r.method}${r.tap !== null ? `-tap${r.tap}` : ''}-seed${r.seed}`;

function writeResults(outDir: string, teacher: Record<string, unknown>, runs: RunResult[], valSet: DetectionDataset | null, preset: string): string {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.teacher}|${r.method}|${r.tap ?? '-'}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const lines = ['| teacher | method | tap | seeds | mAP | mAP50 | mAP75 | train s |', '|---|---|---|---|---|---|---|---|'];
  for (const [key, rs] of groups) {
    const [t, method, tap] = key.split('|');
    lines.push(`| ${t} | ${method} | ${tap} | ${rs.length} | ${meanStd(rs.map((r) => r.mAP))} | ${meanStd(rs.map((r) => r.mAP50))} | ${meanStd(rs.map((r) => r.mAP75))} | ${(rs.reduce((a, r) => a + r.seconds, 0) / rs.length).toFixed(0)} |`);
  }
  const tLines = Object.entries(teacher).map(([name, info]) => {
    const i = info as { config: string; mAP?: number; mAP50?: number; mAP75?: number };
    return `- ${name}: ${i.config}, mAP ${pct(i.mAP ?? -1)}, mAP50 ${pct(i.mAP50 ?? -1)}, mAP75 ${pct(i.mAP75 ?? -1)}`;
  });
  const plotted = runs.slice(0, PALETTE.length);
  const legend = plotted.map((r, k) => `${runName(r)}: rgb(${PALETTE[k].join(',')})`);
  const markdown = [
    '# Experiment results (COCO-style AP on the synthetic validation set, %)',
    '',
    'Teachers:',
    ...tLines,
    '',
    ...lines,
    '',
    `Loss curves (total loss, moving average): losses.png — ${legend.join('; ')}`,
    '',
    'The same with per-class AP and predictions on validation images: report.html',
    '',
  ].join('\n');
  writeFileAtomic(path.join(outDir, 'experiment.md'), markdown);
  writeFileAtomic(
    path.join(outDir, 'experiment.json'),
    JSON.stringify({ teacher, runs: runs.map(({ losses: _l, sampleDetections: _d, ...r }) => r) }, null, 1),
  );
  const report = buildExperimentReport({
    title: `Experiment '${preset}': ${runs.length} run(s)`,
    facts: [
      ...Object.entries(teacher).map(([name, info]) => `teacher ${name}: ${(info as { config: string }).config} (${(info as { checkpoint: string }).checkpoint})`),
      `written ${new Date().toISOString()}; experiment.json holds the same figures`,
    ],
    teachers: Object.entries(teacher).map(([name, info]) => {
      const i = info as Partial<ReportMetrics>;
      return { name, metrics: i.mAP !== undefined && i.per_class ? (i as ReportMetrics) : null };
    }),
    runs: runs.map((r) => ({ name: runName(r), losses: r.losses, metrics: r, seconds: r.seconds, sampleDetections: r.sampleDetections })),
    dataset: valSet,
    sampleOptions: { count: REPORT_SAMPLES },
  });
  for (const f of report.files) writeFileAtomic(path.join(outDir, f.name), f.bytes);
  writeFileAtomic(path.join(outDir, 'report.html'), report.html);
  return markdown;
}
