/**
 * Anomaly mode: after every op, a small kernel (kernels/finite_check.wgsl) scans the op's
 * float32 outputs for NaN and ±Inf and records the first offender's slot in one u32 on the
 * GPU; each readback reads that u32 in the same submit and throws an AnomalyError naming
 * the op and its kernels. It costs one extra pass over each output and no extra
 * synchronisation (a per-op readback would stall the queue after every op instead). The
 * runtime owns the command stream; this module owns the checks and their flag.
 */
// grid is called at dispatch time only, so the import cycle with runtime.ts is harmless
import { grid, type DispatchArgs } from './runtime.ts';
import type { Tensor } from './tensor.ts';

/** Anomaly mode found an op whose output holds NaN or ±Inf. */
export class AnomalyError extends Error {
  constructor(
    /** the op that produced the first non-finite value, e.g. 'log' */
    readonly op: string,
    /** the kernels that op (or the launches since the previous op) ran */
    readonly kernels: readonly string[],
    readonly kind: 'NaN' | 'Inf',
    message: string,
  ) {
    super(message);
    this.name = 'AnomalyError';
  }
}

/** What anomaly mode knows about one checked output, until the next readback. */
interface FiniteCheck {
  op: string;
  /** the op whose backward rule ran this one, if any */
  context: string | null;
  kernels: string[];
  tensor: string;
}

/** The flag copied for reading at a readback, and the checks it resolves. */
export interface StagedAnomalyFlag {
  staging: GPUBuffer;
  checks: FiniteCheck[];
}

/** What the monitor needs of the runtime: its device and its command stream. */
export interface AnomalyHost {
  device: GPUDevice;
  dispatch(args: DispatchArgs): void;
  /** records a copy of `bytes` from the start of src to the start of dst */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number): void;
  /** records a clear of the buffer, ordered after what was recorded before */
  clear(buffer: GPUBuffer): void;
}

/** The op name anomaly checks are recorded under (never attributed to a user op). */
const ANOMALY_CHECK = 'anomaly check';
/** Workgroups of one finite check at most; its threads stride over larger tensors. */
const FINITE_CHECK_MAX_GROUPS = 1024;

export class AnomalyMonitor {
  private flag: GPUBuffer | null = null;
  /** the checks recorded since the flag was last staged for reading; index = slot */
  private checks: FiniteCheck[] = [];
  /** kernels launched since the last op was closed (opDone) */
  private kernelsSinceOp: string[] = [];

  constructor(
    private readonly host: AnomalyHost,
    private on: boolean,
  ) {}

  get enabled(): boolean {
    return this.on;
  }

  setEnabled(on: boolean): void {
    this.on = on;
    if (!on) {
      this.checks = [];
      this.kernelsSinceOp = [];
    }
  }

  /** Every dispatch: the kernel belongs to the op that opDone closes next. */
  noteLaunch(op: string, kernel: string): void {
    if (this.on && op !== ANOMALY_CHECK) this.kernelsSinceOp.push(kernel);
  }

  /** Closes an op (Runtime.opDone): its float32 outputs get a finite check each. */
  opDone(op: string, outputs: readonly Tensor[], context: string | null): void {
    if (!this.on) return;
    const kernels = this.kernelsSinceOp.splice(0);
    // No launch since the previous op: the outputs are views or inputs passed through,
    // already checked where they were computed.
    if (kernels.length === 0) return;
    for (const t of outputs) {
      if (t.dtype !== 'float32' || t.size === 0 || t.isDisposed) continue;
      const slot = this.checks.length;
      this.checks.push({ op, context, kernels, tensor: String(t) });
      this.host.dispatch({
        op: ANOMALY_CHECK,
        kernel: 'finite_check',
        uniforms: { n: t.size, code: 0xffffffff - 2 * slot },
        buffers: { x: t.buffer, flag: this.flagBuffer() },
        workgroups: grid(Math.min(FINITE_CHECK_MAX_GROUPS, Math.ceil(t.size / 256))),
      });
    }
  }

  /** Whether kernels ran since the last opDone (a backward rule that launched them itself). */
  get hasUnclosedLaunches(): boolean {
    return this.kernelsSinceOp.length > 0;
  }

  private flagBuffer(): GPUBuffer {
    this.flag ??= this.host.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: 'anomaly-flag',
    });
    return this.flag;
  }

  /**
   * Records, into the open batch, a copy of the flag to a staging buffer and then a clear
   * of the flag; the checks recorded so far are resolved by that copy, and slots start
   * again at 0 for the next ones (the clear orders them in the stream).
   */
  stage(): StagedAnomalyFlag | null {
    if (!this.on || this.checks.length === 0) return null;
    const flag = this.flagBuffer();
    const staging = this.host.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'anomaly-readback' });
    this.host.copy(flag, staging, 4);
    this.host.clear(flag);
    return { staging, checks: this.checks.splice(0) };
  }
}

/** Throws the AnomalyError a staged flag's value names (0: every checked output was finite). */
export function raiseAnomaly(stage: StagedAnomalyFlag, value: number): void {
  if (value === 0) return;
  const code = 0xffffffff - value; // 2·slot + kind
  const check = stage.checks[Math.floor(code / 2)];
  const kind = code % 2 === 0 ? 'NaN' : 'Inf';
  const kernels = [...new Set(check.kernels)];
  const where = check.context ? ` in the backward of '${check.context}'` : '';
  throw new AnomalyError(
    check.op,
    kernels,
    kind,
    `anomaly mode: op '${check.op}'${where} (kernel${kernels.length === 1 ? '' : 's'} ${kernels.join(', ')}) ` +
      `produced ${kind} in its output ${check.tensor}; it is the first non-finite output of the ` +
      `${stage.checks.length} op outputs checked since the previous readback`,
  );
}
