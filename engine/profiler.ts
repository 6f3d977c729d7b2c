/**
 * A per-dispatch GPU profile of the command stream (the runtime owns it: see
 * Runtime.startProfile). Two ways to time a dispatch:
 *
 * - 'timestamp': with the adapter's `timestamp-query` feature, every dispatch of the
 *   profiled stretch gets its own compute pass whose beginning and end write GPU
 *   timestamps; they are resolved into buffers and read once at the end. This times the
 *   real stream, in place, at the cost of one pass per dispatch.
 * - 'replay': without the feature a synchronous scope cannot wait for the GPU after each
 *   dispatch, so every distinct launch (pipeline, uniforms, workgroups, buffer sizes) is run
 *   again afterwards in isolation on scratch buffers of the same sizes, with a
 *   submit-and-wait per run, and the cost of an empty submit subtracted. Kernels whose
 *   running time depends on the data (few do here) are timed on zeros.
 *
 * Work per dispatch: FLOPs where the launch site knows them (conv, matmul), and the bytes
 * of the buffers it binds (the requested tensor sizes), a traffic estimate that counts
 * each bound buffer once.
 */

export type ProfileMode = 'timestamp' | 'replay';

/** One dispatch of a profiled stretch. */
export interface DispatchTiming {
  op: string;
  kernel: string;
  /** the phase set by Runtime.profilePhase when the dispatch was recorded */
  phase: string;
  workgroups: [number, number, number];
  /** floating-point operations (multiply and add counted apart), where known */
  flops: number | null;
  /** bytes of the buffers bound (each counted once) */
  bytes: number;
  /** GPU time */
  ns: number;
}

export interface PhaseTiming {
  name: string;
  /** CPU wall time from entering the phase to leaving it (recording, CPU work) */
  cpuMs: number;
}

export interface Profile {
  mode: ProfileMode;
  /** how the times were taken, for the report */
  note: string;
  dispatches: DispatchTiming[];
  phases: PhaseTiming[];
}

/** What replay needs to run a launch again. */
export interface ReplayLaunch {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** storage bindings: binding index and size of the buffer bound there */
  storage: { binding: number; size: number }[];
  /** the uniform binding and its bytes, if the kernel has one */
  uniform: { binding: number; bytes: Uint8Array } | null;
  workgroups: [number, number, number];
}

/** WebGPU caps a query set at 4096 queries: 2048 dispatches per set. */
const QUERIES_PER_SET = 4096;

/**
 * Timestamp query sets handed out two queries per compute pass; a full set is resolved into
 * its buffer on the encoder before the next set is used.
 */
export class TimestampQueries {
  private sets: { querySet: GPUQuerySet; resolve: GPUBuffer; used: number }[] = [];

  constructor(private readonly device: GPUDevice) {}

  /** The timestampWrites for the next pass; `encoder` receives the resolve of a full set. */
  next(encoder: GPUCommandEncoder): GPUComputePassTimestampWrites {
    let cur = this.sets[this.sets.length - 1];
    if (!cur || cur.used === QUERIES_PER_SET) {
      if (cur) this.resolve(encoder, cur);
      cur = {
        querySet: this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET, label: 'profile-timestamps' }),
        resolve: this.device.createBuffer({
          size: QUERIES_PER_SET * 8,
          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
          label: 'profile-resolve',
        }),
        used: 0,
      };
      this.sets.push(cur);
    }
    const begin = cur.used;
    cur.used += 2;
    return { querySet: cur.querySet, beginningOfPassWriteIndex: begin, endOfPassWriteIndex: begin + 1 };
  }

  private resolve(encoder: GPUCommandEncoder, s: { querySet: GPUQuerySet; resolve: GPUBuffer; used: number }): void {
    if (s.used > 0) encoder.resolveQuerySet(s.querySet, 0, s.used, s.resolve, 0);
  }

  /** Resolves the last set, submits, and returns each pass's duration in ns, in order. */
  async durations(): Promise<number[]> {
    const enc = this.device.createCommandEncoder({ label: 'profile-readback' });
    const last = this.sets[this.sets.length - 1];
    if (last) this.resolve(enc, last);
    const staging = this.sets.map((s) => {
      const b = this.device.createBuffer({ size: Math.max(8, s.used * 8), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile-staging' });
      if (s.used > 0) enc.copyBufferToBuffer(s.resolve, 0, b, 0, s.used * 8);
      return b;
    });
    this.device.queue.submit([enc.finish()]);
    const out: number[] = [];
    try {
      for (let i = 0; i < staging.length; i++) {
        await staging[i].mapAsync(GPUMapMode.READ);
        const v = new BigUint64Array(staging[i].getMappedRange(0, Math.max(8, this.sets[i].used * 8)));
        for (let q = 0; q + 1 < this.sets[i].used; q += 2) {
          // an implementation may report end < begin across a counter reset; count it as 0
          const d = v[q + 1] >= v[q] ? Number(v[q + 1] - v[q]) : 0;
          out.push(d);
        }
        staging[i].unmap();
      }
    } finally {
      for (const b of staging) b.destroy();
      this.destroy();
    }
    return out;
  }

  destroy(): void {
    for (const s of this.sets) {
      s.querySet.destroy();
      s.resolve.destroy();
    }
    this.sets = [];
  }
}

const launchKey = (l: ReplayLaunch, pipelineId: number) =>
  `${pipelineId}|${l.workgroups.join('x')}|${l.storage.map((s) => `${s.binding}:${s.size}`).join(',')}|${l.uniform ? Array.from(l.uniform.bytes).join('.') : ''}`;

/**
 * Times each launch on its own (see 'replay' above): the median of `repeats` runs of
 * submit + wait, minus the median of an empty submit + wait. Identical launches are timed
 * once. Returns ns per launch.
 */
export async function timeInIsolation(device: GPUDevice, launches: readonly ReplayLaunch[], repeats = 3): Promise<number[]> {
  const scratch = new Map<string, GPUBuffer>();
  const buffer = (slot: number, size: number, usage: number) => {
    const key = `${slot}|${size}|${usage}`;
    let b = scratch.get(key);
    if (!b) {
      b = device.createBuffer({ size: Math.max(16, size), usage, label: 'profile-scratch' });
      scratch.set(key, b);
    }
    return b;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const wait = async () => {
    const t = performance.now();
    device.queue.submit([device.createCommandEncoder().finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t;
  };
  const emptyMs: number[] = [];
  for (let i = 0; i < 2 * repeats + 1; i++) emptyMs.push(await wait());
  const overheadMs = median(emptyMs);

  const pipelineIds = new Map<GPUComputePipeline, number>();
  const cache = new Map<string, number>();
  const out: number[] = [];
  try {
    for (const l of launches) {
      if (!pipelineIds.has(l.pipeline)) pipelineIds.set(l.pipeline, pipelineIds.size);
      const key = launchKey(l, pipelineIds.get(l.pipeline)!);
      let ns = cache.get(key);
      if (ns === undefined) {
        const entries: GPUBindGroupEntry[] = l.storage.map((s, i) => ({
          binding: s.binding,
          resource: { buffer: buffer(i, s.size, GPUBufferUsage.STORAGE) },
        }));
        if (l.uniform) {
          const u = buffer(-1, l.uniform.bytes.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
          device.queue.writeBuffer(u, 0, l.uniform.bytes);
          entries.push({ binding: l.uniform.binding, resource: { buffer: u, size: l.uniform.bytes.byteLength } });
        }
        const group = device.createBindGroup({ layout: l.layout, entries, label: 'profile-replay' });
        const dynamic = l.uniform ? [0] : [];
        const times: number[] = [];
        for (let r = 0; r < repeats; r++) {
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          pass.setPipeline(l.pipeline);
          pass.setBindGroup(0, group, dynamic);
          pass.dispatchWorkgroups(...l.workgroups);
          pass.end();
          const t = performance.now();
          device.queue.submit([enc.finish()]);
          await device.queue.onSubmittedWorkDone();
          times.push(performance.now() - t);
        }
        ns = Math.max(0, (median(times) - overheadMs) * 1e6);
        cache.set(key, ns);
      }
      out.push(ns);
    }
  } finally {
    for (const b of scratch.values()) b.destroy();
  }
  return out;
}

/**
 * One open profile (Runtime.startProfile … stopProfile): the dispatches recorded so far,
 * their phases, and what timing them needs — the timestamp queries, or in 'replay' mode
 * the launches to run again. The runtime owns the command stream and feeds it.
 */
export class ProfileSession {
  /** set in 'timestamp' mode; null in 'replay' mode */
  readonly queries: TimestampQueries | null;
  private readonly dispatches: Omit<DispatchTiming, 'ns'>[] = [];
  private readonly replay: ReplayLaunch[] = [];
  private phaseName = 'other';
  private phaseStart = performance.now();
  private readonly phases: PhaseTiming[] = [];

  constructor(
    private readonly device: GPUDevice,
    readonly mode: ProfileMode,
  ) {
    this.queries = mode === 'timestamp' ? new TimestampQueries(device) : null;
  }

  get phase(): string {
    return this.phaseName;
  }

  /** Closes the current phase (its CPU time) and names the next. */
  setPhase(name: string): void {
    const now = performance.now();
    this.phases.push({ name: this.phaseName, cpuMs: now - this.phaseStart });
    this.phaseName = name;
    this.phaseStart = now;
  }

  /** Records one dispatch; in 'replay' mode `launch` gives what running it again needs. */
  record(dispatch: Omit<DispatchTiming, 'ns' | 'phase'>, launch: () => ReplayLaunch): void {
    this.dispatches.push({ ...dispatch, phase: this.phaseName });
    if (!this.queries) this.replay.push(launch());
  }

  /** The profile, once the runtime has submitted and waited for every recorded dispatch. */
  async finish(): Promise<Profile> {
    let ns: number[];
    let note: string;
    if (this.queries) {
      ns = await this.queries.durations();
      note = 'GPU timestamps around each dispatch (one compute pass per dispatch), in the real command stream';
    } else {
      ns = await timeInIsolation(this.device, this.replay);
      note =
        `${this.device.features.has('timestamp-query') ? 'replay asked for' : "this adapter has no 'timestamp-query'"}: ` +
        'each distinct launch was run again on its own on scratch buffers of the same sizes, submit-and-wait per run, ' +
        'minus the cost of an empty submit (data-dependent kernels are timed on zeros; inputs start cold in the caches, ' +
        'so times run high: about 2× the timestamps on lavapipe)';
    }
    if (ns.length !== this.dispatches.length) throw new Error(`stopProfile: ${this.dispatches.length} dispatches recorded but ${ns.length} timings read back`);
    return {
      mode: this.mode,
      note,
      dispatches: this.dispatches.map((d, i) => ({ ...d, ns: ns[i] })),
      phases: this.phases.filter((ph) => ph.cpuMs > 0 || ph.name !== 'other'),
    };
  }
}

/** One row of the key-averages table: the dispatches of one kernel within one op. */
export interface ProfileRow {
  name: string;
  calls: number;
  totalMs: number;
  /** share of all profiled GPU time */
  percent: number;
  meanUs: number;
  /** achieved rate where the work is known: GFLOP/s for FLOP-counted launches, else GB/s */
  gflops: number | null;
  gbps: number | null;
}

/** Key averages (like torch.profiler's): one row per `op · kernel`, slowest first. */
export function keyAverages(profile: Pick<Profile, 'dispatches'>): ProfileRow[] {
  const groups = new Map<string, { calls: number; ns: number; flops: number; flopNs: number; bytes: number }>();
  let totalNs = 0;
  for (const d of profile.dispatches) {
    const name = d.op === d.kernel ? d.kernel : `${d.op} · ${d.kernel}`;
    const g = groups.get(name) ?? { calls: 0, ns: 0, flops: 0, flopNs: 0, bytes: 0 };
    g.calls++;
    g.ns += d.ns;
    if (d.flops !== null) {
      g.flops += d.flops;
      g.flopNs += d.ns;
    }
    g.bytes += d.bytes;
    groups.set(name, g);
    totalNs += d.ns;
  }
  const rows: ProfileRow[] = [];
  for (const [name, g] of groups) {
    const counted = g.flopNs > 0 && g.flops > 0;
    rows.push({
      name,
      calls: g.calls,
      totalMs: g.ns / 1e6,
      percent: totalNs > 0 ? (100 * g.ns) / totalNs : 0,
      meanUs: g.ns / g.calls / 1e3,
      gflops: counted ? g.flops / g.flopNs : null, // FLOP per ns = GFLOP/s
      gbps: !counted && g.ns > 0 ? g.bytes / g.ns : null, // byte per ns = GB/s
    });
  }
  return rows.sort((a, b) => b.totalMs - a.totalMs);
}

/** GPU ms, dispatch count and CPU ms per phase, in the order phases were entered. */
export function phaseTotals(profile: Profile): { name: string; gpuMs: number; dispatches: number; cpuMs: number }[] {
  const out = new Map<string, { name: string; gpuMs: number; dispatches: number; cpuMs: number }>();
  for (const p of profile.phases) {
    const e = out.get(p.name) ?? { name: p.name, gpuMs: 0, dispatches: 0, cpuMs: 0 };
    e.cpuMs += p.cpuMs;
    out.set(p.name, e);
  }
  for (const d of profile.dispatches) {
    const e = out.get(d.phase) ?? { name: d.phase, gpuMs: 0, dispatches: 0, cpuMs: 0 };
    e.gpuMs += d.ns / 1e6;
    e.dispatches++;
    out.set(d.phase, e);
  }
  return [...out.values()];
}
