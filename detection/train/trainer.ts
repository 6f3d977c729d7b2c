/**
 * The training loop: seeded data order, the head's targets on the CPU, forward/backward/update
 * on the GPU inside one scope per step, loss scalars read back every `logEvery` steps
 * (never inside a step), atomic checkpoints every `checkpointEvery` steps, resumable to
 * the same losses, and a final COCO evaluation.
 *
 * Distillation plugs in through `extraLoss`: it receives the student's outputs and the
 * batch and returns more loss terms (crosskd/ uses it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import * as E from '../../engine/index.ts';
import { learningRate } from '../../engine/optim/index.ts';
import {
  latestCheckpoint,
  loadOptimizerState,
  loadWeights,
  NonFiniteCheckpointError,
  readSidecar,
  saveCheckpoint,
  writeFileAtomic,
} from '../../engine/io/checkpoint.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { Detector } from '../detector.ts';
import { DetectionLoader, type LoaderState } from '../data/loader.ts';
import { prepareDatasets, type Datasets } from './data.ts';
import { evaluateDetector } from './evaluate.ts';
import type { TrainConfig } from './config.ts';
import type { CocoEvalResult } from '../eval/coco.ts';
import type { Detections } from '../postprocess.ts';
import { buildRunReport, type ReportMetrics } from '../report.ts';
import { detectorConfig, lrSchedule, makeOptimizer, trainStep, type ExtraLoss } from './step.ts';

export { detectorConfig, type ExtraLossContext } from './step.ts';

export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly term: string,
    readonly value: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(`non-finite loss in training step ${step + 1} (loss record step ${step}): term '${term}' = ${value}; ` + lastGood(lastCheckpoint));
    this.name = 'NonFiniteLossError';
  }
}

const lastGood = (checkpoint: string | null) =>
  checkpoint ? `last good checkpoint: ${checkpoint} (resume with --resume)` : 'no checkpoint was written before it';

export interface TrainOptions {
  outDir: string;
  resume?: boolean;
  /** stop after this many steps of this invocation (tests of kill-and-resume) */
  maxSteps?: number;
  evaluate?: boolean;
  /**
   * Called once the model exists, before any step (so bad pairings fail early): returns
   * more loss terms per step (distillation), added to the detection loss.
   */
  setupExtraLoss?: (detector: Detector) => ExtraLoss | undefined;
  /** extra data stored in checkpoints (e.g. the teacher's checkpoint path) */
  checkpointExtra?: Record<string, unknown>;
  log?: (msg: string) => void;
  /** progress bar on a TTY; plain log lines otherwise */
  progress?: boolean;
  datasets?: Datasets;
  /** called after each step is submitted, with the number of steps done (soak sampling) */
  onStep?: (done: number) => void | Promise<void>;
  /**
   * Evaluate on the validation set at the end of these epochs too (a mAP-vs-step curve; the
   * last step is always evaluated when `evaluate` is on). Evaluation changes nothing in
   * training, so the config, and with it resuming, does not depend on it.
   */
  evalEpochs?: readonly number[];
}

/** One point of a run's mAP-vs-step curve. */
export interface EvalPoint {
  step: number;
  epoch: number;
  mAP: number;
  mAP50: number;
  mAP75: number;
}

export interface LossRecord {
  step: number;
  lr: number;
  [term: string]: number;
}

export interface TrainResult {
  detector: Detector;
  losses: LossRecord[];
  eval: CocoEvalResult | null;
  /** the evaluations after `evalEpochs` and at the end, in step order (kept across resumes) */
  evalCurve: EvalPoint[];
  /** the detections on each validation image (dataset order) when evaluated */
  evalDetections: Detections[] | null;
  imagesPerSecond: number;
  seconds: number;
  lastCheckpoint: string | null;
  datasets: Datasets;
}

/** Seconds as "1h02m", "4m05s" or "12s" (progress lines). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

export async function train(cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? ((m: string) => console.log(m));
  await E.init();
  const detector = new Detector(detectorConfig(cfg));
  const extraLoss = opts.setupExtraLoss?.(detector);
  const datasets = opts.datasets ?? prepareDatasets(cfg, detector.sizeDivisor, log);
  const { padSize } = datasets;
  const optimizer = makeOptimizer(cfg, detector.trainableParameters());
  const stepsPerEpoch = Math.ceil(datasets.train.records.length / cfg.train.batchSize);
  const totalSteps = stepsPerEpoch * cfg.train.epochs;
  const schedule = lrSchedule(cfg, stepsPerEpoch);

  let startStep = 0;
  let loaderState: LoaderState | undefined;
  let losses: LossRecord[] = [];
  let lastCheckpoint: string | null = null;
  let trainSeconds = 0;
  let evalCurve: EvalPoint[] = [];
  for (const e of opts.evalEpochs ?? [])
    if (!Number.isInteger(e) || e < 1 || e > cfg.train.epochs)
      throw new Error(`evaluation epochs: expected integers in 1…${cfg.train.epochs} (the run's epochs), got ${e}`);
  if (opts.resume) {
    const sidecarFile = latestCheckpoint(opts.outDir);
    if (!sidecarFile) throw new Error(`--resume: no checkpoint in ${opts.outDir}`);
    const sidecar = readSidecar<TrainConfig, LoaderState>(sidecarFile);
    if (JSON.stringify(sidecar.config) !== JSON.stringify(cfg))
      throw new Error(`--resume: ${sidecarFile} was written with another config (name '${(sidecar.config as TrainConfig).name}'); resume with the same config`);
    loadWeights(detector, path.join(path.dirname(sidecarFile), sidecar.weights));
    loadOptimizerState(optimizer, sidecarFile, sidecar as never, (name) => detector.currentKey(name));
    startStep = sidecar.step;
    loaderState = sidecar.loader;
    losses = (sidecar.extra.losses as LossRecord[]) ?? [];
    trainSeconds = (sidecar.extra.trainSeconds as number) ?? 0;
    evalCurve = ((sidecar.extra.evalCurve as EvalPoint[]) ?? []).filter((p) => p.step <= startStep);
    lastCheckpoint = sidecarFile;
    // temporary files of writes a killed run left unfinished (never a checkpoint: the
    // sidecar of a checkpoint is renamed into place last)
    for (const f of fs.readdirSync(opts.outDir)) if (/\.tmp-\d+$/.test(f)) fs.rmSync(path.join(opts.outDir, f));
    log(`resumed from ${sidecarFile} at step ${startStep}`);
  }
  fs.mkdirSync(opts.outDir, { recursive: true });

  const loader = new DetectionLoader(datasets.train, { batchSize: cfg.train.batchSize, seed: cfg.seed, flipProb: cfg.train.flipProb, padSize }, loaderState);

  // loss scalars of the steps since the last readback, one [terms] tensor per step
  let pending: { step: number; lr: number; values: Tensor; names: string[] }[] = [];
  const flushLosses = async () => {
    for (const p of pending) {
      let values: E.TensorData;
      try {
        values = await p.values.data();
      } catch (e) {
        // anomaly mode names the op; add where the run stands
        if (e instanceof E.AnomalyError) e.message += ` (raised reading the losses of training step ${p.step + 1}; ${lastGood(lastCheckpoint)})`;
        throw e;
      }
      p.values.dispose();
      const record: LossRecord = { step: p.step, lr: p.lr };
      p.names.forEach((name, i) => {
        if (!Number.isFinite(values[i])) throw new NonFiniteLossError(p.step, name, values[i], lastCheckpoint);
        record[name] = values[i];
      });
      losses.push(record);
    }
    pending = [];
  };

  const useBar = (opts.progress ?? process.stdout.isTTY) === true;
  const bar = useBar
    ? new cliProgress.SingleBar(
        {
          format: `${cfg.name} [{bar}] {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}`,
          hideCursor: true,
          // stdout: the terminal itself; stderr passes through the npm scripts' filter (scripts/launch.mjs)
          stream: process.stdout,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(totalSteps, startStep, { loss: '-', ips: '-' });

  const evalAt = new Set((opts.evaluate === false ? [] : (opts.evalEpochs ?? [])).map((e) => e * stepsPerEpoch).filter((s) => s < totalSteps));
  const evaluate = async () => {
    const numVal = datasets.val.records.length;
    log(`${cfg.name}: evaluating on ${numVal} validation images`);
    const evalBar = useBar
      ? new cliProgress.SingleBar(
          { format: `${cfg.name} eval [{bar}] {value}/{total} batches | ETA {eta_formatted}`, hideCursor: true, stream: process.stdout },
          cliProgress.Presets.shades_classic,
        )
      : null;
    evalBar?.start(Math.ceil(numVal / cfg.train.batchSize), 0);
    const out = await evaluateDetector(detector, datasets.val, { padSize, batchSize: cfg.train.batchSize, onBatch: (done) => evalBar?.update(done) });
    evalBar?.stop();
    return out;
  };
  const addCurvePoint = (step: number, r: CocoEvalResult) => {
    evalCurve.push({ step, epoch: step / stepsPerEpoch, mAP: r.mAP, mAP50: r.mAP50, mAP75: r.mAP75 });
    log(`${cfg.name}: step ${step} (epoch ${+(step / stepsPerEpoch).toFixed(2)}) mAP ${(100 * r.mAP).toFixed(1)}`);
  };

  const maxStep = Math.min(totalSteps, startStep + (opts.maxSteps ?? Infinity));
  let t0 = performance.now();
  let imagesSinceT0 = 0;
  let evalSecondsSinceT0 = 0;
  let ips = 0;
  for (let step = startStep; step < maxStep; step++) {
    const batch = loader.next();
    const lr = learningRate(schedule, step);
    const { values, names } = trainStep({ detector, optimizer, batch, step, lr, clipGradNorm: cfg.train.clipGradNorm, extraLoss });
    pending.push({ step, lr, values, names });
    // Submit the step (its released buffers become reusable) and keep the CPU at most a
    // step or two ahead of the GPU.
    await E.runtime().settle(2);
    imagesSinceT0 += batch.shape[0];
    const done = step + 1;
    if (done % cfg.train.logEvery === 0 || done === maxStep) {
      await flushLosses();
      const secs = (performance.now() - t0) / 1000 - evalSecondsSinceT0;
      evalSecondsSinceT0 = 0;
      trainSeconds += secs;
      ips = imagesSinceT0 / secs;
      t0 = performance.now();
      imagesSinceT0 = 0;
      const last = losses[losses.length - 1];
      const summary = names.map((n) => `${n} ${last[n].toFixed(4)}`).join(' ');
      if (bar) bar.update(done, { loss: last.total.toFixed(4), ips: ips.toFixed(1) });
      else
        log(
          `${cfg.name} step ${done}/${totalSteps} lr ${lr.toExponential(2)} ${summary} | ${ips.toFixed(1)} img/s | ETA ${formatDuration(((maxStep - done) * cfg.train.batchSize) / ips)}`,
        );
    }
    if (evalAt.has(done)) {
      await flushLosses();
      const evalStarted = performance.now();
      bar?.stop();
      addCurvePoint(done, (await evaluate()).result);
      bar?.start(totalSteps, done, { loss: losses.at(-1)?.total.toFixed(4) ?? '-', ips: ips.toFixed(1) });
      // the evaluation's time is not training time
      evalSecondsSinceT0 += (performance.now() - evalStarted) / 1000;
    }
    if (done % cfg.train.checkpointEvery === 0 || done === totalSteps) {
      await flushLosses();
      lastCheckpoint = await saveCheckpoint({
        dir: opts.outDir,
        step: done,
        model: detector,
        optimizer,
        config: cfg,
        loader: loader.state,
        extra: { losses, trainSeconds, evalCurve, ...opts.checkpointExtra },
      }).catch((e: Error) => {
        if (e instanceof NonFiniteCheckpointError) e.message += `; ${lastGood(lastCheckpoint)}`;
        throw e;
      });
    }
    await opts.onStep?.(done);
  }
  bar?.stop();
  await flushLosses();

  let evalResult: CocoEvalResult | null = null;
  let evalDetections: Detections[] | null = null;
  const finished = maxStep === totalSteps;
  if (finished && opts.evaluate !== false) {
    const out = await evaluate();
    [evalResult, evalDetections] = [out.result, out.detections];
    // a finished run evaluated again (resumed at its last step) has this point already
    if (evalCurve.at(-1)?.step !== totalSteps) addCurvePoint(totalSteps, out.result);
  }
  const imagesPerSecond = trainSeconds > 0 ? ((maxStep - 0) * cfg.train.batchSize) / trainSeconds : 0;
  const metrics: ReportMetrics | null = evalResult
    ? {
        mAP: evalResult.mAP,
        mAP50: evalResult.mAP50,
        mAP75: evalResult.mAP75,
        mAP_s: evalResult.mAP_s,
        mAP_m: evalResult.mAP_m,
        mAP_l: evalResult.mAP_l,
        per_class: evalResult.per_class,
      }
    : null;
  writeFileAtomic(
    path.join(opts.outDir, 'metrics.json'),
    JSON.stringify(
      {
        name: cfg.name,
        steps: maxStep,
        total_steps: totalSteps,
        loss: losses,
        eval: metrics,
        eval_curve: evalCurve,
        images_per_s: imagesPerSecond,
        train_seconds: trainSeconds,
      },
      null,
      1,
    ),
  );
  const report = buildRunReport({
    name: cfg.name,
    facts: [
      `${maxStep} of ${totalSteps} steps (batch ${cfg.train.batchSize}, ${cfg.train.epochs} epoch(s) over ${datasets.train.records.length} images), ${trainSeconds.toFixed(1)} s of training, ${imagesPerSecond.toFixed(1)} images/s`,
      `model: ${cfg.model.backbone.type} backbone (stages ${cfg.model.backbone.stageChannels.join('/')}), GFL head ${cfg.model.head.featChannels} channels × ${cfg.model.head.stackedConvs} convs; ${cfg.distill && cfg.distill.method !== 'none' ? `distilled (${cfg.distill.method}) from ${cfg.distill.teacher}` : 'no distillation'}`,
      `written ${new Date().toISOString()}; metrics.json holds the same figures`,
    ],
    losses,
    metrics,
    samples: evalDetections ? { dataset: datasets.val, detections: evalDetections } : null,
    curve: evalCurve,
  });
  for (const f of report.files) writeFileAtomic(path.join(opts.outDir, f.name), f.bytes);
  writeFileAtomic(path.join(opts.outDir, 'report.html'), report.html);
  optimizer.dispose();
  return { detector, losses, eval: evalResult, evalCurve, evalDetections, imagesPerSecond, seconds: trainSeconds, lastCheckpoint, datasets };
}
