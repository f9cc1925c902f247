/**
 * Fleet policy, decided apart from doing: which ladders an incident counts on, when the
 * telemetry says a rung no longer fits, and what keeps the supervisor from being fully well.
 * Pure: ladders, snapshots and times in, decisions out. `supervisor.ts` wires it; the effects
 * run elsewhere (`effects.ts`).
 */
import { sameModel } from '../ollama/names.js';
import { currentModel, type Incident, type LadderState } from './ladder.js';

/** The ladders whose current rung is the incident's model; with none, the first ladder. */
export function incidentLadders(
  ladders: readonly LadderState[],
  model: string | undefined,
): LadderState[] {
  const named = model === undefined ? [] : ladders.filter((l) => sameModel(currentModel(l), model));
  return named.length > 0 ? named : ladders.slice(0, 1);
}

export interface TelemetryInput {
  at: number;
  /** What the card can give models: its total less what other processes hold (bytes). */
  usable: number;
  ladders: readonly LadderState[];
  /** The ladders that step on telemetry (`downgrade.on_telemetry`). */
  watched: ReadonlySet<string>;
  /** Bytes a model needs, when known. */
  estimate: (model: string) => number | undefined;
  /** When each ladder last got a telemetry incident. */
  lastNoted: ReadonlyMap<string, number>;
  /** At most one telemetry incident per ladder this often. */
  everyMs: number;
  weight: number;
}

/**
 * The ladders whose current rung no longer fits beside other processes: each gets a soft
 * incident (at most one per `everyMs`), so the ladder can step before any OOM happens.
 */
export function telemetryIncidents(
  input: TelemetryInput,
): { ladder: string; incident: Incident }[] {
  const out: { ladder: string; incident: Incident }[] = [];
  for (const ladder of input.ladders) {
    if (!input.watched.has(ladder.name)) continue;
    const model = currentModel(ladder);
    const need = input.estimate(model);
    if (need === undefined || need <= input.usable) continue;
    const last = input.lastNoted.get(ladder.name);
    if (last !== undefined && input.at - last < input.everyMs) continue;
    out.push({
      ladder: ladder.name,
      incident: {
        at: input.at,
        kind: 'telemetry_no_fit',
        severity: 'soft',
        weight: input.weight,
        evidence: `${model} needs about ${Math.round(need / 2 ** 20)} MiB; the GPU has ${Math.round(input.usable / 2 ** 20)} MiB left beside other processes`,
      },
    });
  }
  return out;
}

/** Why the supervisor is not fully well, in words, for `/api/health`. */
export function healthProblems(input: {
  backends: readonly {
    name: string;
    ollama: { reachable: true } | { reachable: false; error: string } | undefined;
    /** Its log watcher; undefined when it follows no log. */
    watch: { state: string; problem?: string | undefined } | undefined;
  }[];
  security?: string | undefined;
}): string[] {
  const problems: string[] = [];
  if (input.security !== undefined) problems.push(`security: ${input.security}`);
  // One backend speaks of "Ollama" as before; several name which.
  const several = input.backends.length > 1;
  for (const b of input.backends) {
    const who = several ? `backend ${b.name}: ` : '';
    if (b.ollama && !b.ollama.reachable) problems.push(`${who}Ollama: ${b.ollama.error}`);
    if (b.watch && b.watch.state !== 'following')
      problems.push(`${who}log watcher: ${b.watch.problem ?? b.watch.state}`);
  }
  return problems;
}
