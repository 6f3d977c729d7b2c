/**
 * Argument errors of the references built on engine/reference/args.ts (conv, norm, losses, boxes): each names the op, the argument, the expected and the actual.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { referenceOps as ops } from '../../engine/reference/index.ts';
import { t, normalT, uniformT } from './helpers.ts';

describe('argument validation names op, argument, expected and actual', () => {
  const rng = new Rng(1);
  const x = normalT(rng, [1, 3, 4, 4]);

  it('conv2d: channels not divisible by groups', () => {
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 1, 3, 3]) }, { groups: 2 })).toThrow(
      /conv2d: argument 'x' expected a channel count divisible by groups = 2, got Cin = 3/,
    );
  });

  it('conv2d: weight shape mismatch, bias shape mismatch', () => {
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 2, 3, 3]) }, {})).toThrow(
      /conv2d: argument 'weight' expected shape \[4,3,kh,kw\].*got shape \[4,2,3,3\]/,
    );
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 3, 3, 3]), bias: normalT(rng, [3]) }, {})).toThrow(
      /conv2d: argument 'bias' expected shape \[4\], got shape \[3\]/,
    );
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 3, 9, 9]) }, {})).toThrow(/conv2d: argument 'x'.*got 4x4/);
    expect(() => ops.conv2d.forward({ x, weight: normalT(rng, [4, 3, 3, 3]) }, { stride: [0, 1] })).toThrow(
      /conv2d: argument 'stride' expected \[h, w\] of integers ≥ 1, got \[0,1\]/,
    );
  });

  it('group_norm: channels not divisible by num_groups, missing input', () => {
    expect(() => ops.group_norm.forward({ x, weight: normalT(rng, [3]), bias: normalT(rng, [3]) }, { num_groups: 2 })).toThrow(
      /group_norm: argument 'x' expected a channel count divisible by num_groups = 2, got C = 3/,
    );
    expect(() => ops.group_norm.forward({ x, weight: normalT(rng, [4]) }, { num_groups: 1 })).toThrow(
      /group_norm: argument 'weight' expected shape \[3\], got shape \[4\]/,
    );
    expect(() => ops.group_norm.forward({}, { num_groups: 1 })).toThrow(/group_norm: argument 'x' expected a tensor, got nothing/);
  });

  it('quality_focal_loss: labels outside [0, C] or not integers', () => {
    const pred = normalT(rng, [2, 3]);
    const score = uniformT(rng, [2]);
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [0, 4]), score }, { beta: 2, num_classes: 3 })).toThrow(
      /quality_focal_loss: argument 'label' expected integers in \[0, 3\] \(3 = background\), got label\[1\] = 4/,
    );
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [-1, 0]), score }, { beta: 2, num_classes: 3 })).toThrow(/label\[0\] = -1/);
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [0.5, 0]), score }, { beta: 2, num_classes: 3 })).toThrow(/label\[0\] = 0.5/);
    expect(() => ops.quality_focal_loss.forward({ pred, label: t([2], [0, 1]), score }, { beta: 2, num_classes: 4 })).toThrow(
      /quality_focal_loss: argument 'num_classes' expected pred.shape\[1\] = 3, got 4/,
    );
  });

  it('box losses: x2 < x1 or y2 < y1', () => {
    const good = t([2, 4], [0, 0, 1, 1, 0, 0, 2, 2]);
    const bad = t([2, 4], [0, 0, 1, 1, 3, 0, 2, 2]);
    for (const opId of ['generalized_box_iou_loss', 'iou_loss']) {
      expect(() => ops[opId].forward({ boxes1: good, boxes2: bad }, { eps: 1e-6, reduction: 'none' })).toThrow(
        new RegExp(`${opId}: argument 'boxes2' expected boxes with x2 ≥ x1 and y2 ≥ y1, got boxes2\\[1\\] = \\[3, 0, 2, 2\\]`),
      );
    }
    expect(() => ops.bbox2distance.forward({ points: t([2, 2], [0, 0, 0, 0]), bbox: bad }, {})).toThrow(
      /bbox2distance: argument 'bbox' expected boxes with x2 ≥ x1/,
    );
  });

  it('reg_max mismatch with the bin count', () => {
    const pred = normalT(rng, [2, 17]);
    expect(() => ops.distribution_focal_loss.forward({ pred, target: t([2], [1, 2]) }, { reg_max: 7 })).toThrow(
      /distribution_focal_loss: argument 'pred' expected shape \[N,8\] \(reg_max \+ 1 bins for reg_max = 7\), got shape \[2,17\]/,
    );
    expect(() => ops.integral.forward({ pred }, { reg_max: 16.5 })).toThrow(/integral: argument 'reg_max' expected an integer ≥ 1, got 16.5/);
    expect(() => ops.distribution_focal_loss.forward({ pred, target: t([2], [1, 16]) }, { reg_max: 16 })).toThrow(
      /distribution_focal_loss: argument 'target' expected values in \[0, 16\), got target\[1\] = 16/,
    );
  });

  it('unknown reduction strings', () => {
    const boxes = t([1, 4], [0, 0, 1, 1]);
    expect(() => ops.generalized_box_iou_loss.forward({ boxes1: boxes, boxes2: boxes }, { eps: 1e-6, reduction: 'mean' })).toThrow(
      /generalized_box_iou_loss: argument 'reduction' expected one of 'none' \| 'sum', got "mean"/,
    );
    const logits = normalT(rng, [2, 2]);
    expect(() => ops.sigmoid_focal_loss.forward({ logits, targets: logits }, { reduction: 'avg' })).toThrow(
      /sigmoid_focal_loss: argument 'reduction' expected one of 'none' \| 'sum', got "avg"/,
    );
    expect(() => ops.kd_kl_div.forward({ pred: logits, soft_label: logits }, { T: 1, bin_reduction: 'max' })).toThrow(
      /kd_kl_div: argument 'bin_reduction' expected one of 'sum' \| 'mean', got "max"/,
    );
    expect(() => ops.kd_quality_focal_loss.forward({ pred: logits, soft_target: logits }, { class_reduction: 'mean' })).toThrow(
      /kd_quality_focal_loss: argument 'class_reduction' expected one of 'sum' \| 'none', got "mean"/,
    );
  });

  it('data length must match shape', () => {
    expect(() => ops.integral.forward({ pred: { shape: [2, 5], data: new Float64Array(9) } }, { reg_max: 4 })).toThrow(
      /integral: argument 'pred' expected 10 values for shape \[2,5\], got 9/,
    );
  });
});
