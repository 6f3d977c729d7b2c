/**
 * Where WGSL text comes from. Kernels are plain `.wgsl` files in `kernels/`. Under Node
 * they are read from disk on first use; a browser bundle registers them up front
 * (the esbuild plugin in scripts/bundle.ts inlines every file).
 *
 * One extension to WGSL: a comment line `//!include NAME` is replaced by the text of
 * `kernels/lib/NAME.wgsl`, so index arithmetic is written once (as ONNX Runtime's
 * shader helpers do). Being a comment, it leaves each file valid-looking WGSL.
 */
const registered = new Map<string, string>();

export function registerKernelSources(sources: Record<string, string>): void {
  for (const [name, text] of Object.entries(sources)) registered.set(name, text);
}

function readFromDisk(name: string): string | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
  const url = proc?.getBuiltinModule?.('node:url') as typeof import('node:url') | undefined;
  if (!fs || !url) return undefined;
  const path = url.fileURLToPath(new URL(`../kernels/${name}.wgsl`, import.meta.url));
  return fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : undefined;
}

function rawSource(name: string): string {
  let text = registered.get(name);
  if (text === undefined) {
    text = readFromDisk(name);
    if (text === undefined) throw new Error(`kernel source '${name}': no file kernels/${name}.wgsl and none registered`);
    registered.set(name, text);
  }
  return text;
}

/** The kernel's WGSL with its `//!include` lines expanded (each library once). */
export function kernelSource(name: string): string {
  const included = new Set<string>();
  const expand = (text: string): string =>
    text.replace(/^\s*\/\/!include\s+(\S+)\s*$/gm, (_m, lib: string) => {
      if (included.has(lib)) return '';
      included.add(lib);
      return expand(rawSource(`lib/${lib}`));
    });
  return expand(rawSource(name));
}
