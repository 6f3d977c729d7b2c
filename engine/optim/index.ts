export * from './optimizer.ts';
export * from './schedule.ts';
export * from './clip.ts';
