/**
 * mmdetection's Integral holds the bin positions 0, 1, …, reg_max as a buffer, so GFL
 * checkpoints written by mmdetection carry `bbox_head.integral.project`. The engine's
 * integral op computes the positions itself; this constant lets such checkpoints load and
 * checks that their reg_max is the head's.
 */
import { Module } from '../../engine/nn/index.ts';

export class Integral extends Module {
  constructor(readonly regMax: number) {
    super();
    this.constant(
      'project',
      [regMax + 1],
      Float32Array.from({ length: regMax + 1 }, (_, i) => i),
    );
  }
}
