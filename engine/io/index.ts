/**
 * Checkpoint files under Node (the package's `./io` entry): safetensors weights with
 * PyTorch/mmdetection parameter names, optimizer state and the JSON sidecar, written
 * atomically. The format codec alone, without the file system, is in the main entry.
 */
export * from './checkpoint.ts';
export * from './safetensors.ts';
export * from './format.ts';
export * from './pth.ts';
export { PyOpaque, PyTuple } from './pickle.ts';
