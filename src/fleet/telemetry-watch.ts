/**
 * Ladders with `downgrade.on_telemetry`: when no backend's card can hold the current rung any
 * more (other processes took the room), that counts toward the threshold before any OOM
 * does. The rule is `telemetryIncidents` (policy.ts); this feeds it each new snapshot and
 * applies what it finds, at most once a minute per ladder.
 */
import type { Background } from '../background.js';
import type { LadderConfig } from '../config/schema.js';
import type { ResourceSnapshot } from '../gpu/snapshot.js';
import type { Logger } from '../log.js';
import type { LadderStore } from './ladder-store.js';
import { telemetryIncidents } from './policy.js';

/** How often "the current rung no longer fits" may count as an incident. */
const TELEMETRY_INCIDENT_EVERY_MS = 60_000;

export function telemetryWatch(options: {
  ladders: readonly LadderConfig[];
  store: LadderStore;
  /** Every backend's latest snapshot. */
  snapshots: () => readonly (ResourceSnapshot | undefined)[];
  estimate: (model: string) => number | undefined;
  weight: number;
  background: Background;
  log: Logger;
}): (snapshot: ResourceSnapshot) => void {
  const noted = new Map<string, number>();
  const watched = new Set(
    options.ladders.filter((l) => l.downgrade.on_telemetry).map((l) => l.name),
  );
  return (snapshot) => {
    if (!snapshot.telemetry.available || watched.size === 0) return;
    // The most any backend's card can give models beside other processes.
    const usable = Math.max(
      ...[snapshot, ...options.snapshots()]
        .filter((s): s is ResourceSnapshot => s?.telemetry.available === true)
        .map((s) => (s.totals.total ?? 0) - s.gpus.reduce((sum, g) => sum + (g.external ?? 0), 0)),
    );
    options.background.run('weigh telemetry against the ladders', async () => {
      const found = telemetryIncidents({
        at: snapshot.at,
        usable,
        ladders: (await options.store.read()).ladders,
        watched,
        estimate: options.estimate,
        lastNoted: noted,
        everyMs: TELEMETRY_INCIDENT_EVERY_MS,
        weight: options.weight,
      });
      for (const { ladder, incident } of found) {
        noted.set(ladder, incident.at);
        const outcome = await options.store.apply(ladder, { type: 'incident', incident });
        options.log.warn({ ladder, transition: outcome.transition }, outcome.message);
      }
    });
  };
}
