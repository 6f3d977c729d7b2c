/**
 * What the runtime knows of a kernel, read from its WGSL by reflection (wgsl_reflect),
 * never from hand-kept offsets: its bindings and their bind-group layout, the byte slots of
 * its uniform struct's fields (vectors and arrays flattened, with their padding), its
 * override constants and workgroup size; and the writing of uniform values into those slots.
 */
// The package's "main" is a CommonJS build mislabelled as ESM; its ESM build works everywhere.
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { kernelSource } from './kernelSources.ts';

/** The WGSL scalar type of a uniform field. */
export type Scalar = 'f32' | 'u32' | 'i32';
export interface UniformField {
  name: string;
  offset: number;
  scalar: Scalar;
  /** number of scalars the field holds (vectors and arrays flattened) */
  count: number;
  /** byte distance between consecutive scalars; vec/array padding makes it irregular */
  slots: number[];
}

export interface BindingInfo {
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
    for (let i = 0; i < (type.count ?? 0); i++) for (let j = 0; j < vecLen(elem); j++) slots.push(offset + i * type.stride! + 4 * j);
  } else if (type.name.startsWith('vec')) {
    scalar = scalarOf(type.format!.name, where);
    for (let j = 0; j < vecLen(type); j++) slots.push(offset + 4 * j);
  } else {
    scalar = scalarOf(type.name, where);
    slots.push(offset);
  }
  return { name, offset, scalar, count: slots.length, slots };
}

export function reflectKernel(device: GPUDevice, name: string): KernelInfo {
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
  const layout = device.createBindGroupLayout({
    label: name,
    entries: bindings.map((b) => ({
      binding: b.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: b.kind === 'uniform' ? { type: 'uniform', hasDynamicOffset: true } : { type: b.kind === 'read' ? 'read-only-storage' : 'storage' },
    })),
  });
  const pipelineLayout = device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] });
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

/**
 * Writes the uniform values of one launch into its block (`view`, the kernel's uniformSize
 * bytes) at the reflected slots; a missing, unknown or over-long field is an error naming it.
 */
export function writeUniforms(info: KernelInfo, values: UniformValues, view: DataView): void {
  for (const f of info.uniformFields) {
    const v = values[f.name];
    if (v === undefined) throw new Error(`kernel '${info.name}': uniform '${f.name}' not given`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length > f.count) throw new Error(`kernel '${info.name}': uniform '${f.name}' holds ${f.count} values, got ${arr.length}`);
    for (let i = 0; i < f.count; i++) {
      const x = i < arr.length ? arr[i] : 0;
      const at = f.slots[i] - 0;
      if (f.scalar === 'f32') view.setFloat32(at, x, true);
      else if (f.scalar === 'u32') view.setUint32(at, x, true);
      else view.setInt32(at, x, true);
    }
  }
  for (const name of Object.keys(values))
    if (!info.uniformFields.some((f) => f.name === name)) throw new Error(`kernel '${info.name}': no uniform field '${name}'`);
}
