/**
 * The model ladder as a pure state machine: a state, an event and `now` in; a new state and
 * the transition it made (or none) out. A refusal (nothing smaller below the bottom) is a
 * FleetError. No I/O, no clock: the store persists, the caller supplies the time.
 */
import { Errors, FleetError } from '../errors.js';

export type TransitionSource = 'cli' | 'api' | 'policy' | 'schedule' | 'config';

export interface Transition {
  /** Epoch milliseconds. */
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly from_index: number;
  readonly to_index: number;
  readonly reason: string;
  readonly source: TransitionSource;
  /** The incidents that made the policy step, kept with the step as its evidence. */
  readonly incidents?: readonly Incident[];
}

export interface Incident {
  readonly at: number;
  readonly kind: string;
  readonly severity: 'hard' | 'soft';
  /** How much it counts toward the threshold (detection.weights). */
  readonly weight: number;
  /** The log line or error that showed it, for the history and status. */
  readonly evidence?: string;
  /** The Ollama backend it happened on, when several run behind the supervisor. */
  readonly backend?: string;
}

export interface LadderState {
  readonly name: string;
  /** The ladder as it was when this state was written, to notice fleet.yaml changes. */
  readonly models: readonly string[];
  readonly current_model_index: number;
  /** Incidents counted toward the threshold, oldest first; none older than the window. */
  readonly incidents: readonly Incident[];
  /** Epoch ms until which incidents are not counted, or null. */
  readonly cooldown_until: number | null;
  /** The latest transitions, oldest first, at most HISTORY_LIMIT. */
  readonly history: readonly Transition[];
  /**
   * After a step up, for one window: hard VRAM trouble sends the ladder straight back to
   * `from_index`, cooldown or not.
   */
  readonly probation?: { until: number; from_index: number } | null;
  /** After a step up that failed its probation: scheduled step-ups wait until `until`. */
  readonly upgrade_hold?: { until: number; backoff_ms: number } | null;
  readonly updated_at: number;
}

export interface LadderPolicy {
  /** Incident weight within the window that steps the ladder down. */
  readonly after_incidents: number;
  readonly window: number;
  readonly cooldown: number;
  /**
   * An incident this close (ms) to the last one counted is the same event seen by another
   * source: it is merged into that one (the worse severity and weight), not counted again.
   */
  readonly merge_within?: number;
}

export type LadderEvent =
  | { type: 'downgrade'; source: TransitionSource; reason?: string }
  | { type: 'upgrade'; source: TransitionSource; reason?: string }
  | { type: 'reset'; source: TransitionSource; reason?: string }
  | { type: 'set'; model: string; source: TransitionSource; reason?: string }
  | { type: 'incident'; incident: Incident };

export interface LadderOutcome {
  readonly state: LadderState;
  readonly transition: Transition | null;
  /** One sentence for people: what happened, or why nothing did. */
  readonly message: string;
}

export const HISTORY_LIMIT = 100;

export function currentModel(state: LadderState): string {
  return state.models[state.current_model_index] as string;
}

export function initialLadderState(
  name: string,
  models: readonly string[],
  now: number,
): LadderState {
  return {
    name,
    models: [...models],
    current_model_index: 0,
    incidents: [],
    cooldown_until: null,
    history: [],
    probation: null,
    upgrade_hold: null,
    updated_at: now,
  };
}

export function applyLadderEvent(
  state: LadderState,
  event: LadderEvent,
  policy: LadderPolicy,
  now: number,
): LadderOutcome {
  const fresh = settleProbation(withIncidentsSince(state, now - policy.window), now);
  if (
    (event.type === 'upgrade' || event.type === 'reset') &&
    event.source === 'schedule' &&
    fresh.upgrade_hold &&
    now < fresh.upgrade_hold.until
  ) {
    throw new FleetError(
      Errors.FLEET_ERR_LADDER_HELD,
      `ladder ${state.name}: the scheduled ${event.type} waits until ${new Date(fresh.upgrade_hold.until).toISOString()}, because the last step up brought VRAM trouble`,
      { details: { ladder: state.name, until: fresh.upgrade_hold.until } },
    );
  }
  switch (event.type) {
    case 'downgrade':
    case 'upgrade': {
      const down = event.type === 'downgrade';
      const to = fresh.current_model_index + (down ? 1 : -1);
      if (to < 0 || to >= fresh.models.length) {
        const [which, edge, size, verb] = down
          ? ([Errors.FLEET_ERR_LADDER_AT_BOTTOM, 'bottom', 'smaller', 'down'] as const)
          : ([Errors.FLEET_ERR_LADDER_AT_TOP, 'top', 'larger', 'up'] as const);
        throw new FleetError(
          which,
          `ladder ${state.name} is already at its ${edge} rung (${currentModel(fresh)}): there is no ${size} model to step ${verb} to`,
          { details: { ladder: state.name, model: currentModel(fresh) } },
        );
      }
      const reason = event.reason ?? (down ? 'step down' : 'step up');
      return move(fresh, to, event.source, reason, policy, now);
    }
    case 'reset': {
      if (fresh.current_model_index === 0) {
        // Already at the top: a reset still clears the incident count.
        return {
          state: { ...fresh, incidents: [], updated_at: now },
          transition: null,
          message: `ladder ${state.name} is already at its top rung (${currentModel(fresh)}); incident count cleared`,
        };
      }
      return move(fresh, 0, event.source, event.reason ?? 'reset to the top', policy, now);
    }
    case 'set': {
      const index = fresh.models.indexOf(event.model);
      if (index < 0) {
        throw new FleetError(
          Errors.FLEET_ERR_MODEL_NOT_ON_LADDER,
          `${event.model} is not on ladder ${state.name} (${fresh.models.join(' -> ')})`,
          { details: { ladder: state.name, model: event.model, models: [...fresh.models] } },
        );
      }
      if (index === fresh.current_model_index) {
        return {
          state: fresh,
          transition: null,
          message: `ladder ${state.name} already runs ${event.model}`,
        };
      }
      return move(fresh, index, event.source, event.reason ?? `set to ${event.model}`, policy, now);
    }
    case 'incident':
      return countIncident(fresh, event.incident, policy, now);
  }
}

/** A probation that ran out without trouble: the step up held, and so does the next one. */
function settleProbation(state: LadderState, now: number): LadderState {
  if (!state.probation || now < state.probation.until) return state;
  return { ...state, probation: null, upgrade_hold: null };
}

/** First backoff after a failed step up; it doubles each time, up to a week. */
const FIRST_HOLD_WINDOWS = 6;
const MAX_HOLD_MS = 7 * 86_400_000;

function countIncident(
  state: LadderState,
  incident: Incident,
  policy: LadderPolicy,
  now: number,
): LadderOutcome {
  // Read late (a log replayed after a restart): trouble older than the window says nothing now.
  if (incident.at < now - policy.window) {
    return {
      state,
      transition: null,
      message: `incident ${incident.kind} not counted: it is older than ladder ${state.name}'s window`,
    };
  }
  if (state.probation && now < state.probation.until && incident.severity === 'hard') {
    const backoff = state.upgrade_hold
      ? Math.min(MAX_HOLD_MS, state.upgrade_hold.backoff_ms * 2)
      : policy.window * FIRST_HOLD_WINDOWS;
    const back = move(
      state,
      state.probation.from_index,
      'policy',
      `${incident.kind} soon after stepping up: back to ${state.models[state.probation.from_index]}; the next scheduled step up waits ${Math.round(backoff / 60_000)} min`,
      policy,
      now,
    );
    return {
      ...back,
      state: { ...back.state, upgrade_hold: { until: now + backoff, backoff_ms: backoff } },
    };
  }
  if (state.cooldown_until !== null && now < state.cooldown_until) {
    const left = Math.ceil((state.cooldown_until - now) / 1000);
    return {
      state,
      transition: null,
      message: `incident ${incident.kind} not counted: ladder ${state.name} is cooling down for ${left}s after its last transition`,
    };
  }
  const last = state.incidents.at(-1);
  const sameEvent =
    last !== undefined && Math.abs(incident.at - last.at) <= (policy.merge_within ?? 0);
  if (sameEvent && incident.weight <= last.weight) {
    return {
      state,
      transition: null,
      message: `incident ${incident.kind} is the one counted a moment ago (${last.kind}) seen again: not counted twice`,
    };
  }
  // The same event seen again, worse (a hard OOM after a soft warning): it counts as the worse.
  const incidents = sameEvent
    ? [...state.incidents.slice(0, -1), { ...incident, at: last.at }]
    : [...state.incidents, incident];
  const counted: LadderState = { ...state, incidents, cooldown_until: null, updated_at: now };
  const weight = incidentWeight(counted);
  if (weight + 1e-9 < policy.after_incidents) {
    return {
      state: counted,
      transition: null,
      message: `incident ${incident.kind} counted on ladder ${state.name}: ${formatWeight(weight)} of ${policy.after_incidents}`,
    };
  }
  if (state.current_model_index >= state.models.length - 1) {
    return {
      state: counted,
      transition: null,
      message: `ladder ${state.name} reached ${formatWeight(weight)} of ${policy.after_incidents} incidents but is at its bottom rung (${currentModel(state)}): nothing smaller to step down to`,
    };
  }
  const kinds = [...new Set(incidents.map((i) => i.kind))].join(', ');
  const reason = `${incidents.length} VRAM incidents (${kinds}) within ${Math.round(policy.window / 1000)}s`;
  return move(counted, state.current_model_index + 1, 'policy', reason, policy, now, incidents);
}

function move(
  state: LadderState,
  to: number,
  source: TransitionSource,
  reason: string,
  policy: LadderPolicy,
  now: number,
  causes?: readonly Incident[],
): LadderOutcome {
  const transition: Transition = {
    at: now,
    from: currentModel(state),
    to: state.models[to] as string,
    from_index: state.current_model_index,
    to_index: to,
    reason,
    source,
    ...(causes && causes.length > 0 ? { incidents: causes } : {}),
  };
  const history = [...state.history, transition].slice(-HISTORY_LIMIT);
  return {
    state: {
      ...state,
      current_model_index: to,
      // A transition starts afresh: the old model's incidents say nothing about the new one.
      incidents: [],
      cooldown_until: policy.cooldown > 0 ? now + policy.cooldown : null,
      history,
      // A step up is on probation for one window; a step down ends any probation.
      probation:
        to < state.current_model_index
          ? { until: now + policy.window, from_index: state.current_model_index }
          : null,
      updated_at: now,
    },
    transition,
    message: `ladder ${state.name}: ${transition.from} -> ${transition.to} (${reason})`,
  };
}

/** Drops incidents that fell out of the window. */
export function withIncidentsSince(state: LadderState, since: number): LadderState {
  if (state.incidents.every((i) => i.at > since)) return state;
  return { ...state, incidents: state.incidents.filter((i) => i.at > since) };
}

export function incidentWeight(state: LadderState): number {
  return state.incidents.reduce((sum, i) => sum + i.weight, 0);
}

function formatWeight(weight: number): string {
  return Number.isInteger(weight) ? String(weight) : weight.toFixed(2);
}

/**
 * Fits a saved state to the ladder fleet.yaml now describes. The saved model keeps its rung
 * when it is still on the ladder; when it is gone, the nearest rung of the old ladder that
 * is still there wins, looking down (smaller, the safe side) before up.
 */
export function reconcileLadder(
  saved: LadderState,
  models: readonly string[],
  now: number,
): { state: LadderState; note?: string } {
  if (sameList(saved.models, models)) return { state: saved };
  const was = currentModel(saved);
  const kept = models.indexOf(was);
  if (kept >= 0) {
    return {
      state: { ...saved, models: [...models], current_model_index: kept },
      note: `ladder ${saved.name} changed in fleet.yaml; it stays on ${was}, now rung ${kept}`,
    };
  }
  const candidates: string[] = [
    ...saved.models.slice(saved.current_model_index + 1),
    ...saved.models.slice(0, saved.current_model_index).reverse(),
  ];
  const nearest = candidates.find((m) => models.includes(m));
  const index = nearest
    ? models.indexOf(nearest)
    : Math.min(saved.current_model_index, models.length - 1);
  const to = models[index] as string;
  const reason = `${was} is no longer on ladder ${saved.name} in fleet.yaml; moved to the nearest rung, ${to}`;
  const transition: Transition = {
    at: now,
    from: was,
    to,
    from_index: saved.current_model_index,
    to_index: index,
    reason,
    source: 'config',
  };
  return {
    state: {
      ...saved,
      models: [...models],
      current_model_index: index,
      incidents: [],
      history: [...saved.history, transition].slice(-HISTORY_LIMIT),
      updated_at: now,
    },
    note: reason,
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
