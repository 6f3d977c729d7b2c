/**
 * npm run import -- --pth FILE.pth (--preset NAME | --config FILE.json) --out DIR
 *
 * A PyTorch / mmdetection checkpoint (a `.pth` of torch.save: a bare state_dict or
 * mmdetection's `{meta, state_dict}`, `module.` prefixes stripped) becomes a checkpoint of
 * ours: DIR/checkpoint-0000000.json (the config) and .safetensors (the weights). Then
 * `eval`, `predict` and `train --teacher DIR/checkpoint-0000000.json` use it as any other.
 * The config's model must be the checkpoint's architecture (examples/mmdet-gfl-r50-fpn.json
 * is mmdetection's GFL R50-FPN); every missing, unexpected or mis-shaped tensor is named.
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import * as E from '../engine/index.ts';
import { loadWeights, saveCheckpoint } from '../engine/io/checkpoint.ts';
import { Detector } from '../detection/detector.ts';
import { parseConfig, presetConfig, PRESETS } from '../detection/train/config.ts';
import { detectorConfig } from '../detection/train/step.ts';
import { EXIT, exitWithUsageCode, parseArgs, readJsonFile, runCli } from './cli.ts';

const program = new Command()
  .name('import')
  .description('Turn a PyTorch/mmdetection .pth checkpoint into a checkpoint that eval, predict and train --teacher read.')
  .requiredOption('--pth <file>', "the .pth file (torch.save of a state_dict, bare or in mmdetection's {meta, state_dict})")
  .option('--preset <name>', `the model's config, a built-in one: ${Object.keys(PRESETS).join(', ')}`)
  .option('--config <file>', "the model's config, a JSON training config (e.g. examples/mmdet-gfl-r50-fpn.json)")
  .requiredOption('--out <dir>', 'folder for checkpoint-0000000.json and .safetensors')
  .addHelpText('after', '\nExit codes: 0 ok, 2 bad arguments, config or checkpoint (what does not match is named), 3 no WebGPU adapter, 5 GPU error.')
  .exitOverride(exitWithUsageCode);

await runCli(async () => {
  const o = parseArgs<{ pth: string; preset?: string; config?: string; out: string }>(program);
  if (!o.preset === !o.config) {
    console.error('error: give exactly one of --preset NAME or --config FILE');
    return EXIT.usage;
  }
  if (!fs.existsSync(o.pth)) throw new Error(`--pth: file not found: ${o.pth}`);
  const cfg = o.preset ? presetConfig(o.preset) : parseConfig(readJsonFile(o.config!, 'config file'), o.config!);
  await E.init();
  const detector = new Detector(detectorConfig(cfg));
  loadWeights(detector, o.pth);
  const sidecar = await saveCheckpoint({
    dir: o.out,
    step: 0,
    model: detector,
    optimizer: null,
    config: cfg,
    loader: null,
    extra: { importedFrom: o.pth },
  });
  const values = detector.stateDict().size;
  detector.dispose();
  console.log(`imported ${values} tensors from ${o.pth} (config '${cfg.name}') into ${sidecar}`);
});
