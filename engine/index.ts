/**
 * The engine's public surface: device, runtime, tensors, autograd, ops.
 * Importing it wires autograd to the ops it needs (ones for the seed gradient, add for
 * accumulation), which keeps autograd.ts free of kernel code.
 */
import { setGradHelpers } from './autograd.ts';
import { add, copy, onesLike } from './ops/index.ts';

setGradHelpers({ onesLike, addInPlaceable: (a, b) => add(a, b), copy });

export { getDevice, describeAdapter, NoAdapterError, type AdapterDescription } from './device.ts';
export { init, runtime, grid, GpuError, AnomalyError, setAnomalyMode, anomalyMode, type Runtime, type CheckedLimits } from './runtime.ts';
export { Tensor, tensor, scalar, empty, scope, keep, memory, type DType, type TensorData } from './tensor.ts';
export { backward, noGrad, detach, requireGrad, isGradEnabled, record } from './autograd.ts';
// types that the functions above take or return
export type { GradNode, BackwardRule, BackwardOptions } from './autograd.ts';
export type { BufferPool, MemoryStats } from './buffers.ts';
export type { KernelInfo, BindingInfo, UniformField, Scalar as UniformScalar, DispatchArgs, RuntimeStats, UniformValues, OverrideValues } from './runtime.ts';
export type { Storage, Returned } from './tensor.ts';
export type { Operand } from './ops/elementwise.ts';
export * from './ops/index.ts';
// modules and optimizers, so a library user builds and trains models from this one entry
export * from './nn/index.ts';
export * from './optim/index.ts';
// the safetensors format itself (no file system); files are engine/io/checkpoint.ts (Node)
export { FileFormatError } from './io/format.ts';
export { encodeSafetensors, decodeSafetensors, type NamedArray, type SafeDType, type DecodedSafetensors } from './io/safetensors.ts';
