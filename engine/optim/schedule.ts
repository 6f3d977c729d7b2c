/**
 * Learning-rate schedules as pure functions of the iteration, as mmdetection configures
 * them: linear warm-up (from ratio·lr over `iters` iterations) times step decay.
 */
export interface ScheduleConfig {
  baseLr: number;
  warmupIters?: number;
  /** warm-up starts at warmupRatio·baseLr (mmdetection: 0.001) */
  warmupRatio?: number;
  /** iterations at which lr is multiplied by gamma */
  steps?: number[];
  gamma?: number;
}

export function learningRate(cfg: ScheduleConfig, iter: number): number {
  const { baseLr, warmupIters = 0, warmupRatio = 0.001, steps = [], gamma = 0.1 } = cfg;
  if (!(baseLr >= 0)) throw new Error(`schedule: baseLr must be ≥ 0, got ${baseLr}`);
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw new Error(`schedule: warmupRatio must be in [0, 1], got ${warmupRatio}`);
  let lr = baseLr * gamma ** steps.filter((s) => iter >= s).length;
  if (iter < warmupIters) {
    // mmengine LinearLR: factor goes linearly from warmupRatio to 1
    const k = warmupRatio + (1 - warmupRatio) * (iter / warmupIters);
    lr *= k;
  }
  return lr;
}
