/**
 * Group norm, fwd+bwd on the detector-head shape of issue 3: [8,64,32,32], 32 groups,
 * affine, γ and β trainable. Ours is engine/ops/norm.ts (three kernels: forward, dx with
 * per-channel sums, dγ/dβ); TF.js's is composed from its ops, as a user would write it.
 */
import * as E from '../../engine/index.ts';
import type { Case, Workload } from '../harness.ts';

function groupNormWorkload(shape: [number, number, number, number], groups: number): Workload {
  const [n, c, h, w] = shape;
  const size = n * c * h * w;
  const eps = 1e-5;
  return {
    name: `group norm [${shape.join(',')}] ${groups} groups`,
    pass: 'fwd+bwd',
    // The least traffic any fwd+bwd can have: the forward reads x and writes y; the
    // backward reads x and the upstream gradient and writes dx (statistics and per-channel
    // sums are a few KB). float32: 4 bytes an element.
    bytes: 5 * 4 * size,
    async ours(): Promise<Case> {
      const x = E.requireGrad(E.randNormal(shape, 1, 0.5, 2));
      const weight = E.requireGrad(E.randNormal([c], 2, 1, 0.2));
      const bias = E.requireGrad(E.randNormal([c], 3, 0, 0.2));
      const up = E.randNormal(shape, 4);
      const params = [x, weight, bias];
      return {
        async run() {
          E.scope(() => {
            const y = E.groupNorm(x, groups, weight, bias, { eps });
            E.backward(y, up);
          });
          await E.runtime().sync();
          for (const p of params) {
            p.grad?.dispose();
            p.grad = null;
          }
        },
        dispose() {
          for (const t of [...params, up]) t.dispose();
        },
      };
    },
    async tfjs(tf): Promise<Case> {
      const x = tf.randomNormal(shape, 0.5, 2, 'float32', 1);
      const weight = tf.randomNormal([c], 1, 0.2, 'float32', 2);
      const bias = tf.randomNormal([c], 0, 0.2, 'float32', 3);
      const up = tf.randomNormal(shape, 0, 1, 'float32', 4);
      // Composed as a TF.js user would: moments over each group, then normalise and affine.
      const groupNorm = (xi: typeof x, wi: typeof weight, bi: typeof bias) => {
        const xr = tf.reshape(xi, [n, groups, (c / groups) * h * w]);
        const { mean, variance } = tf.moments(xr, 2, true);
        const xhat = tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, eps)));
        return tf.add(tf.mul(tf.reshape(xhat, shape), tf.reshape(wi, [1, c, 1, 1])), tf.reshape(bi, [1, c, 1, 1]));
      };
      const grads = tf.grads((xi, wi, bi) => groupNorm(xi as typeof x, wi as typeof weight, bi as typeof bias));
      return {
        async run() {
          const [dx, dw, db] = grads([x, weight, bias], up);
          // in-order queue: a one-element readback of dx (backprop's last result) waits for all
          const corner = tf.slice(dx, [0, 0, 0, 0], [1, 1, 1, 1]);
          await corner.data();
          for (const t of [corner, dx, dw, db]) t.dispose();
        },
        dispose() {
          for (const t of [x, weight, bias, up]) t.dispose();
        },
      };
    },
  };
}

const norm: Workload[] = [groupNormWorkload([8, 64, 32, 32], 32)];

export default norm;
