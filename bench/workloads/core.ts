/**
 * Core engine workloads: batched matmul throughput, and the fixed cost of one small
 * dispatch (a chain of dependent elementwise adds).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { Case, Workload } from '../harness.ts';

/** matmul(a, b): batched [B,M,K] × [B,K,N] → [B,M,N] (engine/ops/matmul.ts). */
type Matmul = (a: Tensor, b: Tensor) => Tensor;

function engineMatmul(): Matmul {
  // Looked up rather than imported so the bench keeps running (and type-checking) on a
  // tree where the op has not landed yet; the row then reports the error.
  const fn = (E as unknown as { matmul?: Matmul }).matmul;
  if (typeof fn !== 'function') throw new Error('the engine exports no matmul yet');
  return fn;
}

function matmulWorkload(B: number, M: number, K: number, N: number): Workload {
  return {
    name: `matmul [${B},${M},${K}]×[${B},${K},${N}]`,
    pass: 'fwd',
    flops: 2 * B * M * N * K,
    async ours(): Promise<Case> {
      const matmul = engineMatmul();
      const a = E.randNormal([B, M, K], 1);
      const b = E.randNormal([B, K, N], 2);
      return {
        async run() {
          const c = matmul(a, b);
          await E.runtime().sync();
          c.dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
    async tfjs(tf): Promise<Case> {
      const a = tf.randomNormal([B, M, K], 0, 1, 'float32', 1);
      const b = tf.randomNormal([B, K, N], 0, 1, 'float32', 2);
      return {
        async run() {
          const c = tf.matMul(a, b);
          const corner = tf.slice(c, [0, 0, 0], [1, 1, 1]); // tiny readback = wait for completion
          await corner.data();
          corner.dispose();
          c.dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

/** `chain` dependent adds on a small tensor: time per dispatch is the runtime's overhead. */
function addChainWorkload(chain: number, size: number): Workload {
  return {
    name: `add chain ×${chain} [${size}]`,
    pass: 'fwd',
    dispatches: chain,
    async ours(): Promise<Case> {
      const a = E.randNormal([size], 1);
      const b = E.randNormal([size], 2);
      return {
        async run() {
          let x = a;
          for (let i = 0; i < chain; i++) {
            const y = E.add(x, b);
            if (x !== a) x.dispose();
            x = y;
          }
          await x.data();
          x.dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
    async tfjs(tf): Promise<Case> {
      const a = tf.randomNormal([size], 0, 1, 'float32', 1);
      const b = tf.randomNormal([size], 0, 1, 'float32', 2);
      return {
        async run() {
          const x = tf.tidy(() => {
            let x = a;
            for (let i = 0; i < chain; i++) x = tf.add(x, b);
            return x;
          });
          await x.data();
          x.dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

const core: Workload[] = [matmulWorkload(1, 1024, 1024, 1024), addChainWorkload(1000, 256)];

export default core;
