/**
 * The experiment presets: which teachers, students, methods, taps and seeds each compares,
 * at which schedule (docs/crosskd.md §6 in miniature, and the converged study).
 */
import { parseConfig, presetConfig, type TrainConfig } from '../detection/train/config.ts';
import type { HeadType } from '../detection/heads/index.ts';
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
  /** the converged study: ~6 h on 2 cores (several sittings; resumable, its record kept in docs/results/converged) */
  converged,
};
