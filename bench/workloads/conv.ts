/**
 * conv2d (engine/ops/conv.ts) against TF.js's WebGPU convolutions, batch 8, the shapes of
 * issue 3: 3×3 64→64 at 32×32, 32→32 at 64×64, 128→128 at 16×16, each as forward, input
 * gradient (dx), weight gradient (dw) and forward + both gradients; then a 1×1 64→64 and a
 * 3×3 stride-2 64→64 at 32×32. No bias: these are the head convolutions followed by group
 * norm. TF.js's convolutions are NHWC with HWIO filters: it gets the same sizes in its
 * layout.
 *
 * Passes, ours: dx and dw are one backward() through a forward recorded once (retainGraph),
 * with the other operand frozen, so only that gradient's kernels run (plus the copy of the
 * upstream gradient that backward() makes). TF.js: dx is conv2dTranspose (its
 * Conv2DBackpropInput kernel), dw its Conv2DBackpropFilter kernel (what tf.grads runs for
 * a Conv2D filter), fwd+bwd tf.grads of conv2d with respect to input and filter.
 */
import * as E from '../../engine/index.ts';
import type { Case, Pass, Workload } from '../harness.ts';
import type { TF } from '../tfjs.ts';

interface ConvShape {
  n: number;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: number;
  stride: number;
}

const pad = (s: ConvShape) => (s.k - 1) >> 1;
const outSize = (s: ConvShape, d: number) => Math.floor((d + 2 * pad(s) - s.k) / s.stride) + 1;

/** Multiply-adds of one pass (forward, dx and dw each do the same number), times 2. */
const passFlops = (s: ConvShape) => 2 * s.n * outSize(s, s.h) * outSize(s, s.w) * s.cout * s.cin * s.k * s.k;

function ours(s: ConvShape, pass: Pass): () => Promise<Case> {
  return async () => {
    const opts = { stride: s.stride, padding: pad(s) };
    const x = E.randNormal([s.n, s.cin, s.h, s.w], 1);
    const w = E.randNormal([s.cout, s.cin, s.k, s.k], 2, 0, 0.05);
    const up = E.randNormal([s.n, s.cout, outSize(s, s.h), outSize(s, s.w)], 3);
    const leaves = [x, w];
    const clearGrads = () => {
      for (const t of leaves) {
        t.grad?.dispose();
        t.grad = null;
      }
    };
    let y: E.Tensor | null = null;
    if (pass === 'dx' || pass === 'dw') {
      E.requireGrad(pass === 'dx' ? x : w);
      y = E.conv2d(x, w, null, opts);
    } else if (pass === 'fwd+bwd') for (const t of leaves) E.requireGrad(t);
    return {
      async run() {
        if (pass === 'fwd') E.noGrad(() => E.conv2d(x, w, null, opts).dispose());
        else if (pass === 'fwd+bwd') E.scope(() => E.backward(E.conv2d(x, w, null, opts), up));
        else E.backward(y!, up, { retainGraph: true });
        await E.runtime().sync();
        clearGrads();
      },
      dispose() {
        clearGrads();
        for (const t of [x, w, up, y]) t?.dispose();
      },
    };
  };
}

function tfjs(s: ConvShape, pass: Pass): (tf: TF) => Promise<Case> {
  return async (tf) => {
    const ho = outSize(s, s.h);
    const wo = outSize(s, s.w);
    const x = tf.randomNormal([s.n, s.h, s.w, s.cin], 0, 1, 'float32', 1) as import('@tensorflow/tfjs').Tensor4D;
    const f = tf.randomNormal([s.k, s.k, s.cin, s.cout], 0, 0.05, 'float32', 2) as import('@tensorflow/tfjs').Tensor4D;
    const up = tf.randomNormal([s.n, ho, wo, s.cout], 0, 1, 'float32', 3) as import('@tensorflow/tfjs').Tensor4D;
    // explicit padding, the same as ours (TF.js's 'same' pads asymmetrically for stride 2)
    const p = pad(s);
    const padding: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ];
    const conv = (xi: typeof x, fi: typeof f) => tf.conv2d(xi, fi, s.stride, padding);
    const grads = tf.grads((xi, fi) => conv(xi as typeof x, fi as typeof f));
    const done = async (t: import('@tensorflow/tfjs').Tensor) => {
      // in-order queue: a one-element readback of the last result waits for everything
      const corner = tf.slice(t, [0, 0, 0, 0], [1, 1, 1, 1]);
      await corner.data();
      corner.dispose();
    };
    return {
      async run() {
        if (pass === 'fwd') {
          const y = conv(x, f);
          await done(y);
          y.dispose();
        } else if (pass === 'dx') {
          const dx = tf.conv2dTranspose(up, f, [s.n, s.h, s.w, s.cin], s.stride, padding);
          await done(dx);
          dx.dispose();
        } else if (pass === 'dw') {
          const dw = tf.engine().runKernel(
            'Conv2DBackpropFilter',
            { x, dy: up },
            {
              strides: [s.stride, s.stride],
              pad: padding,
              dataFormat: 'NHWC',
              filterShape: [s.k, s.k, s.cin, s.cout],
            },
          ) as import('@tensorflow/tfjs').Tensor;
          await done(dw);
          dw.dispose();
        } else {
          const [dx, df] = grads([x, f], up);
          await done(dx);
          await done(df);
          dx.dispose();
          df.dispose();
        }
      },
      dispose() {
        for (const t of [x, f, up]) t.dispose();
      },
    };
  };
}

function workload(label: string, s: ConvShape, pass: Pass): Workload {
  const ho = outSize(s, s.h);
  return {
    name: `conv ${label} ${s.cin}→${s.cout} [${s.n},${s.cin},${s.h},${s.w}]${s.stride > 1 ? ` stride ${s.stride}` : ''} → ${ho}×${outSize(s, s.w)}`,
    pass,
    flops: (pass === 'fwd+bwd' ? 3 : 1) * passFlops(s),
    ours: ours(s, pass),
    tfjs: tfjs(s, pass),
  };
}

const head = (c: number, hw: number): ConvShape => ({ n: 8, cin: c, cout: c, h: hw, w: hw, k: 3, stride: 1 });
const PASSES: Pass[] = ['fwd', 'dx', 'dw', 'fwd+bwd'];

const conv: Workload[] = [
  ...[head(64, 32), head(32, 64), head(128, 16)].flatMap((s) => PASSES.map((p) => workload('3×3', s, p))),
  ...(['fwd', 'fwd+bwd'] as Pass[]).map((p) => workload('1×1', { n: 8, cin: 64, cout: 64, h: 32, w: 32, k: 1, stride: 1 }, p)),
  ...(['fwd', 'fwd+bwd'] as Pass[]).map((p) => workload('3×3', { n: 8, cin: 64, cout: 64, h: 32, w: 32, k: 3, stride: 2 }, p)),
];

export default conv;
