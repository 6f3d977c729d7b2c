/**
 * The runtime's caches of what a dispatch needs besides its buffers: each kernel's
 * reflection (kernelInfo.ts), its compute pipelines (one per set of override constants:
 * shapes travel in uniforms, so one pipeline serves every shape) and the bind groups of
 * the buffer combinations it has run on. Creations run in the runtime's validation scopes,
 * so a bad kernel or binding names the launch that caused it.
 */
import { collectGarbage } from './device.ts';
import { reflectKernel, type KernelInfo } from './kernelInfo.ts';

export type OverrideValues = Record<string, number | boolean>;

export interface CreationScope {
  /** runs a creation call in its own validation scope; `what` names it in the error, onError runs on failure */
  scoped<T>(what: string, create: () => T, onError?: () => void): T;
  /** counts a compiled pipeline (the runtime's stats) */
  compiled(): void;
}

/** Bind groups kept at most; past it the cache starts over (a steady loop reuses few). */
const MAX_BIND_GROUPS = 8192;

export class PipelineCaches {
  private kernels = new Map<string, KernelInfo>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;

  constructor(
    private readonly device: GPUDevice,
    private readonly scope: CreationScope,
  ) {}

  kernel(name: string): KernelInfo {
    let info = this.kernels.get(name);
    if (!info) {
      info = reflectKernel(this.device, name);
      this.kernels.set(name, info);
    }
    return info;
  }

  /** The pipeline of a kernel with these override constants; `launch` names the op and kernel in errors. */
  pipeline(info: KernelInfo, constants: OverrideValues | undefined, launch: string): GPUComputePipeline {
    const key = constants ? `${info.name}|${JSON.stringify(constants)}` : info.name;
    let p = this.pipelines.get(key);
    if (!p) {
      for (const c of Object.keys(constants ?? {})) if (!info.overrides.includes(c)) throw new Error(`kernel '${info.name}': unknown override constant '${c}'`);
      const consts: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants ?? {})) consts[k] = typeof v === 'boolean' ? Number(v) : v;
      p = this.scope.scoped(`compiling ${launch}`, () =>
        this.device.createComputePipeline({
          label: key,
          layout: info.pipelineLayout,
          compute: { module: this.device.createShaderModule({ code: info.source, label: info.name }), entryPoint: 'main', constants: consts },
        }),
      );
      this.pipelines.set(key, p);
      this.scope.compiled();
    }
    return p;
  }

  /** How many pipelines have been compiled for a kernel (all its variants). */
  pipelineCount(kernel: string): number {
    let n = 0;
    for (const key of this.pipelines.keys()) if (key === kernel || key.startsWith(`${kernel}|`)) n++;
    return n;
  }

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  /** The bind group of a kernel over these buffers, its uniform block bound in `arena` at a dynamic offset. */
  bindGroup(info: KernelInfo, buffers: Record<string, GPUBuffer>, launch: string, arena: GPUBuffer): GPUBindGroup {
    let key = info.name;
    for (const b of info.bindings) {
      if (b.kind === 'uniform') continue;
      const buf = buffers[b.name];
      if (!buf) throw new Error(`${launch}: buffer '${b.name}' not given`);
      key += `:${this.bufferId(buf)}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size > MAX_BIND_GROUPS) {
        this.bindGroups.clear();
        collectGarbage(); // the dropped groups' driver memory is freed only with their wrappers
      }
      group = this.scope.scoped(
        `binding the buffers of ${launch}`,
        () =>
          this.device.createBindGroup({
            label: info.name,
            layout: info.layout,
            entries: info.bindings.map((b) =>
              b.kind === 'uniform'
                ? { binding: b.binding, resource: { buffer: arena, offset: 0, size: Math.max(16, info.uniformSize) } }
                : { binding: b.binding, resource: { buffer: buffers[b.name] } },
            ),
          }),
        () => this.bindGroups.delete(key), // an invalid group must not be served again
      );
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /** Forgets the bind groups that name a buffer about to be destroyed. */
  forgetBuffer(b: GPUBuffer): void {
    const id = this.bufferIds.get(b);
    if (id === undefined) return;
    for (const key of [...this.bindGroups.keys()]) if (key.split(':').slice(1).includes(String(id))) this.bindGroups.delete(key);
  }
}
