/**
 * Training-step rows: one step of the trainer (detection/train/step.ts, through a StepRig
 * built as train() builds its parts: the preset's optimizer, data and batch size) for
 * quick-teacher, quick-student, and quick-student distilled with CrossKD (tap 3) from a
 * quick-teacher. The teacher keeps its initial weights: a step's cost does not depend on
 * what the teacher has learned.
 *
 * ours ms:  the whole step — loader, targets, upload, forward, loss, backward, clipping,
 *           update — with one sync at the end (the harness's median).
 * GFLOP/s:  the step's convolution and matmul FLOPs over that time, and its share of the
 *           FMA ceiling.
 * extra:    from one profiled step (engine/profiler.ts): fwd/bwd/opt_ms, the GPU time of
 *           each phase's dispatches; data_ms and targets_ms, the CPU time of the loader and
 *           of the head's targets; dispatches per step; conv_gflop per step; img_per_s.
 * No TF.js counterpart.
 */
import * as E from '../../engine/index.ts';
import { distillationLoss } from '../../crosskd/distiller.ts';
import { initialTeacher } from '../../crosskd/train.ts';
import type { Detector } from '../../detection/detector.ts';
import { presetConfig } from '../../detection/train/config.ts';
import { profileStep, type StepProfile } from '../../detection/train/profile.ts';
import { stepRig, type StepRig } from '../../detection/train/stepRig.ts';
import { median, type Case, type Workload } from '../harness.ts';

function trainStepWorkload(role: string, preset: string, teacherPreset?: string): Workload {
  const cfg = presetConfig(preset);
  const size = 'synthetic' in cfg.data ? cfg.data.synthetic.imageSize : cfg.data.imageSize;
  const w: Workload = {
    name: `train step ${role} (${preset}${teacherPreset ? ` ← ${teacherPreset}, crosskd tap 3` : ''}) batch ${cfg.train.batchSize} ${size}×${size}`,
    pass: 'step',
    async ours(): Promise<Case> {
      const rt = E.runtime();
      let teacher: Detector | null = null;
      let built: StepRig | null = null;
      let prof: StepProfile;
      try {
        built = stepRig(cfg, {
          setupExtraLoss: teacherPreset
            ? (student) => {
                teacher = initialTeacher(presetConfig(teacherPreset));
                return distillationLoss(student, teacher, { method: 'crosskd', tap: 3 });
              }
            : undefined,
        });
        // the profiled step doubles as the harness's first warm-up
        prof = await profileStep(built);
      } catch (e) {
        built?.dispose();
        (teacher as Detector | null)?.dispose();
        throw e;
      }
      const rig = built;
      w.flops = prof.flops;
      const phase = (name: string) => prof.phases.find((p) => p.name === name);
      const stepMs: number[] = [];
      return {
        async run() {
          const t = performance.now();
          rig.step().values.dispose();
          await rt.sync();
          stepMs.push(performance.now() - t);
        },
        async extra(opts) {
          const whole = median(stepMs.slice(-opts.iterations));
          return {
            fwd_ms: phase('forward')?.gpuMs ?? 0,
            bwd_ms: phase('backward')?.gpuMs ?? 0,
            opt_ms: phase('optimizer')?.gpuMs ?? 0,
            data_ms: phase('data')?.cpuMs ?? 0,
            targets_ms: phase('targets')?.cpuMs ?? 0,
            dispatches: prof.dispatches,
            conv_gflop: prof.flops / 1e9,
            img_per_s: (cfg.train.batchSize * 1000) / whole,
          };
        },
        dispose() {
          rig.dispose();
          (teacher as Detector | null)?.dispose();
        },
      };
    },
  };
  return w;
}

const train: Workload[] = [
  trainStepWorkload('teacher', 'quick-teacher'),
  trainStepWorkload('student', 'quick-student'),
  trainStepWorkload('crosskd student', 'quick-student', 'quick-teacher'),
];

export default train;
