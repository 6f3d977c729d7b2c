/**
 * The fused detection losses of engine/ops/losses.ts, fwd+bwd at the sizes of issue 3:
 * QFL on [8·64·64, 80], GIoU on 100 000 box pairs, DFL and the distribution KL on
 * [400 000, 17]. Each is reduced to a scalar with an avg_factor, as the detector uses it,
 * then differentiated. TF.js's versions are composed from its ops as a user would write
 * them (the stable BCE form, one-hot masks, log-softmax) and differentiated with tf.grads.
 *
 * `bytes` is the traffic our kernels move per iteration: the loss kernel reads the inputs
 * and writes the saved gradient(s); the backward reads each saved gradient and writes the
 * input gradient (scalars and per-invocation partial sums are negligible).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { Case, Workload } from '../harness.ts';
import type { TF } from '../tfjs.ts';

type TfTensor = ReturnType<TF['tensor']>;

/** One iteration on our side: the loss in a scope, backward, wait, free the gradients. */
function oursCase(leaves: Tensor[], others: Tensor[], loss: () => Tensor): Case {
  return {
    async run() {
      E.scope(() => {
        E.backward(loss());
      });
      await E.runtime().sync();
      for (const t of leaves) {
        t.grad?.dispose();
        t.grad = null;
      }
    },
    dispose() {
      for (const t of [...leaves, ...others]) t.dispose();
    },
  };
}

/** One iteration on TF.js's side: every gradient, then a one-element readback of the last. */
function tfjsCase(tf: TF, inputs: TfTensor[], others: TfTensor[], grads: (xs: TfTensor[]) => TfTensor[]): Case {
  return {
    async run() {
      const gs = grads(inputs);
      const last = gs[gs.length - 1];
      const corner = tf.slice(tf.reshape(last, [-1]), [0], [1]); // in-order queue: waits for all
      await corner.data();
      for (const t of [corner, ...gs]) t.dispose();
    },
    dispose() {
      for (const t of [...inputs, ...others]) t.dispose();
    },
  };
}

/** Host-side seeded values (TF.js's own generators differ; only the sizes matter here). */
function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * (s >>> 8)) / 16777216;
  }
  return out;
}

const labelsFor = (n: number, classes: number): Int32Array =>
  // one prior in 10 positive, the rest background (label = classes)
  Int32Array.from(uniform(n, 0, 1, 7), (v, i) => (v < 0.1 ? i % classes : classes));

/** BCE with logits, the stable form (docs/crosskd.md §3), in TF.js ops. */
const tfBce = (tf: TF, x: TfTensor, t: TfTensor | number) => tf.add(tf.sub(tf.relu(x), tf.mul(x, t)), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));

// ------------------------------------------------------------------ QFL

function qflWorkload(N: number, C: number): Workload {
  const size = N * C;
  const avg = N / 10;
  return {
    name: `quality focal loss [${N},${C}]`,
    pass: 'fwd+bwd',
    bytes: 4 * (4 * size + 2 * N),
    async ours() {
      const pred = E.requireGrad(E.randNormal([N, C], 1, -2, 2));
      const label = E.tensor(labelsFor(N, C), [N], 'int32');
      const score = E.randUniform([N], 2);
      return oursCase([pred], [label, score], () => E.qualityFocalLoss(pred, label, score, { beta: 2, avgFactor: avg }));
    },
    async tfjs(tf) {
      const pred = tf.randomNormal([N, C], -2, 2, 'float32', 1);
      const label = tf.tensor1d(labelsFor(N, C), 'int32');
      const score = tf.randomUniform([N], 0, 1, 'float32', 2);
      // positives' own class from a one-hot over C+1 (background column dropped)
      const onehot = tf.slice(tf.oneHot(label, C + 1), [0, 0], [N, C]);
      const s = tf.reshape(score, [N, 1]);
      const grads = tf.grads((x) => {
        const p = tf.sigmoid(x);
        const neg = tf.mul(tfBce(tf, x, 0), tf.square(p));
        const pos = tf.mul(tfBce(tf, x, s), tf.square(tf.abs(tf.sub(s, p))));
        const elem = tf.add(tf.mul(onehot, pos), tf.mul(tf.sub(1, onehot), neg));
        return tf.div(tf.sum(elem), avg + 1.1920929e-7);
      });
      return tfjsCase(tf, [pred], [label, score, onehot, s], (xs) => grads(xs));
    },
  };
}

// ------------------------------------------------------------------ GIoU

function boxes(n: number, seed: number): Float32Array {
  const u = uniform(4 * n, 0, 1, seed);
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const [x, y, w, h] = [u[4 * i] * 600, u[4 * i + 1] * 600, 4 + u[4 * i + 2] * 200, 4 + u[4 * i + 3] * 200];
    out.set([x, y, x + w, y + h], 4 * i);
  }
  return out;
}

/** boxes2: boxes1 jittered by up to ±20% of its size per side (mostly overlapping pairs). */
function jittered(b: Float32Array, seed: number): Float32Array {
  const u = uniform(b.length, -0.2, 0.2, seed);
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i += 4) {
    const [w, h] = [b[i + 2] - b[i], b[i + 3] - b[i + 1]];
    out.set([b[i] + u[i] * w, b[i + 1] + u[i + 1] * h, b[i + 2] + u[i + 2] * w, b[i + 3] + u[i + 3] * h], i);
  }
  return out;
}

function giouWorkload(N: number): Workload {
  const eps = 1e-6;
  const b1 = boxes(N, 11);
  const b2 = jittered(b1, 12);
  return {
    name: `GIoU loss ${N} box pairs`,
    pass: 'fwd+bwd',
    // loss kernel: 2 box sets in, 2 saved gradients out; backward: 2 × (read + write)
    bytes: 4 * 4 * N * 8,
    async ours() {
      const a = E.requireGrad(E.tensor(b1, [N, 4]));
      const b = E.requireGrad(E.tensor(b2, [N, 4]));
      return oursCase([a, b], [], () => E.giouLoss(a, b, { eps, avgFactor: N }));
    },
    async tfjs(tf) {
      const a = tf.tensor2d(b1, [N, 4]);
      const b = tf.tensor2d(b2, [N, 4]);
      const col = (t: TfTensor, k: number) => tf.reshape(tf.slice(t, [0, k], [N, 1]), [N]);
      // mmdetection's bbox_overlaps(mode='giou', is_aligned=True) in TF.js ops
      const grads = tf.grads((x, y) => {
        const [ax1, ay1, ax2, ay2] = [0, 1, 2, 3].map((k) => col(x, k));
        const [bx1, by1, bx2, by2] = [0, 1, 2, 3].map((k) => col(y, k));
        const areaA = tf.mul(tf.sub(ax2, ax1), tf.sub(ay2, ay1));
        const areaB = tf.mul(tf.sub(bx2, bx1), tf.sub(by2, by1));
        const iw = tf.relu(tf.sub(tf.minimum(ax2, bx2), tf.maximum(ax1, bx1)));
        const ih = tf.relu(tf.sub(tf.minimum(ay2, by2), tf.maximum(ay1, by1)));
        const overlap = tf.mul(iw, ih);
        const union = tf.maximum(tf.sub(tf.add(areaA, areaB), overlap), eps);
        const iou = tf.div(overlap, union);
        const ew = tf.relu(tf.sub(tf.maximum(ax2, bx2), tf.minimum(ax1, bx1)));
        const eh = tf.relu(tf.sub(tf.maximum(ay2, by2), tf.minimum(ay1, by1)));
        const enclose = tf.maximum(tf.mul(ew, eh), eps);
        const giou = tf.sub(iou, tf.div(tf.sub(enclose, union), enclose));
        return tf.div(tf.sum(tf.sub(1, giou)), N + 1.1920929e-7);
      });
      return tfjsCase(tf, [a, b], [], (xs) => grads(xs));
    },
  };
}

// ------------------------------------------------------------------ DFL and KL

function dflWorkload(N: number, regMax: number): Workload {
  const m = regMax + 1;
  const target = uniform(N, 0, regMax - 0.1, 21);
  return {
    name: `distribution focal loss [${N},${m}]`,
    pass: 'fwd+bwd',
    bytes: 4 * (4 * N * m + N),
    async ours() {
      const pred = E.requireGrad(E.randNormal([N, m], 3));
      const y = E.tensor(target, [N]);
      return oursCase([pred], [y], () => E.distributionFocalLoss(pred, y, { regMax, avgFactor: N / 4 }));
    },
    async tfjs(tf) {
      const pred = tf.randomNormal([N, m], 0, 1, 'float32', 3);
      const y = tf.tensor1d(target);
      // mmdetection: F.cross_entropy at floor(y) and floor(y)+1, weighted by the distances
      const yl = tf.floor(y);
      const wl = tf.reshape(tf.sub(tf.add(yl, 1), y), [N, 1]);
      const wr = tf.reshape(tf.sub(y, yl), [N, 1]);
      const idx = tf.cast(yl, 'int32');
      const ohl = tf.oneHot(idx, m);
      const ohr = tf.oneHot(tf.add(idx, tf.scalar(1, 'int32')), m);
      const grads = tf.grads((x) => {
        const logp = tf.logSoftmax(x);
        const ce = tf.neg(tf.mul(logp, tf.add(tf.mul(ohl, wl), tf.mul(ohr, wr))));
        return tf.div(tf.sum(ce), N / 4 + 1.1920929e-7);
      });
      return tfjsCase(tf, [pred], [y, yl, wl, wr, idx, ohl, ohr], (xs) => grads(xs));
    },
  };
}

function klWorkload(N: number, m: number, T: number): Workload {
  return {
    name: `distribution KL loss [${N},${m}] T=${T}`,
    pass: 'fwd+bwd',
    bytes: 4 * 5 * N * m,
    async ours() {
      const pred = E.requireGrad(E.randNormal([N, m], 4));
      const teacher = E.randNormal([N, m], 5);
      return oursCase([pred], [teacher], () => E.kdKlDiv(pred, teacher, { T, binReduction: 'sum', avgFactor: N / 4 }));
    },
    async tfjs(tf) {
      const pred = tf.randomNormal([N, m], 0, 1, 'float32', 4);
      const teacher = tf.randomNormal([N, m], 0, 1, 'float32', 5);
      // LD's KnowledgeDistillationKLDivLoss: kl_div(log_softmax(z_s/T), softmax(z_t/T)) · T²
      const logt = tf.logSoftmax(tf.div(teacher, T));
      const t = tf.exp(logt);
      const grads = tf.grads((x) => {
        const logq = tf.logSoftmax(tf.div(x, T));
        const kl = tf.sum(tf.mul(t, tf.sub(logt, logq)));
        return tf.div(tf.mul(kl, T * T), N / 4 + 1.1920929e-7);
      });
      return tfjsCase(tf, [pred], [teacher, logt, t], (xs) => grads(xs));
    },
  };
}

const losses: Workload[] = [qflWorkload(8 * 64 * 64, 80), giouWorkload(100_000), dflWorkload(400_000, 16), klWorkload(400_000, 17, 1)];

export default losses;
