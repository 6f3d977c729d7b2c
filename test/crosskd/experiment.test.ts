import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { latestCheckpoint } from '../../engine/io/checkpoint.ts';
import { EVAL_SECONDS, EXPERIMENT_PRESETS, STEP_SECONDS, curvePanels, experimentPlan, resultsTable, runExperiment, runName } from '../../crosskd/experiment.ts';

beforeAll(async () => {
  await E.init();
});

describe('experiment runner', () => {
  it('trains a cached teacher, the students per method, and writes table, JSON and plot', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-exp-'));
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-teachers-'));
    const logs: string[] = [];
    const r = await runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, log: (m) => logs.push(m) });
    expect(r.runs.map((x) => x.method)).toEqual(['none', 'crosskd']);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'experiment.json'), 'utf8'));
    expect(Object.keys(json)).toEqual(['teacher', 'runs']);
    for (const run of json.runs) for (const k of ['method', 'head', 'tap', 'seed', 'mAP', 'mAP50', 'mAP75']) expect(run).toHaveProperty(k);
    expect(json.runs.map((x: { teacher: string | null; tap: number | null }) => [x.teacher, x.tap])).toEqual([
      [null, null],
      ['gfl', 3],
    ]);
    // the teacher's target conflict with the student's assigner, measured before the runs
    const conflict = json.teacher.gfl.conflict.gfl;
    for (const k of ['share', 'positives', 'negatives']) expect(conflict[k]).toBeGreaterThanOrEqual(0);
    expect(conflict.share).toBeLessThanOrEqual(Math.max(conflict.positives, conflict.negatives));
    const md = fs.readFileSync(path.join(out, 'experiment.md'), 'utf8');
    expect(md).toMatch(
      /^- gfl: tiny-teacher, mAP .*; target conflict with the gfl student's assigner \d+\.\d\d% of locations \(positives \d+\.\d%, negatives \d+\.\d\d%\)$/m,
    );
    expect(md).toMatch(/^\| – \| gfl \(gfl\) \| none \| – \| 1 \| \d+\.\d \|/m);
    expect(md).toMatch(/^\| gfl \| gfl \(gfl\) \| crosskd \| 3 \| 1 \| \d+\.\d \|/m);
    const png = decode(fs.readFileSync(path.join(out, 'losses.png')));
    expect([png.width, png.height]).toEqual([640, 360]);
    // a second run reuses the cached teacher, and the finished runs: evaluated again, not retrained
    const again: string[] = [];
    const r2 = await runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, log: (m) => again.push(m) });
    expect(again.some((m) => m.startsWith('reusing teacher'))).toBe(true);
    expect(again.filter((m) => m.startsWith('continuing from '))).toHaveLength(2);
    expect(
      again.filter((m) => / step \d+\/\d+ /.test(m)),
      'training step lines',
    ).toEqual([]);
    expect(r2.runs.map((x) => [x.mAP, x.seconds])).toEqual(r.runs.map((x) => [x.mAP, x.seconds]));
    // a run folder whose checkpoint has another config is refused, not overwritten
    const file = latestCheckpoint(path.join(out, 'baseline-gfl-seed0'))!;
    const json2 = JSON.parse(fs.readFileSync(file, 'utf8'));
    json2.config.train.epochs += 1;
    fs.writeFileSync(file, JSON.stringify(json2));
    await expect(runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, log: () => {} })).rejects.toThrow(
      /checkpoint-\d+\.json was written with another config than run 'baseline-gfl-seed0' now has; remove .*baseline-gfl-seed0 or choose another --out/,
    );
  });

  it('continues a study from its record in a fresh clone: finished runs and the final teacher reused, nothing trained', async () => {
    const record = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-record-'));
    const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-exp-'));
    const first: string[] = [];
    const r = await runExperiment({ preset: 'smoke', outDir: tmp(), cacheDir: tmp(), recordDir: record, log: (m) => first.push(m) });
    // the final teacher is kept without its optimizer state, and the students name the kept copy
    const kept = latestCheckpoint(path.join(record, 'teachers', fs.readdirSync(path.join(record, 'teachers'))[0]))!;
    expect(JSON.parse(fs.readFileSync(kept, 'utf8')).optimizer).toBeNull();
    expect(fs.readdirSync(path.dirname(kept)).filter((f) => f.includes('optim'))).toEqual([]);
    expect((r.teacher.gfl as { checkpoint: string }).checkpoint).toBe(kept);
    expect(fs.readdirSync(path.join(record, 'runs')).sort()).toEqual(r.runs.map((x) => `${runName(x)}.json`).sort());
    for (const f of ['experiment.md', 'experiment.json', 'report.html', 'teachers.json']) expect(fs.existsSync(path.join(record, f)), f).toBe(true);
    // a fresh clone: empty run folders and teacher cache, the same record
    const again: string[] = [];
    const r2 = await runExperiment({ preset: 'smoke', outDir: tmp(), cacheDir: tmp(), recordDir: record, log: (m) => again.push(m) });
    expect(again.filter((m) => m.startsWith('reusing finished run '))).toHaveLength(2);
    expect(again.filter((m) => /training teacher| step \d+\/\d+ |continuing from/.test(m))).toEqual([]);
    expect(again[0]).toMatch(/^plan: teachers cached; 0 student runs/);
    expect(r2.runs).toEqual(r.runs);
    expect(r2.teacher).toEqual(r.teacher);
    // report only: a study part-way (one record gone) is tabulated as far as it got, nothing trained
    fs.renameSync(path.join(record, 'runs', 'baseline-gfl-seed0.json'), path.join(record, 'baseline.json.bak'));
    const partial: string[] = [];
    const r3 = await runExperiment({ preset: 'smoke', outDir: tmp(), cacheDir: tmp(), recordDir: record, reportOnly: true, log: (m) => partial.push(m) });
    expect(r3.runs.map(runName)).toEqual(['gfl-to-gfl-crosskd-tap3-seed0']);
    expect(partial.filter((m) => /training teacher| step \d+\/\d+ |continuing from/.test(m))).toEqual([]);
    expect(fs.readFileSync(path.join(record, 'experiment.md'), 'utf8')).toContain(
      'Not trained yet (1 of 2 runs; the same command continues the study): baseline-gfl-seed0.',
    );
    fs.renameSync(path.join(record, 'baseline.json.bak'), path.join(record, 'runs', 'baseline-gfl-seed0.json'));
    await expect(runExperiment({ preset: 'smoke', outDir: tmp(), cacheDir: tmp(), reportOnly: true, log: () => {} })).rejects.toThrow(
      "--report-only tabulates a study's record, and preset 'smoke' keeps none (presets with a record: converged)",
    );
    // a record of another config is refused, not silently replaced
    const file = path.join(record, 'runs', 'baseline-gfl-seed0.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), config_key: 'abc' }));
    await expect(runExperiment({ preset: 'smoke', outDir: tmp(), cacheDir: tmp(), recordDir: record, log: () => {} })).rejects.toThrow(
      /baseline-gfl-seed0\.json records run 'baseline-gfl-seed0' with config abc, the preset now gives [0-9a-f]{12}; remove it to train the run again/,
    );
  });

  it('stopped in the middle of a run, the same command ends with the results of an uninterrupted study', async () => {
    const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-exp-'));
    const cache = tmp();
    const whole = await runExperiment({ preset: 'smoke', outDir: tmp(), cacheDir: cache, recordDir: false, log: () => {} });
    const out = tmp();
    // the process "dies" at step 3 of 4 of the second run (its checkpoint of step 2 is on disk)
    let runsStarted = 0;
    const dying = (m: string) => {
      if (m.startsWith('== ')) runsStarted++;
      if (runsStarted === 2 && / step 3\/4 /.test(m)) throw new Error('killed');
    };
    await expect(runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, recordDir: false, log: dying })).rejects.toThrow('killed');
    const logs: string[] = [];
    const resumed = await runExperiment({ preset: 'smoke', outDir: out, cacheDir: cache, recordDir: false, log: (m) => logs.push(m) });
    expect(logs.filter((m) => m.startsWith('continuing from ')).map((m) => path.basename(m))).toEqual(['checkpoint-0000004.json', 'checkpoint-0000002.json']);
    // everything but the wall times is the uninterrupted study's
    const withoutTimes = (runs: typeof whole.runs) => runs.map(({ seconds: _s, ...rest }) => rest);
    expect(withoutTimes(resumed.runs)).toEqual(withoutTimes(whole.runs));
    const json = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'experiment.json'), 'utf8'));
    expect(withoutTimes(json(out).runs)).toEqual(withoutTimes(resumed.runs.map(({ losses: _l, sampleDetections: _d, ...x }) => x) as typeof whole.runs));
  });

  it('tabulates the seeds of a configuration as mean ± sample std', () => {
    const run = { method: 'crosskd' as const, head: 'gfl' as const, student: 'gfl', teacher: 'gfl', tap: 3 };
    const rows = resultsTable([
      { ...run, seed: 0, mAP: 0.3, mAP50: 0.5, mAP75: 0.25, seconds: 100 },
      { ...run, seed: 1, mAP: 0.34, mAP50: 0.5, mAP75: 0.35, seconds: 120 },
      { ...run, method: 'none', teacher: null, tap: null, seed: 0, mAP: 0.2, mAP50: 0.4, mAP75: 0.1, seconds: 50 },
    ]);
    // mean 32.0, std √((2² + 2²) / 1) = 2.8; 50.0 ± 0.0; 30.0 ± 7.1; 110 s
    expect(rows.slice(2)).toEqual([
      '| gfl | gfl (gfl) | crosskd | 3 | 2 | 32.0 ± 2.8 | 50.0 ± 0.0 | 30.0 ± 7.1 | 110 |',
      '| – | gfl (gfl) | none | – | 1 | 20.0 | 40.0 | 10.0 | 50 |',
    ]);
  });

  it("adds the mAP after given epochs from the runs' curves, and charts each configuration as its seeds' mean", () => {
    const run = { method: 'crosskd' as const, head: 'gfl' as const, student: 'gfl', teacher: 'gfl', tap: 3, mAP50: 0.5, mAP75: 0.3, seconds: 10 };
    const curve = (a: number, b: number, c: number) => [
      { step: 200, epoch: 1, mAP: a, mAP50: 0, mAP75: 0 },
      { step: 400, epoch: 2, mAP: b, mAP50: 0, mAP75: 0 },
      { step: 800, epoch: 4, mAP: c, mAP50: 0, mAP75: 0 },
    ];
    const runs = [
      { ...run, seed: 0, mAP: 0.4, curve: curve(0.1, 0.2, 0.4) },
      { ...run, seed: 1, mAP: 0.44, curve: curve(0.14, 0.3, 0.44) },
      { ...run, method: 'none' as const, teacher: null, tap: null, seed: 0, mAP: 0.3, curve: curve(0.05, 0.1, 0.3).slice(0, 2) },
    ];
    const rows = resultsTable(runs, [1, 4]);
    expect(rows[0]).toBe('| teacher | student | method | tap | seeds | mAP ep 1 | mAP ep 4 | mAP | mAP50 | mAP75 | train s |');
    // epoch 1: (10 + 14) / 2 = 12.0 ± √8 = 2.8; epoch 4: 42.0 ± 2.8; the baseline has no epoch-4 point
    expect(rows.slice(2)).toEqual([
      '| gfl | gfl (gfl) | crosskd | 3 | 2 | 12.0 ± 2.8 | 42.0 ± 2.8 | 42.0 ± 2.8 | 50.0 ± 0.0 | 30.0 ± 0.0 | 10 |',
      '| – | gfl (gfl) | none | – | 1 | 5.0 | – | 30.0 | 50.0 | 30.0 | 10 |',
    ]);
    const full = runs.map((r) => ({ ...r, per_class: {}, mAP_s: 0, mAP_m: 0, mAP_l: 0, losses: [], sampleDetections: [] }));
    const [panel] = curvePanels({}, full);
    expect(panel.file).toBe('map-curves.png');
    expect(panel.series.map((c) => c.name)).toEqual(['gfl→gfl crosskd tap 3 (mean of 2 seeds)', 'gfl baseline']);
    expect(panel.series[0].points.map((p) => p.step)).toEqual([200, 400, 800]);
    expect(panel.series[0].points[1].mAP).toBeCloseTo(0.25, 12);
    const two = curvePanels(
      {
        curvePanels: [
          { title: 'a', include: (r) => r.teacher === null },
          { title: 'b', include: () => true },
        ],
      },
      full,
    );
    expect(two.map((p) => [p.file, p.series.length])).toEqual([
      ['map-curves-0.png', 1],
      ['map-curves-1.png', 2],
    ]);
  });

  it('rejects an unknown preset and a bad seed count', async () => {
    await expect(runExperiment({ preset: 'medium', outDir: os.tmpdir() })).rejects.toThrow(
      /unknown experiment preset 'medium' \(known: smoke, quick, taps, conflict, hetero, heads, full, converged\)/,
    );
    await expect(runExperiment({ preset: 'smoke', seeds: 0, outDir: os.tmpdir() })).rejects.toThrow(/--seeds must be a positive integer, got 0/);
  });

  it('rejects --teacher for a preset without a GFL teacher', async () => {
    await expect(runExperiment({ preset: 'heads', teacherCheckpoint: 'x.json', outDir: os.tmpdir() })).rejects.toThrow(
      /--teacher replaces the GFL teacher, which preset 'heads' does not use \(its teachers: atss, retina, fcos\)/,
    );
  });
});

describe('experiment presets', () => {
  const empty = () => fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-nocache-'));
  const specs = (name: string, seeds = 1) =>
    EXPERIMENT_PRESETS[name]()
      .runs(seeds)
      .map((r) => `${r.teacher ?? '-'}>${r.student}(${r.head}):${r.method}@${r.tap ?? '-'}#${r.seed}`);

  it('quick: the five methods on GFL; a 3-epoch teacher and 1-epoch students, planned under 30 minutes', () => {
    expect(specs('quick')).toEqual([
      '->gfl(gfl):none@-#0',
      'gfl>gfl(gfl):pred_mimic@-#0',
      'gfl>gfl(gfl):pkd@-#0',
      'gfl>gfl(gfl):crosskd@3#0',
      'gfl>gfl(gfl):crosskd+pkd@3#0',
    ]);
    const preset = EXPERIMENT_PRESETS.quick();
    const plan = experimentPlan(preset, 1, empty());
    // 1600 images / batch 8 = 200 steps per epoch
    expect(plan.teachers).toEqual([{ name: 'gfl', steps: 600 }]);
    expect(plan.runs.map((r) => r.steps)).toEqual([200, 200, 200, 200, 200]);
    const perStudentStep = STEP_SECONDS.none + STEP_SECONDS.pred_mimic + STEP_SECONDS.pkd + STEP_SECONDS.crosskd + STEP_SECONDS['crosskd+pkd'];
    expect(plan.seconds).toBeCloseTo(600 * STEP_SECONDS.teacher + 200 * perStudentStep + 6 * EVAL_SECONDS, 6);
    expect(plan.seconds).toBeLessThan(30 * 60);
    // a teacher given on the command line is not trained
    expect(experimentPlan(preset, 1, empty(), ['gfl']).teachers).toEqual([]);
  });

  it('taps, conflict, hetero and heads cover the other experiments of docs/crosskd.md §6', () => {
    expect(specs('taps')).toEqual([0, 1, 2, 3, 4].map((i) => `gfl>gfl(gfl):crosskd@${i}#0`));
    expect(specs('conflict')).toEqual([
      '->gfl(gfl):none@-#0',
      'gfl>gfl(gfl):pred_mimic@-#0',
      'gfl>gfl(gfl):crosskd@3#0',
      'retina>gfl(gfl):pred_mimic@-#0',
      'retina>gfl(gfl):crosskd@3#0',
    ]);
    expect(Object.keys(EXPERIMENT_PRESETS.conflict().teachers)).toEqual(['gfl', 'retina']);
    expect(specs('hetero')).toEqual(['->gfl(gfl):none@-#0', 'plain>gfl(gfl):pred_mimic@-#0', 'plain>gfl(gfl):crosskd@3#0']);
    expect(EXPERIMENT_PRESETS.hetero().teachers.plain.model.backbone.type).toBe('plain');
    expect(specs('heads')).toEqual([
      '->atss(atss):none@-#0',
      'atss>atss(atss):crosskd@3#0',
      '->retina(retina):none@-#0',
      'retina>retina(retina):crosskd@3#0',
      '->fcos(fcos):none@-#0',
      'fcos>fcos(fcos):crosskd@2#0',
    ]);
  });

  it("full: every experiment once per seed (runs shared by two experiments trained once), at the training presets' schedule", () => {
    const full = specs('full', 2);
    expect(new Set(full).size).toBe(full.length);
    for (const name of ['quick', 'taps', 'conflict', 'hetero', 'heads'])
      for (const seed of [0, 1]) for (const r of specs(name)) expect(full).toContain(r.replace('#0', `#${seed}`));
    const preset = EXPERIMENT_PRESETS.full();
    expect(preset.defaultSeeds).toBe(3);
    for (const cfg of [...Object.values(preset.teachers), ...Object.values(preset.students)]) expect(cfg.train).toEqual(presetConfig('quick-teacher').train);
  });

  it('converged: the 16-epoch teachers; methods (2 seeds for baseline, mimicking, CrossKD), taps and the RetinaNet teacher at 16 epochs', () => {
    const c = specs('converged', 2);
    expect(c).toEqual([
      '->gfl(gfl):none@-#0',
      'gfl>gfl(gfl):pred_mimic@-#0',
      'gfl>gfl(gfl):pkd@-#0',
      'gfl>gfl(gfl):crosskd@3#0',
      'gfl>gfl(gfl):crosskd+pkd@3#0',
      '->gfl(gfl):none@-#1',
      'gfl>gfl(gfl):pred_mimic@-#1',
      'gfl>gfl(gfl):crosskd@3#1',
      'gfl>gfl(gfl):crosskd@0#0',
      'gfl>gfl(gfl):crosskd@1#0',
      'gfl>gfl(gfl):crosskd@2#0',
      'gfl>gfl(gfl):crosskd@4#0',
      'retina>gfl(gfl):pred_mimic@-#0',
      'retina>gfl(gfl):crosskd@3#0',
    ]);
    expect(specs('converged', 3).filter((r) => r.endsWith('#2'))).toEqual(['->gfl(gfl):none@-#2', 'gfl>gfl(gfl):pred_mimic@-#2', 'gfl>gfl(gfl):crosskd@3#2']);
    const preset = EXPERIMENT_PRESETS.converged();
    expect(preset.defaultSeeds).toBe(2);
    expect(preset.teachers.gfl).toEqual(presetConfig('quick-teacher'));
    expect(preset.teachers.retina).toEqual(presetConfig('quick-retina-teacher'));
    expect(preset.students.gfl).toEqual({ ...presetConfig('quick-student'), name: 'exp-student' });
    expect(preset.evalEpochs).toEqual([1, 2, 4, 6, 8, 10, 12, 14]);
    // 3200 steps per student; each run evaluated 9 times
    const plan = experimentPlan(preset, 2, empty());
    expect(plan.teachers).toEqual([
      { name: 'gfl', steps: 3200 },
      { name: 'retina', steps: 3200 },
    ]);
    expect(new Set(plan.runs.map((r) => r.steps))).toEqual(new Set([3200]));
    const studentSeconds = plan.runs.reduce((a, r) => a + 3200 * STEP_SECONDS[r.method] + 9 * EVAL_SECONDS, 0);
    expect(plan.seconds).toBeCloseTo(2 * (3200 * STEP_SECONDS.teacher + EVAL_SECONDS) + studentSeconds, 6);
    // the charts: the method comparison, the taps, the conflicting teacher
    const runs = preset.runs(2);
    const panels = preset.curvePanels!;
    expect(panels.map((p) => runs.filter(p.include).length)).toEqual([8, 6, 8]);
  });
});
