/**
 * An experiment's results: the table (seeds as mean ± std, mAP at chosen epochs), the
 * mAP-vs-step charts, and experiment.md, experiment.json, the plots and report.html.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../engine/io/checkpoint.ts';
import type { DetectionDataset } from '../detection/data/coco.ts';
import type { Detections } from '../detection/postprocess.ts';
import { PALETTE } from '../detection/plot.ts';
import { buildExperimentReport, type CurvePanel, type ReportMetrics } from '../detection/report.ts';
import { formatDuration, type EvalPoint } from '../detection/train/trainer.ts';
import type { ExperimentPreset, ExperimentRun } from './experimentPresets.ts';

/** Target conflict of a teacher with one student's assigner (shares of the validation set's locations). */
export interface TeacherConflict {
  share: number;
  positives: number;
  negatives: number;
}

export interface RunResult extends ExperimentRun, ReportMetrics {
  seconds: number;
  /** mAP after each of the preset's evalEpochs and at the end */
  curve: EvalPoint[];
  losses: { step: number; total: number }[];
  /** detections on the first validation images, for the report */
  sampleDetections: Detections[];
}

/** How many validation images the experiment report shows per run. */
export const REPORT_SAMPLES = 3;

const pct = (v: number) => (v < 0 ? '–' : (100 * v).toFixed(1));
const meanStd = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  return v.length > 1 ? `${pct(m)} ± ${(100 * s).toFixed(1)}` : pct(m);
};

/** A run's folder name: `baseline-<student>-seed<k>` or `<teacher>-to-<student>-<method>[-tap<i>]-seed<k>`. */
export const runName = (r: ExperimentRun) =>
  r.teacher === null ? `baseline-${r.student}-seed${r.seed}` : `${r.teacher}-to-${r.student}-${r.method}${r.tap !== null ? `-tap${r.tap}` : ''}-seed${r.seed}`;

/** A configuration's key: the runs that differ only in their seed share it. */
const configOf = (r: ExperimentRun) => `${r.teacher ?? '–'}|${r.student} (${r.head})|${r.method}|${r.tap ?? '–'}`;

/** Runs grouped by configuration (first-seen order). */
function byConfig<T extends ExperimentRun>(runs: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const r of runs) groups.set(configOf(r), [...(groups.get(configOf(r)) ?? []), r]);
  return [...groups.values()];
}

/** A configuration's name in tables and legends: `<teacher>→<student> <method>[ tap i]`, or `<student> baseline`. */
const configLabel = (r: ExperimentRun) =>
  r.teacher === null ? `${r.student} baseline` : `${r.teacher}→${r.student} ${r.method}${r.tap !== null ? ` tap ${r.tap}` : ''}`;

/**
 * The markdown table of the runs: one row per configuration, its seeds as mean ± sample
 * std; with `epochs`, also the mAP after each of those epochs (from the runs' curves; '–'
 * where a run has no such point).
 */
export function resultsTable(
  runs: readonly (ExperimentRun & { mAP: number; mAP50: number; mAP75: number; seconds: number; curve?: readonly EvalPoint[] })[],
  epochs: readonly number[] = [],
): string[] {
  const epochHead = epochs.map((e) => ` mAP ep ${e} |`).join('');
  const lines = [
    `| teacher | student | method | tap | seeds |${epochHead} mAP | mAP50 | mAP75 | train s |`,
    `|---|---|---|---|---|${epochs.map(() => '---|').join('')}---|---|---|---|`,
  ];
  for (const rs of byConfig(runs)) {
    const [t, student, method, tap] = configOf(rs[0]).split('|');
    const atEpoch = epochs.map((e) => {
      const v = rs.map((r) => r.curve?.find((p) => p.epoch === e)?.mAP);
      return ` ${v.every((x) => x !== undefined) ? meanStd(v as number[]) : '–'} |`;
    });
    lines.push(
      `| ${t} | ${student} | ${method} | ${tap} | ${rs.length} |${atEpoch.join('')} ${meanStd(rs.map((r) => r.mAP))} | ${meanStd(rs.map((r) => r.mAP50))} | ${meanStd(rs.map((r) => r.mAP75))} | ${(rs.reduce((a, r) => a + r.seconds, 0) / rs.length).toFixed(0)} |`,
    );
  }
  return lines;
}

/**
 * The mAP-vs-step charts of a preset: per panel, one line per configuration, the mean over
 * its seeds at each step all of them were evaluated at.
 */
export function curvePanels(preset: Pick<ExperimentPreset, 'curvePanels'>, runs: readonly RunResult[]): CurvePanel[] {
  const panels = preset.curvePanels ?? [{ title: 'all configurations', include: () => true }];
  return panels.map((panel, k) => {
    const groups = byConfig(runs.filter(panel.include)).slice(0, PALETTE.length);
    const series = groups.map((rs) => {
      const steps = rs[0].curve.map((p) => p.step).filter((step) => rs.every((r) => r.curve.some((p) => p.step === step)));
      const points = steps.map((step) => ({ step, mAP: rs.reduce((a, r) => a + r.curve.find((p) => p.step === step)!.mAP, 0) / rs.length }));
      return { name: `${configLabel(rs[0])}${rs.length > 1 ? ` (mean of ${rs.length} seeds)` : ''}`, points };
    });
    return { title: panel.title, file: panels.length > 1 ? `map-curves-${k}.png` : 'map-curves.png', series };
  });
}

/** Writes the results into each of `dirs` (the run folder, and a study's record), built once. */
export function writeResults(
  dirs: readonly string[],
  presetName: string,
  preset: ExperimentPreset,
  teacher: Record<string, unknown>,
  runs: RunResult[],
  valSet: DetectionDataset | null,
  /** runs of the preset not trained yet (a study continued over several sittings) */
  pending: readonly string[] = [],
): string {
  const lines = resultsTable(runs, preset.tableEpochs);
  const curves = curvePanels(preset, runs).filter((p) => p.series.some((c) => c.points.length >= 2));
  const curveLines = curves.map((p) => `mAP curves, ${p.title}: ${p.file} — ${p.series.map((c, k) => `${c.name}: rgb(${PALETTE[k].join(',')})`).join('; ')}`);
  const tLines = Object.entries(teacher).map(([name, info]) => {
    const i = info as { config: string; mAP?: number; mAP50?: number; mAP75?: number; conflict?: Record<string, TeacherConflict> };
    const conflicts = Object.entries(i.conflict ?? {}).map(
      ([s, c]) =>
        `; target conflict with the ${s} student's assigner ${(100 * c.share).toFixed(2)}% of locations (positives ${(100 * c.positives).toFixed(1)}%, negatives ${(100 * c.negatives).toFixed(2)}%)`,
    );
    return `- ${name}: ${i.config}, mAP ${pct(i.mAP ?? -1)}, mAP50 ${pct(i.mAP50 ?? -1)}, mAP75 ${pct(i.mAP75 ?? -1)}${conflicts.join('')}`;
  });
  const plotted = runs.slice(0, PALETTE.length);
  const legend = plotted.map((r, k) => `${runName(r)}: rgb(${PALETTE[k].join(',')})`);
  const markdown = [
    `# Experiment '${presetName}': ${preset.title}`,
    '',
    'COCO-style AP on the synthetic validation set, %; several seeds: mean ± std.',
    '',
    'Teachers:',
    ...tLines,
    '',
    ...lines,
    '',
    `Training time of the runs: ${formatDuration(runs.reduce((a, r) => a + r.seconds, 0))} in all (teachers and evaluations not counted).`,
    ...(pending.length
      ? ['', `Not trained yet (${pending.length} of ${pending.length + runs.length} runs; the same command continues the study): ${pending.join(', ')}.`]
      : []),
    '',
    `Loss curves (total loss, moving average): losses.png — ${legend.join('; ')}`,
    '',
    ...curveLines.flatMap((l) => [l, '']),
    'The same with per-class AP and predictions on validation images: report.html',
    '',
  ].join('\n');
  const json = JSON.stringify({ teacher, runs: runs.map(({ losses: _l, sampleDetections: _d, ...r }) => r) }, null, 1);
  const report = buildExperimentReport({
    title: `Experiment '${presetName}': ${runs.length} run(s)`,
    facts: [
      ...Object.entries(teacher).map(
        ([name, info]) => `teacher ${name}: ${(info as { config: string }).config} (${(info as { checkpoint: string }).checkpoint})`,
      ),
      `written ${new Date().toISOString()}; experiment.json holds the same figures`,
    ],
    teachers: Object.entries(teacher).map(([name, info]) => {
      const i = info as Partial<ReportMetrics>;
      return { name, metrics: i.mAP !== undefined && i.per_class ? (i as ReportMetrics) : null };
    }),
    runs: runs.map((r) => ({ name: runName(r), losses: r.losses, metrics: r, seconds: r.seconds, sampleDetections: r.sampleDetections })),
    dataset: valSet,
    sampleOptions: { count: REPORT_SAMPLES },
    curves,
  });
  for (const dir of dirs) {
    writeFileAtomic(path.join(dir, 'experiment.md'), markdown);
    writeFileAtomic(path.join(dir, 'experiment.json'), json);
    for (const f of report.files) writeFileAtomic(path.join(dir, f.name), f.bytes);
    writeFileAtomic(path.join(dir, 'report.html'), report.html);
  }
  return markdown;
}
