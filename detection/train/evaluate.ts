/** COCO-style evaluation of a detector on a dataset (batched inference, CPU matching). */
import * as E from '../../engine/index.ts';
import type { Detector } from '../detector.ts';
import { DetectionLoader } from '../data/loader.ts';
import type { CocoDataset } from '../data/coco.ts';
import { detectionsToCoco, evaluateCoco, type CocoDetection, type CocoEvalResult } from '../eval/coco.ts';
import type { Detections } from '../postprocess.ts';

export interface EvalOutput {
  result: CocoEvalResult;
  /** detections per image, in dataset order */
  detections: Detections[];
  /** the same in the COCO results format the metric read (pycocotools' loadRes input) */
  cocoDetections: CocoDetection[];
}

export async function evaluateDetector(
  detector: Detector,
  dataset: CocoDataset,
  opts: { batchSize?: number; padSize: readonly [number, number]; onBatch?: (done: number, total: number) => void },
): Promise<EvalOutput> {
  const wasTraining = detector.training;
  detector.eval();
  const loader = new DetectionLoader(dataset, { batchSize: opts.batchSize ?? 8, shuffle: false, flipProb: 0, padSize: opts.padSize });
  const categoryIds = dataset.categories.map((c) => c.id);
  const coco: CocoDetection[] = [];
  const all: Detections[] = [];
  const batches = loader.batchesPerEpoch;
  for (let b = 0; b < batches; b++) {
    const batch = loader.next();
    const images = E.tensor(batch.images, batch.shape);
    const dets = await detector.predict(images, batch.imageSizes);
    images.dispose();
    dets.forEach((d, i) => {
      all.push(d);
      coco.push(...detectionsToCoco(batch.imageIds[i], d, categoryIds));
    });
    opts.onBatch?.(b + 1, batches);
  }
  detector.train(wasTraining);
  return { result: evaluateCoco(dataset.parsed.json as never, coco), detections: all, cocoDetections: coco };
}
