import { describe, expect, it } from 'vitest';
import type { LadderConfig } from '../../src/config/schema.js';
import { LadderStore } from '../../src/fleet/ladder-store.js';
import { startLadderSchedules } from '../../src/fleet/schedule.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';

const POLICY = { after_incidents: 3, window: 600_000, cooldown: 0, on_telemetry: false };

describe('ladder schedules', () => {
  it('a cron schedule resets the ladder, with source schedule, and stops on abort', async () => {
    const ladder: LadderConfig = {
      name: 'main',
      models: ['llama3.2:3b', 'phi3:mini'],
      downgrade: POLICY,
      schedule: { cron: '* * * * * *', action: 'reset' },
    };
    const { log } = captureLogger();
    const store = new LadderStore({
      stateDir: await tempDir(),
      ladders: [ladder],
      log,
      now: Date.now,
    });
    await store.apply('main', { type: 'downgrade', source: 'cli' });
    const stop = new AbortController();
    startLadderSchedules({ ladders: [ladder], store, log, signal: stop.signal });
    try {
      await expect
        .poll(async () => (await store.read()).ladders[0]?.current_model_index, {
          timeout: 5_000,
          interval: 100,
        })
        .toBe(0);
    } finally {
      stop.abort();
    }
    const history = (await store.read()).ladders[0]?.history ?? [];
    expect(history.at(-1)).toMatchObject({
      source: 'schedule',
      to: 'llama3.2:3b',
      reason: 'scheduled reset ("* * * * * *")',
    });
  });
});
