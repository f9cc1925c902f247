/**
 * The ladder operations the CLI and the admin API offer, behind one interface: the CLI uses
 * the local implementation when no supervisor runs, and the admin client when one does.
 */
import type { LadderEvent, TransitionSource } from './ladder.js';
import type { LadderStore } from './ladder-store.js';
import { type LadderView, viewLadder } from './view.js';

export type LadderAction =
  | { action: 'downgrade' | 'upgrade' | 'reset'; reason?: string }
  | { action: 'set'; model: string; reason?: string };

export const LADDER_ACTIONS = ['downgrade', 'upgrade', 'reset', 'set'] as const;

export interface FleetStatus {
  ladders: LadderView[];
  /** Things noticed while reading the state: a corrupt file kept aside, a changed ladder. */
  notes: string[];
}

export interface ChangeResult {
  ladder: LadderView;
  /** The transition made, or null when there was nothing to do (reset at the top). */
  transition: { from: string; to: string; reason: string; source: string } | null;
  message: string;
}

export interface FleetControl {
  /** Where the answer comes from, for people: the state file, or the supervisor's URL. */
  readonly via: string;
  status(): Promise<FleetStatus>;
  change(ladder: string | undefined, action: LadderAction): Promise<ChangeResult>;
}

export function localFleetControl(
  store: LadderStore,
  source: TransitionSource,
  now: () => number,
): FleetControl {
  return {
    via: store.file,
    async status() {
      const snapshot = await store.read();
      const at = now();
      return {
        ladders: snapshot.ladders.map((state) =>
          viewLadder(state, store.ladderConfig(state.name), at),
        ),
        notes: snapshot.notes,
      };
    },
    async change(ladder, action) {
      const event: LadderEvent =
        action.action === 'set'
          ? { type: 'set', model: action.model, source, ...reasonOf(action) }
          : { type: action.action, source, ...reasonOf(action) };
      const outcome = await store.apply(ladder, event);
      const config = store.ladderConfig(outcome.state.name);
      const t = outcome.transition;
      return {
        ladder: viewLadder(outcome.state, config, now()),
        transition: t ? { from: t.from, to: t.to, reason: t.reason, source: t.source } : null,
        message: outcome.message,
      };
    },
  };
}

function reasonOf(action: LadderAction): { reason?: string } {
  return action.reason === undefined ? {} : { reason: action.reason };
}
