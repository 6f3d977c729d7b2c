/**
 * The float64 reference ops by op id: the ids, input names and attributes of
 * docs/op-cases.md, so a parity
 * case or a GPU op test can look up its oracle by the same id.
 */
import type { RefOp } from './types.ts';
import { boxReferenceOps } from './boxes.ts';
import { convReferenceOps } from './conv.ts';
import { lossReferenceOps } from './losses.ts';
import { elementwiseReferenceOps } from './elementwise.ts';
import { gatherReferenceOps } from './gather.ts';
import { matmulReferenceOps } from './matmul.ts';
import { movementReferenceOps } from './movement.ts';
import { normReferenceOps } from './norm.ts';
import { reduceReferenceOps } from './reduce.ts';
import { softmaxReferenceOps } from './softmax.ts';

export type { RefAttrs, RefOp, RefTensor } from './types.ts';
export { boxReferenceOps, convReferenceOps, lossReferenceOps, normReferenceOps };

export const referenceOps: Record<string, RefOp> = {
  // add sub mul div maximum minimum pow, neg exp log sqrt abs sigmoid relu, clamp, where
  ...elementwiseReferenceOps,
  // sum mean max
  ...reduceReferenceOps,
  // softmax log_softmax
  ...softmaxReferenceOps,
  // matmul
  ...matmulReferenceOps,
  // reshape permute transpose slice concat pad upsample_nearest2x max_pool2d
  ...movementReferenceOps,
  // index_select index_add
  ...gatherReferenceOps,
  // conv2d
  ...convReferenceOps,
  // group_norm batch_norm batch_norm_running_stats
  ...normReferenceOps,
  // sigmoid_focal_loss quality_focal_loss kd_quality_focal_loss distribution_focal_loss kd_kl_div generalized_box_iou_loss iou_loss
  ...lossReferenceOps,
  // integral distance2bbox bbox2distance
  ...boxReferenceOps,
};

/** The op for `id`, or an Error listing the known ids (a typo should not read as "missing op"). */
export function getReferenceOp(id: string): RefOp {
  // Own properties only, so 'toString' and friends are not mistaken for ops.
  const op = Object.hasOwn(referenceOps, id) ? referenceOps[id] : undefined;
  if (!op) throw new Error(`reference: unknown op id '${id}' (known: ${Object.keys(referenceOps).sort().join(', ')})`);
  return op;
}
