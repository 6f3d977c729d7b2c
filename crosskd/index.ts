/**
 * CrossKD and the other distillation methods (the package's `./crosskd` entry): feature
 * alignment, the cross-head path through a frozen teacher head, the KD losses, the
 * distiller that plugs them into training, and the experiment runner (Node).
 */
export * from './align.ts';
export * from './crossHead.ts';
export * from './losses.ts';
export * from './distiller.ts';
export * from './train.ts';
export * from './experiment.ts';
