/** Every op, one import away. Each family lives in its own file with its backward rules. */
export * from './creation.ts';
export * from './elementwise.ts';
export * from './reduce.ts';
export * from './movement.ts';
export * from './softmax.ts';
export * from './gather.ts';
export * from './norm.ts';
export * from './losses.ts';
export * from './boxes.ts';
export * from './conv.ts';
export { sharingConvWeights } from './convPacks.ts';
export * from './matmul.ts';
