/**
 * The kernel runtime: WGSL programs, their pipelines, and the command stream.
 *
 * - A kernel is a `.wgsl` file. Its bind-group layout and the byte layout of its uniform
 *   struct come from reflection (wgsl_reflect), never from hand-kept offsets.
 * - Shapes travel in uniforms, so one pipeline serves every shape; pipelines are compiled
 *   once per (kernel, override constants) and cached.
 * - Dispatches are recorded into one command encoder (one open compute pass) and submitted
 *   at a readback or an explicit flush(). Uniform blocks of a batch go into one arena
 *   buffer written once per submit, bound with dynamic offsets so bind groups can be cached.
 * - Validation and out-of-memory errors are caught per batch with error scopes and raised
 *   at the next readback, naming the kernels; a lost device fails the next dispatch.
 */
// The package's "main" is a CommonJS build mislabelled as ESM; its ESM build works everywhere.
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { BufferPool, type MemoryStats } from './buffers.ts';
import { getDevice } from './device.ts';
import { kernelSource } from './kernelSources.ts';

type Scalar = 'f32' | 'u32' | 'i32';
interface UniformField {
  name: string;
  offset: number;
  scalar: Scalar;
  /** number of scalars the field holds (vectors and arrays flattened) */
  count: number;
  /** byte distance between consecutive scalars; vec/array padding makes it irregular */
  slots: number[];
}

interface BindingInfo {
  name: string;
  binding: number;
  kind: 'uniform' | 'read' | 'read_write';
}

export interface KernelInfo {
  name: string;
  source: string;
  workgroupSize: [number, number, number];
  bindings: BindingInfo[];
  uniformFields: UniformField[];
  uniformSize: number;
  overrides: string[];
  layout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
}

export type UniformValues = Record<string, number | readonly number[]>;
export type OverrideValues = Record<string, number | boolean>;

export interface DispatchArgs {
  kernel: string;
  constants?: OverrideValues;
  uniforms?: UniformValues;
  /** GPU buffers by the name of their `var<storage>` in the kernel */
  buffers: Record<string, GPUBuffer>;
  /** workgroup counts; use grid() to fold large 1-D counts into 2-D */
  workgroups: readonly [number, number?, number?];
}

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

function scalarOf(typeName: string | undefined, where: string): Scalar {
  if (typeName === 'f32' || typeName === 'u32' || typeName === 'i32') return typeName;
  throw new Error(`${where}: uniform fields must be f32/u32/i32 scalars, vectors or arrays of them, got ${typeName}`);
}

type ReflectType = { name: string; size: number; format?: ReflectType | null; count?: number; stride?: number };

/** Flattens one uniform member into its scalar byte slots. */
function uniformField(kernel: string, name: string, offset: number, type: ReflectType): UniformField {
  const where = `kernel '${kernel}' uniform '${name}'`;
  const vecLen = (t: ReflectType) => (t.name.startsWith('vec') ? Number(t.name[3]) : 1);
  const slots: number[] = [];
  let scalar: Scalar;
  if (type.name === 'array') {
    const elem = type.format!;
    const inner = elem.name.startsWith('vec') ? elem.format!.name : elem.name;
    scalar = scalarOf(inner, where);
    for (let i = 0; i < (type.count ?? 0); i++)
      for (let j = 0; j < vecLen(elem); j++) slots.push(offset + i * type.stride! + 4 * j);
  } else if (type.name.startsWith('vec')) {
    scalar = scalarOf(type.format!.name, where);
    for (let j = 0; j < vecLen(type); j++) slots.push(offset + 4 * j);
  } else {
    scalar = scalarOf(type.name, where);
    slots.push(offset);
  }
  return { name, offset, scalar, count: slots.length, slots };
}

/** Folds a 1-D workgroup count into (x, y) with x ≤ 65535; kernels rebuild the index. */
export function grid(workgroups: number, maxPerDim = 65535): [number, number] {
  if (workgroups <= maxPerDim) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y];
}

export interface RuntimeStats {
  dispatches: number;
  /** dispatches per kernel name (tests prove which kernels ran, e.g. no weight gradient) */
  byKernel: Map<string, number>;
  submits: number;
  pipelinesCompiled: number;
  readbacks: number;
}

export class Runtime {
  readonly pool: BufferPool;
  readonly stats: RuntimeStats = { dispatches: 0, byKernel: new Map(), submits: 0, pipelinesCompiled: 0, readbacks: 0 };
  /** set by the tensor layer: live tensor count for memory() */
  liveTensors = 0;

  private kernels = new Map<string, KernelInfo>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;

  private encoder: GPUCommandEncoder | null = null;
  /** bind groups the current batch uses (the cache may drop them before the GPU is done) */
  private batchGroups = new Set<GPUBindGroup>();
  /**
   * Submitted batches not yet known to be finished. dawn.node frees a native object when
   * its JS wrapper is garbage-collected, even while the queue still executes it; holding
   * command buffers and bind groups here until onSubmittedWorkDone keeps them alive
   * (lavapipe crashed in its queue thread when the CPU ran far ahead without this).
   */
  private readonly inFlight = new Set<{ commands: GPUCommandBuffer; groups: Set<GPUBindGroup>; done: Promise<void> }>();
  private pass: GPUComputePassEncoder | null = null;
  private batchKernels = new Set<string>();
  private pendingChecks: Promise<void>[] = [];
  private asyncErrors: string[] = [];
  private lost: GPUDeviceLostInfo | null = null;

  private readonly uniformAlign: number;
  private readonly arenaSize = 1 << 20;
  private arena: GPUBuffer;
  private arenaCpu = new ArrayBuffer(1 << 20);
  private arenaUsed = 0;
  readonly limits: GPUSupportedLimits;

  constructor(readonly device: GPUDevice) {
    this.pool = new BufferPool(device);
    this.limits = device.limits;
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.arena = device.createBuffer({
      size: this.arenaSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-arena',
    });
    device.addEventListener('uncapturederror', (ev) => {
      this.asyncErrors.push((ev as GPUUncapturedErrorEvent).error.message);
    });
    void device.lost.then((info) => {
      this.lost = info;
    });
  }

  // ---------------------------------------------------------------- kernels

  kernel(name: string): KernelInfo {
    let info = this.kernels.get(name);
    if (!info) {
      info = this.reflect(name);
      this.kernels.set(name, info);
    }
    return info;
  }

  private reflect(name: string): KernelInfo {
    const source = kernelSource(name);
    const reflect = new WgslReflect(source);
    const entry = reflect.entry.compute.find((f) => f.name === 'main');
    if (!entry) throw new Error(`kernel '${name}': no @compute fn main`);
    const bindings: BindingInfo[] = [];
    let uniformFields: UniformField[] = [];
    let uniformSize = 0;
    for (const group of reflect.getBindGroups()) {
      for (const v of group) {
        if (!v) continue;
        if (v.group !== 0) throw new Error(`kernel '${name}': only @group(0) is supported, '${v.name}' is in ${v.group}`);
        if (v.resourceType === 0) {
          if (uniformFields.length) throw new Error(`kernel '${name}': at most one uniform struct`);
          uniformSize = v.size;
          uniformFields = (v.members ?? []).map((m) => uniformField(name, m.name, m.offset, m.type as ReflectType));
          bindings.push({ name: v.name, binding: v.binding, kind: 'uniform' });
        } else if (v.resourceType === 1) {
          bindings.push({ name: v.name, binding: v.binding, kind: v.access === 'read_write' ? 'read_write' : 'read' });
        } else {
          throw new Error(`kernel '${name}': binding '${v.name}' is not a buffer`);
        }
      }
    }
    const layout = this.device.createBindGroupLayout({
      label: name,
      entries: bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer:
          b.kind === 'uniform'
            ? { type: 'uniform', hasDynamicOffset: true }
            : { type: b.kind === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    const pipelineLayout = this.device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] });
    const ws = entry.workgroupSize ?? [1, 1, 1];
    return {
      name,
      source,
      workgroupSize: [ws[0], ws[1] ?? 1, ws[2] ?? 1],
      bindings,
      uniformFields,
      uniformSize,
      overrides: reflect.overrides.map((o) => o.name),
      layout,
      pipelineLayout,
    };
  }

  private pipeline(info: KernelInfo, constants: OverrideValues | undefined): GPUComputePipeline {
    const key = constants ? `${info.name}|${JSON.stringify(constants)}` : info.name;
    let p = this.pipelines.get(key);
    if (!p) {
      for (const c of Object.keys(constants ?? {}))
        if (!info.overrides.includes(c)) throw new Error(`kernel '${info.name}': unknown override constant '${c}'`);
      const module = this.device.createShaderModule({ code: info.source, label: info.name });
      const consts: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants ?? {})) consts[k] = typeof v === 'boolean' ? Number(v) : v;
      p = this.device.createComputePipeline({
        label: key,
        layout: info.pipelineLayout,
        compute: { module, entryPoint: 'main', constants: consts },
      });
      this.pipelines.set(key, p);
      this.stats.pipelinesCompiled++;
    }
    return p;
  }

  /** How many pipelines have been compiled for a kernel (all its variants). */
  pipelineCount(kernel: string): number {
    let n = 0;
    for (const key of this.pipelines.keys()) if (key === kernel || key.startsWith(`${kernel}|`)) n++;
    return n;
  }

  // ---------------------------------------------------------------- dispatch

  private packUniforms(info: KernelInfo, values: UniformValues): number {
    const size = Math.ceil(info.uniformSize / this.uniformAlign) * this.uniformAlign;
    if (this.arenaUsed + size > this.arenaSize) this.flush();
    const offset = this.arenaUsed;
    this.arenaUsed += size;
    const view = new DataView(this.arenaCpu, offset, info.uniformSize);
    for (const f of info.uniformFields) {
      const v = values[f.name];
      if (v === undefined) throw new Error(`kernel '${info.name}': uniform '${f.name}' not given`);
      const arr = typeof v === 'number' ? [v] : v;
      if (arr.length > f.count)
        throw new Error(`kernel '${info.name}': uniform '${f.name}' holds ${f.count} values, got ${arr.length}`);
      for (let i = 0; i < f.count; i++) {
        const x = i < arr.length ? arr[i] : 0;
        const at = f.slots[i] - 0;
        if (f.scalar === 'f32') view.setFloat32(at, x, true);
        else if (f.scalar === 'u32') view.setUint32(at, x, true);
        else view.setInt32(at, x, true);
      }
    }
    for (const name of Object.keys(values))
      if (!info.uniformFields.some((f) => f.name === name))
        throw new Error(`kernel '${info.name}': no uniform field '${name}'`);
    return offset;
  }

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  private bindGroup(info: KernelInfo, buffers: Record<string, GPUBuffer>): GPUBindGroup {
    let key = info.name;
    for (const b of info.bindings) {
      if (b.kind === 'uniform') continue;
      const buf = buffers[b.name];
      if (!buf) throw new Error(`kernel '${info.name}': buffer '${b.name}' not given`);
      if (buf.size > this.limits.maxStorageBufferBindingSize)
        throw new GpuError(
          `kernel '${info.name}': buffer '${b.name}' is ${buf.size} bytes, over this adapter's ` +
            `maxStorageBufferBindingSize (${this.limits.maxStorageBufferBindingSize})`,
        );
      key += `:${this.bufferId(buf)}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size > 8192) this.bindGroups.clear();
      group = this.device.createBindGroup({
        label: info.name,
        layout: info.layout,
        entries: info.bindings.map((b) =>
          b.kind === 'uniform'
            ? { binding: b.binding, resource: { buffer: this.arena, offset: 0, size: Math.max(16, info.uniformSize) } }
            : { binding: b.binding, resource: { buffer: buffers[b.name] } },
        ),
      });
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /** Forget cached bind groups that name a buffer about to be destroyed. */
  forgetBuffer(b: GPUBuffer): void {
    const id = this.bufferIds.get(b);
    if (id === undefined) return;
    for (const key of [...this.bindGroups.keys()]) if (key.split(':').slice(1).includes(String(id))) this.bindGroups.delete(key);
  }

  private beginBatch(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'batch' });
    }
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.beginBatch().beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    const enc = this.beginBatch();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return enc;
  }

  private checkAlive(what: string): void {
    if (this.lost)
      throw new GpuError(`WebGPU device lost (${this.lost.reason}: ${this.lost.message}) before ${what}`);
    if (this.asyncErrors.length) {
      const msgs = this.asyncErrors.splice(0);
      throw new GpuError(`WebGPU error before ${what}: ${msgs.join('; ')}`);
    }
  }

  dispatch(args: DispatchArgs): void {
    this.checkAlive(`kernel '${args.kernel}'`);
    const info = this.kernel(args.kernel);
    const [x, y = 1, z = 1] = args.workgroups;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max)
      throw new GpuError(`kernel '${args.kernel}': ${x}×${y}×${z} workgroups exceed ${max} per dimension (fold with grid())`);
    if (x === 0 || y === 0 || z === 0) return;
    const offset = info.uniformSize > 0 ? this.packUniforms(info, args.uniforms ?? {}) : -1;
    const pass = this.computePass(); // opens the batch's error scopes before any creation
    const pipeline = this.pipeline(info, args.constants);
    const group = this.bindGroup(info, args.buffers);
    this.batchGroups.add(group);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group, offset >= 0 ? [offset] : []);
    pass.dispatchWorkgroups(x, y, z);
    this.batchKernels.add(args.kernel);
    if (++this.batchDispatches >= Runtime.MAX_DISPATCHES_PER_SUBMIT) this.flush();
    this.stats.dispatches++;
    this.stats.byKernel.set(args.kernel, (this.stats.byKernel.get(args.kernel) ?? 0) + 1);
  }

  /**
   * A storage buffer for a tensor. Released buffers return to the pool only at a submit;
   * when a new allocation is needed while many wait for one, submit first so they can be
   * reused. Without this, a long unsubmitted stream (many steps between readbacks) keeps
   * allocating, and drivers cap live allocations (Vulkan's maxMemoryAllocationCount,
   * often 4096: lavapipe crashed past it).
   */
  acquire(bytes: number, label: string): GPUBuffer {
    if (!this.pool.hasFree(bytes) && this.pool.awaitingCount >= Runtime.SUBMIT_TO_RECYCLE) this.flush();
    return this.pool.acquire(bytes, label);
  }

  /**
   * Longest command stream recorded before a submit. Lavapipe crashed (in its queue
   * thread) on very long unsubmitted streams; 1024 dispatches cost one cheap submit.
   */
  static readonly MAX_DISPATCHES_PER_SUBMIT = 1024;
  private batchDispatches = 0;

  /** Released buffers waiting for a submit before acquire() submits to recycle them. */
  static readonly SUBMIT_TO_RECYCLE = 256;

  /** Copy bytes between buffers in stream order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive('a buffer copy');
    this.endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Whether recorded commands are waiting for a submit. */
  get hasPending(): boolean {
    return this.encoder !== null;
  }

  /** Submit everything recorded so far. Errors surface at the next readback or sync(). */
  flush(): void {
    if (!this.encoder) return;
    const enc = this.endPass();
    if (this.arenaUsed > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu, 0, this.arenaUsed);
    const commands = enc.finish();
    this.device.queue.submit([commands]);
    const done = this.device.queue.onSubmittedWorkDone();
    const batch = { commands, groups: this.batchGroups, done };
    this.batchGroups = new Set();
    this.inFlight.add(batch);
    void done.then(() => this.inFlight.delete(batch));
    this.encoder = null;
    this.arenaUsed = 0;
    this.batchDispatches = 0;
    this.stats.submits++;
    this.pool.submitted();
    const kernels = [...this.batchKernels].join(', ');
    this.batchKernels.clear();
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.pendingChecks.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        const err = v ?? o;
        if (err) throw new GpuError(`WebGPU ${v ? 'validation' : 'out-of-memory'} error in a batch running [${kernels}]: ${err.message}`);
      }),
    );
  }

  /**
   * Submits, then waits until at most `maxInFlight` submitted batches are unfinished.
   * Training loops call it once per step: the CPU may record the next step while the GPU
   * runs this one, but never runs far ahead (lavapipe crashed in its queue thread when
   * dozens of steps were queued).
   */
  async settle(maxInFlight = 2): Promise<void> {
    this.flush();
    while (this.inFlight.size > maxInFlight) {
      const oldest = this.inFlight.values().next().value!;
      await waitFor(oldest.done);
      this.inFlight.delete(oldest);
    }
  }

  /** Submit and wait for the GPU; throws the first error of any batch since the last sync. */
  async sync(): Promise<void> {
    this.flush();
    await waitFor(this.device.queue.onSubmittedWorkDone());
    await this.drainChecks();
  }

  private async drainChecks(): Promise<void> {
    const checks = this.pendingChecks.splice(0);
    const results = await Promise.allSettled(checks);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.checkAlive('this readback');
  }

  /** Read bytes back to the CPU (the only way to the CPU). */
  async read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.checkAlive('a readback');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    if (size > 0) this.copy(src, 0, staging, 0, size);
    this.flush();
    this.stats.readbacks++;
    try {
      await waitFor(staging.mapAsync(GPUMapMode.READ));
      const out = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      await this.drainChecks();
      return out;
    } catch (e) {
      await this.drainChecks(); // a batch error explains a failed map better than the map error
      throw e;
    } finally {
      staging.destroy();
    }
  }

  /** Upload bytes into a buffer not referenced by unsubmitted commands (pool guarantees it). */
  write(dst: GPUBuffer, data: ArrayBufferView): void {
    this.device.queue.writeBuffer(dst, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  memory(): MemoryStats {
    return {
      liveTensors: this.liveTensors,
      bytesInUse: this.pool.bytesInUse,
      bytesPooled: this.pool.bytesPooled,
      buffersCreated: this.pool.buffersCreated,
    };
  }
}

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
const sleepCell = isNode ? new Int32Array(new SharedArrayBuffer(4)) : null;

/**
 * Waits for a GPU promise. Under Node, Dawn polls for completion on every turn of the
 * event loop, which keeps the main thread spinning on a core that a CPU driver (lavapipe)
 * needs for the shaders themselves: sleeping 1 ms between single polls made a 1024³
 * matmul 1.4–1.8× faster on 2 cores. Browsers may not block their main thread, so there
 * the promise is simply awaited.
 */
async function waitFor<T>(promise: Promise<T>): Promise<T> {
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

let runtimeInstance: Runtime | null = null;

/** Acquire the device and set up the runtime; every other call needs this first. */
export async function init(): Promise<Runtime> {
  if (!runtimeInstance) runtimeInstance = new Runtime(await getDevice());
  return runtimeInstance;
}

export function runtime(): Runtime {
  if (!runtimeInstance) throw new Error('engine not initialised: call `await init()` first');
  return runtimeInstance;
}
