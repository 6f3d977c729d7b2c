/**
 * Training a student with distillation: the config's `distill` section names the method,
 * the teacher checkpoint and the tap. The teacher is loaded and checked against the
 * student before the first step.
 */
import type { Detector } from '../detection/detector.ts';
import type { TrainConfig } from '../detection/train/config.ts';
import { train, type TrainOptions, type TrainResult } from '../detection/train/trainer.ts';
import { distillationLoss, loadTeacher } from './distiller.ts';

export async function trainWithDistillation(cfg: TrainConfig, opts: Omit<TrainOptions, 'setupExtraLoss'>): Promise<TrainResult> {
  const d = cfg.distill;
  if (!d || d.method === 'none') return train(cfg, opts);
  let teacher: Detector | null = null;
  try {
    return await train(cfg, {
      ...opts,
      checkpointExtra: { ...opts.checkpointExtra, teacher: d.teacher, method: d.method },
      setupExtraLoss: (student) => {
        teacher = loadTeacher(d.teacher);
        return distillationLoss(student, teacher, { method: d.method, tap: d.tap, weights: d.weights });
      },
    });
  } finally {
    (teacher as Detector | null)?.dispose();
  }
}
