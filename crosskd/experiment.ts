/**
 * The paper's experiments in miniature: a teacher (trained once and cached by its
 * config), then the student with each distillation method, evaluated on the same
 * validation set. Writes experiment.md, experiment.json, loss plots and report.html (the
 * runs side by side: loss curves, mAP and per-class tables, predictions on sample images).
 * Each teacher's target conflict with its students' assigners is measured first and
 * reported with the teacher.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import { latestCheckpoint, readSidecar, writeFileAtomic } from '../engine/io/checkpoint.ts';
import { Detector } from '../detection/detector.ts';
import { prepareDatasets } from '../detection/train/data.ts';
import { parseConfig, presetConfig, type TrainConfig } from '../detection/train/config.ts';
import { detectorConfig, formatDuration, train, type EvalPoint } from '../detection/train/trainer.ts';
import type { DetectionDataset } from '../detection/data/coco.ts';
import type { Detections } from '../detection/postprocess.ts';
import { PALETTE } from '../detection/plot.ts';
import { buildExperimentReport, type CurvePanel, type ReportMetrics } from '../detection/report.ts';
import type { HeadType } from '../detection/heads/index.ts';
import { loadTeacher, trainWithDistillation } from './train.ts';
import { measureTargetConflict } from './conflict.ts';
import { METHODS, type Method } from './distiller.ts';

export interface ExperimentRun {
  method: Method;
  /** the student's head type */
  head: HeadType;
  /** the student's configuration (a key of the preset's `students`) */
  student: string;
  /** the CrossKD tap index (null for the methods without a cross-head path) */
  tap: number | null;
  seed: number;
  /** the teacher (a key of the preset's `teachers`); null for the baseline */
  teacher: string | null;
}

export interface ExperimentPreset {
  /** what the preset compares (the heading of experiment.md) */
  title: string;
  /** teachers by name, each trained once and cached by its config */
  teachers: Record<string, TrainConfig>;
  /** students by name: a config and schedule each run starts from */
  students: Record<string, TrainConfig>;
  runs: (seeds: number) => ExperimentRun[];
  defaultSeeds: number;
  /** evaluate every student at the end of these epochs too (its mAP-vs-step curve); the last epoch always */
  evalEpochs?: readonly number[];
  /** the table's extra columns: mean mAP at the end of these epochs (of evalEpochs) */
  tableEpochs?: readonly number[];
  /** mAP-curve charts, each over the configurations its filter keeps (default: one chart of all) */
  curvePanels?: readonly { title: string; include: (r: ExperimentRun) => boolean }[];
  /**
   * A folder kept in the repository for a study longer than one sitting (see runExperiment):
   * the finished runs' results, the final teachers and the report live there, so a fresh
   * clone continues the study and rebuilds its tables without training again.
   */
  recordDir?: string;
}

/**
 * Schedules (one step = a batch of 8 images of 128²; 1600 training images = 200 steps per
 * epoch). `quick` must finish in under 30 minutes on a 2-core lavapipe machine alone, from
 * an empty cache. There a GFL student step takes ~0.5 s and a teacher training step ~1 s;
 * distillation steps cost 1.2× (prediction mimicking) to 1.9× (CrossKD) a student step
 * (measured on the same machine under load), taken as 0.85–1.05 s (STEP_SECONDS); an
 * evaluation ~10 s, generating the data ~40 s. So quick = a teacher of 3 epochs (600
 * steps, ~10 min) and five students of one epoch (200 steps each, ~14 min in all):
 * ~26 min (experimentPlan prints the estimate). The other small presets reuse quick's
 * cached GFL teacher.
 */
const QUICK_TEACHER_EPOCHS = { epochs: 3, lrStepEpochs: [2] };
const QUICK_STUDENT_EPOCHS = { epochs: 1, lrStepEpochs: [] as number[], warmupIters: 50 };

/** A training preset with another schedule (the architecture and data unchanged). */
function withSchedule(preset: string, schedule: Partial<TrainConfig['train']>, name = preset): TrainConfig {
  const c = presetConfig(preset);
  return parseConfig({ ...c, name, train: { ...c.train, ...schedule } }, `experiment config '${name}'`);
}

const CROSS_HEAD_METHODS: readonly Method[] = ['crosskd', 'crosskd+pkd'];

/** One run per seed of each (teacher, student, method, tap) given. */
function runsOver(seeds: number, specs: readonly Omit<ExperimentRun, 'seed' | 'head'>[], heads: Record<string, HeadType>): ExperimentRun[] {
  return Array.from({ length: seeds }, (_, seed) => specs.map((r) => ({ ...r, head: heads[r.student], seed }))).flat();
}

/** The five methods of the comparison (baseline, prediction mimicking, PKD, CrossKD, CrossKD + PKD) at tap 3. */
const methodComparison = (teacher: string, student: string) =>
  METHODS.map((method) => ({ method, student, teacher: method === 'none' ? null : teacher, tap: CROSS_HEAD_METHODS.includes(method) ? 3 : null }));
/** CrossKD at every tap i = 0…4 (0 = the FPN output). */
const tapAblation = (teacher: string, student: string) => [0, 1, 2, 3, 4].map((tap) => ({ method: 'crosskd' as const, student, teacher, tap }));
/** Baseline and CrossKD of a head type with a teacher of the same type, at the head's default tap (3; FCOS 2). */
const sameHead = (head: 'atss' | 'retina' | 'fcos') => [
  { method: 'none' as const, student: head, teacher: null, tap: null },
  { method: 'crosskd' as const, student: head, teacher: head, tap: head === 'fcos' ? 2 : 3 },
];

type Schedules = { teacher: Partial<TrainConfig['train']>; student: Partial<TrainConfig['train']> };
const OTHER_HEADS = ['atss', 'retina', 'fcos'] as const;

/** Teachers and students of every experiment, at a schedule. */
function configs(s: Schedules) {
  const teachers: Record<string, TrainConfig> = {
    gfl: withSchedule('quick-teacher', s.teacher),
    plain: withSchedule('quick-plain-teacher', s.teacher),
  };
  const students: Record<string, TrainConfig> = { gfl: withSchedule('quick-student', s.student, 'exp-student') };
  for (const h of OTHER_HEADS) {
    teachers[h] = withSchedule(`quick-${h}-teacher`, s.teacher);
    students[h] = withSchedule(`quick-${h}-student`, s.student, `exp-${h}-student`);
  }
  return { teachers, students };
}

const headsOf = (students: Record<string, TrainConfig>): Record<string, HeadType> =>
  Object.fromEntries(Object.entries(students).map(([k, c]) => [k, c.model.head.type ?? 'gfl']));

/** A preset over some of the experiments: only the teachers and students its runs use are kept. */
function preset(title: string, s: Schedules, specs: readonly Omit<ExperimentRun, 'seed' | 'head'>[], defaultSeeds: number): ExperimentPreset {
  const all = configs(s);
  const pick = <T>(rec: Record<string, T>, keys: (string | null)[]) => Object.fromEntries(Object.entries(rec).filter(([k]) => keys.includes(k)));
  const teachers = pick(
    all.teachers,
    specs.map((r) => r.teacher),
  );
  const students = pick(
    all.students,
    specs.map((r) => r.student),
  );
  return { title, teachers, students, runs: (seeds) => runsOver(seeds, specs, headsOf(students)), defaultSeeds };
}

const QUICK: Schedules = { teacher: QUICK_TEACHER_EPOCHS, student: QUICK_STUDENT_EPOCHS };
/** full: the training presets' own schedule (16 epochs, issue 4's quick teacher and student) */
const FULL: Schedules = { teacher: {}, student: {} };

/** The experiments of docs/crosskd.md §6 in miniature (issue 5 item 6). */
const EXPERIMENTS = {
  methods: methodComparison('gfl', 'gfl'),
  taps: tapAblation('gfl', 'gfl'),
  /**
   * direct mimicking vs CrossKD with a teacher whose assigner (RetinaNet's max-IoU) differs
   * from the GFL student's (ATSS), beside the same-assigner GFL teacher
   */
  conflict: [
    { method: 'none' as const, student: 'gfl', teacher: null, tap: null },
    ...(['gfl', 'retina'] as const).flatMap((teacher) => [
      { method: 'pred_mimic' as const, student: 'gfl', teacher, tap: null },
      { method: 'crosskd' as const, student: 'gfl', teacher, tap: 3 },
    ]),
  ],
  /** a teacher of the other backbone family (plain VGG-style vs the student's ResNet) */
  hetero: [
    { method: 'none' as const, student: 'gfl', teacher: null, tap: null },
    { method: 'pred_mimic' as const, student: 'gfl', teacher: 'plain', tap: null },
    { method: 'crosskd' as const, student: 'gfl', teacher: 'plain', tap: 3 },
  ],
  heads: OTHER_HEADS.flatMap(sameHead),
};

/** Runs that appear in several experiments are trained once. */
function unique<T>(specs: T[]): T[] {
  const seen = new Set<string>();
  return specs.filter((r) => {
    const key = JSON.stringify(r);
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

/**
 * The converged study (issue 16): the 16-epoch quick-teacher, students at the full 16-epoch
 * schedule with each method (seeds: `seeds` for baseline, mimicking and CrossKD, one for PKD
 * and CrossKD+PKD), CrossKD's taps 0…4 and the conflicting RetinaNet teacher, every
 * student evaluated after epoch 1 and every second epoch. Run order puts the method
 * comparison's first seed first, so a study cut short still answers the main question.
 */
function converged(): ExperimentPreset {
  const { teachers, students } = configs(FULL);
  const methods = EXPERIMENTS.methods;
  const seeded = new Set<Method>(['none', 'pred_mimic', 'crosskd']);
  const specs = (seeds: number) => [
    ...methods,
    ...Array.from({ length: seeds - 1 }, (_, k) => methods.filter((r) => seeded.has(r.method)).map((r) => ({ ...r, seed: k + 1 }))).flat(),
    ...EXPERIMENTS.taps.filter((r) => r.tap !== 3),
    ...EXPERIMENTS.conflict.filter((r) => r.teacher === 'retina'),
  ];
  const isTap3OrNone = (r: ExperimentRun) => r.tap === null || r.tap === 3;
  return {
    title: "converged study on GFL: methods, taps and the conflicting teacher at the training presets' 16-epoch schedule",
    teachers: { gfl: teachers.gfl, retina: teachers.retina },
    students: { gfl: students.gfl },
    runs: (seeds) => specs(seeds).map((r) => ({ seed: 0, ...r, head: 'gfl' as const })),
    defaultSeeds: 2,
    // kept in the repository: the study takes several sittings, each in a fresh clone
    recordDir: 'docs/results/converged',
    evalEpochs: [1, 2, 4, 6, 8, 10, 12, 14],
    tableEpochs: [1, 4],
    curvePanels: [
      { title: 'methods (GFL teacher, tap 3)', include: (r) => r.teacher !== 'retina' && isTap3OrNone(r) },
      { title: 'CrossKD tap index', include: (r) => r.method === 'crosskd' && r.teacher === 'gfl' },
      {
        title: 'conflicting teacher (RetinaNet) vs the GFL teacher',
        include: (r) => (r.method === 'none' || r.method === 'pred_mimic' || r.method === 'crosskd') && isTap3OrNone(r),
      },
    ],
  };
}

export const EXPERIMENT_PRESETS: Record<string, () => ExperimentPreset> = {
  /** seconds-long, for tests: the tiny configs, baseline and CrossKD */
  smoke: () => {
    const tiny = presetConfig('tiny');
    return {
      title: 'smoke test (tiny configs)',
      teachers: { gfl: { ...tiny, name: 'tiny-teacher', seed: 5 } },
      students: { gfl: tiny },
      runs: (seeds) =>
        runsOver(
          seeds,
          methodComparison('gfl', 'gfl').filter((r) => r.method === 'none' || r.method === 'crosskd'),
          { gfl: 'gfl' },
        ),
      defaultSeeds: 1,
    };
  },
  /** the method comparison on GFL: ~26 min from an empty cache (see the schedules above) */
  quick: () => preset('method comparison on GFL (quick schedule)', QUICK, EXPERIMENTS.methods, 1),
  /** CrossKD at taps 0…4: ~18 min with quick's teacher cached, ~28 min without */
  taps: () => preset('tap-index ablation on GFL (quick schedule)', QUICK, EXPERIMENTS.taps, 1),
  /** RetinaNet teacher → GFL student vs a GFL teacher: ~25 min with quick's teacher cached */
  conflict: () => preset('conflicting teacher: RetinaNet (max-IoU) vs GFL (ATSS) teacher, GFL student (quick schedule)', QUICK, EXPERIMENTS.conflict, 1),
  /** plain-backbone teacher → ResNet student: ~19 min */
  hetero: () => preset('heterogeneous backbones: plain teacher, ResNet student (quick schedule)', QUICK, EXPERIMENTS.hetero, 1),
  /** CrossKD on ATSS, RetinaNet and FCOS: ~50 min (three teachers; RetinaNet's steps are ~20% slower) */
  heads: () => preset('CrossKD on ATSS, RetinaNet and FCOS (quick schedule)', QUICK, EXPERIMENTS.heads, 1),
  /** every experiment at the training presets' 16-epoch schedule, 3 seeds (mean ± std): ~48 h on 2 cores */
  full: () => preset("all experiments (the training presets' 16-epoch schedule)", FULL, unique(Object.values(EXPERIMENTS).flat()), 3),
  /** the converged study: ~10 h on 2 cores (several sittings; resumable) */
  converged,
};

const configKey = (cfg: TrainConfig) => createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 12);

const teacherDir = (cfg: TrainConfig, cacheDir: string) => path.join(cacheDir, `${cfg.name}-${configKey(cfg)}`);

/** The finished teacher checkpoint of cfg in the cache (trained and evaluated), or null. */
export function findCachedTeacher(cfg: TrainConfig, cacheDir: string): string | null {
  const dir = teacherDir(cfg, cacheDir);
  const latest = latestCheckpoint(dir);
  if (!latest || !fs.existsSync(path.join(dir, 'metrics.json'))) return null;
  const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
  return metrics.steps === metrics.total_steps && metrics.eval ? latest : null;
}

/** Where a study's record keeps its final teachers. */
const recordTeachers = (recordDir: string) => path.join(recordDir, 'teachers');

/**
 * A finished teacher checkpoint for cfg: reused from the record or the cache, or trained
 * into the cache. With a record, the final checkpoint (weights, sidecar, metrics.json; no
 * optimizer state) is copied there and used from there, so the students' configs name a
 * teacher that a fresh clone has too.
 */
export async function cachedTeacher(cfg: TrainConfig, cacheDir: string, log: (m: string) => void, recordDir: string | null = null): Promise<string> {
  const kept = recordDir ? findCachedTeacher(cfg, recordTeachers(recordDir)) : null;
  if (kept) {
    log(`reusing teacher ${kept}`);
    return kept;
  }
  let file = findCachedTeacher(cfg, cacheDir);
  if (file) log(`reusing teacher ${file}`);
  else {
    const dir = teacherDir(cfg, cacheDir);
    log(`training teacher '${cfg.name}' into ${dir}`);
    const r = await train(cfg, { outDir: dir, log, resume: latestCheckpoint(dir) !== null });
    r.detector.dispose();
    file = r.lastCheckpoint!;
  }
  return recordDir ? keepTeacher(file, teacherDir(cfg, recordTeachers(recordDir)), log) : file;
}

/** Copies a finished teacher checkpoint into dir without its optimizer state; returns the copy's sidecar. */
function keepTeacher(sidecarFile: string, dir: string, log: (m: string) => void): string {
  const from = path.dirname(sidecarFile);
  const sidecar = readSidecar(sidecarFile);
  fs.mkdirSync(dir, { recursive: true });
  // weights and metrics first: findCachedTeacher sees the copy only once its sidecar is there
  fs.copyFileSync(path.join(from, sidecar.weights), path.join(dir, sidecar.weights));
  fs.copyFileSync(path.join(from, 'metrics.json'), path.join(dir, 'metrics.json'));
  const to = path.join(dir, path.basename(sidecarFile));
  writeFileAtomic(to, JSON.stringify({ ...sidecar, optimizer: null }, null, 1));
  log(`kept teacher ${sidecarFile} as ${to}`);
  return to;
}

/**
 * A finished run kept in a study's record: its result (sample detections as plain arrays,
 * which JSON keeps) and the key of the config it was trained with.
 */
interface RunRecord {
  config_key: string;
  result: Omit<RunResult, 'sampleDetections'> & { sampleDetections: { bboxes: number[]; scores: number[]; labels: number[] }[] };
}

const toRecord = (key: string, r: RunResult): RunRecord => ({
  config_key: key,
  result: { ...r, sampleDetections: r.sampleDetections.map((d) => ({ bboxes: [...d.bboxes], scores: [...d.scores], labels: [...d.labels] })) },
});

const fromRecord = (record: RunRecord): RunResult => ({
  ...record.result,
  sampleDetections: record.result.sampleDetections.map((d) => ({
    bboxes: Float64Array.from(d.bboxes),
    scores: Float64Array.from(d.scores),
    labels: Int32Array.from(d.labels),
  })),
});

const runRecordFile = (recordDir: string, name: string) => path.join(recordDir, 'runs', `${name}.json`);

/** The recorded result of run `name`, or null; a record of another config is an error, not silently replaced. */
function readRunRecord(recordDir: string, name: string, key: string): RunResult | null {
  const file = runRecordFile(recordDir, name);
  if (!fs.existsSync(file)) return null;
  let record: RunRecord;
  try {
    record = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); remove it to train run '${name}' again`);
  }
  if (record.config_key !== key)
    throw new Error(`${file} records run '${name}' with config ${record.config_key}, the preset now gives ${key}; remove it to train the run again`);
  return fromRecord(record);
}

/**
 * The key a run is recorded under: its config with the teacher's checkpoint path replaced by
 * the teacher's config key, so the key does not depend on where the teacher file lies.
 */
function runKey(cfg: TrainConfig, teacherCfg: TrainConfig | null): string {
  if (!cfg.distill || !teacherCfg) return configKey(cfg);
  return configKey({ ...cfg, distill: { ...cfg.distill, teacher: `config ${configKey(teacherCfg)}` } });
}

/**
 * Whether a run's folder holds a checkpoint of this very config (an experiment that
 * stopped part-way, rerun with the same command): then the run resumes from it, and a
 * finished one is only evaluated again. A checkpoint of another config is an error, not
 * silently overwritten.
 */
function resumable(cfg: TrainConfig, outDir: string, log: (m: string) => void): boolean {
  const latest = latestCheckpoint(outDir);
  if (!latest) return false;
  if (JSON.stringify(readSidecar(latest).config) !== JSON.stringify(cfg))
    throw new Error(`${latest} was written with another config than run '${cfg.name}' now has; remove ${outDir} or choose another --out`);
  log(`continuing from ${latest}`);
  return true;
}

/**
 * Seconds per training step (batch 8, 128²) measured on a 2-core machine with lavapipe
 * alone, for the plan's estimate: a teacher, and a student per method (distillation adds
 * the teacher's forward and the KD terms).
 */
export const STEP_SECONDS: Record<Method | 'teacher', number> = { teacher: 1.0, none: 0.5, pred_mimic: 0.85, pkd: 0.85, crosskd: 1.0, 'crosskd+pkd': 1.05 };
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

/** Target conflict of a teacher with one student's assigner (shares of the validation set's locations). */
export interface TeacherConflict {
  share: number;
  positives: number;
  negatives: number;
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

export interface RunResult extends ExperimentRun, ReportMetrics {
  seconds: number;
  /** mAP after each of the preset's evalEpochs and at the end */
  curve: EvalPoint[];
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
  /** use this checkpoint as the preset's GFL teacher ('gfl') instead of the cached/trained one */
  teacherCheckpoint?: string;
  log?: (m: string) => void;
  /** a progress bar with ETA per training run (on a terminal) instead of log lines */
  progress?: boolean;
  /** the study's record (default: the preset's recordDir); false: none */
  recordDir?: string | false;
}): Promise<{ teacher: Record<string, unknown>; runs: RunResult[]; markdown: string }> {
  const log = args.log ?? ((m: string) => console.log(m));
  const make = EXPERIMENT_PRESETS[args.preset];
  if (!make) throw new Error(`unknown experiment preset '${args.preset}' (known: ${Object.keys(EXPERIMENT_PRESETS).join(', ')})`);
  const preset = make();
  const seeds = args.seeds ?? preset.defaultSeeds;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${seeds}`);
  const cacheDir = args.cacheDir ?? '.cache/teachers';
  const recordDir = args.recordDir === false ? null : (args.recordDir ?? preset.recordDir ?? null);
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
    }
    const info = teacherInfo[name] as { conflict?: Record<string, TeacherConflict> };
    if (!info.conflict || !(student in info.conflict)) {
      const c = await teacherConflict(preset.students[student], teachers[name], log);
      if (c) {
        (info.conflict ??= {})[student] = c;
        log(
          `target conflict of teacher ${name} with student ${student}'s assigner: ${(100 * c.share).toFixed(2)}% of locations (positives ${(100 * c.positives).toFixed(1)}%, negatives ${(100 * c.negatives).toFixed(2)}%)`,
        );
        if (teacherInfoFile) writeFileAtomic(teacherInfoFile, JSON.stringify(teacherInfo, null, 1));
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
  for (const [k, run] of planned.entries()) {
    const name = runName(run);
    // the remaining time, from the mean wall time of the runs trained so far
    const eta = fresh.runs > 0 ? `, about ${formatDuration((fresh.seconds / fresh.runs) * (planned.length - k))} left` : '';
    log(`== ${name} (run ${k + 1} of ${planned.length}${eta}) ==`);
    const teacherCfg = run.teacher === null ? null : teacherConfigs[run.teacher];
    const key = runKey(runConfig(run, teacherCfg ? 'teacher' : null), teacherCfg);
    const recorded = recordDir ? readRunRecord(recordDir, name, key) : null;
    if (recorded) {
      log(`reusing finished run ${runRecordFile(recordDir!, name)}`);
      runs.push(recorded);
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
    writeResults(args.outDir, args.preset, preset, teacherInfo, runs, valSet);
  }
  // every run recorded: the validation images for the report's samples, from the data cache
  if (valSet === null && planned.length > 0) valSet = prepareDatasets(preset.students[planned[0].student], 1, log).val;
  const markdown = writeResults(args.outDir, args.preset, preset, teacherInfo, runs, valSet);
  if (recordDir) writeResults(recordDir, args.preset, preset, teacherInfo, runs, valSet);
  return { teacher: teacherInfo, runs, markdown };
}

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

function writeResults(
  outDir: string,
  presetName: string,
  preset: ExperimentPreset,
  teacher: Record<string, unknown>,
  runs: RunResult[],
  valSet: DetectionDataset | null,
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
    '',
    `Loss curves (total loss, moving average): losses.png — ${legend.join('; ')}`,
    '',
    ...curveLines.flatMap((l) => [l, '']),
    'The same with per-class AP and predictions on validation images: report.html',
    '',
  ].join('\n');
  writeFileAtomic(path.join(outDir, 'experiment.md'), markdown);
  writeFileAtomic(
    path.join(outDir, 'experiment.json'),
    JSON.stringify({ teacher, runs: runs.map(({ losses: _l, sampleDetections: _d, ...r }) => r) }, null, 1),
  );
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
  for (const f of report.files) writeFileAtomic(path.join(outDir, f.name), f.bytes);
  writeFileAtomic(path.join(outDir, 'report.html'), report.html);
  return markdown;
}
