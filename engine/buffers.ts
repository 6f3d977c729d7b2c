/**
 * A pool of GPU storage buffers, keyed by size class. A buffer given back while the
 * current (unsubmitted) command encoder may still use it is held until that encoder is
 * submitted: until then a queue.writeBuffer into it would land *before* those commands.
 */

export const STORAGE_USAGE = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST

/**
 * Size classes 2^k and 1.5·2^k (at least 256 bytes): at most 33% waste. A request whose
 * class would exceed `maxBytes` (the binding-size limit) while the request itself fits
 * gets its size rounded up to whole vec4s (or 4 bytes, at the very limit), so it can
 * still be bound.
 */
export function sizeClass(bytes: number, maxBytes = Infinity): number {
  const n = Math.max(256, bytes);
  const p = 2 ** Math.ceil(Math.log2(n));
  const cls = n <= p * 0.75 ? p * 0.75 : p;
  if (cls <= maxBytes || n > maxBytes) return cls;
  const vec4s = Math.ceil(n / 16) * 16;
  return vec4s <= maxBytes ? vec4s : Math.ceil(n / 4) * 4;
}

export interface MemoryStats {
  /** Tensors not yet disposed. */
  liveTensors: number;
  /** Bytes of buffers held by tensors (by size class) or awaiting submission. */
  bytesInUse: number;
  /** Bytes of buffers sitting in the pool, ready for reuse. */
  bytesPooled: number;
  /** Buffers ever created with createBuffer. */
  buffersCreated: number;
  /** Buffers that exist now (in use, awaiting a submit or pooled). */
  buffersLive: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /**
   * Every buffer this pool created, held strongly until trim() destroys it. dawn.node frees
   * a buffer when its JS wrapper is garbage-collected, even while queued commands still use
   * it: a tensor dropped without dispose() would then crash the driver instead of showing
   * up as a leak in memory().
   */
  private readonly owned = new Set<GPUBuffer>();
  private awaitingSubmit: GPUBuffer[] = [];
  bytesInUse = 0;
  bytesPooled = 0;
  buffersCreated = 0;
  /** no size class above this (the runtime sets the binding-size limit) */
  maxClassBytes = Infinity;

  constructor(private device: GPUDevice) {}

  /** Whether acquire(bytes) can reuse a free buffer (no allocation). */
  hasFree(bytes: number): boolean {
    return (this.free.get(sizeClass(bytes, this.maxClassBytes))?.length ?? 0) > 0;
  }

  /** Buffers released while commands that use them wait for a submit. */
  get awaitingCount(): number {
    return this.awaitingSubmit.length;
  }

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes, this.maxClassBytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.bytesPooled -= size;
      buffer.label = label; // WebGPU errors name buffers by label: the current tensor's, not the first one's
    } else {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.owned.add(buffer);
      this.buffersCreated++;
    }
    this.bytesInUse += size;
    return buffer;
  }

  /** Give a buffer back. `pending`: commands recorded but not submitted may use it. */
  release(buffer: GPUBuffer, pending: boolean): void {
    if (pending) this.awaitingSubmit.push(buffer);
    else this.toFree(buffer);
  }

  /** Called right after a submit: what waited for it may now be reused. */
  submitted(): void {
    for (const b of this.awaitingSubmit) this.toFree(b);
    this.awaitingSubmit.length = 0;
  }

  private toFree(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.bytesInUse -= size;
    this.bytesPooled += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }

  /** Buffers that exist now. */
  get liveCount(): number {
    return this.owned.size;
  }

  /** Destroy every pooled buffer (tests, or to return memory to the driver). */
  trim(): void {
    for (const list of this.free.values())
      for (const b of list) {
        this.owned.delete(b);
        b.destroy();
      }
    this.free.clear();
    this.bytesPooled = 0;
  }
}
