/**
 * A CrossKD-distilled student's fields in an mmdetection config, as the CrossKD
 * reference's configs/crosskd/*.py write them: the detector type (CrossKDGFL, CrossKDATSS,
 * CrossKDRetinaNet, CrossKDFCOS), `teacher_config` and `teacher_ckpt`, and `kd_cfg` with the
 * KD losses, their weights (ours: KD_WEIGHTS and the run's distill.weights) and
 * `reused_teacher_head_idx` (our tap: the same count of tower blocks).
 */
import type { Detector } from '../detection/detector.ts';
import { MMDET_DETECTOR_TYPES, MmdetExportError } from '../detection/mmdet/config.ts';
import type { DistillConfig } from '../detection/train/config.ts';
import { KD_WEIGHTS } from './losses.ts';

/**
 * The model-dict keys over the student's own (type, teacher, kd_cfg) for methods the
 * reference expresses (crosskd, crosskd+pkd); null for the others, whose students export
 * as plain detectors. `teacherDir` holds the teacher's exported config.py and model.pth.
 */
export function crosskdModelFields(student: Detector, teacher: Detector, d: DistillConfig, teacherDir: string): Record<string, unknown> | null {
  if (d.method !== 'crosskd' && d.method !== 'crosskd+pkd') return null;
  const type = teacher.bboxHead.type;
  if (student.bboxHead.type !== type)
    throw new MmdetExportError(
      `CrossKD from a ${type} teacher into a ${student.bboxHead.type} student has no mmdetection equivalent (the reference reuses a teacher head of the student's type)`,
    );
  if (d.adapter)
    throw new MmdetExportError(
      "distill.adapter (a 1×1 conv between heads of different widths) has no mmdetection equivalent; the reference's CrossKD needs equal head widths",
    );
  const w = { ...KD_WEIGHTS[type], ...d.weights };
  const kdQfl = { type: 'KDQualityFocalLoss', beta: 1, loss_weight: w.cls };
  const kd: Record<string, unknown> =
    type === 'gfl'
      ? {
          loss_cls_kd: kdQfl,
          loss_reg_kd: { type: 'KnowledgeDistillationKLDivLoss', class_reduction: 'sum', T: w.T, loss_weight: w.reg },
          // CrossKDGFL builds a box KD term too; ours has none for GFL (the KL on the distributions is the reg KD)
          loss_bbox_kd: { type: 'GIoULoss', loss_weight: 0.0 },
        }
      : type === 'atss'
        ? {
            loss_cls_kd: kdQfl,
            loss_reg_kd: { type: 'GIoULoss', loss_weight: w.reg },
            loss_center_kd: { type: 'CrossEntropyLoss', use_sigmoid: true, loss_weight: w.center },
          }
        : type === 'retina'
          ? { loss_cls_kd: kdQfl, loss_reg_kd: { type: 'GIoULoss', loss_weight: w.reg } }
          : { loss_cls_kd: kdQfl, loss_reg_kd: { type: 'IoULoss', loss_weight: w.reg } };
  if (d.method === 'crosskd+pkd') kd.loss_feat_kd = { type: 'PKDLoss', loss_weight: d.weights?.pkd ?? 1 };
  kd.reused_teacher_head_idx = d.tap ?? teacher.bboxHead.defaultTap;
  return {
    type: `CrossKD${MMDET_DETECTOR_TYPES[type]}`,
    teacher_config: `{{ fileDirname }}/${teacherDir}/config.py`,
    teacher_ckpt: `{{ fileDirname }}/${teacherDir}/model.pth`,
    kd_cfg: kd,
  };
}
