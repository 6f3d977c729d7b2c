export * from './module.ts';
export * from './init.ts';
export * from './layers.ts';
