/**
 * Training-step rows (issue 4, item 7): one SGD step of the detectors of the presets
 * quick-teacher and quick-student, batch 8, on 128×128 synthetic images generated in
 * memory. The step is the trainer's (detection/train/trainer.ts): images uploaded,
 * forward, QFL + GIoU + DFL loss, backward, gradient-norm clipping, SGD update, zeroGrad,
 * all in one scope. ATSS targets are built once on the CPU (the trainer does it per step in
 * the data pipeline; their time is reported as targets_ms, outside the step).
 *
 * ours ms: the whole step with one sync at the end (the harness's median).
 * extra:   fwd_ms, bwd_ms, opt_ms: the same work with a sync after each phase. A scope must
 *          be synchronous and backward needs the forward's tensors alive, so the backward
 *          is the difference, per iteration, between forward+backward and forward alone
 *          (each synced); the optimizer phase (clip, update, zeroGrad) runs on the
 *          gradients the forward+backward left and is timed directly.
 *          dispatches: kernel dispatches of one whole step (runtime().stats delta).
 *          img_per_s: batch / median whole-step time.
 * No TF.js counterpart.
 */
import * as E from '../../engine/index.ts';
import { SGD, clipGradNorm } from '../../engine/optim/index.ts';
import { Detector } from '../../detection/detector.ts';
import { inMemoryCocoDataset } from '../../detection/data/coco.ts';
import { DetectionLoader, featmapSizesFor, validPriorFlags } from '../../detection/data/loader.ts';
import { generateDataset } from '../../detection/data/synthetic.ts';
import { buildAtssTargets } from '../../detection/heads/gflTargets.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { detectorConfig } from '../../detection/train/trainer.ts';
import { median, type Case, type TimingOptions, type Workload } from '../harness.ts';

const BATCH = 8;
const SIZE = 128;

function trainStepWorkload(role: string, preset: string): Workload {
  return {
    name: `train step ${role} (${preset}) batch ${BATCH} ${SIZE}×${SIZE}`,
    pass: 'step',
    async ours(): Promise<Case> {
      const cfg = presetConfig(preset);
      const o = cfg.train.optimizer;
      if (o.type !== 'sgd') throw new Error(`preset ${preset}: the training-step bench expects SGD, the preset has ${o.type}`);
      const detector = new Detector(detectorConfig(cfg)).train();
      const named = detector.trainableParameters();
      const params = named.map(([, p]) => p);
      const optimizer = new SGD(named, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });

      const { coco, images } = generateDataset({ seed: 4242, numImages: BATCH, imageSize: SIZE });
      const dataset = inMemoryCocoDataset(coco, images, 'bench batch');
      const batch = new DetectionLoader(dataset, { batchSize: BATCH, shuffle: false, flipProb: 0, padSize: [SIZE, SIZE] }).next();
      const t0 = performance.now();
      const flags = validPriorFlags(batch, detector.anchorGenerator, featmapSizesFor(batch.padSize, detector.strides));
      const targets = buildAtssTargets(
        detector.priors(SIZE, SIZE),
        detector.strides,
        batch.gtBoxes.map((b, i) => ({ gtBoxes: b, gtLabels: batch.gtLabels[i], validFlags: flags[i] })),
        cfg.numClasses,
      );
      const targetsMs = performance.now() - t0;

      const rt = E.runtime();
      const forwardLoss = () => detector.bboxHead.loss(detector.forward(E.tensor(batch.images, batch.shape)), targets).total;
      const update = () => {
        const clip = cfg.train.clipGradNorm ? clipGradNorm(params, cfg.train.clipGradNorm) : null;
        optimizer.step(clip?.factor);
        optimizer.zeroGrad();
      };
      const stepMs: number[] = [];
      let dispatches = 0;
      return {
        async run() {
          const d0 = rt.stats.dispatches;
          const t = performance.now();
          E.scope(() => {
            E.backward(forwardLoss());
            update();
          });
          await rt.sync();
          stepMs.push(performance.now() - t);
          dispatches = rt.stats.dispatches - d0;
        },
        async extra(opts: TimingOptions) {
          const fwd: number[] = [];
          const bwd: number[] = [];
          const opt: number[] = [];
          const timed = async (fn: () => void) => {
            const t = performance.now();
            E.scope(fn);
            await rt.sync();
            return performance.now() - t;
          };
          for (let i = 0; i < opts.warmup + opts.iterations; i++) {
            const f = await timed(() => void forwardLoss());
            const fb = await timed(() => E.backward(forwardLoss()));
            const u = await timed(update);
            if (i < opts.warmup) continue;
            fwd.push(f);
            bwd.push(fb - f);
            opt.push(u);
          }
          const whole = median(stepMs.slice(-opts.iterations));
          return {
            fwd_ms: median(fwd),
            bwd_ms: median(bwd),
            opt_ms: median(opt),
            dispatches,
            img_per_s: (BATCH * 1000) / whole,
            targets_ms: targetsMs,
          };
        },
        dispose() {
          optimizer.dispose();
          detector.dispose();
        },
      };
    },
  };
}

const train: Workload[] = [trainStepWorkload('teacher', 'quick-teacher'), trainStepWorkload('student', 'quick-student')];

export default train;
