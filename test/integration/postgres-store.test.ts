/**
 * The shared queue on a real PostgreSQL (a private server the tests start): the store
 * contract every store meets, and what sharing one database between supervisors needs.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../src/queue/postgres-schema.js';
import { PostgresJobStore, type RemoteChange } from '../../src/queue/postgres-store.js';
import type { StoreSettings } from '../../src/queue/store.js';
import { captureLogger } from '../helpers/log.js';
import { freshDatabase } from '../helpers/postgres.js';
import { describeJobStore, job } from '../queue/conformance.js';

const opened: PostgresJobStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

const SETTINGS: StoreSettings = { agingMs: 60_000, maxAttempts: 3 };
const LEASE = 30_000;
const T0 = 1_700_000_000_000;

async function openOn(url: string, owner: string, settings = SETTINGS) {
  const store = await PostgresJobStore.open({
    url,
    settings,
    owner,
    leaseMs: LEASE,
    log: captureLogger().log,
  });
  opened.push(store);
  return store;
}

describeJobStore('PostgreSQL', async (settings) => openOn(await freshDatabase(), 'solo', settings));

describe('several supervisors on one PostgreSQL queue', () => {
  it('two stores on one database never claim the same job, whatever the interleaving (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 4, maxLength: 12 }),
        async (limits) => {
          const url = await freshDatabase();
          const [a, b] = [await openOn(url, 'host1'), await openOn(url, 'host2')];
          const saved = await a.submit(
            Array.from({ length: 30 }, (_, i) => job(i % 2 ? 'm:1' : 'm:2')),
            T0,
            1000,
          );
          // Both claim at once, in rounds, until the queue is empty.
          const claimed: string[] = [];
          for (const limit of limits) {
            const rounds = await Promise.all(
              [a, b].map((s) =>
                s.claim({ models: ['m:1', 'm:2'], resolved: 'm:1', limit, now: T0 }),
              ),
            );
            for (const jobs of rounds) claimed.push(...jobs.map((j) => j.id));
          }
          expect(new Set(claimed).size).toBe(claimed.length);
          const left = (await a.counts()).by_status.pending;
          expect(claimed.length + left).toBe(saved.length);
          await Promise.all([a.close(), b.close()]);
        },
      ),
      { numRuns: 8 },
    );
  });

  it('a lease that runs out is reclaimed and runs elsewhere; the old claim can no longer end it', async () => {
    const url = await freshDatabase();
    const [a, b] = [await openOn(url, 'host1'), await openOn(url, 'host2')];
    const [saved] = await a.submit([job('m:1')], T0, 1000);
    const id = saved?.id as string;
    const [mine] = await a.claim({
      models: ['m:1'],
      resolved: 'm:1',
      limit: 1,
      now: T0,
      backend: 'gpu1',
    });
    expect(mine?.attempts).toBe(1);
    // Renewed while it runs: not expired at a lease and a half.
    await a.heartbeat(T0 + LEASE / 2);
    expect(await b.reclaimExpired(T0 + LEASE + 1)).toEqual({
      requeued: 0,
      failed: 0,
      cancelled: 0,
    });
    // host1 dies: no more heartbeats; the lease runs out and host2 takes the job.
    expect(await b.reclaimExpired(T0 + 2 * LEASE)).toEqual({
      requeued: 1,
      failed: 0,
      cancelled: 0,
    });
    expect(await b.get(id)).toMatchObject({
      status: 'pending',
      attempts: 1,
      error: { code: 'FLEET_ERR_LEASE_EXPIRED' },
    });
    const [theirs] = await b.claim({
      models: ['m:1'],
      resolved: 'm:1',
      limit: 1,
      now: T0 + 2 * LEASE,
      backend: 'gpu2',
    });
    expect(theirs).toMatchObject({ id, attempts: 2, backend: 'gpu2' });
    // The stale claim is refused: host1 (back from a pause) cannot complete or requeue it.
    expect(await a.complete(id, { response: 'late' }, T0 + 3 * LEASE)).toBeUndefined();
    expect(await a.requeue(id, { code: 'X', message: 'x' }, false, T0 + 3 * LEASE)).toBeUndefined();
    expect(await b.complete(id, { response: 'ok' }, T0 + 3 * LEASE)).toMatchObject({
      status: 'complete',
      result: { response: 'ok' },
      backend: 'gpu2',
    });
  });

  it("start-up recovers only its own jobs, never another live supervisor's", async () => {
    const url = await freshDatabase();
    const [a, b] = [await openOn(url, 'host1'), await openOn(url, 'host2')];
    await a.submit([job('m:1'), job('m:1')], T0, 1000);
    const [ofA] = await a.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
    const [ofB] = await b.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
    // host1 restarts (the same id, kept in its state folder): its job goes back, host2's runs on.
    const again = await openOn(url, 'host1');
    expect(await again.recover(T0 + 1)).toEqual({ requeued: 1, failed: 0, cancelled: 0 });
    expect((await again.get(ofA?.id as string))?.status).toBe('pending');
    expect((await again.get(ofB?.id as string))?.status).toBe('running');
  });

  it('an attached job is claimed only by the supervisor holding its caller, and cancelled once that one is gone', async () => {
    const url = await freshDatabase();
    const [a, b] = [await openOn(url, 'host1'), await openOn(url, 'host2')];
    await a.heartbeat(T0);
    await b.heartbeat(T0);
    const [attached] = await a.submit([{ ...job('m:1'), attached: true }], T0, 1000);
    expect(await b.demand(T0)).toEqual([]);
    expect(await b.claim({ models: ['m:1'], resolved: 'm:1', limit: 5, now: T0 })).toEqual([]);
    // host1 stops beating; host2 sees its caller can never get the answer.
    await b.heartbeat(T0 + 2 * LEASE);
    expect(await b.reclaimExpired(T0 + 2 * LEASE)).toEqual({
      requeued: 0,
      failed: 0,
      cancelled: 1,
    });
    expect((await b.get(attached?.id as string))?.status).toBe('cancelled');
    expect((await b.supervisors(T0 + 2 * LEASE)).map((s) => s.id)).toEqual(['host2']);
  });

  it('tells every other supervisor what changed (LISTEN/NOTIFY), not itself', async () => {
    const url = await freshDatabase();
    const [a, b] = [await openOn(url, 'host1'), await openOn(url, 'host2')];
    const seenByB: RemoteChange[] = [];
    const seenByA: RemoteChange[] = [];
    await b.watch((change) => seenByB.push(change));
    await a.watch((change) => seenByA.push(change));
    const [saved] = await a.submit([job('m:1')], T0, 1000);
    const id = saved?.id as string;
    await a.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
    await a.complete(id, { response: 'x' }, T0);
    await expect
      .poll(() => seenByB.map((c) => c.status))
      .toEqual(['pending', 'running', 'complete']);
    expect(seenByB.every((c) => c.id === id)).toBe(true);
    expect(seenByA).toEqual([]);
  });

  it('migrates once when several start together, and refuses a database newer than the code', async () => {
    const url = await freshDatabase();
    await Promise.all(['h1', 'h2', 'h3'].map((h) => openOn(url, h)));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT version FROM fleet_schema');
      expect(rows).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
      await client.query('UPDATE fleet_schema SET version = version + 1');
    } finally {
      await client.end();
    }
    await expect(openOn(url, 'h4')).rejects.toThrow(/newer than this ollama-fleet knows/);
  });
});
