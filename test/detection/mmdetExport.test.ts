/**
 * Export for mmdetection (detection/mmdet/, crosskd/mmdet.ts, scripts/export.ts): the
 * written config.py is read back by Python (the standard library only, with no builtin but
 * `dict`: no imports, no code), and an independent mirror of mmdetection's module
 * definitions (ResNet, FPN, ConvModule, GFL/ATSS/Retina/FCOS heads) turns its `model` dict
 * into the state_dict layout mmdetection would build; model.pth must have exactly those
 * keys, shapes and dtypes. The mirror itself is checked against the key set of
 * mmdetection's GFL R50-FPN (test/io/fixtures/mmdet/keys.json, from the PyTorch replica).
 * Round trip: model.pth loads back into our detector with every value unchanged.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { loadWeights, readWeightsFile, saveCheckpoint } from '../../engine/io/checkpoint.ts';
import { decodePth } from '../../engine/io/pth.ts';
import { Detector } from '../../detection/detector.ts';
import { torchvisionResNet, type BackboneConfig } from '../../detection/models/backbone.ts';
import { mmdetGflR50Fpn } from '../../detection/models/mmdet.ts';
import { mmdetBackbone, mmdetModel, MmdetExportError } from '../../detection/mmdet/config.ts';
import { writeMmdetExport } from '../../detection/mmdet/export.ts';
import { pyAssignments } from '../../detection/mmdet/python.ts';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../detection/data/loader.ts';
import { parseConfig, presetConfig, STUDENT_BACKBONE, PLAIN_BACKBONE, type TrainConfig } from '../../detection/train/config.ts';
import { detectorConfig } from '../../detection/train/step.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
type Entry = [string, number[], string];
// parsed Python: any, as the values are checked by the assertions themselves
type Py = Record<string, any>;

/** Runs a config file as Python with `dict` as its only builtin; returns its names as JSON (tuples become lists). */
function readPythonConfig(file: string): Py {
  const script = [
    'import ast, json, sys',
    'src = open(sys.argv[1]).read()',
    'ast.parse(src)',
    'ns = {}',
    "exec(compile(src, sys.argv[1], 'exec'), {'__builtins__': {'dict': dict}}, ns)",
    'print(json.dumps(ns))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as Py;
}

// ------------------------------------------------------------ mmdetection's layout, mirrored

/** The norm layer's entries (mmcv's build_norm_layer: BN keeps running statistics and the counter). */
function norm(name: string, cfg: Py, c: number): Entry[] {
  const out: Entry[] = [
    [`${name}.weight`, [c], 'float32'],
    [`${name}.bias`, [c], 'float32'],
  ];
  if (cfg.type === 'BN')
    out.push([`${name}.running_mean`, [c], 'float32'], [`${name}.running_var`, [c], 'float32'], [`${name}.num_batches_tracked`, [], 'int64']);
  return out;
}
const abbr = (cfg: Py) => (cfg.type === 'BN' ? 'bn' : 'gn');
const conv = (name: string, cout: number, cin: number, k: number, bias: boolean): Entry[] => [
  [`${name}.weight`, [cout, cin, k, k], 'float32'],
  ...(bias ? ([[`${name}.bias`, [cout], 'float32']] as Entry[]) : []),
];

/** mmcv's ConvModule: `conv` (bias 'auto': only without a norm) and the norm under its abbreviation. */
function convModule(name: string, cin: number, cout: number, k: number, normCfg: Py | null): Entry[] {
  return [...conv(`${name}.conv`, cout, cin, k, !normCfg), ...(normCfg ? norm(`${name}.${abbr(normCfg)}`, normCfg, cout) : [])];
}

const ARCH: Record<number, ['basic' | 'bottleneck', number[]]> = {
  18: ['basic', [2, 2, 2, 2]],
  34: ['basic', [3, 4, 6, 3]],
  50: ['bottleneck', [3, 4, 6, 3]],
  101: ['bottleneck', [3, 4, 23, 3]],
};

function resnetLayout(b: Py): Entry[] {
  expect(b.style).toBe('pytorch');
  const [block, blocks] = ARCH[b.depth as number];
  const n = b.norm_cfg as Py;
  const stem = (b.stem_channels ?? b.base_channels) as number;
  const out: Entry[] = [...conv('conv1', stem, 3, 7, false), ...norm(`${abbr(n)}1`, n, stem)];
  const expansion = block === 'bottleneck' ? 4 : 1;
  let inplanes = stem;
  for (let i = 0; i < 4; i++) {
    const planes = (b.base_channels as number) * 2 ** i;
    for (let j = 0; j < blocks[i]; j++) {
      const p = `layer${i + 1}.${j}`;
      const convs: [number, number, number][] =
        block === 'basic'
          ? [
              [planes, inplanes, 3],
              [planes, planes, 3],
            ]
          : [
              [planes, inplanes, 1],
              [planes, planes, 3],
              [planes * 4, planes, 1],
            ];
      convs.forEach(([cout, cin, k], c) => out.push(...conv(`${p}.conv${c + 1}`, cout, cin, k, false), ...norm(`${p}.${abbr(n)}${c + 1}`, n, cout)));
      if (j === 0 && (i > 0 || inplanes !== planes * expansion))
        out.push(...conv(`${p}.downsample.0`, planes * expansion, inplanes, 1, false), ...norm(`${p}.downsample.1`, n, planes * expansion));
      inplanes = planes * expansion;
    }
  }
  return out;
}

function fpnLayout(f: Py): Entry[] {
  expect(f.add_extra_convs).toBe('on_output');
  const ins = (f.in_channels as number[]).slice(f.start_level as number);
  const c = f.out_channels as number;
  const out: Entry[] = [];
  ins.forEach((cin, k) => out.push(...convModule(`lateral_convs.${k}`, cin, c, 1, null)));
  for (let k = 0; k < (f.num_outs as number); k++) out.push(...convModule(`fpn_convs.${k}`, c, c, 3, null));
  return out;
}

function headLayout(h: Py): Entry[] {
  const normCfg = (h.norm_cfg ?? null) as Py | null;
  const out: Entry[] = [];
  for (const tower of ['cls_convs', 'reg_convs'])
    for (let i = 0; i < (h.stacked_convs as number); i++)
      out.push(...convModule(`${tower}.${i}`, i === 0 ? h.in_channels : h.feat_channels, h.feat_channels, 3, normCfg));
  const a = h.anchor_generator as Py | undefined;
  const priors = a ? (a.ratios as number[]).length * (a.scales_per_octave as number) : 1;
  const levels = ((a?.strides ?? h.strides) as number[]).length;
  const pred = (name: string, cout: number) => out.push(...conv(name, cout, h.feat_channels, 3, true));
  const scales = () => {
    for (let l = 0; l < levels; l++) out.push([`scales.${l}.scale`, [], 'float32']);
  };
  const C = h.num_classes as number;
  switch (h.type) {
    case 'GFLHead':
      pred('gfl_cls', priors * C);
      pred('gfl_reg', 4 * ((h.reg_max as number) + 1));
      scales();
      out.push(['integral.project', [(h.reg_max as number) + 1], 'float32']);
      break;
    case 'ATSSHead':
      pred('atss_cls', priors * C);
      pred('atss_reg', priors * 4);
      pred('atss_centerness', priors);
      scales();
      break;
    case 'RetinaHead':
      pred('retina_cls', priors * C);
      pred('retina_reg', priors * 4);
      break;
    case 'FCOSHead':
      pred('conv_cls', C);
      pred('conv_reg', 4);
      pred('conv_centerness', 1);
      scales();
      break;
    default:
      throw new Error(`no mirror of ${h.type}`);
  }
  return out;
}

/** The state_dict an mmdetection single-stage detector of this model dict has. */
function mmdetLayout(model: Py): Entry[] {
  const under = (prefix: string, es: Entry[]): Entry[] => es.map(([k, s, d]) => [`${prefix}.${k}`, s, d]);
  return [...under('backbone', resnetLayout(model.backbone)), ...under('neck', fpnLayout(model.neck)), ...under('bbox_head', headLayout(model.bbox_head))];
}

const sorted = (es: Entry[]) => [...es].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

function pthLayout(file: string): Entry[] {
  const ckpt = decodePth(new Uint8Array(fs.readFileSync(file)), file);
  return [...ckpt.stateDict].map(([k, t]) => [k, t.shape, t.dtype]);
}

// ------------------------------------------------------------ the tests

let tmp: string;
beforeAll(async () => {
  await E.init();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-export-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it("the layout mirror reproduces mmdetection's GFL R50-FPN key set (the PyTorch replica's)", () => {
  const keys = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/io/fixtures/mmdet/keys.json'), 'utf8')) as Record<string, Entry[]>;
  const det = new Detector(mmdetGflR50Fpn());
  const file = path.join(tmp, 'r50.py');
  fs.writeFileSync(file, pyAssignments({ model: mmdetModel(det, { mean: IMAGENET_MEAN, std: IMAGENET_STD }) }));
  det.dispose();
  const model = readPythonConfig(file).model as Py;
  expect(model.backbone).toMatchObject({
    type: 'ResNet',
    depth: 50,
    base_channels: 64,
    stem_channels: 64,
    frozen_stages: 1,
    norm_eval: true,
    norm_cfg: { type: 'BN' },
  });
  expect(sorted(mmdetLayout(model))).toEqual(sorted(keys.gfl_r50_fpn));
});

/** A small torchvision-layout model with each head: what mmdetection can express. */
function smallConfig(name: string, head: 'gfl' | 'atss' | 'retina' | 'fcos', backbone: BackboneConfig, extra: Partial<TrainConfig> = {}): TrainConfig {
  const heads = {
    gfl: { type: 'gfl', featChannels: 16, stackedConvs: 2, gnGroups: 4, regMax: 7, lossWeights: { giou: 1.5 } },
    atss: { type: 'atss', featChannels: 16, stackedConvs: 2, gnGroups: 4 },
    retina: { type: 'retina', featChannels: 16, stackedConvs: 1 },
    fcos: { type: 'fcos', featChannels: 16, stackedConvs: 2, gnGroups: 4 },
  };
  const base = presetConfig('tiny');
  return parseConfig({
    ...base,
    name,
    model: {
      backbone,
      neck: { outChannels: 16, numOuts: head === 'fcos' ? 4 : 5, reluBeforeExtraConvs: head === 'fcos' },
      head: heads[head],
      ...(head === 'atss' ? { anchors: { octaveBaseScale: 4 } } : {}),
    },
    train: { ...base.train, optimizer: { type: 'adamw', lr: 0.002, weightDecay: 0.05 }, lrStepEpochs: [1] },
    ...extra,
  });
}

async function checkpointOf(cfg: TrainConfig, dir: string): Promise<string> {
  const d = new Detector(detectorConfig(cfg));
  const file = await saveCheckpoint({ dir, step: 5, model: d, optimizer: null, config: cfg, loader: null, extra: {} });
  d.dispose();
  return file;
}

const GN_R18 = torchvisionResNet(18, { stemChannels: 8, stageChannels: [8, 16, 32, 64], norm: 'GN', gnGroups: 4 });
const BN_R50 = torchvisionResNet(50, { stemChannels: 8, stageChannels: [16, 32, 64, 128], normEval: true, frozenStages: 1 });

describe('model.pth and config.py for each head', () => {
  for (const [head, backbone] of [
    ['gfl', GN_R18],
    ['atss', BN_R50],
    ['retina', GN_R18],
    ['fcos', BN_R50],
  ] as const)
    it(`${head}: config.py is plain Python whose model dict has exactly model.pth's keys, shapes and dtypes; the weights come back unchanged`, async () => {
      const cfg = smallConfig(`mm-${head}`, head, backbone);
      const sidecar = await checkpointOf(cfg, path.join(tmp, head));
      const det = new Detector(detectorConfig(cfg));
      const weightsFile = sidecar.replace(/\.json$/, '.safetensors');
      loadWeights(det, weightsFile);
      const out = path.join(tmp, `${head}-mmdet`);
      writeMmdetExport({ detector: det, weights: readWeightsFile(weightsFile).values, config: cfg, step: 5, source: sidecar, out });

      const py = readPythonConfig(path.join(out, 'config.py'));
      const model = py.model as Py;
      expect(model.type).toBe({ gfl: 'GFL', atss: 'ATSS', retina: 'RetinaNet', fcos: 'FCOS' }[head]);
      expect(sorted(pthLayout(path.join(out, 'model.pth')))).toEqual(sorted(mmdetLayout(model)));
      // what mmdetection reads beside the layout
      expect(py.load_from).toBe('{{ fileDirname }}/model.pth');
      expect(py._base_).toContain('mmdet::_base_/datasets/coco_detection.py');
      expect(model.data_preprocessor).toMatchObject({ mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD], bgr_to_rgb: true, pad_size_divisor: det.sizeDivisor });
      expect(model.bbox_head.num_classes).toBe(cfg.numClasses);
      expect(py.metainfo.classes).toHaveLength(cfg.numClasses);
      expect(py.train_dataloader.dataset.metainfo).toEqual(py.metainfo);
      expect(py.train_dataloader.batch_size).toBe(cfg.train.batchSize);
      expect(py.optim_wrapper.optimizer).toMatchObject({ _delete_: true, type: 'AdamW', lr: 0.002, weight_decay: 0.05 });
      expect(py.param_scheduler[1]).toMatchObject({ type: 'MultiStepLR', milestones: [1], gamma: cfg.train.gamma });
      expect(py.train_cfg.max_epochs).toBe(cfg.train.epochs);
      if (head === 'gfl')
        expect(model.bbox_head).toMatchObject({ reg_max: 7, loss_bbox: { type: 'GIoULoss', loss_weight: 1.5 }, loss_dfl: { loss_weight: 0.25 } });
      if (head === 'atss') expect(model.bbox_head.anchor_generator).toMatchObject({ octave_base_scale: 4, scales_per_octave: 1, ratios: [1] });
      if (head === 'retina') expect(model.test_cfg.nms.iou_threshold).toBe(0.5);
      if (head === 'fcos') expect(model.neck.relu_before_extra_convs).toBe(true);

      const back = new Detector(detectorConfig(cfg));
      loadWeights(back, path.join(out, 'model.pth'));
      const [a, b] = [det, back].map((m) => [...m.stateDict()]);
      for (let i = 0; i < a.length; i++) {
        expect(b[i][0]).toBe(a[i][0]);
        expect(await b[i][1].data(), a[i][0]).toEqual(await a[i][1].data());
      }
      det.dispose();
      back.dispose();
    });
});

describe('what mmdetection cannot build is refused, every difference named', () => {
  it("the presets' backbone: the 3×3 stem, depths, stage widths", () => {
    let message = '';
    try {
      mmdetBackbone(STUDENT_BACKBONE);
    } catch (e) {
      expect(e).toBeInstanceOf(MmdetExportError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/backbone\.stem is 'conv3x3'/);
    expect(message).toMatch(/backbone\.depths \[1, 1, 1, 1\] with basic blocks is not an mmdetection ResNet depth/);
    expect(message).toMatch(
      /backbone\.stageChannels \[16, 24, 32, 48\]: mmdetection's ResNet doubles the width every stage from base_channels \(\[16, 32, 64, 128\] for base_channels 16\)/,
    );
  });
  it('the plain backbone and GroupNorm groups wider than a layer', () => {
    expect(() => mmdetBackbone(PLAIN_BACKBONE)).toThrow(/backbone\.type 'plain' .* has no mmdetection equivalent/);
    expect(() => mmdetBackbone({ ...GN_R18, gnGroups: 16 })).toThrow(/backbone\.gnGroups 16 exceeds the narrowest layer's 8 channels/);
  });
});

function runExport(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'scripts/export.ts', ...args], { cwd: ROOT, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

it("npm run export of a CrossKD student: the reference's CrossKDGFL fields, and the teacher beside it", async () => {
  const teacherSidecar = await checkpointOf(smallConfig('mm-teacher', 'gfl', BN_R50), path.join(tmp, 'teacher'));
  const student = smallConfig('mm-student', 'gfl', GN_R18, {
    distill: { method: 'crosskd+pkd', teacher: teacherSidecar, tap: 2, weights: { reg: 3, pkd: 6 } },
  });
  const studentSidecar = await checkpointOf(student, path.join(tmp, 'student'));
  const out = path.join(tmp, 'student-mmdet');
  const r = await runExport(['--checkpoint', studentSidecar, '--to', 'mmdet', '--out', out]);
  expect(r.stderr + r.stdout).toMatch(/exported \d+ tensors of 'mm-student' \(step 5\)/);
  expect(r.code).toBe(0);

  const model = readPythonConfig(path.join(out, 'config.py')).model as Py;
  expect(model.type).toBe('CrossKDGFL');
  expect(model.teacher_config).toBe('{{ fileDirname }}/teacher/config.py');
  expect(model.teacher_ckpt).toBe('{{ fileDirname }}/teacher/model.pth');
  // docs/crosskd.md §4 for GFL (KD-QFL β1 w1, KL T1 summed over bins) with this run's reg and pkd weights
  expect(model.kd_cfg).toEqual({
    loss_cls_kd: { type: 'KDQualityFocalLoss', beta: 1, loss_weight: 1 },
    loss_reg_kd: { type: 'KnowledgeDistillationKLDivLoss', class_reduction: 'sum', T: 1, loss_weight: 3 },
    loss_bbox_kd: { type: 'GIoULoss', loss_weight: 0 },
    loss_feat_kd: { type: 'PKDLoss', loss_weight: 6 },
    reused_teacher_head_idx: 2,
  });
  expect(sorted(pthLayout(path.join(out, 'model.pth')))).toEqual(sorted(mmdetLayout(model)));
  const teacher = readPythonConfig(path.join(out, 'teacher', 'config.py')).model as Py;
  expect(teacher.type).toBe('GFL');
  expect(teacher.backbone).toMatchObject({ depth: 50, norm_cfg: { type: 'BN' }, norm_eval: true, frozen_stages: 1 });
  expect(sorted(pthLayout(path.join(out, 'teacher', 'model.pth')))).toEqual(sorted(mmdetLayout(teacher)));

  // a preset's model: refused before anything is written
  const quick = await checkpointOf(presetConfig('tiny'), path.join(tmp, 'tiny'));
  const bad = await runExport(['--checkpoint', quick, '--to', 'mmdet', '--out', path.join(tmp, 'never')]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/^error: the backbone has no mmdetection equivalent:\n {2}- backbone\.stem is 'conv3x3'/m);
  expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
});
