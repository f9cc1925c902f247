/**
 * The VRAM planner: what Ollama should hold, and how many jobs of each model to start.
 * Pure: demand, what is loaded, what the card has and `now` in; a plan out. No I/O, no clock.
 *
 * Rules:
 * - never plan a load beside other models that does not fit: free VRAM (after the unloads
 *   it plans, and after other processes' use) minus the safety margin. A model that will run
 *   alone needs only to fit the card: what other processes hold, Ollama offloads to the CPU;
 * - never unload a model with jobs running on it; unload idle models without demand first,
 *   then the ones whose waiting work ranks lowest;
 * - keep serving a loaded model while it has demand, to avoid swaps, until a better-ranked
 *   model waits for room or another model's oldest job has waited longer than `maxWaitMs`:
 *   then stop starting jobs on the models in the way so they drain;
 * - high before normal before low (ranks with aging come in from the queue); high work that
 *   cannot fit because busy models are in the way preempts them, when every job running on
 *   them may be preempted (`scheduler.preempt`): they go back to the queue, not cancelled;
 * - a model larger than the whole card fails its jobs instead of waiting forever;
 * - never more models at once than Ollama holds (OLLAMA_MAX_LOADED_MODELS): past it Ollama
 *   would evict one on its own;
 * - without a known card size, one model at a time.
 */

export interface DemandGroup {
  /** The concrete model. */
  model: string;
  /** The job `model` fields that resolve to it (the model itself and ladder aliases). */
  submitted: string[];
  pending: number;
  /** Best effective rank of its waiting jobs (0 high). */
  rank: number;
  /** Epoch ms of its oldest waiting job. */
  oldest: number;
}

export interface LoadedState {
  model: string;
  /** Bytes it holds (Ollama's size_vram, or the estimate while loading). */
  bytes: number;
  /** Jobs running on it now. */
  running: number;
  /** Of those, how many may be preempted for high-priority work (policy, no bytes sent yet). */
  preemptible?: number;
  /**
   * Ollama is about to unload it (its keep-alive runs out): it still holds its memory, but a
   * job sent now might find it gone, so it gets no jobs until it is loaded again.
   */
  expiring?: boolean;
}

export interface Capacity {
  /** Usable bytes of the card; undefined when unknown (no telemetry, no configured total). */
  total: number | undefined;
  /** Bytes other processes hold. */
  external: number;
  /**
   * How many models Ollama holds at once (OLLAMA_MAX_LOADED_MODELS): past it Ollama evicts
   * one on its own, so a load beside that many waits for an unload. Unlimited when undefined.
   */
  maxModels?: number;
}

export interface PlanInput {
  demand: readonly DemandGroup[];
  loaded: readonly LoadedState[];
  capacity: Capacity;
  /** Bytes a model needs; undefined when unknown. */
  estimate: (model: string) => number | undefined;
  marginBytes: number;
  maxConcurrentPerModel: number;
  /** Another model's jobs wait at most this long before the loaded ones are drained for it. */
  maxWaitMs: number;
  /** A load or unload the engine is carrying out: plan nothing new around it. */
  busy: boolean;
  now: number;
}

export interface Plan {
  unload: string[];
  load: string | undefined;
  dispatch: { model: string; count: number }[];
  /** Models that can never fit, with why: their jobs fail. */
  impossible: { model: string; reason: string }[];
  /** Loaded models kept from new jobs so they drain for a model that waits. */
  draining: string[];
  /** Busy models whose running jobs go back to the queue now, for high-priority work ... */
  preempt: string[];
  /** ... on this model. */
  preemptFor: string | undefined;
  /** One line on why, for the scheduler's log. */
  reason: string;
}

/** Work that has waited past `maxWaitMs` goes before any priority: nothing starves. */
function urgencyOf(group: DemandGroup, now: number, maxWaitMs: number): number {
  return now - group.oldest > maxWaitMs ? -1 : group.rank;
}

/** Demand most urgent first: overdue work, then by rank, then oldest. */
export function urgencyOrder(
  demand: readonly DemandGroup[],
  now: number,
  maxWaitMs: number,
): DemandGroup[] {
  return [...demand].sort(
    (a, b) => urgencyOf(a, now, maxWaitMs) - urgencyOf(b, now, maxWaitMs) || a.oldest - b.oldest,
  );
}

export function plan(input: PlanInput): Plan {
  const { capacity } = input;
  const urgency = (g: DemandGroup) => urgencyOf(g, input.now, input.maxWaitMs);
  /** Whether `want` may take the place of a model with `held` waiting work: only if it ranks higher. */
  const outranks = (want: DemandGroup, held: DemandGroup | undefined) =>
    !held || urgency(want) < urgency(held);
  const demand = urgencyOrder(input.demand, input.now, input.maxWaitMs);
  const loadedNames = new Set(input.loaded.filter((l) => !l.expiring).map((l) => l.model));
  const impossible: Plan['impossible'] = [];
  const waiting: DemandGroup[] = [];
  for (const group of demand) {
    if (loadedNames.has(group.model)) continue;
    const need = input.estimate(group.model);
    if (capacity.total !== undefined && need !== undefined && need > capacity.total) {
      impossible.push({
        model: group.model,
        reason: `${group.model} needs about ${mib(need)} MiB of VRAM and the GPU has ${mib(capacity.total)} MiB in all`,
      });
      continue;
    }
    waiting.push(group);
  }

  let unload: string[] = [];
  let load: string | undefined;
  let draining: string[] = [];
  let preempt: string[] = [];
  let reason = 'serving loaded models';
  const want = waiting[0];
  if (want && !input.busy) {
    const need = input.estimate(want.model);
    const room = roomFor(want.model, need, input, []);
    if (room.fits) {
      load = want.model;
      reason = `loading ${want.model}: it fits (${room.why})`;
    } else {
      // Free room by unloading idle models, least wanted first.
      const victims = [...input.loaded]
        .filter((l) => l.running === 0)
        .sort((a, b) => compareVictims(a.model, b.model, demand));
      const chosen: string[] = [];
      for (const victim of victims) {
        chosen.push(victim.model);
        if (roomFor(want.model, need, input, chosen).fits) break;
      }
      if (chosen.length > 0 && roomFor(want.model, need, input, chosen).fits) {
        // Only make room for work that ranks above what the victims still have waiting.
        const worth = chosen.every((m) =>
          outranks(
            want,
            demand.find((d) => d.model === m),
          ),
        );
        if (worth) {
          unload = chosen;
          reason = `unloading ${chosen.join(', ')} to make room for ${want.model}`;
        }
      } else {
        // Busy models are in the way: drain them if the waiting model deserves it.
        const inWay = input.loaded.filter((l) => l.running > 0);
        draining = inWay
          .filter((l) =>
            outranks(
              want,
              demand.find((d) => d.model === l.model),
            ),
          )
          .map((l) => l.model);
        // Idle ones that rank lower go too, so the room is there once the busy ones finish.
        if (draining.length > 0) {
          unload = victims
            .filter((v) =>
              outranks(
                want,
                demand.find((d) => d.model === v.model),
              ),
            )
            .map((v) => v.model);
        }
        if (draining.length > 0) reason = `draining ${draining.join(', ')} for ${want.model}`;
        // High work need not wait for them to drain: preempt what may be preempted, when
        // that (with the idle models already going) makes its room.
        if (urgency(want) === 0) {
          const stoppable = inWay.filter(
            (l) => draining.includes(l.model) && (l.preemptible ?? 0) >= l.running,
          );
          const wouldFit =
            stoppable.length > 0 &&
            roomFor(want.model, need, input, [...unload, ...stoppable.map((l) => l.model)]).fits;
          if (wouldFit) {
            preempt = stoppable.map((l) => l.model);
            reason = `preempting ${preempt.join(', ')} for high-priority ${want.model}`;
          }
        }
      }
    }
  }

  const dispatch: Plan['dispatch'] = [];
  for (const l of input.loaded) {
    if (l.expiring || draining.includes(l.model) || unload.includes(l.model)) continue;
    const group = demand.find((d) => d.model === l.model);
    if (!group) continue;
    const count = Math.min(group.pending, input.maxConcurrentPerModel - l.running);
    if (count > 0) dispatch.push({ model: l.model, count });
  }
  return {
    unload,
    load,
    dispatch,
    impossible,
    draining,
    preempt,
    preemptFor: preempt.length > 0 ? want?.model : undefined,
    reason,
  };
}

/** Whether `model` fits once `unloading` are gone, and the arithmetic behind the answer. */
function roomFor(
  model: string,
  need: number | undefined,
  input: PlanInput,
  unloading: readonly string[],
): { fits: boolean; why: string } {
  const staying = input.loaded.filter((l) => !unloading.includes(l.model) && l.model !== model);
  const { maxModels } = input.capacity;
  if (maxModels !== undefined && staying.length + 1 > maxModels) {
    return { fits: false, why: `Ollama holds at most ${maxModels} models at once` };
  }
  if (input.capacity.total === undefined || need === undefined) {
    // Without a card size or an estimate, one model at a time.
    return { fits: staying.length === 0, why: 'alone, size unknown' };
  }
  const held = staying.reduce((sum, l) => sum + l.bytes, 0);
  const free = input.capacity.total - input.capacity.external - held;
  const margin = staying.length === 0 ? 0 : input.marginBytes;
  const why = `${mib(need)} MiB needed, ${mib(free)} MiB free${margin ? `, ${mib(margin)} MiB margin` : ''}`;
  // Alone on the card a model that does not fit whole (other processes hold part of it) is
  // partly offloaded to the CPU by Ollama: slower, but no allocation can fail.
  return { fits: staying.length === 0 || need + margin <= free, why };
}

/**
 * Cheapest to unload first: no demand, then the lowest-ranked work, then the least waiting.
 * Compared as a tuple: one number mixing rank and pending misorders past 100,000 pending.
 */
function compareVictims(a: string, b: string, demand: readonly DemandGroup[]): number {
  const ga = demand.find((d) => d.model === a);
  const gb = demand.find((d) => d.model === b);
  if (!ga || !gb) return (ga ? 1 : 0) - (gb ? 1 : 0);
  return gb.rank - ga.rank || ga.pending - gb.pending;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
