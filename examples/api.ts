/**
 * The library in one page (the example of docs/library.md; test/examples.test.ts runs
 * it): define a model, load a teacher head that PyTorch wrote, and train the student with
 * the CrossKD loss, one optimizer step at a time.
 *
 *   npx tsx --conditions=crosskd-source examples/api.ts
 *
 * (`--conditions=crosskd-source` makes the package imports below resolve to this
 * repository's TypeScript sources; an installed package resolves them to its build.)
 */
import { add, backward, ConvModule, init, InitSeeds, Module, noGrad, randNormal, scope, SGD, type Tensor } from 'crosskd-webgpu';
import { loadWeights, readSafetensorsFile } from 'crosskd-webgpu/io';
import { GFLHead, type GflHeadConfig } from 'crosskd-webgpu/detection';
import { crossHeadForward, gflKdLosses } from 'crosskd-webgpu/crosskd';

await init(); // the WebGPU device: navigator.gpu in a browser, Dawn under Node

// A model is a Module: named children and parameters (PyTorch-style names, so that
// checkpoints interoperate). This one turns an image into two feature levels.
class TwoLevelStem extends Module {
  readonly level0: ConvModule;
  readonly level1: ConvModule;
  constructor(channels: number, seeds: InitSeeds) {
    super();
    this.level0 = this.child('level0', new ConvModule(3, channels, 3, seeds, { padding: 1, gnGroups: 4 }));
    this.level1 = this.child('level1', new ConvModule(channels, channels, 3, seeds, { stride: 2, padding: 1, gnGroups: 4 }));
  }
  forward(images: Tensor): Tensor[] {
    const p0 = this.level0.forward(images);
    return [p0, this.level1.forward(p0)];
  }
}

// The teacher's head was written by PyTorch with mmdetection's names (bbox_head.gfl_cls.weight,
// ...); its file carries its configuration in the safetensors metadata.
const teacherFile = new URL('../test/io/fixtures/gfl_head_torch.safetensors', import.meta.url).pathname;
const head: GflHeadConfig = JSON.parse(readSafetensorsFile(teacherFile).metadata.config);
const teacherHead = new GFLHead(head, new InitSeeds(0));
loadWeights(teacherHead, teacherFile, { prefix: 'bbox_head.' });
teacherHead.freeze(); // no gradients, no weight-gradient kernels
const teacherStem = new TwoLevelStem(head.inChannels, new InitSeeds(1)).freeze();

// The student: its own stem and a GFL head of the same shape, trained with SGD.
const stem = new TwoLevelStem(head.inChannels, new InitSeeds(2));
const studentHead = new GFLHead(head, new InitSeeds(3));
const params = [...stem.trainableParameters(), ...studentHead.trainableParameters().map(([n, p]) => [`head.${n}`, p] as [string, Tensor])];
const optimizer = new SGD(params, { lr: 0.02, momentum: 0.9, weightDecay: 0 });

const images = randNormal([2, 3, 16, 16], 7); // a batch of 2 RGB images, 16×16
const tap = 1; // CrossKD: the student's features after tower block 1 go through the teacher's blocks 2…
const rows = 2 * (16 * 16 + 8 * 8); // priors over both levels and both images

for (let step = 0; step < 8; step++) {
  const loss = scope(() => {
    const teacher = noGrad(() => teacherHead.forward(teacherStem.forward(images), { keepFeats: true }));
    const student = studentHead.forward(stem.forward(images), { keepFeats: true });
    const cross = crossHeadForward(student, teacher, teacherHead, tap);
    const { kdCls, kdReg } = gflKdLosses({
      cls: cross.cls,
      reg: cross.reg,
      teacherCls: teacher.cls,
      teacherReg: teacher.reg,
      labelWeights: new Float32Array(rows).fill(1), // every prior takes part
      avgFactor: 1,
      regMax: head.regMax,
    });
    const total = add(kdCls, kdReg);
    backward(total);
    optimizer.step();
    optimizer.zeroGrad();
    return total; // scope() frees every other tensor made in here
  });
  console.log(`step ${step} CrossKD loss ${(await loss.item()).toFixed(5)}`);
  loss.dispose();
}
