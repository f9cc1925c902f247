/**
 * Placement: which backend serves which model, when several Ollama servers (one per GPU or
 * per host) stand behind the supervisor. Pure: demand and each backend's picture in, an
 * assignment out. Each backend's own planner (`scheduler/planner.ts`) then decides what its
 * card loads and unloads for the models placed on it, so no load is planned past a card.
 *
 * Rules, most urgent demand first:
 * - a model goes to the healthy backends that already hold it (no second load for it);
 * - a model nobody holds goes to the backend where it fits with the most room left; where it
 *   fits nowhere beside what is loaded, to the one whose idle models free the most room;
 * - where some backends are known to have the model installed, only those are considered
 *   (one host's Ollama may lack a model another has; the others would refuse it);
 * - a hot model spreads to one more backend when its waiting jobs are more than the backends
 *   holding it can start now, and it fits there without unloading anything;
 * - a model larger than every card that may run it fails its jobs, with the reason; so does a
 *   model that no backend's `models` list allows. While every backend that could run it is
 *   down, its jobs wait.
 */
import { type Capacity, type DemandGroup, urgencyOrder } from '../scheduler/planner.js';

export interface BackendView {
  name: string;
  healthy: boolean;
  capacity: Capacity;
  /** Models it holds (or is loading): bytes, and jobs running on each. */
  loaded: readonly { model: string; bytes: number; running: number }[];
  /** The models it may run (canonical names); any when undefined. */
  allows: ReadonlySet<string> | undefined;
  /**
   * Requests of one model it runs at once (OLLAMA_NUM_PARALLEL): a backlog beyond what its
   * holders run this way is worth another backend's load.
   */
  parallel: number;
  /** The models it has installed (canonical names); undefined while not known. */
  installed?: ReadonlySet<string> | undefined;
  marginBytes: number;
}

export interface PlacementInput {
  /** Demand by concrete model (canonical names). */
  demand: readonly DemandGroup[];
  backends: readonly BackendView[];
  /** Bytes a model needs on a backend's card (learned per kind of card); undefined when unknown. */
  estimate: (model: string, backend: string) => number | undefined;
  maxConcurrentPerModel: number;
  maxWaitMs: number;
  now: number;
}

export interface PlacementResult {
  /** Backend name -> the models placed on it. */
  assigned: Map<string, Set<string>>;
  /** Models no backend can ever run, with why: their jobs fail. */
  impossible: {
    model: string;
    reason: string;
    code: 'FLEET_ERR_MODEL_TOO_LARGE' | 'FLEET_ERR_NO_BACKEND';
  }[];
}

interface Projected {
  view: BackendView;
  held: { model: string; bytes: number; running: number }[];
}

export function place(input: PlacementInput): PlacementResult {
  const assigned = new Map(input.backends.map((b) => [b.name, new Set<string>()]));
  const impossible: PlacementResult['impossible'] = [];
  const projected: Projected[] = input.backends.map((view) => ({
    view,
    held: view.loaded.map((l) => ({ ...l })),
  }));
  const several = input.backends.length > 1;
  for (const group of urgencyOrder(input.demand, input.now, input.maxWaitMs)) {
    const { model } = group;
    const needOn = (p: Projected) => input.estimate(model, p.view.name);
    const allowed = projected.filter((p) => !p.view.allows || p.view.allows.has(model));
    const having = allowed.filter((p) => p.view.installed?.has(model));
    const eligible = having.length > 0 ? having : allowed;
    if (eligible.length === 0) {
      impossible.push({
        model,
        code: 'FLEET_ERR_NO_BACKEND',
        reason: `no backend may run ${model}: it is on none of the backends' models lists (${input.backends.map((b) => b.name).join(', ')})`,
      });
      continue;
    }
    const fitting = eligible.filter((p) => fitsCard(p.view, needOn(p)));
    if (fitting.length === 0) {
      const largest = Math.max(...eligible.map((p) => p.view.capacity.total ?? 0));
      const need = Math.min(...eligible.map((p) => needOn(p) ?? 0));
      const where = several ? `the largest GPU of the backends that may run it has` : 'the GPU has';
      impossible.push({
        model,
        code: 'FLEET_ERR_MODEL_TOO_LARGE',
        reason: `${model} needs about ${mib(need)} MiB of VRAM and ${where} ${mib(largest)} MiB in all`,
      });
      continue;
    }
    // While every backend that could run it is down, its jobs wait.
    const up = fitting.filter((p) => p.view.healthy);
    if (up.length === 0) continue;
    const holders = up.filter((p) => p.held.some((h) => h.model === model));
    const take = (p: Projected) => {
      assigned.get(p.view.name)?.add(model);
      if (!p.held.some((h) => h.model === model))
        p.held.push({ model, bytes: needOn(p) ?? 0, running: 0 });
    };
    if (holders.length > 0) {
      for (const p of holders) take(p);
      // Spread a hot model: more waiting than its holders run at once (their parallel slots,
      // less what already runs there), and room elsewhere.
      const slots = holders.reduce(
        (sum, p) =>
          sum +
          Math.max(
            0,
            Math.min(p.view.parallel, input.maxConcurrentPerModel) -
              (p.held.find((h) => h.model === model)?.running ?? 0),
          ),
        0,
      );
      if (group.pending > slots) {
        const spare = best(
          up.filter((p) => !holders.includes(p)),
          (p) => roomLeft(p, needOn(p)),
        );
        if (spare) take(spare);
      }
      continue;
    }
    // Nobody holds it: where it fits now with the most room left, else where idle models
    // make the most room, else the largest card (its busy models drain first).
    const target =
      best(up, (p) => roomLeft(p, needOn(p))) ??
      best(up, (p) => roomLeft(p, needOn(p), assignedHere(assigned, p))) ??
      best(up, (p) => p.view.capacity.total ?? 0, true);
    if (target) take(target);
  }
  return { assigned, impossible };
}

/** Whether the model could run alone on the backend's card (unknown sizes: yes). */
function fitsCard(view: BackendView, need: number | undefined): boolean {
  return view.capacity.total === undefined || need === undefined || need <= view.capacity.total;
}

/** Models already placed on a backend this round: they are not idle, whatever they run. */
function assignedHere(assigned: Map<string, Set<string>>, p: Projected): Set<string> {
  return assigned.get(p.view.name) ?? new Set();
}

/**
 * Bytes left on the card once `need` is loaded beside what it holds (less what other
 * processes hold and the margin); undefined when it does not fit. With `evictable`, idle
 * models not in it count as gone. Unknown sizes rank emptier backends first.
 */
function roomLeft(
  p: Projected,
  need: number | undefined,
  keep?: ReadonlySet<string>,
): number | undefined {
  const staying = keep ? p.held.filter((h) => h.running > 0 || keep.has(h.model)) : p.held;
  const { total, external, maxModels } = p.view.capacity;
  // Ollama holds only so many models at once: one more would evict another on its own.
  if (maxModels !== undefined && staying.length + 1 > maxModels) return undefined;
  if (total === undefined || need === undefined) {
    return staying.length === 0 ? 0 : keep ? undefined : -staying.length;
  }
  const held = staying.reduce((sum, h) => sum + h.bytes, 0);
  const margin = staying.length === 0 ? 0 : p.view.marginBytes;
  const left = total - external - held - margin - need;
  // Alone on its card a model always fits: Ollama offloads what other processes took.
  if (staying.length === 0) return Math.max(0, left);
  return left >= 0 ? left : undefined;
}

/** The candidate with the highest score (undefined scores left out); ties go to list order. */
function best<T>(
  candidates: readonly T[],
  score: (candidate: T) => number | undefined,
  always = false,
): T | undefined {
  let chosen: T | undefined;
  let top = Number.NEGATIVE_INFINITY;
  for (const c of candidates) {
    const s = score(c);
    if (s === undefined && !always) continue;
    if ((s ?? 0) > top) {
      top = s ?? 0;
      chosen = c;
    }
  }
  return chosen;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
