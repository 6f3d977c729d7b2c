/**
 * The kernel runtime: WGSL programs, their pipelines, and the command stream.
 *
 * - A kernel is a `.wgsl` file. Its bind-group layout and the byte layout of its uniform
 *   struct come from reflection (wgsl_reflect), never from hand-kept offsets.
 * - Shapes travel in uniforms, so one pipeline serves every shape; pipelines are compiled
 *   once per (kernel, override constants) and cached, as are bind groups (pipelines.ts).
 * - Dispatches are recorded into one command encoder (one open compute pass) and submitted
 *   at a readback or an explicit flush(). Uniform blocks of a batch go into one arena
 *   buffer written once per submit, bound with dynamic offsets so bind groups can be cached.
 * - Validation and out-of-memory errors are caught per batch with error scopes and raised
 *   at the next readback, naming the ops and kernels; a lost device fails the next dispatch.
 * - Anomaly mode (opt-in) checks every op's float32 output for NaN/Inf on the GPU and names
 *   the first op that produced one at the next readback (see opDone).
 * - Profiling (opt-in, startProfile/stopProfile) times every dispatch on the GPU (see
 *   profiler.ts).
 */
import { BufferPool, type MemoryStats } from './buffers.ts';
import { getDevice, waitFor } from './device.ts';
import { writeUniforms, type KernelInfo, type UniformValues } from './kernelInfo.ts';
import { PipelineCaches, type OverrideValues } from './pipelines.ts';
import { ProfileSession, type Profile, type ProfileMode, type TimestampQueries } from './profiler.ts';
import type { Tensor } from './tensor.ts';
import { AnomalyMonitor, raiseAnomaly, type StagedAnomalyFlag } from './anomaly.ts';

export { AnomalyError } from './anomaly.ts';

export type { BindingInfo, KernelInfo, Scalar, UniformField, UniformValues } from './kernelInfo.ts';
export type { OverrideValues } from './pipelines.ts';

export interface DispatchArgs {
  /** the op this launch belongs to, e.g. 'log' or 'conv2d backward (input)': errors name it */
  op: string;
  kernel: string;
  constants?: OverrideValues;
  uniforms?: UniformValues;
  /** GPU buffers by the name of their `var<storage>` in the kernel */
  buffers: Record<string, GPUBuffer>;
  /** workgroup counts; use grid() to fold large 1-D counts into 2-D */
  workgroups: readonly [number, number?, number?];
  /** floating-point operations of the launch, where the op knows them (the profiler's GFLOP/s) */
  flops?: number;
}

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

/** The limits the runtime checks before Dawn would fail (overridable downwards in tests). */
export interface CheckedLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupsPerDimension: number;
}

/** One recorded launch, named for error messages. */
const launchName = (op: string, kernel: string) => (op === kernel ? `'${op}'` : `op '${op}' (kernel ${kernel})`);

/** An environment variable under Node; undefined in browsers. */
function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

/** How errors found at a readback or sync() name the moment. */
const READBACK = 'this readback';

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

  /** kernels' reflection, their pipelines and bind groups (pipelines.ts) */
  private readonly caches: PipelineCaches;

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
  /** the ops and kernels recorded into the open batch, named for its error message */
  private batchLaunches = new Set<string>();
  /** the same for the batch submitted last (a device loss names it) */
  private lastBatchLaunches = '';
  private pendingChecks: Promise<void>[] = [];
  private asyncErrors: string[] = [];
  private lost: GPUDeviceLostInfo | null = null;

  /** limits checked before Dawn sees a launch or an allocation */
  private checked: CheckedLimits;

  /** the open profile, if any (startProfile) */
  private profiling: ProfileSession | null = null;
  /** requested bytes of each buffer acquire() handed out (the profiler's traffic estimate) */
  private requestedBytes = new WeakMap<GPUBuffer, number>();

  /** anomaly mode (anomaly.ts): the finite checks and their flag */
  private readonly anomaly: AnomalyMonitor;

  private readonly uniformAlign: number;
  private readonly arenaSize = 1 << 20;
  private arena: GPUBuffer;
  private arenaCpu = new ArrayBuffer(1 << 20);
  private arenaUsed = 0;
  readonly limits: GPUSupportedLimits;

  constructor(readonly device: GPUDevice) {
    this.pool = new BufferPool(device);
    this.caches = new PipelineCaches(device, {
      scoped: (what, create, onError) => this.scoped(what, create, onError),
      compiled: () => this.stats.pipelinesCompiled++,
    });
    this.limits = device.limits;
    this.checked = {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
    };
    this.pool.maxClassBytes = this.checked.maxStorageBufferBindingSize;
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.arena = device.createBuffer({
      size: this.arenaSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-arena',
    });
    this.anomaly = new AnomalyMonitor(
      {
        device,
        dispatch: (args) => this.dispatch(args),
        copy: (src, dst, bytes) => this.copy(src, 0, dst, 0, bytes),
        clear: (buffer) => this.endPass().clearBuffer(buffer),
      },
      anomalyRequested ?? env('CROSSKD_ANOMALY') === '1',
    );
    device.addEventListener('uncapturederror', (ev) => {
      this.asyncErrors.push((ev as GPUUncapturedErrorEvent).error.message);
    });
    void device.lost.then((info) => {
      this.lost = info;
    });
  }

  // ---------------------------------------------------------------- kernels

  /** A kernel's reflection (bindings, layouts, uniform slots), read once per kernel. */
  kernel(name: string): KernelInfo {
    return this.caches.kernel(name);
  }

  /**
   * Runs a creation call in its own validation scope, so an error names the op and kernel
   * that caused it exactly (the batch's scope could only list all of its launches).
   * Creations are cache misses, so this costs nothing in a steady training loop.
   */
  private scoped<T>(what: string, create: () => T, onError?: () => void): T {
    this.device.pushErrorScope('validation');
    const value = create();
    this.deferCheck(
      this.device.popErrorScope().then((err) => {
        if (!err) return;
        onError?.();
        throw new GpuError(`WebGPU validation error ${what}: ${err.message}`);
      }),
    );
    return value;
  }

  /**
   * Keeps an error-scope check for the next readback or sync(). The check is marked as
   * handled now: it may reject long before anyone awaits it, and Node would otherwise
   * kill the process for an unhandled rejection instead of raising it at the readback.
   */
  private deferCheck(check: Promise<void>): void {
    check.catch(() => {});
    this.pendingChecks.push(check);
  }

  /** How many pipelines have been compiled for a kernel (all its variants). */
  pipelineCount(kernel: string): number {
    return this.caches.pipelineCount(kernel);
  }

  // ---------------------------------------------------------------- dispatch

  private packUniforms(info: KernelInfo, values: UniformValues): number {
    const size = Math.ceil(info.uniformSize / this.uniformAlign) * this.uniformAlign;
    if (this.arenaUsed + size > this.arenaSize) this.flush();
    const offset = this.arenaUsed;
    this.arenaUsed += size;
    writeUniforms(info, values, new DataView(this.arenaCpu, offset, info.uniformSize));
    return offset;
  }

  /**
   * Refuses storage bindings over maxStorageBufferBindingSize before Dawn would: its error
   * would surface later, at a readback, far from the op that asked for it.
   */
  private checkBindingSizes(info: KernelInfo, buffers: Record<string, GPUBuffer>, op: string): void {
    const max = this.checked.maxStorageBufferBindingSize;
    for (const b of info.bindings) {
      const buf = b.kind === 'uniform' ? undefined : buffers[b.name];
      if (buf && buf.size > max)
        throw new GpuError(
          `${launchName(op, info.name)}: binding '${b.name}' is a ${buf.size}-byte buffer (${buf.label}), ` +
            `over this adapter's maxStorageBufferBindingSize of ${max} bytes`,
        );
    }
  }

  /**
   * Lowers the limits the runtime checks (never above the device's), so tests can
   * exercise the size checks without gigabyte tensors. Returns a function that restores
   * the previous limits.
   */
  overrideLimits(lower: Partial<CheckedLimits>): () => void {
    const previous = { ...this.checked };
    const device = this.limits as unknown as Record<keyof CheckedLimits, number>;
    for (const [name, value] of Object.entries(lower) as [keyof CheckedLimits, number][]) {
      if (!(Number.isInteger(value) && value > 0 && value <= device[name]))
        throw new Error(`overrideLimits: ${name} must be an integer in [1, ${device[name]}] (the device's), got ${value}`);
      this.checked[name] = value;
    }
    this.pool.maxClassBytes = this.checked.maxStorageBufferBindingSize;
    return () => {
      this.checked = previous;
      this.pool.maxClassBytes = previous.maxStorageBufferBindingSize;
    };
  }

  /** The limits in force (the device's unless a test lowered them). */
  get checkedLimits(): Readonly<CheckedLimits> {
    return this.checked;
  }

  /** Forget cached bind groups that name a buffer about to be destroyed. */
  forgetBuffer(b: GPUBuffer): void {
    this.caches.forgetBuffer(b);
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

  /**
   * Throws if the device was lost or reported an uncaptured error. A loss is noticed
   * asynchronously, so at a readback the message names the ops of the last batch
   * submitted — the work that was running or about to run when it happened.
   */
  private checkAlive(what: string): void {
    const ran = what === READBACK && this.lastBatchLaunches ? `; the last batch submitted ran ${this.lastBatchLaunches}` : '';
    if (this.lost) throw new GpuError(`WebGPU device lost (${this.lost.reason}: ${this.lost.message}) before ${what}${ran}`);
    if (this.asyncErrors.length) {
      const msgs = this.asyncErrors.splice(0);
      throw new GpuError(`WebGPU error before ${what}: ${msgs.join('; ')}${ran}`);
    }
  }

  dispatch(args: DispatchArgs): void {
    const name = launchName(args.op, args.kernel);
    this.checkAlive(name);
    const info = this.kernel(args.kernel);
    const [x, y = 1, z = 1] = args.workgroups;
    const max = this.checked.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new GpuError(`${name}: ${x}×${y}×${z} workgroups exceed ${max} per dimension (fold 1-D counts with grid())`);
    if (x === 0 || y === 0 || z === 0) return;
    this.checkBindingSizes(info, args.buffers, args.op);
    const offset = info.uniformSize > 0 ? this.packUniforms(info, args.uniforms ?? {}) : -1;
    const prof = this.profiling;
    const pass = prof?.queries ? this.timedPass(prof.queries) : this.computePass(); // opens the batch's error scopes before any creation
    const pipeline = this.caches.pipeline(info, args.constants, launchName(args.op, info.name));
    const group = this.caches.bindGroup(info, args.buffers, launchName(args.op, info.name), this.arena);
    this.batchGroups.add(group);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group, offset >= 0 ? [offset] : []);
    pass.dispatchWorkgroups(x, y, z);
    if (prof) this.recordProfiled(prof, args, info, pipeline, offset, [x, y, z]);
    this.batchLaunches.add(name);
    this.anomaly.noteLaunch(args.op, args.kernel);
    if (++this.batchDispatches >= Runtime.MAX_DISPATCHES_PER_SUBMIT) this.flush();
    this.stats.dispatches++;
    this.stats.byKernel.set(args.kernel, (this.stats.byKernel.get(args.kernel) ?? 0) + 1);
  }

  // ---------------------------------------------------------------- profiling

  /**
   * Starts timing every dispatch (see profiler.ts): 'timestamp' where the device has
   * `timestamp-query` (the default there), else 'replay'. Work recorded before the call is
   * submitted first and is not part of the profile.
   */
  startProfile(mode?: ProfileMode): ProfileMode {
    if (this.profiling) throw new Error('startProfile: a profile is already open; call stopProfile() first');
    const hasTimestamps = this.device.features.has('timestamp-query');
    const chosen = mode ?? (hasTimestamps ? 'timestamp' : 'replay');
    if (chosen === 'timestamp' && !hasTimestamps)
      throw new Error(`startProfile: mode 'timestamp' needs the device feature 'timestamp-query', which this adapter does not offer; use mode 'replay'`);
    this.flush();
    this.profiling = new ProfileSession(this.device, chosen);
    return chosen;
  }

  get isProfiling(): boolean {
    return this.profiling !== null;
  }

  /** Names the phase the next dispatches belong to (e.g. 'forward'); a no-op when not profiling. */
  profilePhase(name: string): void {
    this.profiling?.setPhase(name);
  }

  /** Ends the profile: waits for the GPU and returns every dispatch's time. */
  async stopProfile(): Promise<Profile> {
    const p = this.profiling;
    if (!p) throw new Error('stopProfile: no profile is open; call startProfile() first');
    p.setPhase('other');
    this.profiling = null;
    await this.sync();
    return p.finish();
  }

  /** A compute pass of its own for one dispatch, with timestamps at its beginning and end. */
  private timedPass(queries: TimestampQueries): GPUComputePassEncoder {
    const enc = this.endPass();
    const timestampWrites = queries.next(enc); // may resolve a full query set: outside any pass
    this.pass = enc.beginComputePass({ timestampWrites });
    return this.pass;
  }

  private recordProfiled(
    prof: ProfileSession,
    args: DispatchArgs,
    info: KernelInfo,
    pipeline: GPUComputePipeline,
    uniformOffset: number,
    workgroups: [number, number, number],
  ): void {
    let bytes = 0;
    for (const b of new Set(Object.values(args.buffers))) bytes += this.requestedBytes.get(b) ?? b.size;
    prof.record({ op: args.op, kernel: args.kernel, workgroups, flops: args.flops ?? null, bytes }, () => {
      const uniform = info.bindings.find((b) => b.kind === 'uniform');
      return {
        pipeline,
        layout: info.layout,
        storage: info.bindings.filter((b) => b.kind !== 'uniform').map((b) => ({ binding: b.binding, size: args.buffers[b.name].size })),
        uniform: uniform ? { binding: uniform.binding, bytes: new Uint8Array(this.arenaCpu.slice(uniformOffset, uniformOffset + info.uniformSize)) } : null,
        workgroups,
      };
    });
    if (prof.queries) {
      // close the dispatch's own pass so its end timestamp is written
      this.pass!.end();
      this.pass = null;
    }
  }

  // ---------------------------------------------------------------- anomaly mode

  /**
   * Anomaly mode: after every op, a small kernel scans the op's float32 outputs for NaN
   * and ±Inf and records the first offender's slot in one u32 on the GPU; each readback
   * (read(), sync()) reads that u32 in the same submit and throws an AnomalyError naming
   * the op and its kernels. It costs one extra pass over each output and no extra
   * synchronisation — a per-op readback would stall the queue after every op instead.
   * Off by default; on with setAnomalyMode(true) or CROSSKD_ANOMALY=1.
   */
  setAnomalyMode(on: boolean): void {
    this.anomaly.setEnabled(on);
  }

  get anomalyMode(): boolean {
    return this.anomaly.enabled;
  }

  /**
   * Closes an op: the kernels launched since the previous opDone belong to `op`; in
   * anomaly mode its float32 outputs are checked. autograd's record() calls it for every
   * op; `context` names the op whose backward rule is running, if any.
   */
  opDone(op: string, outputs: readonly Tensor[], context: string | null = null): void {
    this.anomaly.opDone(op, outputs, context);
  }

  /** Whether kernels ran since the last opDone (a backward rule that launched them itself). */
  get hasUnclosedLaunches(): boolean {
    return this.anomaly.hasUnclosedLaunches;
  }

  private stageAnomalyFlag(): StagedAnomalyFlag | null {
    return this.anomaly.stage();
  }

  private async resolveAnomalyFlag(stage: StagedAnomalyFlag): Promise<void> {
    let value: number;
    try {
      await waitFor(stage.staging.mapAsync(GPUMapMode.READ));
      value = new Uint32Array(stage.staging.getMappedRange(0, 4))[0];
      stage.staging.unmap();
    } finally {
      stage.staging.destroy();
    }
    raiseAnomaly(stage, value);
  }

  /**
   * A storage buffer for a tensor. Released buffers return to the pool only at a submit;
   * when a new allocation is needed while many wait for one, submit first so they can be
   * reused. Without this, a long unsubmitted stream (many steps between readbacks) keeps
   * allocating, and drivers cap live allocations (Vulkan's maxMemoryAllocationCount,
   * often 4096: lavapipe crashed past it).
   */
  acquire(bytes: number, label: string): GPUBuffer {
    if (bytes > this.checked.maxBufferSize)
      throw new GpuError(`cannot allocate ${label}: it needs ${bytes} bytes, over this adapter's maxBufferSize of ${this.checked.maxBufferSize} bytes`);
    if (!this.pool.hasFree(bytes) && this.pool.awaitingCount >= Runtime.SUBMIT_TO_RECYCLE) this.flush();
    const buffer = this.pool.acquire(bytes, label);
    this.requestedBytes.set(buffer, bytes);
    return buffer;
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

  /** Zero `bytes` bytes of a buffer from `offset`, in stream order. */
  clear(dst: GPUBuffer, offset: number, bytes: number): void {
    this.checkAlive('a buffer clear');
    this.endPass().clearBuffer(dst, offset, bytes);
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
    const launches = Runtime.summarise(this.batchLaunches);
    this.lastBatchLaunches = launches;
    this.batchLaunches = new Set();
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.deferCheck(
      Promise.all([validation, oom]).then(([v, o]) => {
        const err = v ?? o;
        if (err) throw new GpuError(`WebGPU ${v ? 'validation' : 'out-of-memory'} error in a batch running ${launches}: ${err.message}`);
      }),
    );
  }

  /** "op 'a' (kernel k), 'fill', ... and 12 more" */
  private static summarise(launches: Set<string>, shown = 12): string {
    const all = [...launches];
    const more = all.length > shown ? ` and ${all.length - shown} more` : '';
    return all.length ? all.slice(0, shown).join(', ') + more : 'no kernels (buffer copies only)';
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
    const anomaly = this.stageAnomalyFlag();
    this.flush();
    await waitFor(this.device.queue.onSubmittedWorkDone());
    await this.drainChecks();
    if (anomaly) await this.resolveAnomalyFlag(anomaly);
  }

  private async drainChecks(): Promise<void> {
    const checks = this.pendingChecks.splice(0);
    const results = await Promise.allSettled(checks);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.checkAlive(READBACK);
  }

  /** Read bytes back to the CPU (the only way to the CPU). */
  async read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.checkAlive(READBACK);
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    if (size > 0) this.copy(src, 0, staging, 0, size);
    const anomaly = this.stageAnomalyFlag();
    this.flush();
    this.stats.readbacks++;
    let out: ArrayBuffer;
    try {
      await waitFor(staging.mapAsync(GPUMapMode.READ));
      out = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      await this.drainChecks();
    } catch (e) {
      anomaly?.staging.destroy();
      await this.drainChecks(); // a batch error explains a failed map better than the map error
      throw e;
    } finally {
      staging.destroy();
    }
    if (anomaly) await this.resolveAnomalyFlag(anomaly);
    return out;
  }

  /** Upload bytes into a buffer not referenced by unsubmitted commands (pool guarantees it). */
  write(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.device.queue.writeBuffer(dst, dstOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  memory(): MemoryStats {
    return {
      liveTensors: this.liveTensors,
      bytesInUse: this.pool.bytesInUse,
      bytesPooled: this.pool.bytesPooled,
      buffersCreated: this.pool.buffersCreated,
      buffersLive: this.pool.liveCount,
    };
  }
}

let runtimeInstance: Runtime | null = null;
/** setAnomalyMode() before init(): the runtime starts in that mode */
let anomalyRequested: boolean | null = null;

/**
 * Anomaly mode on or off (see Runtime.setAnomalyMode): every op's float32 output is
 * checked for NaN/Inf and the first offender is named at the next readback. May be called
 * before init(). Also on with the environment variable CROSSKD_ANOMALY=1.
 */
export function setAnomalyMode(on: boolean): void {
  anomalyRequested = on;
  runtimeInstance?.setAnomalyMode(on);
}

export function anomalyMode(): boolean {
  return runtimeInstance ? runtimeInstance.anomalyMode : (anomalyRequested ?? env('CROSSKD_ANOMALY') === '1');
}

/** Acquire the device and set up the runtime; every other call needs this first. */
export async function init(): Promise<Runtime> {
  if (!runtimeInstance) runtimeInstance = new Runtime(await getDevice());
  return runtimeInstance;
}

export function runtime(): Runtime {
  if (!runtimeInstance) throw new Error('engine not initialised: call `await init()` first');
  return runtimeInstance;
}
