/**
 * npm run export -- --checkpoint X --to mmdet --out DIR
 *
 * A checkpoint of ours as an mmdetection 3.x model: DIR/model.pth ({meta, state_dict},
 * as mmengine writes checkpoints) and DIR/config.py (model, data, schedule). A CrossKD
 * student also gets its teacher, exported to DIR/teacher/, and the reference's CrossKD
 * fields (type CrossKD<Head>, teacher_config, teacher_ckpt, kd_cfg). A model mmdetection
 * cannot build (stage widths that do not double, the toy 3×3 stem, the plain backbone)
 * is refused with every difference named, before anything is written.
 */
import { Command, Option } from 'commander';
import * as E from '../engine/index.ts';
import { readWeightsFile } from '../engine/io/checkpoint.ts';
import type { Detector } from '../detection/detector.ts';
import { mmdetBackbone } from '../detection/mmdet/config.ts';
import { writeMmdetExport } from '../detection/mmdet/export.ts';
import { crosskdModelFields } from '../crosskd/mmdet.ts';
import { exitWithUsageCode, loadDetector, parseArgs, resolveCheckpoint, runCli, type ResolvedCheckpoint } from './cli.ts';

const program = new Command()
  .name('export')
  .description("Write a checkpoint as an mmdetection 3.x model: DIR/model.pth and DIR/config.py (a CrossKD student's teacher into DIR/teacher/).")
  .requiredOption('--checkpoint <file>', 'checkpoint sidecar (checkpoint-*.json), its .safetensors weights, or a run folder (newest checkpoint)')
  .addOption(new Option('--to <format>', 'the framework to write for').choices(['mmdet']).makeOptionMandatory())
  .requiredOption('--out <dir>', 'folder for model.pth and config.py')
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 2 bad arguments, checkpoint, or a model mmdetection cannot express (what differs is named), 3 no WebGPU adapter, 5 GPU error.',
  )
  .exitOverride(exitWithUsageCode);

const TEACHER_DIR = 'teacher';

function exportOne(ckpt: ResolvedCheckpoint, detector: Detector, out: string, extra: { modelOverrides?: Record<string, unknown>; notes?: string[] } = {}) {
  return writeMmdetExport({
    detector,
    weights: readWeightsFile(ckpt.weightsFile).values,
    config: ckpt.config,
    step: ckpt.sidecar.step,
    source: ckpt.sidecarFile,
    out,
    ...extra,
  });
}

await runCli(async () => {
  const o = parseArgs<{ checkpoint: string; to: 'mmdet'; out: string }>(program);
  // What needs no GPU first: the checkpoint, its teacher, and whether mmdetection can express them.
  const ckpt = resolveCheckpoint(o.checkpoint);
  mmdetBackbone(ckpt.config.model.backbone);
  const distill = ckpt.config.distill;
  const crossHead = distill?.method === 'crosskd' || distill?.method === 'crosskd+pkd';
  const teacherCkpt = crossHead ? resolveCheckpoint(distill!.teacher) : null;
  if (teacherCkpt) mmdetBackbone(teacherCkpt.config.model.backbone);

  await E.init();
  const detector = loadDetector(ckpt);
  const teacher = teacherCkpt ? loadDetector(teacherCkpt) : null;
  try {
    const modelOverrides = teacher ? (crosskdModelFields(detector, teacher, distill!, TEACHER_DIR) ?? undefined) : undefined;
    const notes =
      distill && distill.method !== 'none' && !crossHead
        ? [
            `Trained here with distill.method '${distill.method}' from ${distill.teacher}; this config trains the detector on its own (the reference's distillers are CrossKD's).`,
          ]
        : [];
    if (teacher && teacherCkpt) {
      const t = exportOne(teacherCkpt, teacher, `${o.out}/${TEACHER_DIR}`);
      console.log(`teacher: ${t.tensors} tensors → ${t.weights}, ${t.config}`);
    }
    const r = exportOne(ckpt, detector, o.out, { modelOverrides, notes });
    console.log(`exported ${r.tensors} tensors of '${ckpt.config.name}' (step ${ckpt.sidecar.step}) → ${r.weights}, ${r.config}`);
  } finally {
    detector.dispose();
    teacher?.dispose();
  }
});
