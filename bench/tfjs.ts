/**
 * TensorFlow.js's WebGPU backend under Node, on the same adapter as our engine (the peer
 * of every benchmark). What makes it work (docs/design.md, "Measuring against TensorFlow.js"):
 *
 * - Dawn's globals (GPUBufferUsage, ...) on globalThis and `navigator.gpu` set to one
 *   `create([])` GPU object BEFORE TF.js loads: its backend looks for navigator.gpu when
 *   its module is evaluated and when the backend is created.
 * - `@tensorflow/tfjs`, not only tfjs-core: the full package registers the gradient
 *   functions (without them tf.grads fails on Conv2D).
 * - The GPU object stays referenced for the whole run: if Dawn's GPU object is
 *   garbage-collected, every device made from it dies. It lives on navigator.gpu, and
 *   engine/device.ts takes navigator.gpu when present, so our engine asks the very same
 *   GPU object for its adapter: both devices sit on one adapter in one process.
 *
 * - WEBGPU_CPU_FORWARD off: by default TF.js computes ops whose inputs are still CPU-side
 *   and under 1000 elements on its CPU backend, so a small benchmark would never reach
 *   the GPU (a chain of adds on [256] ran entirely in JavaScript). We measure its WebGPU
 *   kernels, so every op goes to the GPU.
 *
 * Call setupNavigatorGpu() before the engine's init(), and loadTfjs() after it if wanted.
 */
import { createRequire } from 'node:module';

export type TF = typeof import('@tensorflow/tfjs');

let gpu: GPU | null = null;

/** Puts one Dawn GPU object on navigator.gpu (once) and returns it. */
export async function setupNavigatorGpu(): Promise<GPU> {
  if (gpu) return gpu;
  const existing = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (existing?.gpu) return (gpu = existing.gpu);
  const webgpu = (await import('webgpu')) as { create: (opts: string[]) => GPU; globals: object };
  Object.assign(globalThis, webgpu.globals);
  gpu = webgpu.create([]);
  // Node ≥ 21 defines a getter-only `navigator`: define the property rather than assign it.
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu, userAgent: existing && 'userAgent' in existing ? String(existing.userAgent) : 'node' },
    configurable: true,
    writable: true,
  });
  return gpu;
}

export interface TfjsInfo {
  tf: TF;
  version: string;
  backend: string;
  /** what TF.js's backend reports of its adapter, to check it is the same as ours */
  adapter: Record<string, unknown>;
}

let loaded: Promise<TfjsInfo> | null = null;

/** Loads TF.js with the WebGPU backend on navigator.gpu's adapter. */
export function loadTfjs(): Promise<TfjsInfo> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<TfjsInfo> {
  await setupNavigatorGpu();
  // TF.js greets Node users with a hint to install tfjs-node; it is not what we measure.
  const warn = console.warn;
  const log = console.log;
  const quiet =
    (orig: typeof console.log) =>
    (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('tfjs-node')) return;
      orig(...args);
    };
  console.warn = quiet(warn);
  console.log = quiet(log);
  let tf: TF;
  try {
    tf = (await import('@tensorflow/tfjs')) as TF;
    await import('@tensorflow/tfjs-backend-webgpu');
    const ok = await tf.setBackend('webgpu');
    if (!ok || tf.getBackend() !== 'webgpu') throw new Error(`TF.js: setBackend('webgpu') failed, backend is '${tf.getBackend()}'`);
    await tf.ready();
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  } finally {
    console.warn = warn;
    console.log = log;
  }
  const backend = tf.backend() as unknown as { adapterInfo?: Record<string, unknown> };
  const adapter: Record<string, unknown> = {};
  for (const k of ['vendor', 'architecture', 'device', 'description']) if (backend.adapterInfo?.[k] !== undefined) adapter[k] = backend.adapterInfo[k];
  const require = createRequire(import.meta.url);
  const version = (require('@tensorflow/tfjs-backend-webgpu/package.json') as { version: string }).version;
  return { tf, version, backend: tf.getBackend(), adapter };
}
