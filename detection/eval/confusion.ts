/**
 * Class confusion of a detector, separating "where" from "what": for each ground-truth
 * object, the highest-scoring detection of ANY class that overlaps it at IoU ≥ a threshold,
 * and the class that detection carries. AP mixes localisation and classification; this
 * says which of the two is failing (e.g. every object found, but mostly with the wrong
 * class). Crowd boxes are ignored, as in COCO.
 */
import { bboxOverlaps } from '../boxes.ts';
import type { DetectionRecord } from '../data/coco.ts';
import type { Detections } from '../postprocess.ts';

export interface ClassConfusion {
  /** matrix[gt][pred]: objects of class gt whose best overlapping detection is of class pred; column C counts objects with none */
  matrix: number[][];
  objects: number;
  /** objects with some detection at IoU ≥ threshold */
  found: number;
  /** found objects whose best overlapping detection has the right class */
  rightClass: number;
  iouThreshold: number;
}

export function classConfusion(
  records: readonly Pick<DetectionRecord, 'boxes' | 'labels'>[],
  detections: readonly Detections[],
  numClasses: number,
  iouThreshold = 0.5,
): ClassConfusion {
  if (records.length !== detections.length) throw new Error(`classConfusion: ${records.length} ground-truth images but ${detections.length} detection lists`);
  if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new Error(`classConfusion: iouThreshold must be in (0, 1], got ${iouThreshold}`);
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses + 1).fill(0));
  let objects = 0;
  let found = 0;
  let rightClass = 0;
  records.forEach((gt, i) => {
    const dets = detections[i];
    const numDets = dets.scores.length;
    const overlaps = numDets ? bboxOverlaps(gt.boxes, dets.bboxes) : new Float64Array(0);
    gt.labels.forEach((label, g) => {
      if (label < 0 || label >= numClasses) throw new Error(`classConfusion: image ${i} has label ${label} outside [0, ${numClasses})`);
      objects++;
      let best = -1;
      for (let d = 0; d < numDets; d++) if (overlaps[g * numDets + d] >= iouThreshold && (best < 0 || dets.scores[d] > dets.scores[best])) best = d;
      if (best < 0) {
        matrix[label][numClasses]++;
        return;
      }
      found++;
      matrix[label][dets.labels[best]]++;
      if (dets.labels[best] === label) rightClass++;
    });
  });
  return { matrix, objects, found, rightClass, iouThreshold };
}

/** A text table: one row per ground-truth class, one column per predicted class, then "missed". */
export function formatConfusion(c: ClassConfusion, classNames: readonly string[]): string {
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '—');
  const head = ['gt \\ pred', ...classNames, 'missed'];
  const rows = c.matrix.map((row, i) => [classNames[i], ...row.map(String)]);
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) => cells.map((s, j) => (j ? s.padStart(widths[j]) : s.padEnd(widths[j]))).join('  ');
  return [
    `${c.objects} objects; a detection of any class at IoU ≥ ${c.iouThreshold}: ${c.found} (${pct(c.found, c.objects)}); ` +
      `the best one has the right class: ${c.rightClass} (${pct(c.rightClass, c.found)} of those found)`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}
