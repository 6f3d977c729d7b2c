/**
 * What an experiment keeps between runs and sittings: teachers cached by their config, run
 * folders a stopped experiment resumes from, and a study's record (finished runs' results
 * and final teachers kept in the repository, so a fresh clone continues the study).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { latestCheckpoint, readSidecar, writeFileAtomic } from '../engine/io/checkpoint.ts';
import type { TrainConfig } from '../detection/train/config.ts';
import { train } from '../detection/train/trainer.ts';
import type { RunResult } from './experimentReport.ts';

export const configKey = (cfg: TrainConfig) => createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 12);

const teacherDir = (cfg: TrainConfig, cacheDir: string) => path.join(cacheDir, `${cfg.name}-${configKey(cfg)}`);

/** The finished teacher checkpoint of cfg in the cache (trained and evaluated), or null. */
export function findCachedTeacher(cfg: TrainConfig, cacheDir: string): string | null {
  const dir = teacherDir(cfg, cacheDir);
  const latest = latestCheckpoint(dir);
  if (!latest || !fs.existsSync(path.join(dir, 'metrics.json'))) return null;
  const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
  return metrics.steps === metrics.total_steps && metrics.eval ? latest : null;
}

/** Where a study's record keeps its final teachers. */
export const recordTeachers = (recordDir: string) => path.join(recordDir, 'teachers');

/**
 * A finished teacher checkpoint for cfg: reused from the record or the cache, or trained
 * into the cache. With a record, the final checkpoint (weights, sidecar, metrics.json; no
 * optimizer state) is copied there and used from there, so the students' configs name a
 * teacher that a fresh clone has too.
 */
export async function cachedTeacher(cfg: TrainConfig, cacheDir: string, log: (m: string) => void, recordDir: string | null = null): Promise<string> {
  const kept = recordDir ? findCachedTeacher(cfg, recordTeachers(recordDir)) : null;
  if (kept) {
    log(`reusing teacher ${kept}`);
    return kept;
  }
  let file = findCachedTeacher(cfg, cacheDir);
  if (file) log(`reusing teacher ${file}`);
  else {
    const dir = teacherDir(cfg, cacheDir);
    log(`training teacher '${cfg.name}' into ${dir}`);
    const r = await train(cfg, { outDir: dir, log, resume: latestCheckpoint(dir) !== null });
    r.detector.dispose();
    file = r.lastCheckpoint!;
  }
  return recordDir ? keepTeacher(file, teacherDir(cfg, recordTeachers(recordDir)), log) : file;
}

/** Copies a finished teacher checkpoint into dir without its optimizer state; returns the copy's sidecar. */
function keepTeacher(sidecarFile: string, dir: string, log: (m: string) => void): string {
  const from = path.dirname(sidecarFile);
  const sidecar = readSidecar(sidecarFile);
  fs.mkdirSync(dir, { recursive: true });
  // weights and metrics first: findCachedTeacher sees the copy only once its sidecar is there
  fs.copyFileSync(path.join(from, sidecar.weights), path.join(dir, sidecar.weights));
  fs.copyFileSync(path.join(from, 'metrics.json'), path.join(dir, 'metrics.json'));
  const to = path.join(dir, path.basename(sidecarFile));
  writeFileAtomic(to, JSON.stringify({ ...sidecar, optimizer: null }, null, 1));
  log(`kept teacher ${sidecarFile} as ${to}`);
  return to;
}

/**
 * A finished run kept in a study's record: its result (sample detections as plain arrays,
 * which JSON keeps) and the key of the config it was trained with.
 */
export interface RunRecord {
  config_key: string;
  result: Omit<RunResult, 'sampleDetections'> & { sampleDetections: { bboxes: number[]; scores: number[]; labels: number[] }[] };
}

export const toRecord = (key: string, r: RunResult): RunRecord => ({
  config_key: key,
  result: { ...r, sampleDetections: r.sampleDetections.map((d) => ({ bboxes: [...d.bboxes], scores: [...d.scores], labels: [...d.labels] })) },
});

const fromRecord = (record: RunRecord): RunResult => ({
  ...record.result,
  sampleDetections: record.result.sampleDetections.map((d) => ({
    bboxes: Float64Array.from(d.bboxes),
    scores: Float64Array.from(d.scores),
    labels: Int32Array.from(d.labels),
  })),
});

export const runRecordFile = (recordDir: string, name: string) => path.join(recordDir, 'runs', `${name}.json`);

/** The recorded result of run `name`, or null; a record of another config is an error, not silently replaced. */
export function readRunRecord(recordDir: string, name: string, key: string): RunResult | null {
  const file = runRecordFile(recordDir, name);
  if (!fs.existsSync(file)) return null;
  let record: RunRecord;
  try {
    record = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); remove it to train run '${name}' again`);
  }
  if (record.config_key !== key)
    throw new Error(`${file} records run '${name}' with config ${record.config_key}, the preset now gives ${key}; remove it to train the run again`);
  return fromRecord(record);
}

/**
 * The key a run is recorded under: its config with the teacher's checkpoint path replaced by
 * the teacher's config key, so the key does not depend on where the teacher file lies.
 */
export function runKey(cfg: TrainConfig, teacherCfg: TrainConfig | null): string {
  if (!cfg.distill || !teacherCfg) return configKey(cfg);
  return configKey({ ...cfg, distill: { ...cfg.distill, teacher: `config ${configKey(teacherCfg)}` } });
}

/**
 * Whether a run's folder holds a checkpoint of this very config (an experiment that
 * stopped part-way, rerun with the same command): then the run resumes from it, and a
 * finished one is only evaluated again. A checkpoint of another config is an error, not
 * silently overwritten.
 */
export function resumable(cfg: TrainConfig, outDir: string, log: (m: string) => void): boolean {
  const latest = latestCheckpoint(outDir);
  if (!latest) return false;
  if (JSON.stringify(readSidecar(latest).config) !== JSON.stringify(cfg))
    throw new Error(`${latest} was written with another config than run '${cfg.name}' now has; remove ${outDir} or choose another --out`);
  log(`continuing from ${latest}`);
  return true;
}
