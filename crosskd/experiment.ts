/**
 * The paper's experiments in miniature: a teacher (trained once and cached by its
 * config), then the student with each distillation method, evaluated on the same
 * validation set. Writes experiment.md, experiment.json, loss plots and report.html (the
 * runs side by side: loss curves, mAP and per-class tables, predictions on sample images).
 * Each teacher's target conflict with its students' assigners is measured first and
 * reported with the teacher.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import { readSidecar, writeFileAtomic } from '../engine/io/checkpoint.ts';
import { Detector } from '../detection/detector.ts';
import { prepareDatasets } from '../detection/train/data.ts';
import { parseConfig, type TrainConfig } from '../detection/train/config.ts';
import { detectorConfig, formatDuration } from '../detection/train/trainer.ts';
import type { DetectionDataset } from '../detection/data/coco.ts';
import { loadTeacher, trainWithDistillation } from './train.ts';
import { measureTargetConflict } from './conflict.ts';
import type { Method } from './distiller.ts';
import { cachedTeacher, findCachedTeacher, readRunRecord, recordTeachers, resumable, runKey, runRecordFile, toRecord } from './experimentCache.ts';
import { EXPERIMENT_PRESETS, type ExperimentPreset, type ExperimentRun } from './experimentPresets.ts';
import { REPORT_SAMPLES, runName, type RunResult, type TeacherConflict, writeResults } from './experimentReport.ts';

export { cachedTeacher, findCachedTeacher } from './experimentCache.ts';
export { EXPERIMENT_PRESETS, type ExperimentPreset, type ExperimentRun } from './experimentPresets.ts';
export { curvePanels, resultsTable, runName, type RunResult, type TeacherConflict } from './experimentReport.ts';

/**
 * Seconds per training step (batch 8, 128²) for the plan's estimate: a teacher, and a
 * student per method (distillation adds the teacher's forward and the KD terms). Measured
 * in the converged study's first sitting (2026-12-07, the 2-core lavapipe machine, which
 * test runs shared at times): the 16-epoch runs' training seconds over their 3200 steps.
 */
export const STEP_SECONDS: Record<Method | 'teacher', number> = { teacher: 0.47, none: 0.22, pred_mimic: 0.36, pkd: 0.35, crosskd: 0.42, 'crosskd+pkd': 0.5 };
/** Seconds to evaluate one run on the 200 validation images (same machine). */
export const EVAL_SECONDS = 10;

export interface ExperimentPlan {
  /** teachers to train (not in the cache) and their steps */
  teachers: { name: string; steps: number }[];
  runs: { name: string; method: Method; steps: number }[];
  /** estimated wall time on the measured machine (STEP_SECONDS, EVAL_SECONDS) */
  seconds: number;
}

function stepsOf(cfg: TrainConfig): number {
  if (!('synthetic' in cfg.data)) throw new Error(`experiment config '${cfg.name}': plans cover synthetic data only`);
  return Math.ceil(cfg.data.synthetic.numTrain / cfg.train.batchSize) * cfg.train.epochs;
}

/** What a preset will train, and about how long that takes (teachers already cached cost nothing). */
export function experimentPlan(
  preset: ExperimentPreset,
  seeds: number,
  cacheDir: string,
  skipTeachers: readonly string[] = [],
  recordDir: string | null = null,
): ExperimentPlan {
  const recorded = (name: string) => recordDir !== null && fs.existsSync(runRecordFile(recordDir, name));
  const pending = preset.runs(seeds).filter((r) => !recorded(runName(r)));
  const isCached = (cfg: TrainConfig) =>
    findCachedTeacher(cfg, cacheDir) !== null || (recordDir !== null && findCachedTeacher(cfg, recordTeachers(recordDir)) !== null);
  const teachers = Object.entries(preset.teachers)
    .filter(([name, cfg]) => !skipTeachers.includes(name) && !isCached(cfg) && pending.some((r) => r.teacher === name))
    .map(([name, cfg]) => ({ name, steps: stepsOf(cfg) }));
  const runs = pending.map((r) => ({ name: runName(r), method: r.method, steps: stepsOf(preset.students[r.student]) }));
  const evalsPerRun = 1 + (preset.evalEpochs?.length ?? 0);
  const seconds =
    teachers.reduce((a, t) => a + t.steps * STEP_SECONDS.teacher + EVAL_SECONDS, 0) +
    runs.reduce((a, r) => a + r.steps * STEP_SECONDS[r.method] + evalsPerRun * EVAL_SECONDS, 0);
  return { teachers, runs, seconds };
}

/**
 * Target conflict (conflict.ts) of a teacher with a student's assigner, on that student's
 * validation set: how much direct mimicking would fight the student's own targets. Null
 * for students with several priors per location.
 */
async function teacherConflict(studentCfg: TrainConfig, teacherFile: string, log: (m: string) => void): Promise<TeacherConflict | null> {
  await E.init();
  const student = new Detector(detectorConfig(studentCfg));
  const teacher = loadTeacher(teacherFile);
  try {
    if (student.bboxHead.priorsPerLocation !== 1) return null;
    const { val, padSize } = prepareDatasets(studentCfg, Math.max(student.sizeDivisor, teacher.sizeDivisor), log);
    const stats = await measureTargetConflict({ teacher, student, dataset: val, padSize, batchSize: studentCfg.train.batchSize });
    return { share: stats.all.share, positives: stats.positives.share, negatives: stats.negatives.share };
  } finally {
    student.dispose();
    teacher.dispose();
  }
}

/** The presets that keep a record in the repository. */
const recordPresets = () => Object.keys(EXPERIMENT_PRESETS).filter((name) => EXPERIMENT_PRESETS[name]().recordDir !== undefined);

export async function runExperiment(args: {
  preset: string;
  seeds?: number;
  outDir: string;
  cacheDir?: string;
  /** use this checkpoint as the preset's GFL teacher ('gfl') instead of the cached/trained one */
  teacherCheckpoint?: string;
  log?: (m: string) => void;
  /** a progress bar with ETA per training run (on a terminal) instead of log lines */
  progress?: boolean;
  /** the study's record (default: the preset's recordDir); false: none */
  recordDir?: string | false;
  /** train nothing: tabulate the recorded runs and list the others as not yet trained (needs a record) */
  reportOnly?: boolean;
}): Promise<{ teacher: Record<string, unknown>; runs: RunResult[]; markdown: string }> {
  const log = args.log ?? ((m: string) => console.log(m));
  const make = EXPERIMENT_PRESETS[args.preset];
  if (!make) throw new Error(`unknown experiment preset '${args.preset}' (known: ${Object.keys(EXPERIMENT_PRESETS).join(', ')})`);
  const preset = make();
  const seeds = args.seeds ?? preset.defaultSeeds;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${seeds}`);
  const cacheDir = args.cacheDir ?? '.cache/teachers';
  const recordDir = args.recordDir === false ? null : (args.recordDir ?? preset.recordDir ?? null);
  if (args.reportOnly && recordDir === null)
    throw new Error(`--report-only tabulates a study's record, and preset '${args.preset}' keeps none (presets with a record: ${recordPresets().join(', ')})`);
  // the teachers' configs, which key the recorded runs
  const teacherConfigs: Record<string, TrainConfig> = { ...preset.teachers };
  if (args.teacherCheckpoint) {
    if (!preset.teachers.gfl)
      throw new Error(
        `--teacher replaces the GFL teacher, which preset '${args.preset}' does not use (its teachers: ${Object.keys(preset.teachers).join(', ')})`,
      );
    // the whole teacher checked before any run trains: its sidecar, config and weights file
    if (!fs.existsSync(args.teacherCheckpoint)) throw new Error(`--teacher: checkpoint not found: ${args.teacherCheckpoint}`);
    const sidecar = readSidecar<TrainConfig, unknown>(args.teacherCheckpoint);
    const cfg = parseConfig(sidecar.config, `--teacher ${args.teacherCheckpoint} (its config)`);
    const weights = path.join(path.dirname(args.teacherCheckpoint), sidecar.weights);
    if (!fs.existsSync(weights)) throw new Error(`--teacher ${args.teacherCheckpoint}: its weights file ${weights} is missing`);
    const students = Object.values(preset.students);
    const other = students.find((st) => st.numClasses !== cfg.numClasses);
    if (other) throw new Error(`--teacher ${args.teacherCheckpoint} has ${cfg.numClasses} classes, the preset's student '${other.name}' ${other.numClasses}`);
    teacherConfigs.gfl = cfg;
  }
  fs.mkdirSync(args.outDir, { recursive: true });
  const plan = experimentPlan(preset, seeds, cacheDir, args.teacherCheckpoint ? ['gfl'] : [], recordDir);
  if (args.reportOnly) log(`report only: the runs recorded in ${recordDir}; nothing is trained`);
  else
    log(
      `plan: ${plan.teachers.map((t) => `teacher ${t.name} ${t.steps} steps`).join(', ') || 'teachers cached'}; ` +
        `${plan.runs.length} student runs of ${[...new Set(plan.runs.map((r) => r.steps))].join('/')} steps; ` +
        `about ${formatDuration(plan.seconds)} on a 2-core lavapipe machine alone`,
    );

  // Teachers are trained (or found in the cache) when a run first needs one, and each
  // teacher's conflict with a student's assigner is measured then: a long study gives its
  // first results before its last teacher is trained.
  // A record's teachers.json has what was measured of each teacher in earlier sittings
  // (mAP, conflicts), so a study whose runs are all recorded needs no teacher file.
  const teacherInfoFile = recordDir ? path.join(recordDir, 'teachers.json') : null;
  const teacherInfo: Record<string, Record<string, unknown>> = teacherInfoFile && fs.existsSync(teacherInfoFile)
    ? JSON.parse(fs.readFileSync(teacherInfoFile, 'utf8'))
    : {};
  const saveTeacherInfo = () => {
    if (!teacherInfoFile) return;
    fs.mkdirSync(path.dirname(teacherInfoFile), { recursive: true });
    writeFileAtomic(teacherInfoFile, JSON.stringify(teacherInfo, null, 1));
  };
  const teachers: Record<string, string> = {};
  const teacherFor = async (name: string, student: string): Promise<string> => {
    if (!(name in teachers)) {
      const file = name === 'gfl' && args.teacherCheckpoint ? args.teacherCheckpoint : await cachedTeacher(preset.teachers[name], cacheDir, log, recordDir);
      const metricsFile = path.join(path.dirname(file), 'metrics.json');
      const metrics = fs.existsSync(metricsFile) ? JSON.parse(fs.readFileSync(metricsFile, 'utf8')) : null;
      teachers[name] = file;
      const conflict = teacherInfo[name]?.conflict;
      teacherInfo[name] = {
        checkpoint: file,
        config: readSidecar<TrainConfig, unknown>(file).config.name,
        ...(metrics?.eval ?? {}),
        ...(conflict ? { conflict } : {}),
      };
      saveTeacherInfo();
    }
    const info = teacherInfo[name] as { conflict?: Record<string, TeacherConflict> };
    if (!info.conflict || !(student in info.conflict)) {
      const c = await teacherConflict(preset.students[student], teachers[name], log);
      if (c) {
        (info.conflict ??= {})[student] = c;
        log(
          `target conflict of teacher ${name} with student ${student}'s assigner: ${(100 * c.share).toFixed(2)}% of locations (positives ${(100 * c.positives).toFixed(1)}%, negatives ${(100 * c.negatives).toFixed(2)}%)`,
        );
        saveTeacherInfo();
      }
    }
    return teachers[name];
  };

  const runs: RunResult[] = [];
  const planned = preset.runs(seeds);
  let valSet: DetectionDataset | null = null;
  // wall time and count of the runs trained from scratch (resumed ones say little of the rest)
  let fresh = { seconds: 0, runs: 0 };
  const runConfig = (run: ExperimentRun, teacher: string | null) =>
    parseConfig({
      ...preset.students[run.student],
      name: runName(run),
      seed: run.seed,
      ...(teacher === null ? {} : { distill: { method: run.method, teacher, ...(run.tap !== null ? { tap: run.tap } : {}) } }),
    });
  const reportDirs = recordDir ? [args.outDir, recordDir] : [args.outDir];
  // runs not trained yet, listed in the report (reportOnly: all unrecorded ones)
  const pending: string[] = [];
  const notYet = (k: number) => [...pending, ...planned.slice(k + 1).map(runName)];
  for (const [k, run] of planned.entries()) {
    const name = runName(run);
    // the remaining time, from the mean wall time of the runs trained so far
    const eta = fresh.runs > 0 ? `, about ${formatDuration((fresh.seconds / fresh.runs) * (planned.length - k))} left` : '';
    if (!args.reportOnly) log(`== ${name} (run ${k + 1} of ${planned.length}${eta}) ==`);
    const teacherCfg = run.teacher === null ? null : teacherConfigs[run.teacher];
    const key = runKey(runConfig(run, teacherCfg ? 'teacher' : null), teacherCfg);
    const recorded = recordDir ? readRunRecord(recordDir, name, key) : null;
    if (recorded) {
      log(`reusing finished run ${runRecordFile(recordDir!, name)}`);
      runs.push(recorded);
      continue;
    }
    if (args.reportOnly) {
      pending.push(name);
      continue;
    }
    const teacher = run.teacher === null ? null : await teacherFor(run.teacher, run.student);
    const cfg = runConfig(run, teacher);
    const outDir = path.join(args.outDir, name);
    const resume = resumable(cfg, outDir, log);
    const runStarted = performance.now();
    const r = await trainWithDistillation(cfg, { outDir, log, progress: args.progress ?? false, resume, evalEpochs: preset.evalEpochs });
    if (!resume) fresh = { seconds: fresh.seconds + (performance.now() - runStarted) / 1000, runs: fresh.runs + 1 };
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
      curve: r.evalCurve,
      losses: r.losses.map((l) => ({ step: l.step, total: l.total })),
      sampleDetections: r.evalDetections!.slice(0, REPORT_SAMPLES),
    });
    valSet = r.datasets.val;
    r.detector.dispose();
    if (recordDir) {
      fs.mkdirSync(path.dirname(runRecordFile(recordDir, name)), { recursive: true });
      writeFileAtomic(runRecordFile(recordDir, name), JSON.stringify(toRecord(key, runs[runs.length - 1])));
    }
    // the record's report follows the study too, so a sitting that ends mid-study leaves it current
    writeResults(reportDirs, args.preset, preset, teacherInfo, runs, valSet, notYet(k));
  }
  // every run recorded: the validation images for the report's samples, from the data cache
  if (valSet === null && planned.length > 0) valSet = prepareDatasets(preset.students[planned[0].student], 1, log).val;
  const markdown = writeResults(reportDirs, args.preset, preset, teacherInfo, runs, valSet, pending);
  return { teacher: teacherInfo, runs, markdown };
}
