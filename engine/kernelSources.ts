/**
 * Where WGSL text comes from. Kernels are plain `.wgsl` files in `kernels/`. Under Node
 * every file of `kernels/` and `kernels/lib/` is read on the first use of any: a long run
 * keeps the sources it started with, so editing or renaming kernel files while it runs
 * cannot reach it (a study once died when a kernel it had not used yet was renamed). A
 * browser bundle registers them up front (the esbuild plugin in scripts/bundle.ts inlines
 * every file).
 *
 * One extension to WGSL: a comment line `//!include NAME` is replaced by the text of
 * `kernels/lib/NAME.wgsl`, so index arithmetic is written once (as ONNX Runtime's
 * shader helpers do). Being a comment, it leaves each file valid-looking WGSL.
 */
const registered = new Map<string, string>();

export function registerKernelSources(sources: Record<string, string>): void {
  for (const [name, text] of Object.entries(sources)) registered.set(name, text);
}

let readDisk = false;

/** Reads every kernel and library file under Node (once); elsewhere does nothing. */
function readAllFromDisk(): void {
  if (readDisk) return;
  readDisk = true;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
  const url = proc?.getBuiltinModule?.('node:url') as typeof import('node:url') | undefined;
  if (!fs || !url) return;
  for (const sub of ['', 'lib/']) {
    const dir = url.fileURLToPath(new URL(`../kernels/${sub}`, import.meta.url));
    if (!fs.existsSync(dir)) continue;
    for (const file of fs.readdirSync(dir))
      if (file.endsWith('.wgsl')) {
        const name = `${sub}${file.slice(0, -'.wgsl'.length)}`;
        // registered sources (a test's, a bundle's) win over the files
        if (!registered.has(name)) registered.set(name, fs.readFileSync(`${dir}${file}`, 'utf8'));
      }
  }
}

function rawSource(name: string): string {
  if (!registered.has(name)) readAllFromDisk();
  const text = registered.get(name);
  if (text === undefined) throw new Error(`kernel source '${name}': no file kernels/${name}.wgsl and none registered`);
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

/** The kernel and library names whose sources are loaded (under Node: every file, after the first use of any). */
export function loadedKernelSources(): string[] {
  return [...registered.keys()].sort();
}
