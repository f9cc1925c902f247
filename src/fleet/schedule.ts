/**
 * The cron schedules of fleet.yaml (`ladders[].schedule`): at quiet hours, try a step up or a
 * reset. Stops when the signal aborts.
 */
import cron from 'node-cron';
import type { LadderConfig } from '../config/schema.js';
import { isFleetError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LadderStore } from './ladder-store.js';

export function startLadderSchedules(options: {
  ladders: readonly LadderConfig[];
  store: LadderStore;
  log: Logger;
  signal: AbortSignal;
}): void {
  for (const ladder of options.ladders) {
    const schedule = ladder.schedule;
    if (!schedule) continue;
    const log = options.log.child({ ladder: ladder.name });
    const task = cron.schedule(
      schedule.cron,
      async () => {
        try {
          const outcome = await options.store.apply(ladder.name, {
            type: schedule.action,
            source: 'schedule',
            reason: `scheduled ${schedule.action} ("${schedule.cron}")`,
          });
          log.info({ transition: outcome.transition }, outcome.message);
        } catch (err) {
          // At the top already: the schedule has nothing to do, which is not an error.
          if (
            isFleetError(err) &&
            (err.code === 'FLEET_ERR_LADDER_AT_TOP' || err.code === 'FLEET_ERR_LADDER_HELD')
          ) {
            log.info(err.message);
          } else {
            log.error({ err }, `scheduled ${schedule.action} failed`);
          }
        }
      },
      {
        name: `ladder-${ladder.name}`,
        noOverlap: true,
        ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
      },
    );
    options.signal.addEventListener('abort', () => void task.destroy(), { once: true });
  }
}
