/**
 * Adapter and device acquisition, the same for Node (Dawn via the `webgpu` package) and
 * browsers (navigator.gpu). One device per process, created on first use.
 */

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter found (${detail}).\n` +
        `On Debian/Ubuntu without a GPU, install Mesa's software Vulkan driver (lavapipe):\n` +
        `  sudo bash scripts/setup-webgpu.sh\n` +
        `(it adds bookworm-backports and runs: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1).\n` +
        `In a browser, use one with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).`,
    );
    this.name = 'NoAdapterError';
  }
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** true for CPU implementations such as lavapipe or SwiftShader */
  isSoftware: boolean;
  limits: Record<string, number>;
  features: string[];
}

interface GpuContext {
  /** Held for the life of the device: if Dawn's GPU object is collected, the device dies. */
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
}

let context: Promise<GpuContext> | null = null;

let nodeGc: (() => void) | null = null;

/**
 * Under Node, a full garbage collection; in a browser, nothing. dawn.node releases a WebGPU
 * object (a bind group: on lavapipe a descriptor set, one 4 KiB memory mapping) only when
 * its JS wrapper is collected, and V8 does not see that native memory: it left tens of
 * thousands of dropped bind groups alive until the process passed Linux's 65530 mappings
 * and crashed (SIGSEGV) in an hour-long experiment. The runtime calls this whenever it
 * drops a batch of them.
 */
export function collectGarbage(): void {
  nodeGc?.();
}

async function getGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (!isNode) throw new NoAdapterError('this browser has no navigator.gpu');
  // Dawn for Node. Its globals (GPUBufferUsage, ...) are what WebGPU code expects to find.
  const webgpu = (await import('webgpu')) as { create: (opts: string[]) => GPU; globals: object };
  // V8's gc(), without --expose-gc on the command line (see collectGarbage)
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  nodeGc = vm.runInNewContext('gc') as () => void;
  Object.assign(globalThis, webgpu.globals);
  // Dawn rounds timestamp queries to ~65 µs by default (a browser's timing-attack guard);
  // the profiler needs them exact.
  return webgpu.create(['disable-dawn-features=timestamp_quantization']);
}

/** Limits we ask for: the adapter's own maxima for those a tensor engine runs into. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * An adapter and a device from a WebGPU entry point (navigator.gpu or Dawn's). Kept apart
 * from getDevice() so a test can hand it an entry point without adapters. Throws
 * NoAdapterError, with the fix, when there is no adapter or it gives no device.
 */
export async function openDevice(gpu: Pick<GPU, 'requestAdapter'>): Promise<{ adapter: GPUAdapter; device: GPUDevice }> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new NoAdapterError(`requestAdapter() failed: ${(e as Error).message}`);
  }
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = (adapter.limits as unknown as Record<string, number>)[name];
  // timestamp-query lets the profiler time each dispatch on the GPU (Runtime.startProfile)
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  try {
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'crosskd-engine' });
    return { adapter, device };
  } catch (e) {
    const name = adapter.info?.description || adapter.info?.device || 'the adapter';
    throw new NoAdapterError(`${name} found, but requestDevice() failed: ${(e as Error).message}`);
  }
}

async function create(): Promise<GpuContext> {
  const gpu = await getGpu();
  return { gpu, ...(await openDevice(gpu)) };
}

/** The process-wide device (created once). Throws NoAdapterError with a fix when none. */
export async function getDevice(): Promise<GPUDevice> {
  context ??= create();
  try {
    return (await context).device;
  } catch (e) {
    context = null; // let a later call retry, e.g. after the driver was installed
    throw e;
  }
}

export async function getAdapter(): Promise<GPUAdapter> {
  await getDevice();
  return (await context!).adapter;
}

const SOFTWARE_HINTS = /llvmpipe|lavapipe|swiftshader|software|cpu/i;

export async function describeAdapter(): Promise<AdapterDescription> {
  const adapter = await getAdapter();
  const info = adapter.info;
  const limits: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters, so walk the prototype.
  const proto = Object.getPrototypeOf(adapter.limits) as object;
  for (const key of Object.getOwnPropertyNames(proto)) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isSoftware: SOFTWARE_HINTS.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    limits,
    features: [...adapter.features].map(String).sort(),
  };
}

const isNodeProcess = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
const sleepCell = isNodeProcess ? new Int32Array(new SharedArrayBuffer(4)) : null;

/**
 * Waits for a GPU promise. Under Node, Dawn polls for completion on every turn of the
 * event loop, which keeps the main thread spinning on a core that a CPU driver (lavapipe)
 * needs for the shaders themselves: sleeping 1 ms between single polls made a 1024³
 * matmul 1.4–1.8× faster on 2 cores. Browsers may not block their main thread, so there
 * the promise is simply awaited.
 */
export async function waitFor<T>(promise: Promise<T>): Promise<T> {
  if (!sleepCell) return promise;
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    Atomics.wait(sleepCell, 0, 0, 1);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return promise;
}
