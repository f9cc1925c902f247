/**
 * What `fleet status` and `GET /api/fleet` show of a ladder: one plain JSON value, the same
 * whether the CLI read the state file itself or asked a running supervisor. Pure.
 */
import type { LadderConfig } from '../config/schema.js';
import { currentModel, incidentWeight, type LadderState, withIncidentsSince } from './ladder.js';

export interface LadderView {
  name: string;
  current_model: string;
  current_model_index: number;
  models: string[];
  /** Incidents counted now, against the weight that steps the ladder down. */
  incidents: {
    count: number;
    weight: number;
    threshold: number;
    window_seconds: number;
    recent: { at: string; kind: string; severity: 'hard' | 'soft'; evidence?: string }[];
  };
  cooldown_seconds_left: number;
  can_downgrade: boolean;
  can_upgrade: boolean;
  /** The latest transitions, newest last. */
  history: {
    at: string;
    from: string;
    to: string;
    reason: string;
    source: string;
    /** What made the policy step: the incidents it counted, with their log lines. */
    incidents?: { at: string; kind: string; severity: 'hard' | 'soft'; evidence?: string }[];
  }[];
  schedule: { cron: string; action: 'upgrade' | 'reset' } | null;
}

export const VIEW_HISTORY = 10;

export function viewLadder(state: LadderState, config: LadderConfig, now: number): LadderView {
  const policy = config.downgrade;
  const fresh = withIncidentsSince(state, now - policy.window);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    name: state.name,
    current_model: currentModel(fresh),
    current_model_index: fresh.current_model_index,
    models: [...fresh.models],
    incidents: {
      count: fresh.incidents.length,
      weight: Math.round(incidentWeight(fresh) * 100) / 100,
      threshold: policy.after_incidents,
      window_seconds: policy.window / 1000,
      recent: fresh.incidents.slice(-5).map((i) => ({
        at: iso(i.at),
        kind: i.kind,
        severity: i.severity,
        ...(i.evidence === undefined ? {} : { evidence: i.evidence }),
      })),
    },
    cooldown_seconds_left:
      fresh.cooldown_until === null
        ? 0
        : Math.max(0, Math.ceil((fresh.cooldown_until - now) / 1000)),
    can_downgrade: fresh.current_model_index < fresh.models.length - 1,
    can_upgrade: fresh.current_model_index > 0,
    history: fresh.history.slice(-VIEW_HISTORY).map((t) => ({
      at: iso(t.at),
      from: t.from,
      to: t.to,
      reason: t.reason,
      source: t.source,
      ...(t.incidents
        ? {
            incidents: t.incidents.map((i) => ({
              at: iso(i.at),
              kind: i.kind,
              severity: i.severity,
              ...(i.evidence === undefined ? {} : { evidence: i.evidence }),
            })),
          }
        : {}),
    })),
    schedule: config.schedule
      ? { cron: config.schedule.cron, action: config.schedule.action }
      : null,
  };
}
