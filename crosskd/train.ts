/**
 * Training a student with distillation: the config's `distill` section names the method,
 * the teacher checkpoint and the tap. The teacher is loaded and checked against the
 * student before the first step.
 */
import * as path from 'node:path';
import { loadWeights, readSidecar } from '../engine/io/checkpoint.ts';
import { FileFormatError } from '../engine/io/format.ts';
import { Detector } from '../detection/detector.ts';
import type { TrainConfig } from '../detection/train/config.ts';
import { detectorConfig, train, type TrainOptions, type TrainResult } from '../detection/train/trainer.ts';
import { distillationLoss } from './distiller.ts';

/** Loads a frozen teacher from a checkpoint sidecar (config and weights must agree). */
export function loadTeacher(sidecarFile: string): Detector {
  const sidecar = readSidecar<TrainConfig, unknown>(sidecarFile);
  const teacher = new Detector(detectorConfig(sidecar.config));
  try {
    loadWeights(teacher, path.join(path.dirname(sidecarFile), sidecar.weights));
  } catch (e) {
    teacher.dispose();
    if (e instanceof FileFormatError) throw e;
    throw new Error(`teacher checkpoint does not match its config: ${(e as Error).message}`);
  }
  return teacher.freeze().eval();
}

/**
 * A frozen teacher of a config with its initial weights: what timing a distillation step
 * needs (a step costs the same whatever the teacher has learned), no checkpoint required.
 */
export function initialTeacher(cfg: TrainConfig): Detector {
  return new Detector(detectorConfig(cfg)).freeze().eval();
}

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
        return distillationLoss(student, teacher, { method: d.method, tap: d.tap, weights: d.weights, adapter: d.adapter });
      },
    });
  } finally {
    (teacher as Detector | null)?.dispose();
  }
}
