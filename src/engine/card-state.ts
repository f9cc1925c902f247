/**
 * A backend's card as the planner and placement count it, from one resource snapshot: its
 * capacity (usable bytes, what other processes hold, how many models Ollama holds at once)
 * and what it holds (each model's bytes, jobs running, which may be preempted, which are about
 * to expire). Pure: the snapshot and the engine's counts in, the planner's view out.
 */
import type { ResourceSnapshot } from '../gpu/snapshot.js';
import { canonicalModelName } from '../ollama/names.js';
import type { Capacity, LoadedState } from '../scheduler/planner.js';

/** A model whose keep-alive ends sooner than this gets no new jobs until it is renewed. */
const EXPIRY_GUARD_MS = 2_000;

/**
 * Usable bytes (what is used plus what is free, so the driver's reserve is left out) and what
 * other processes hold. Several cards of one backend are planned as one (Ollama spreads a
 * model that does not fit one).
 */
export function capacityOf(
  snapshot: ResourceSnapshot | undefined,
  configured: number | undefined,
  maxLoadedModels: number | undefined,
): Capacity {
  // Ollama's own default: three models per GPU.
  const maxModels = maxLoadedModels ?? 3 * Math.max(1, snapshot?.gpus.length ?? 1);
  const totals = snapshot?.totals;
  if (snapshot?.telemetry.available && totals?.used !== undefined && totals.free !== undefined) {
    return {
      total: totals.used + totals.free,
      external: snapshot.gpus.reduce((sum, g) => sum + (g.external ?? 0), 0),
      maxModels,
    };
  }
  return { total: configured, external: 0, maxModels };
}

/** What the card holds as the planner counts it: jobs running, unloads under way left out. */
export function loadedStateOf(input: {
  snapshot: ResourceSnapshot;
  now: number;
  /** Jobs running, by canonical model. */
  running: Record<string, number>;
  /** Of those, the ones high work may preempt. */
  preemptible: Record<string, number>;
  isUnloading: (model: string) => boolean;
  estimate: (model: string) => number | undefined;
}): LoadedState[] {
  const { running, preemptible } = input;
  const loaded: LoadedState[] = input.snapshot.loaded
    .filter((m) => !input.isUnloading(m.name))
    .map((m) => {
      const model = canonicalModelName(m.name);
      const count = running[model] ?? 0;
      return {
        model,
        bytes: m.size_vram,
        running: count,
        preemptible: preemptible[model] ?? 0,
        // Close to its keep-alive's end, and idle: a load (an empty generate) renews it
        // before new jobs go there.
        expiring: count === 0 && Date.parse(m.expires_at) - input.now < EXPIRY_GUARD_MS,
      };
    });
  // A model whose jobs still run after Ollama dropped it (or before ps shows it) stays counted.
  for (const [model, count] of Object.entries(running)) {
    if (!loaded.some((l) => l.model === model))
      loaded.push({ model, bytes: input.estimate(model) ?? 0, running: count });
  }
  return loaded;
}
