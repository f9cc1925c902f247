/**
 * The Jobs service: a job's state changes and their events in one place, on a real SQLite
 * file. An event goes out only for a change the store made; cancelling stops the request.
 */
import { describe, expect, it } from 'vitest';
import { JobEvents } from '../../src/queue/events.js';
import { Jobs } from '../../src/queue/jobs.js';
import { SqliteJobStore } from '../../src/queue/sqlite-store.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';
import { job } from '../queue/conformance.js';

async function setup() {
  const store = new SqliteJobStore({
    stateDir: await tempDir(),
    settings: { agingMs: 60_000, maxAttempts: 3 },
    log: captureLogger().log,
  });
  const events = new JobEvents();
  const stopped: string[] = [];
  const jobs = new Jobs(
    store,
    events,
    () => 1_000,
    (id) => stopped.push(id),
  );
  const [saved] = await store.submit([job('m:1')], 1_000, 10);
  const id = saved?.id as string;
  const seen: string[] = [];
  events.subscribe(id, (e) => seen.push(e.type));
  return { store, jobs, id, seen, stopped };
}

describe('the Jobs service', () => {
  it('announces each change the store made, once, and nothing for one that came too late', async () => {
    const { store, jobs, id, seen, stopped } = await setup();
    const [claimed] = await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: 1_000 });
    jobs.started(claimed as NonNullable<typeof claimed>);
    expect((await jobs.cancel(id))?.status).toBe('cancelled');
    expect(stopped).toEqual([id]);
    // The engine's answer arrives after the cancel: the job stays cancelled, nobody is told.
    expect(await jobs.complete(id, { response: 'late' })).toBeUndefined();
    expect(await jobs.cancel(id)).toBeUndefined();
    expect(seen).toEqual(['running', 'cancelled']);
  });

  it('a requeue out of attempts is announced as the failure it became', async () => {
    const { store, jobs, id, seen } = await setup();
    for (let attempt = 0; attempt < 3; attempt++) {
      await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: 1_000 });
      await jobs.requeue(id, { code: 'X', message: 'CUDA error: out of memory' }, true);
    }
    expect(seen).toEqual(['requeued', 'requeued', 'failed']);
    expect((await store.get(id))?.status).toBe('failed');
  });
});
