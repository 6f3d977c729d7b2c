/**
 * The head section of a model config and its checks, apart from the heads themselves (no
 * engine imports, so config parsing stays light): which head, and the keys each type takes.
 */

export const HEAD_TYPES = ['gfl', 'atss', 'retina', 'fcos'] as const;
export type HeadType = (typeof HEAD_TYPES)[number];

/** The head section of a model config; which keys apply depends on the type. */
export interface HeadConfig {
  /** default 'gfl' */
  type?: HeadType;
  featChannels: number;
  stackedConvs: number;
  /** GroupNorm groups (GFL, ATSS, FCOS); RetinaNet's towers have no norm */
  gnGroups?: number;
  /** GFL's distribution bins − 1 */
  regMax?: number;
  priorProb?: number;
  /** FCOS: [lo, hi] per level */
  regressRanges?: [number, number][];
  /** per head: gfl {qfl, giou, dfl}, atss {focal, giou, centerness}, retina {focal, l1}, fcos {focal, iou, centerness} */
  lossWeights?: Record<string, number>;
}

/** The loss-weight keys each head accepts. */
export const LOSS_WEIGHT_KEYS: Record<HeadType, readonly string[]> = {
  gfl: ['qfl', 'giou', 'dfl'],
  atss: ['focal', 'giou', 'centerness'],
  retina: ['focal', 'l1'],
  fcos: ['focal', 'iou', 'centerness'],
};

/** mmdetection's octave_base_scale per head (GFL and ATSS 8, RetinaNet 4). */
export const DEFAULT_OCTAVE_BASE_SCALE: Record<'gfl' | 'atss' | 'retina', number> = { gfl: 8, atss: 8, retina: 4 };

export function headType(cfg: HeadConfig): HeadType {
  const type = cfg.type ?? 'gfl';
  if (!HEAD_TYPES.includes(type)) throw new Error(`head.type must be one of ${HEAD_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  return type;
}

/**
 * Checks that a head section has the keys its type needs and none it does not use;
 * `where` prefixes the key paths in the messages (e.g. 'model.head').
 */
export function checkHeadConfig(cfg: HeadConfig, where = 'head'): void {
  const type = headType(cfg);
  const needs = (key: keyof HeadConfig, why: string) => {
    if (cfg[key] === undefined) throw new Error(`${where}.${key} is required for head type '${type}' (${why})`);
  };
  const refuses = (key: keyof HeadConfig, why: string) => {
    if (cfg[key] !== undefined) throw new Error(`${where}.${key} does not apply to head type '${type}' (${why})`);
  };
  if (type === 'retina') refuses('gnGroups', "RetinaNet's towers have no normalisation");
  else needs('gnGroups', 'the towers are conv–GroupNorm–ReLU');
  if (type === 'gfl') needs('regMax', 'the distribution has regMax + 1 bins');
  else refuses('regMax', 'only GFL regresses distributions');
  if (type !== 'fcos') refuses('regressRanges', 'only FCOS assigns by regress ranges');
  for (const key of Object.keys(cfg.lossWeights ?? {}))
    if (!LOSS_WEIGHT_KEYS[type].includes(key))
      throw new Error(`${where}.lossWeights.${key} is not a loss of head type '${type}' (its losses: ${LOSS_WEIGHT_KEYS[type].join(', ')})`);
}
