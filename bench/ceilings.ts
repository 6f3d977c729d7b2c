/**
 * The adapter's practical ceilings, measured in the same run as the workloads:
 * - FMA: each invocation chains multiply-adds on registers only (no memory traffic but
 *   one store), the most arithmetic a WGSL kernel can get out of the adapter;
 * - copy: a vec4 streaming copy of 64 MiB, the most bandwidth a kernel can get.
 * Each kernel's GFLOP/s (or GB/s) is reported as a fraction of these, so the table says
 * how much of the machine a kernel uses rather than comparing against figures from
 * another machine. Raw WebGPU on the engine's device: the probes must not depend on the
 * engine's own runtime (they measure what the engine could reach).
 */
import { getDevice } from '../engine/device.ts';
import { median } from './harness.ts';

export interface Ceilings {
  fma_gflops: number;
  copy_gbps: number;
}

const WORKGROUP = 64;

// ACCUMULATORS independent vec4 chains, so the probe is bound by FMA throughput rather
// than by the latency of one dependent chain (lavapipe runs 8 invocations per AVX2 lane
// group, so each vec4 chain is four 8-wide register chains).
const ACCUMULATORS = 4; // 1, 2, 4, 6, 8 chains measured 22, 27, 30, 22, 10 GFLOP/s on the 2-core machine
const FMA_SOURCE = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
override ITERS: u32 = 1024u;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let seed = f32(gid.x) * 1e-7;
  let m = vec4<f32>(0.999999);
  let c = vec4<f32>(1e-6);
${Array.from({ length: ACCUMULATORS }, (_, k) => `  var a${k} = vec4<f32>(seed + ${k}.0, seed + ${k}.25, seed + ${k}.5, seed + ${k}.75);`).join('\n')}
  for (var i = 0u; i < ITERS; i++) {
${Array.from({ length: ACCUMULATORS }, (_, k) => `    a${k} = fma(a${k}, m, c);`).join('\n')}
  }
  out[gid.x] = dot(${Array.from({ length: ACCUMULATORS }, (_, k) => `a${k}`).join(' + ')}, vec4<f32>(1.0));
}`;

const COPY_SOURCE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP}u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`;

async function timeDispatch(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  groups: [number, number],
  iterations: number,
): Promise<number> {
  const once = async () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1]);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await once(); // compile and warm up
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) samples.push(await once());
  return median(samples);
}

export async function measureCeilings(iterations = 5): Promise<Ceilings> {
  const device = await getDevice();
  const buffers: GPUBuffer[] = [];
  const storage = (bytes: number) => {
    const b = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
    buffers.push(b);
    return b;
  };
  try {
    // FMA: 64 Ki invocations × 1024 iterations × ACCUMULATORS vec4 FMAs × 4 lanes × 2 flops.
    const invocations = 64 * 1024;
    const iters = 1024;
    const fmaOut = storage(invocations * 4);
    const fma = device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: FMA_SOURCE }), entryPoint: 'main', constants: { ITERS: iters } },
    });
    const fmaGroup = device.createBindGroup({ layout: fma.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: fmaOut } }] });
    const fmaMs = await timeDispatch(device, fma, fmaGroup, [invocations / WORKGROUP, 1], iterations);
    const fmaFlops = invocations * iters * ACCUMULATORS * 4 * 2;

    // Copy: 64 MiB read + 64 MiB written.
    const bytes = 64 * 1024 * 1024;
    const src = storage(bytes);
    const dst = storage(bytes);
    const copy = device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: COPY_SOURCE }), entryPoint: 'main' },
    });
    const copyGroup = device.createBindGroup({
      layout: copy.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: src } },
        { binding: 1, resource: { buffer: dst } },
      ],
    });
    const groups = bytes / 16 / WORKGROUP; // 1 Mi workgroups: fold into a 1024-wide grid
    const copyMs = await timeDispatch(device, copy, copyGroup, [1024, groups / 1024], iterations);

    return { fma_gflops: fmaFlops / (fmaMs * 1e6), copy_gbps: (2 * bytes) / (copyMs * 1e6) };
  } finally {
    for (const b of buffers) b.destroy();
  }
}
