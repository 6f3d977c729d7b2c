/**
 * The readers of untrusted files, as fuzz targets (engine/checks/fuzz.ts): safetensors
 * weights, checkpoint sidecars (with the training config they carry), COCO annotation
 * JSON, PNG images and PyTorch .pth checkpoints. Each starts from a few valid files built here; the fuzz test
 * (test/reliability/fuzz.test.ts) and `npm run fuzz` run them.
 */
import { encode as encodePng } from 'fast-png';
import {
  BYTE_MUTATIONS,
  fuzz,
  isOwnError,
  JSON_MUTATIONS,
  pickMutation,
  withDeep,
  type FuzzReport,
  type FuzzTarget,
  type Random,
} from '../engine/checks/fuzz.ts';
import { FileFormatError } from '../engine/io/format.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../engine/io/safetensors.ts';
import { parseSidecar, type CheckpointSidecar } from '../engine/io/checkpoint.ts';
import { decodePth, encodePth, type PthTensor } from '../engine/io/pth.ts';
import { crc32, readZip, writeZip } from '../engine/io/zip.ts';
import { CocoError, decodePng, parseCocoText } from '../detection/data/coco.ts';
import { parseConfig, presetConfig } from '../detection/train/config.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

// ------------------------------------------------------------------ safetensors

function safetensorsSeeds(): Uint8Array[] {
  const weights = new Map<string, NamedArray>([
    ['backbone.stem.conv.weight', { dtype: 'F32', shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i)) }],
    ['bbox_head.scales.0.scale', { dtype: 'F32', shape: [], data: new Float32Array([1]) }],
    ['labels', { dtype: 'I32', shape: [3], data: new Int32Array([0, 5, -1]) }],
    ['empty', { dtype: 'F32', shape: [2, 0], data: new Float32Array(0) }],
  ]);
  // F64 and I64, written by hand as PyTorch's writer would
  const header = enc.encode(
    '{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"n":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},"__metadata__":{"format":"pt"}}',
  );
  const wide = new Uint8Array(8 + header.length + 24);
  const dv = new DataView(wide.buffer);
  dv.setBigUint64(0, BigInt(header.length), true);
  wide.set(header, 8);
  dv.setFloat64(8 + header.length, 0.25, true);
  dv.setBigInt64(8 + header.length + 16, 42n, true);
  return [encodeSafetensors(weights, { step: '12' }), wide];
}

/** A safetensors file's header mutated as JSON and written back with its new length, so the reader gets past the length word. */
function rewriteHeader(b: Uint8Array, rand: Random): Uint8Array {
  if (b.length < 8) return b;
  const len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  if (len > b.length - 8) return b;
  let doc: unknown;
  try {
    const text = dec.decode(b.subarray(8, 8 + len));
    if (text.includes('['.repeat(256))) return b; // too deep to stringify again
    doc = JSON.parse(text);
  } catch {
    return b;
  }
  const text = enc.encode(withDeep(pickMutation(rand, JSON_MUTATIONS)(doc as never, rand)));
  const out = new Uint8Array(8 + text.length + (b.length - 8 - len));
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(b.subarray(8 + len), 8 + text.length);
  return out;
}

const safetensors: FuzzTarget = {
  name: 'safetensors',
  seeds: safetensorsSeeds(),
  mutations: { 'rewrite the header': rewriteHeader },
  read: (bytes, source) => [...decodeSafetensors(bytes, source).tensors.values()].reduce((a, t) => a + t.data.byteLength, 0),
  isClearError: isOwnError([FileFormatError]),
  // F32 copied; F64 → F32 and I64 → I32 halve
  maxExpansion: 1,
};

// ------------------------------------------------------------------ checkpoint sidecar

function sidecarSeed(): Uint8Array {
  const sidecar: CheckpointSidecar = {
    format: 'crosskd-checkpoint',
    version: 1,
    step: 250,
    config: presetConfig('quick-student'),
    weights: 'checkpoint-0000250.safetensors',
    optimizer: { file: 'checkpoint-0000250.optim.safetensors', step: 250, lr: 0.0001 },
    loader: { epoch: 1, position: 400, numImages: 1600, seed: 0 },
    extra: { losses: [{ step: 0, lr: 1e-5, qfl: 0.1, giou: 0.9, dfl: 2.7, total: 2.5 }], trainSeconds: 12.5, evalCurve: [] },
  };
  return enc.encode(JSON.stringify(sidecar, null, 1));
}

const sidecar: FuzzTarget = {
  name: 'checkpoint sidecar',
  seeds: [sidecarSeed()],
  json: true,
  // what eval, predict and --resume do with a sidecar before any weights: its fields, then its config
  read: (bytes, source) => {
    const s = parseSidecar(dec.decode(bytes), source);
    parseConfig(s.config, `${source} (its config)`);
    return 0;
  },
  isClearError: isOwnError([FileFormatError]),
};

// ------------------------------------------------------------------ COCO annotations

function cocoSeed(): Uint8Array {
  return enc.encode(
    JSON.stringify({
      info: { description: 'fuzz seed' },
      images: [
        { id: 1, file_name: 'a.png', width: 64, height: 48 },
        { id: 2, file_name: 'b.png', width: 32, height: 32 },
      ],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [4, 5, 20, 10], area: 200, iscrowd: 0 },
        { id: 2, image_id: 1, category_id: 2, bbox: [30, 8, 12.5, 30], area: 375, iscrowd: 0 },
        { id: 3, image_id: 2, category_id: 1, bbox: [0, 0, 31, 31], area: 961, iscrowd: 1 },
      ],
      categories: [
        { id: 1, name: 'circle' },
        { id: 2, name: 'square' },
      ],
    }),
  );
}

const coco: FuzzTarget = {
  name: 'COCO annotations',
  seeds: [cocoSeed()],
  json: true,
  read: (bytes, source) => (parseCocoText(dec.decode(bytes), source), 0),
  isClearError: isOwnError([CocoError]),
};

// ------------------------------------------------------------------ PNG

/** IHDR's size, depth or color type changed, its CRC made right again (so only the new values are wrong). */
function rewriteIhdr(b: Uint8Array, rand: Random): Uint8Array {
  if (b.length < 33) return b;
  const c = b.slice();
  const dv = new DataView(c.buffer);
  const field = Math.floor(rand() * 4);
  const huge = [0, 1, 0x7fffffff, 0xffffffff, 65536, 46341, 9000][Math.floor(rand() * 7)];
  if (field === 0) dv.setUint32(16, huge);
  else if (field === 1) dv.setUint32(20, huge);
  else if (field === 2) c[24] = [0, 3, 5, 8, 16, 32][Math.floor(rand() * 6)];
  else c[25] = [0, 1, 2, 3, 4, 5, 6, 7][Math.floor(rand() * 8)];
  dv.setUint32(29, crc32(c.subarray(12, 29)));
  return c;
}

/** Every chunk's CRC made right again (as far as the chunk layout still holds). */
function refreshCrcs(c: Uint8Array): Uint8Array {
  const dv = new DataView(c.buffer, c.byteOffset, c.byteLength);
  for (let at = 8; at + 12 <= c.length; ) {
    const len = dv.getUint32(at);
    if (at + 12 + len > c.length) break;
    dv.setUint32(at + 8 + len, crc32(c.subarray(at + 4, at + 8 + len)));
    at += 12 + len;
  }
  return c;
}

/** A byte mutation followed by fixing the CRCs, so the decoder itself meets the damage. */
const mutateBehindCrcs = (b: Uint8Array, rand: Random) => {
  return refreshCrcs(pickMutation(rand, BYTE_MUTATIONS)(b, rand));
};

function pngSeeds(): Uint8Array[] {
  const px = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i));
  return [
    encodePng({ width: 16, height: 12, data: px(16 * 12 * 3, (i) => (i * 37) & 255), channels: 3 }),
    encodePng({ width: 9, height: 7, data: px(9 * 7 * 2, (i) => (i * 91) & 255), channels: 2 }),
    encodePng({ width: 5, height: 4, data: Uint16Array.from({ length: 5 * 4 * 4 }, (_, i) => (i * 4099) & 65535), channels: 4, depth: 16 }),
  ];
}

const png: FuzzTarget = {
  name: 'PNG',
  seeds: pngSeeds(),
  mutations: { 'rewrite IHDR': rewriteIhdr, 'mutate behind fixed CRCs': mutateBehindCrcs },
  read: (bytes, source) => decodePng(bytes, source).data.byteLength,
  isClearError: isOwnError([CocoError]),
  // deflate expands at most 1032×; 1-bit grey becomes 24 bits of RGB
  maxExpansion: 24 * 1032,
};

// ------------------------------------------------------------------ .pth

/** A .pth's pickle mutated (bytes), the archive rebuilt around it with valid CRCs, so the unpickler meets the damage. */
function mutatePickle(b: Uint8Array, rand: Random): Uint8Array {
  let records: Map<string, Uint8Array>;
  try {
    records = readZip(b, 'seed');
  } catch {
    return b;
  }
  const pkl = [...records.keys()].find((n) => n.endsWith('/data.pkl'));
  if (!pkl) return b;
  records.set(pkl, pickMutation(rand, BYTE_MUTATIONS)(records.get(pkl)!, rand));
  return writeZip([...records]);
}

function pthSeeds(): Uint8Array[] {
  const tensors = new Map<string, PthTensor>([
    ['module.backbone.conv1.weight', { dtype: 'float32', shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7) }],
    ['module.backbone.bn1.num_batches_tracked', { dtype: 'int64', shape: [], data: new BigInt64Array([5n]) }],
    ['module.neck.half', { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
    ['module.head.mask', { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) }],
  ]);
  return [encodePth(tensors), encodePth(tensors, { meta: { epoch: 3, classes: ['a', 'b'], lr: 0.5 } })];
}

const pth: FuzzTarget = {
  name: '.pth',
  seeds: pthSeeds(),
  mutations: { 'mutate the pickle behind a valid zip': mutatePickle },
  read: (bytes, source) => [...decodePth(bytes, source).stateDict.values()].reduce((a, t) => a + t.data.byteLength, 0),
  isClearError: isOwnError([FileFormatError]),
  // stride-0 views may expand (bounded by 16 elements per file byte, 8 bytes each)
  maxExpansion: 128,
};

export const FUZZ_TARGETS: readonly FuzzTarget[] = [safetensors, sidecar, coco, png, pth];

/** Runs every target (or those named) for `iterations` inputs each. */
export function fuzzReaders(opts: { iterations: number; seed: number; targets?: readonly string[]; maxMsPerInput?: number }): FuzzReport[] {
  const chosen = opts.targets?.length ? FUZZ_TARGETS.filter((t) => opts.targets!.includes(t.name)) : FUZZ_TARGETS;
  return chosen.map((t, k) => fuzz(t, { iterations: opts.iterations, seed: opts.seed + 1000 * k, maxMsPerInput: opts.maxMsPerInput }));
}
