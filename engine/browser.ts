/**
 * The browser entry of the engine: every kernel is registered up front from a module the
 * bundler generates (scripts/bundle.ts), since a page cannot read kernels/*.wgsl itself.
 */
// @ts-expect-error: a virtual module provided by the esbuild plugin of scripts/bundle.ts
import kernelSourceMap from 'virtual:kernel-sources';
import { registerKernelSources } from './kernelSources.ts';

registerKernelSources(kernelSourceMap as Record<string, string>);

export * from './index.ts';
