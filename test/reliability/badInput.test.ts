/**
 * The bad-input catalogue (docs/validation.md): one row per case, each asserting
 * that the error names what was wrong (the argument, file or key) and where, with the
 * expected and the actual where there is one. Areas: engine, kernels (losses and box
 * ops), detection targets, data, configs, checkpoints and distillation pairs; the command
 * lines are in cli.test.ts next to this file.
 *
 * Where a value is allowed and handled rather than refused, the row says so and checks
 * the handling: float tensors may hold NaN/Inf (IEEE semantics, as PyTorch — anomaly mode
 * finds where they appear), while CPU-side training targets (labels, boxes, DFL targets)
 * must be finite and in range; zero-area boxes are legal (mmdetection's ATSS gives them
 * no positives; the COCO loader drops boxes under 1 px with a warning, as mmdetection).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { openDevice } from '../../engine/device.ts';
import { loadOptimizerState, loadWeights, readSidecar, saveCheckpoint, saveWeights } from '../../engine/io/checkpoint.ts';
import { encodeSafetensors } from '../../engine/io/safetensors.ts';
import { SGD } from '../../engine/optim/index.ts';
import { ATSSAssigner } from '../../detection/assigners/atss.ts';
import { parseCoco, parseCocoText } from '../../detection/data/coco.ts';
import { loadCocoDataset, loadCocoDir } from '../../detection/data/node.ts';
import { DetectionLoader } from '../../detection/data/loader.ts';
import { Detector } from '../../detection/detector.ts';
import { parseConfig, presetConfig, TEACHER_BACKBONE } from '../../detection/train/config.ts';
import { detectorConfig } from '../../detection/train/trainer.ts';
import { soak } from '../../detection/train/soak.ts';
import { distillationLoss } from '../../crosskd/distiller.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-badinput-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface Case {
  area: 'engine' | 'kernels' | 'targets' | 'data' | 'config' | 'checkpoint' | 'distill';
  what: string;
  run: () => unknown;
  /** the error message must match this */
  error: RegExp;
}

const cases: Case[] = [];
const add = (area: Case['area'], what: string, run: () => unknown, error: RegExp) => cases.push({ area, what, run, error });

// ------------------------------------------------------------------ engine

const m23 = () => E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
add('engine', 'shapes that do not broadcast', () => E.add(m23(), E.tensor([1, 2, 3, 4])), /add: shapes \[2,3\] and \[4\] cannot be broadcast/);
add('engine', 'matmul inner sizes differ', () => E.matmul(m23(), E.zeros([4, 5])), /matmul: b\.shape\[-2\] must equal a\.shape\[-1\] \(3\), got 4/);
add('engine', 'matmul on an int32 tensor', () => E.matmul(E.tensor([1, 2], [1, 2], 'int32'), E.zeros([2, 1])), /matmul: a must have dtype float32, got int32/);
add(
  'engine',
  'conv2d weight of other input channels',
  () => E.conv2d(E.zeros([1, 3, 8, 8]), E.zeros([4, 2, 3, 3])),
  /conv2d: weight must have shape \[Cout, Cin\/groups, kh, kw\] = \[4, 3, 3, 3\] for x \[1,3,8,8\] and groups = 1, got \[4,2,3,3\]/,
);
add(
  'engine',
  'conv2d on a rank-3 input',
  () => E.conv2d(E.zeros([3, 8, 8]), E.zeros([4, 3, 3, 3])),
  /conv2d: x \[N,Cin,H,W\] must have rank 4, got shape \[3,8,8\]/,
);
add(
  'engine',
  'group norm groups not dividing the channels',
  () => E.groupNorm(E.zeros([1, 6, 4, 4]), 4),
  /groupNorm: the channel count C = 6 of x \[1,6,4,4\] is not divisible by numGroups = 4/,
);
add('engine', 'softmax axis out of range', () => E.softmax(m23(), 2), /softmax: axis must be an integer in \[-2, 1\], got 2/);
add('engine', 'a float index for indexSelect', () => E.indexSelect(m23(), 0, E.tensor([0, 1])), /indexSelect: index must have dtype int32, got float32/);
add('engine', 'a negative dimension', () => E.zeros([2, -1]), /shape \[2,-1\] must hold non-negative integers/);
add('engine', 'item() of an empty tensor', () => E.zeros([0, 3]).item(), /item\(\): Tensor#\d+ float32 \[0,3\] has 0 elements, expected 1/);
add(
  'engine',
  'max over an empty axis (sum gives 0, mean NaN, as PyTorch)',
  () => E.max(E.zeros([0, 3]), 0),
  /max: cannot reduce over empty axes of Tensor#\d+ float32 \[0,3\]/,
);
add('engine', 'NaN in an int32 tensor', () => E.tensor([0, Number.NaN], [2], 'int32'), /tensor: value NaN at index 1 is not a valid int32/);
add('engine', 'a NaN clamp bound', () => E.clamp(m23(), Number.NaN, 1), /clamp: min \(NaN\) must be ≤ max \(1\)/);
add('engine', 'a NaN learning rate', () => new SGD([['w', E.requireGrad(E.zeros([2]))]], { lr: Number.NaN }), /optimizer: lr must be ≥ 0, got NaN/);
add(
  'engine',
  'a kernel that does not exist',
  () => E.runtime().dispatch({ op: 'test', kernel: 'no_such_kernel', buffers: {}, workgroups: [1] }),
  /kernel source 'no_such_kernel': no file kernels\/no_such_kernel\.wgsl/,
);
add(
  'engine',
  'a uniform the kernel does not have',
  () => {
    const t = E.zeros([4]);
    E.runtime().dispatch({ op: 'neg', kernel: 'unary', uniforms: { n: 4, a: 0, b: 0, scale: 2 }, buffers: { x: t.buffer, out: t.buffer }, workgroups: [1] });
  },
  /kernel 'unary': no uniform field 'scale'/,
);
add(
  'engine',
  'workgroups over 65535 in y, not folded',
  () => {
    const t = E.zeros([4]);
    E.runtime().dispatch({ op: 'neg', kernel: 'unary', uniforms: { n: 4, a: 0, b: 0 }, buffers: { x: t.buffer, out: t.buffer }, workgroups: [1, 70000] });
  },
  /op 'neg' \(kernel unary\): 1×70000×1 workgroups exceed 65535 per dimension \(fold 1-D counts with grid\(\)\)/,
);
add(
  'engine',
  "a tensor over the adapter's maxBufferSize (refused before any allocation)",
  () => E.empty([Math.floor(E.runtime().limits.maxBufferSize / 4) + 1]),
  /cannot allocate tensor \[\d+\]: it needs \d+ bytes, over this adapter's maxBufferSize of \d+ bytes/,
);
add(
  'engine',
  'a binding over maxStorageBufferBindingSize (limit lowered to 4 KiB, checked before Dawn)',
  () => {
    const x = E.tensor(new Float32Array(2000)); // an upload: no kernel binds it yet
    const restore = E.runtime().overrideLimits({ maxStorageBufferBindingSize: 4096 });
    try {
      E.exp(x);
    } finally {
      restore();
    }
  },
  /op 'exp' \(kernel unary\): binding 'x' is a 8192-byte buffer \(tensor \[2000\]\), over this adapter's maxStorageBufferBindingSize of 4096 bytes/,
);
add(
  'engine',
  'no WebGPU adapter (requestAdapter gives null)',
  () => openDevice({ requestAdapter: async () => null }),
  /No WebGPU adapter found \(requestAdapter\(\) returned null\)\.\nOn Debian\/Ubuntu .*\n {2}sudo bash scripts\/setup-webgpu\.sh/,
);
add(
  'engine',
  'no WebGPU adapter (requestAdapter fails)',
  () => openDevice({ requestAdapter: async () => Promise.reject(new Error('Vulkan loader: no ICD')) }),
  /No WebGPU adapter found \(requestAdapter\(\) failed: Vulkan loader: no ICD\)/,
);

// ------------------------------------------------------------------ kernels

const logits = () => E.zeros([4, 8]);
add(
  'kernels',
  'QFL labels as float32',
  () => E.qualityFocalLoss(logits(), E.zeros([4]), E.zeros([4])),
  /qualityFocalLoss: label must have dtype int32, got float32/,
);
add(
  'kernels',
  'QFL score of the wrong length',
  () => E.qualityFocalLoss(logits(), E.tensor([0, 1, 2, 8], [4], 'int32'), E.zeros([3])),
  /qualityFocalLoss: score must have shape \[4\] \(one IoU score per row of pred\), got \[3\]/,
);
add(
  'kernels',
  'GIoU boxes of 3 coordinates',
  () => E.giouLoss(E.zeros([2, 3]), E.zeros([2, 3])),
  /boxes1 must have shape \[N,4\] \(x1,y1,x2,y2\), got \[2,3\]/,
);
add(
  'kernels',
  'DFL bins that do not match reg_max',
  () => E.distributionFocalLoss(E.zeros([4, 8]), E.zeros([4]), { regMax: 16 }),
  /distributionFocalLoss: pred must have regMax \+ 1 = 17 bins per row, got shape \[4,8\] \(regMax 16\)/,
);
add(
  'kernels',
  'an unknown reduction',
  () => E.sigmoidFocalLoss(logits(), logits(), { reduction: 'avg' as 'mean' }),
  /sigmoidFocalLoss: reduction must be one of 'none', 'sum', 'mean', got "avg"/,
);
add(
  'kernels',
  'an infinite avgFactor',
  () => E.sigmoidFocalLoss(logits(), logits(), { avgFactor: Number.POSITIVE_INFINITY }),
  /sigmoidFocalLoss: avgFactor must be a finite number, got Infinity/,
);
add(
  'kernels',
  'distance2bbox points of 3 coordinates',
  () => E.distance2bbox(E.zeros([2, 3]), E.zeros([2, 4])),
  /distance2bbox: points must have shape \[N,2\] \(x,y\), got \[2,3\]/,
);
add(
  'kernels',
  'labels outside [0, C] (checked on the CPU before upload)',
  () => E.validateLabels([0, 9, 3], 8),
  /validateLabels: labels\[1\] = 9 is not an integer in \[0, 8\] \(8 = background\)/,
);
add(
  'kernels',
  'a NaN box target',
  () => E.validateBoxes([Number.NaN, 0, 1, 1]),
  /validateBoxes: boxes\[0\] = \[NaN, 0, 1, 1\] needs finite values with x2 ≥ x1 and y2 ≥ y1/,
);
add(
  'kernels',
  'an inverted box target',
  () => E.validateBoxes([0, 0, 1, 1, 5, 5, 2, 8]),
  /validateBoxes: boxes\[1\] = \[5, 5, 2, 8\] needs finite values with x2 ≥ x1 and y2 ≥ y1/,
);
add('kernels', 'a DFL target at reg_max', () => E.validateDflTargets([0, 3.5, 16], 16), /validateDflTargets: target\[2\] = 16 is outside \[0, 16\)/);

// ------------------------------------------------------------------ detection targets (ATSS)

const priors = Float64Array.from([0, 0, 8, 8, 8, 0, 16, 8, 0, 8, 8, 16, 8, 8, 16, 16]);
const assign = (gtBoxes: number[], gtLabels: number[]) =>
  new ATSSAssigner(9).assign({ priors, numLevelPriors: [4], gtBoxes: Float64Array.from(gtBoxes), gtLabels: Int32Array.from(gtLabels), numClasses: 8 });
add('targets', 'a gt label outside [0, numClasses)', () => assign([0, 0, 8, 8], [8]), /ATSSAssigner: gt 0 has label 8, outside \[0, 8\)/);
add(
  'targets',
  'a NaN gt box',
  () => assign([0, 0, 8, 8, 1, Number.NaN, 4, 4], [1, 2]),
  /ATSSAssigner: gt boxes: box 1 \[1, NaN, 4, 4\] has a non-finite coordinate/,
);
add('targets', 'an inverted gt box', () => assign([6, 0, 2, 8], [1]), /ATSSAssigner: gt boxes: box 0 \[6, 0, 2, 8\] has x2 < x1/);
add('targets', 'more labels than boxes', () => assign([0, 0, 8, 8], [1, 2]), /ATSSAssigner: 2 gt labels for 1 gt boxes/);

// ------------------------------------------------------------------ data

function cocoJson() {
  return {
    images: [
      { id: 1, file_name: 'a.png', width: 8, height: 6 },
      { id: 2, file_name: 'b.png', width: 8, height: 6 },
    ],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 3, 3] }],
    categories: [{ id: 1, name: 'thing' }],
  };
}
const png = (width: number, height: number) => encodePng({ width, height, data: new Uint8Array(width * height * 3).fill(9), channels: 3 });
/** A dataset folder: annotations.json (JSON or raw text) and the given PNG files (bytes). */
function cocoFolder(name: string, json: unknown, files: Record<string, Uint8Array> = { 'a.png': png(8, 6), 'b.png': png(8, 6) }): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'annotations.json'), typeof json === 'string' ? json : JSON.stringify(json));
  for (const [f, bytes] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'images', f), bytes);
  return dir;
}
const withAnnotation = (edit: (a: Record<string, unknown>) => void) => {
  const j = cocoJson();
  edit(j.annotations[0] as Record<string, unknown>);
  return j;
};
add(
  'data',
  'truncated COCO JSON',
  () => parseCocoText(JSON.stringify(cocoJson()).slice(0, 40), 'data/annotations.json'),
  /^data\/annotations\.json: malformed JSON: /,
);
add(
  'data',
  'an annotation without bbox',
  () =>
    parseCoco(
      withAnnotation((a) => delete a.bbox),
      'ann.json',
    ),
  /ann\.json: annotations\[0\]\.bbox: missing field/,
);
add(
  'data',
  'a bbox holding null (NaN in JSON)',
  () =>
    parseCoco(
      withAnnotation((a) => (a.bbox = [1, null, 3, 3])),
      'ann.json',
    ),
  /ann\.json: annotations\[0\]\.bbox: .*4 finite numbers.*\[1, null, 3, 3\]/,
);
add(
  'data',
  'an inverted bbox (negative width)',
  () =>
    parseCoco(
      withAnnotation((a) => (a.bbox = [4, 1, -3, 3])),
      'ann.json',
    ),
  /ann\.json: annotations\[0\]\.bbox: .*negative.*-3/,
);
add(
  'data',
  'an unknown category id',
  () =>
    parseCoco(
      withAnnotation((a) => (a.category_id = 5)),
      'ann.json',
    ),
  /ann\.json: annotations\[0\]\.category_id: .*5/,
);
add('data', 'a folder without annotations.json', () => loadCocoDir(path.join(root, 'nowhere')), /nowhere: no annotations\.json in this folder/);
add(
  'data',
  'a missing PNG',
  () => loadCocoDir(cocoFolder('missing-png', cocoJson(), { 'a.png': png(8, 6) })),
  /missing image file b\.png \(.*images\/b\.png\)/,
);
add(
  'data',
  'a truncated PNG',
  () => loadCocoDir(cocoFolder('truncated-png', cocoJson(), { 'a.png': png(8, 6), 'b.png': png(8, 6).slice(0, 40) }), { checkImages: 'decode' }),
  /images\/b\.png: corrupt PNG/,
);
add(
  'data',
  'a file that is not a PNG',
  () => loadCocoDir(cocoFolder('not-png', cocoJson(), { 'a.png': png(8, 6), 'b.png': new TextEncoder().encode('GIF89a...') }), { checkImages: 'decode' }),
  /images\/b\.png: not a PNG file/,
);
add(
  'data',
  'a PNG of another size than its JSON entry',
  () => loadCocoDir(cocoFolder('wrong-size', cocoJson(), { 'a.png': png(8, 6), 'b.png': png(9, 6) }), { checkImages: 'decode' }),
  /b\.png.*9x6.*8x6|b\.png.*8x6.*9x6/,
);
add(
  'data',
  'a loader batch size of 0',
  () => new DetectionLoader(loadCocoDir(cocoFolder('ok', cocoJson())), { batchSize: 0 }),
  /DetectionLoader: batchSize must be a positive integer, got 0/,
);
add(
  'data',
  'a loader state saved for another dataset',
  () => new DetectionLoader(loadCocoDir(cocoFolder('ok2', cocoJson())), { batchSize: 1 }, { epoch: 0, position: 0, numImages: 5, seed: 0 }),
  /DetectionLoader: the saved state is for a dataset of 5 images, this one has 2/,
);
add(
  'data',
  'an image larger than the fixed pad size',
  () => new DetectionLoader(loadCocoDir(cocoFolder('ok3', cocoJson())), { batchSize: 2, padSize: [4, 4], shuffle: false }).next(),
  /DetectionLoader: image 1 \(a\.png\) is 8x6, larger than padSize 4x4 \(width x height\)/,
);

// ------------------------------------------------------------------ config

const tinyJson = () => JSON.parse(JSON.stringify(presetConfig('tiny')));
add(
  'config',
  'an unknown key, with its path',
  () => {
    const c = tinyJson();
    c.train.batchsize = 4;
    return parseConfig(c, 'my.json');
  },
  /my\.json is not a valid training config:\n {2}train: .*\(train\.batchsize\)/,
);
add(
  'config',
  'a mistyped value, with its path',
  () => {
    const c = tinyJson();
    c.model.head.regMax = 'sixteen';
    return parseConfig(c, 'my.json');
  },
  /my\.json is not a valid training config:\n {2}model\.head\.regMax: .*number/,
);
add(
  'config',
  'head width different from the neck width',
  () => {
    const c = tinyJson();
    c.model.head.featChannels = 16;
    return parseConfig(c, 'my.json');
  },
  /my\.json: model\.head\.featChannels \(16\) must equal model\.neck\.outChannels \(32\)/,
);
add(
  'config',
  'synthetic classes that disagree with numClasses',
  () => {
    const c = tinyJson();
    c.data.synthetic.classes = ['circle', 'square', 'triangle'];
    return parseConfig(c, 'my.json');
  },
  /my\.json: numClasses is 8 but data\.synthetic draws 3 classes \(circle, square, triangle\)/,
);
add(
  'config',
  'an unknown synthetic shape',
  () => {
    const c = tinyJson();
    c.data.synthetic.classes = ['circle', 'hexagon'];
    return parseConfig(c, 'my.json');
  },
  /my\.json is not a valid training config:\n {2}data\.synthetic\.classes\.1: .*circle/,
);
add(
  'config',
  'a synthetic shape listed twice',
  () => {
    const c = tinyJson();
    c.numClasses = 2;
    c.data.synthetic.classes = ['ring', 'ring'];
    return parseConfig(c, 'my.json');
  },
  /my\.json: data\.synthetic\.classes lists a shape twice/,
);
add(
  'config',
  'synthetic objects larger than the image',
  () => {
    const c = tinyJson();
    c.data.synthetic.sizeRange = [8, 100];
    return parseConfig(c, 'my.json');
  },
  /my\.json: data\.synthetic\.sizeRange max 100 exceeds the image side 64/,
);
add(
  'config',
  'a synthetic range given as [max, min]',
  () => {
    const c = tinyJson();
    c.data.synthetic.objectsPerImage = [6, 2];
    return parseConfig(c, 'my.json');
  },
  /my\.json: data\.synthetic\.objectsPerImage must be \[min, max\] with 0 ≤ min ≤ max, integers, got \[6,2\]/,
);
add('config', 'an unknown preset', () => presetConfig('huge'), /unknown preset 'huge' \(known: quick-teacher, .*tiny/);
add('config', 'soak of zero steps', () => soak({ steps: 0, every: 50, warmup: 0, imageSize: 64, batchSize: 1 }), /soak: steps must be an integer ≥ 1, got 0/);

// ------------------------------------------------------------------ checkpoints and distillation pairs

let weightsFile = '';
let student: Detector;
let sidecarFile = '';
beforeAll(async () => {
  await E.init();
  student = new Detector(detectorConfig(presetConfig('tiny')));
  const dir = path.join(root, 'ckpt');
  const optimizer = new SGD(student.trainableParameters(), { lr: 0.01, momentum: 0.9 });
  sidecarFile = await saveCheckpoint({ dir, step: 1, model: student, optimizer, config: presetConfig('tiny'), loader: null });
  weightsFile = sidecarFile.replace(/\.json$/, '.safetensors');
  optimizer.dispose();
});

const bytesOf = (file: string) => new Uint8Array(fs.readFileSync(file));
const writeVariant = (name: string, bytes: Uint8Array | string) => {
  const file = path.join(root, name);
  fs.writeFileSync(file, bytes);
  return file;
};
add(
  'checkpoint',
  'a truncated weights file',
  () => loadWeights(student, writeVariant('trunc.safetensors', bytesOf(weightsFile).slice(0, -100))),
  /trunc\.safetensors: .*truncated/,
);
add(
  'checkpoint',
  'a corrupt safetensors header',
  () => {
    const b = bytesOf(weightsFile);
    b[8] = 0x21; // the header's opening brace
    return loadWeights(student, writeVariant('corrupt.safetensors', b));
  },
  /corrupt\.safetensors: .*not valid JSON/,
);
add(
  'checkpoint',
  'a checkpoint of another architecture',
  async () => {
    const teacher = new Detector(detectorConfig({ ...presetConfig('tiny'), model: { ...presetConfig('tiny').model, backbone: TEACHER_BACKBONE } }));
    const file = path.join(root, 'teacher.safetensors');
    await saveWeights(teacher, file);
    teacher.dispose();
    return loadWeights(student, file);
  },
  /teacher\.safetensors: loadStateDict: checkpoint does not match the model; unexpected: backbone\.layer2\.1\.conv1\.weight/,
);
add(
  'checkpoint',
  'a sidecar that is not JSON',
  () => readSidecar(writeVariant('checkpoint-0000009.json', '{"format": "crosskd-ch')),
  /checkpoint-0000009\.json: not valid JSON/,
);
add(
  'checkpoint',
  'a JSON file that is no checkpoint sidecar',
  () => readSidecar(writeVariant('other.json', '{"format": "coco"}')),
  /other\.json: not a checkpoint sidecar of this project \(expected format "crosskd-checkpoint", version 1; got format "coco", version undefined\)/,
);
add(
  'checkpoint',
  'optimizer state for parameters of other shapes',
  () => {
    const [name, p] = student.trainableParameters()[0];
    const slots = new Map([[`${name}::momentum_buffer`, { dtype: 'F32' as const, shape: [3], data: new Float32Array(3) }]]);
    fs.writeFileSync(path.join(root, 'ckpt', 'odd.optim.safetensors'), encodeSafetensors(slots));
    const optimizer = new SGD(student.trainableParameters(), { lr: 0.01, momentum: 0.9 });
    try {
      loadOptimizerState(optimizer, sidecarFile, { ...readSidecar(sidecarFile), optimizer: { file: 'odd.optim.safetensors', step: 1, lr: 0.01 } });
    } finally {
      optimizer.dispose();
    }
    return p;
  },
  /optimizer state: 'backbone\.[\w.]+\.momentum_buffer' has shape \[3\], parameter has \[\d+(,\d+)*\]/,
);
add(
  'distill',
  'a teacher with other classes than the student',
  () => {
    const teacher = new Detector(detectorConfig({ ...presetConfig('tiny'), numClasses: 3 })).freeze();
    try {
      distillationLoss(student, teacher, { method: 'crosskd' });
    } finally {
      teacher.dispose();
    }
  },
  /crosskd: student has 8 classes, teacher 3/,
);
add(
  'distill',
  'a teacher head of another width',
  () => {
    const base = presetConfig('tiny');
    const teacher = new Detector(
      detectorConfig({ ...base, model: { ...base.model, neck: { ...base.model.neck, outChannels: 48 }, head: { ...base.model.head, featChannels: 48 } } }),
    ).freeze();
    try {
      distillationLoss(student, teacher, { method: 'crosskd', tap: 2 });
    } finally {
      teacher.dispose();
    }
  },
  /crosskd: the student's feature at tap 2 has 32 channels, the teacher's blocks expect 48/,
);

describe('bad input gives one clear error naming what and where', () => {
  it(`the catalogue holds at least 40 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.map((c) => [`${c.area}: ${c.what}`, c] as const))('%s', async (_name, c) => {
    await expect(Promise.resolve().then(c.run)).rejects.toThrow(c.error);
  });
});

describe('legal edge cases are handled, not refused', () => {
  it('a zero-area gt box is valid for ATSS and gets no positives (as mmdetection)', () => {
    const r = assign([4, 4, 4, 4], [1]);
    expect([...r.gtIndex].every((g) => g < 1)).toBe(true);
    expect([...r.labels].every((l) => l === 8 || l < 0)).toBe(true);
  });

  it('a COCO box under 1 px is dropped with a warning naming it (as mmdetection)', () => {
    const parsed = parseCoco(
      withAnnotation((a) => (a.bbox = [2, 2, 0, 3])),
      'ann.json',
    );
    expect(parsed.records[0].boxes.length).toBe(0);
    expect(parsed.warnings.join('\n')).toMatch(/annotations\[0\]/);
  });

  it('an image without objects is a valid negative', () => {
    const ds = loadCocoDataset(path.join(cocoFolder('negatives', cocoJson()), 'annotations.json'));
    expect(ds.records[1].boxes.length).toBe(0);
  });

  it('sum over an empty axis is 0 and mean NaN, as PyTorch', async () => {
    expect(await E.sum(E.zeros([0])).item()).toBe(0);
    expect(await E.mean(E.zeros([0])).item()).toBeNaN();
  });

  it('float tensors may hold NaN and ±Inf (IEEE semantics; anomaly mode names where they appear)', async () => {
    expect(Array.from(await E.scale(E.tensor([Number.NaN, Number.POSITIVE_INFINITY, 1]), 2).data())).toEqual([Number.NaN, Number.POSITIVE_INFINITY, 2]);
  });
});

describe('dispatches over 65535 workgroups per dimension are folded', () => {
  it('grid() folds a 1-D count into x ≤ 65535 and y, covering every workgroup', () => {
    for (const n of [1, 65535, 65536, 70000, 65535 * 3 + 1, 10_000_000]) {
      const [x, y] = E.grid(n);
      expect(x).toBeLessThanOrEqual(65535);
      expect(y).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(n);
      expect(x * (y - 1)).toBeLessThan(n); // no row of workgroups is wasted
    }
  });

  it('an elementwise op over 65535·256 + 4099 elements writes every element exactly', async () => {
    // one unary kernel launch of 65552 workgroups of 256: folded into 32776 × 2
    const n = 65535 * 256 + 4099;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = i % 65521; // integers: exact in float32
    const x = E.tensor(values);
    const before = E.runtime().stats.byKernel.get('unary') ?? 0;
    const y = E.affine(x, 2, 1);
    expect((E.runtime().stats.byKernel.get('unary') ?? 0) - before).toBe(1);
    const out = await y.data();
    let wrong = 0;
    for (let i = 0; i < n; i++) if (out[i] !== 2 * (i % 65521) + 1) wrong++;
    expect(wrong).toBe(0);
    x.dispose();
    y.dispose();
  });
});
