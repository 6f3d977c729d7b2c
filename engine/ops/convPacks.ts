/**
 * Packed conv weights shared by the conv2d calls of one forward pass that use the same
 * weight. conv2d repacks its weight (conv2d_pack) for every call, forward and for the input
 * gradient; a dense head runs its towers and predictors once per FPN level with the same
 * weights, so it packed each of them once per level in each direction. Inside
 * `sharingConvWeights(fn)` a weight is packed once per layout: the forward packs live until
 * fn returns, an input-gradient pack from the first backward that needs it until the last
 * conv that reserved it has run its backward. The packed bytes are the same either way, so
 * results are bit for bit those of unshared calls.
 *
 * Lifetimes, for the graphs that do not run every backward: packs a graph never asked for
 * are never made; packs left over (a backward that skipped some of the convs) are freed
 * when the next outermost `sharingConvWeights` begins, and a backward that comes later still
 * packs again what it needs. So memory stays bounded by one forward's packs.
 */
import { keep, type Tensor } from '../tensor.ts';

/** An input-gradient pack and the recorded convs that will still use it. */
export interface DxPack {
  tensor: Tensor | null;
  users: number;
}

export class ConvPackCache {
  private readonly forwardPacks = new Map<Tensor, Map<string, Tensor>>();
  private readonly dxPacks = new Map<Tensor, Map<string, DxPack>>();

  /** The forward pack of `weight` in `layout`, made by `make` the first time. */
  forward(weight: Tensor, layout: string, make: () => Tensor): Tensor {
    let byLayout = this.forwardPacks.get(weight);
    if (!byLayout) this.forwardPacks.set(weight, (byLayout = new Map()));
    let t = byLayout.get(layout);
    if (!t) byLayout.set(layout, (t = keep(make())));
    return t;
  }

  /** Reserves the input-gradient pack of `weight` in `layout` for one recorded conv. */
  reserveDx(weight: Tensor, layout: string): DxPack {
    let byLayout = this.dxPacks.get(weight);
    if (!byLayout) this.dxPacks.set(weight, (byLayout = new Map()));
    let entry = byLayout.get(layout);
    if (!entry) byLayout.set(layout, (entry = { tensor: null, users: 0 }));
    entry.users++;
    return entry;
  }

  /** The reserved pack, made by `make` when absent; release() it after the dispatch. */
  useDx(entry: DxPack, make: () => Tensor): Tensor {
    entry.tensor ??= keep(make());
    return entry.tensor;
  }

  /** One reserving conv is done with the pack; the last frees it. */
  releaseDx(entry: DxPack): void {
    if (--entry.users <= 0 && entry.tensor) {
      entry.tensor.dispose();
      entry.tensor = null;
    }
  }

  /** Frees the forward packs (the forward pass is over). */
  endForward(): void {
    for (const byLayout of this.forwardPacks.values()) for (const t of byLayout.values()) t.dispose();
    this.forwardPacks.clear();
  }

  /** Frees the input-gradient packs still held (their backward did not run to the end). */
  dropLeftovers(): void {
    for (const byLayout of this.dxPacks.values())
      for (const entry of byLayout.values()) {
        entry.tensor?.dispose();
        entry.tensor = null;
      }
    this.dxPacks.clear();
  }
}

let current: ConvPackCache | null = null;
/** the previous outermost cache, whose leftovers the next one frees */
let previous: ConvPackCache | null = null;

/** The cache conv2d shares packs through, or null outside sharingConvWeights. */
export function currentConvPacks(): ConvPackCache | null {
  return current;
}

/**
 * Runs fn with conv weights packed once per weight and direction for all its conv2d calls
 * (e.g. a head over every FPN level). Nested calls share the outermost cache.
 */
export function sharingConvWeights<T>(fn: () => T): T {
  if (current) return fn();
  previous?.dropLeftovers();
  const cache = new ConvPackCache();
  current = cache;
  try {
    return fn();
  } finally {
    current = null;
    cache.endForward();
    previous = cache;
  }
}
