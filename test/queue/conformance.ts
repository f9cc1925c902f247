/**
 * The JobStore conformance suite: every store (SQLite now, PostgreSQL later) runs it as is.
 * `open` makes a fresh, empty store with the given settings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NewJob, Priority } from '../../src/queue/job.js';
import type { JobStore, StoreSettings } from '../../src/queue/store.js';

export type OpenStore = (settings: StoreSettings) => Promise<JobStore>;

const SETTINGS: StoreSettings = { agingMs: 60_000, maxAttempts: 3 };
const T0 = Date.parse('2026-11-25T12:00:00Z');
const BIG = 10_000;

export function job(model: string, priority: Priority = 'normal', prompt = 'hello'): NewJob {
  return {
    model,
    kind: 'generate',
    endpoint: '/api/generate',
    request: { prompt },
    attached: false,
    priority,
    metadata: { tag: prompt },
    client: 'test',
  };
}

const failure = {
  code: 'FLEET_ERR_OLLAMA_RESPONSE',
  message: 'llama runner process has terminated',
};

export function describeJobStore(name: string, open: OpenStore): void {
  describe(`JobStore conformance: ${name}`, () => {
    it('submit keeps every field and starts the job pending', async () => {
      const store = await open(SETTINGS);
      const [saved] = await store.submit([job('qwen2.5:0.5b', 'high', 'hi')], T0, BIG);
      expect(saved).toMatchObject({
        model: 'qwen2.5:0.5b',
        kind: 'generate',
        request: { prompt: 'hi' },
        priority: 'high',
        metadata: { tag: 'hi' },
        client: 'test',
        status: 'pending',
        attempts: 0,
        resolved_model: null,
        result: null,
        error: null,
        submitted_at: T0,
        started_at: null,
        completed_at: null,
      });
      expect(saved?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await store.get(saved?.id as string)).toEqual(saved);
      expect(await store.get('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    });

    it('refuses a submit beyond the maximum size, all or nothing', async () => {
      const store = await open(SETTINGS);
      await store.submit([job('a:1'), job('a:1')], T0, 3);
      await expect(store.submit([job('a:1'), job('a:1')], T0, 3)).rejects.toMatchObject({
        code: 'FLEET_ERR_QUEUE_FULL',
      });
      expect((await store.counts()).total).toBe(2);
      // Finished jobs do not count toward the size.
      const [claimed] = await store.claim({ models: ['a:1'], resolved: 'a:1', limit: 1, now: T0 });
      await store.complete(claimed?.id as string, { response: 'x' }, T0);
      await store.submit([job('a:1'), job('a:1')], T0, 3);
    });

    it('keeps the backend a job was claimed for, until it goes back to the queue', async () => {
      const store = await open(SETTINGS);
      const [a, b] = await store.submit([job('m:1'), job('m:1')], T0, BIG);
      const claimed = await store.claim({
        models: ['m:1'],
        resolved: 'm:1',
        limit: 2,
        now: T0,
        backend: 'gpu-1',
      });
      expect(claimed.map((j) => j.backend)).toEqual(['gpu-1', 'gpu-1']);
      await store.complete(a?.id as string, { response: 'x' }, T0);
      expect((await store.get(a?.id as string))?.backend).toBe('gpu-1');
      // Back in the queue it belongs to no backend; the next claim names its own.
      await store.requeue(b?.id as string, { code: 'X', message: 'away' }, false, T0);
      expect((await store.get(b?.id as string))?.backend).toBeNull();
      const [again] = await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
      expect(again?.backend).toBeNull();
    });

    it('claims high before normal before low, oldest first within a priority', async () => {
      const store = await open(SETTINGS);
      const low = await store.submit([job('m:1', 'low')], T0, BIG);
      const normal = await store.submit([job('m:1', 'normal'), job('m:1', 'normal')], T0 + 1, BIG);
      const high = await store.submit([job('m:1', 'high')], T0 + 2, BIG);
      const order = await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 10, now: T0 + 3 });
      expect(order.map((j) => j.id)).toEqual([
        high[0]?.id,
        normal[0]?.id,
        normal[1]?.id,
        low[0]?.id,
      ]);
    });

    it('ages a waiting low job so it is served like a normal one', async () => {
      const store = await open(SETTINGS);
      const [low] = await store.submit([job('m:1', 'low')], T0, BIG);
      const [normal] = await store.submit([job('m:1', 'normal')], T0 + 30_000, BIG);
      const early = await store.position(normal?.id as string, T0 + 30_000);
      expect(early).toBe(1);
      // One aging period later the low job ranks as normal and, being older, goes first.
      const later = T0 + SETTINGS.agingMs;
      expect(await store.position(low?.id as string, later)).toBe(1);
      const [first] = await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: later });
      expect(first?.id).toBe(low?.id);
    });

    it('claims only the asked models, marks them running and records the resolved model', async () => {
      const store = await open(SETTINGS);
      await store.submit([job('fleet'), job('other:1'), job('fleet:main')], T0, BIG);
      const claimed = await store.claim({
        models: ['fleet', 'fleet:main'],
        resolved: 'phi3:mini',
        limit: 5,
        now: T0 + 5,
      });
      expect(claimed.map((j) => j.model).sort()).toEqual(['fleet', 'fleet:main']);
      for (const j of claimed) {
        expect(j).toMatchObject({
          status: 'running',
          attempts: 1,
          resolved_model: 'phi3:mini',
          started_at: T0 + 5,
        });
      }
      expect(
        await store.claim({ models: ['fleet'], resolved: 'phi3:mini', limit: 5, now: T0 }),
      ).toEqual([]);
    });

    it('complete records the result once, and only for a running job', async () => {
      const store = await open(SETTINGS);
      const [submitted] = await store.submit([job('m:1')], T0, BIG);
      const id = submitted?.id as string;
      expect(await store.complete(id, { response: 'x' }, T0)).toBeUndefined();
      await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
      const done = await store.complete(id, { response: 'x', eval_count: 3 }, T0 + 9);
      expect(done).toMatchObject({
        status: 'complete',
        result: { response: 'x', eval_count: 3 },
        completed_at: T0 + 9,
      });
      expect(await store.complete(id, { response: 'y' }, T0 + 10)).toBeUndefined();
      expect((await store.get(id))?.result).toEqual({ response: 'x', eval_count: 3 });
    });

    it('requeue sends a job back, counting the attempt or not, and fails it when out of attempts', async () => {
      const store = await open(SETTINGS);
      const [submitted] = await store.submit([job('m:1')], T0, BIG);
      const id = submitted?.id as string;
      const claim = () => store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
      await claim();
      expect(await store.requeue(id, failure, false, T0)).toMatchObject({
        status: 'pending',
        attempts: 0,
      });
      for (let attempt = 1; attempt < SETTINGS.maxAttempts; attempt++) {
        await claim();
        expect(await store.requeue(id, failure, true, T0)).toMatchObject({
          status: 'pending',
          attempts: attempt,
          error: failure,
        });
      }
      await claim();
      const failed = await store.requeue(id, failure, true, T0 + 1);
      expect(failed).toMatchObject({ status: 'failed', attempts: 3, completed_at: T0 + 1 });
      expect(failed?.error?.code).toBe('FLEET_ERR_JOB_ATTEMPTS');
      expect(failed?.error?.message).toContain('llama runner process has terminated');
    });

    it('fail and cancel end a job once; a finished job cannot be cancelled', async () => {
      const store = await open(SETTINGS);
      const [a, b] = await store.submit([job('m:1'), job('m:1')], T0, BIG);
      expect(await store.fail(a?.id as string, failure, T0)).toMatchObject({
        status: 'failed',
        error: failure,
      });
      expect(await store.cancel(a?.id as string, T0)).toBeUndefined();
      await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
      expect(await store.cancel(b?.id as string, T0 + 2)).toMatchObject({
        status: 'cancelled',
        completed_at: T0 + 2,
      });
      expect(await store.complete(b?.id as string, { response: 'late' }, T0)).toBeUndefined();
    });

    it('recover puts interrupted jobs back, and fails those out of attempts', async () => {
      const store = await open({ ...SETTINGS, maxAttempts: 1 });
      const [a] = await store.submit([job('m:1')], T0, BIG);
      await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
      const relaxed = await open(SETTINGS);
      const [b] = await relaxed.submit([job('m:1')], T0, BIG);
      await relaxed.claim({ models: ['m:1'], resolved: 'm:1', limit: 1, now: T0 });
      expect(await store.recover(T0 + 1)).toEqual({ requeued: 0, failed: 1, cancelled: 0 });
      expect((await store.get(a?.id as string))?.status).toBe('failed');
      expect(await relaxed.recover(T0 + 1)).toEqual({ requeued: 1, failed: 0, cancelled: 0 });
      expect(await relaxed.get(b?.id as string)).toMatchObject({
        status: 'pending',
        attempts: 1,
        resolved_model: null,
      });
    });

    it("keeps a caller's request as sent, its path on Ollama, and whether a caller waits", async () => {
      const store = await open(SETTINGS);
      const request = {
        model: 'fleet',
        messages: [{ role: 'user', content: 'hi', images: ['aGk='] }],
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
        think: 'high',
        stream_options: { include_usage: true },
        an_unknown_field: [1, { deep: null }],
      };
      const [saved] = await store.submit(
        [
          {
            ...job('fleet'),
            kind: 'chat',
            endpoint: '/v1/chat/completions',
            request,
            attached: true,
          },
        ],
        T0,
        BIG,
      );
      expect(await store.get(saved?.id as string)).toMatchObject({
        endpoint: '/v1/chat/completions',
        attached: true,
        request,
      });
    });

    it('recover cancels the jobs whose caller waited on a connection, and only those', async () => {
      const store = await open(SETTINGS);
      const [waiting, running, done, detached] = await store.submit(
        [
          { ...job('m:1'), attached: true },
          { ...job('m:1'), attached: true },
          { ...job('m:2'), attached: true },
          job('m:1'),
        ],
        T0,
        BIG,
      );
      const [claimed] = await store.claim({ models: ['m:2'], resolved: 'm:2', limit: 1, now: T0 });
      await store.complete(claimed?.id as string, { response: 'x' }, T0);
      await store.claim({ models: ['m:1'], resolved: 'm:1', limit: 3, now: T0 });
      expect(await store.recover(T0 + 1)).toEqual({ requeued: 1, failed: 0, cancelled: 2 });
      expect((await store.get(waiting?.id as string))?.status).toBe('cancelled');
      expect((await store.get(running?.id as string))?.status).toBe('cancelled');
      expect((await store.get(done?.id as string))?.status).toBe('complete');
      expect((await store.get(detached?.id as string))?.status).toBe('pending');
    });

    it('gives back the job a repeated idempotency key made, in one submit or across submits', async () => {
      const store = await open(SETTINGS);
      const keyed = (key: string) => ({ ...job('m:1'), idempotency_key: key });
      const [first] = await store.submit([keyed('k-1')], T0, BIG);
      const [again, other, twice] = await store.submit(
        [keyed('k-1'), keyed('k-2'), keyed('k-2')],
        T0 + 1,
        BIG,
      );
      expect(again?.id).toBe(first?.id);
      expect(twice?.id).toBe(other?.id);
      expect(other?.id).not.toBe(first?.id);
      expect((await store.counts()).total).toBe(2);
      // A repeat does not count against the queue's bound: it adds nothing.
      await store.submit([keyed('k-1'), keyed('k-2')], T0 + 2, 2);
    });

    it('places every pending job as a full sort by effective rank, then age, would', async () => {
      const prio = ['high', 'normal', 'low'] as const;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ p: fc.integer({ min: 0, max: 2 }), dt: fc.nat(150_000) }), {
            minLength: 1,
            maxLength: 25,
          }),
          fc.nat(200_000),
          async (arrivals, wait) => {
            const store = await open(SETTINGS);
            let at = T0;
            const jobs = [];
            for (const a of arrivals) {
              at += a.dt;
              const [saved] = await store.submit([job('m:1', prio[a.p])], at, BIG);
              jobs.push({ id: saved?.id as string, p: a.p, at });
            }
            const now = at + wait;
            const rank = (j: { p: number; at: number }) =>
              Math.max(0, j.p - Math.floor((now - j.at) / SETTINGS.agingMs));
            // Submission order is the tie-break (ids were handed out in that order).
            const expected = jobs
              .map((j, i) => ({ ...j, i }))
              .sort((x, y) => rank(x) - rank(y) || x.i - y.i)
              .map((j) => j.id);
            for (const j of jobs)
              expect(await store.position(j.id, now)).toBe(expected.indexOf(j.id) + 1);
            await store.close();
          },
        ),
        { numRuns: 40 },
      );
    });

    it('gives a batch the same places, at once, as it gives each job alone', async () => {
      const store = await open(SETTINGS);
      const priorities = ['low', 'high', 'normal'] as const;
      // Some already waiting and aged, then a batch large enough to take the batch path.
      await store.submit(
        Array.from({ length: 7 }, (_, i) => job('old:1', priorities[i % 3] as 'low')),
        T0,
        BIG,
      );
      const batch = await store.submit(
        Array.from({ length: 30 }, (_, i) => job(`m${i % 4}:1`, priorities[i % 3] as 'low')),
        T0 + SETTINGS.agingMs + 5,
        BIG,
      );
      const now = T0 + SETTINGS.agingMs + 10;
      const together = await store.positions(
        batch.map((j) => j.id),
        now,
      );
      const alone = await Promise.all(batch.map((j) => store.position(j.id, now)));
      expect(batch.map((j) => together.get(j.id))).toEqual(alone);
      expect(new Set(alone).size).toBe(30);
      expect(Math.max(...(alone as number[]))).toBeLessThanOrEqual(37);
    });

    it('reports demand per model, positions, counts, lists and prunes', async () => {
      const store = await open(SETTINGS);
      await store.submit([job('a:1', 'low'), job('a:1', 'high')], T0, BIG);
      const [b] = await store.submit([job('b:1', 'normal')], T0 + 10, BIG);
      const demand = (await store.demand(T0 + 20)).sort((x, y) => x.model.localeCompare(y.model));
      expect(demand).toEqual([
        { model: 'a:1', pending: 2, oldest_submitted_at: T0, best_rank: 0, best_priority: 'high' },
        {
          model: 'b:1',
          pending: 1,
          oldest_submitted_at: T0 + 10,
          best_rank: 1,
          best_priority: 'normal',
        },
      ]);
      expect(await store.position(b?.id as string, T0 + 20)).toBe(2);
      const [running] = await store.claim({ models: ['b:1'], resolved: 'b:1', limit: 1, now: T0 });
      expect(await store.position(running?.id as string, T0)).toBeUndefined();
      const counts = await store.counts();
      expect(counts.total).toBe(3);
      expect(counts.by_status).toMatchObject({ pending: 2, running: 1, complete: 0 });
      expect(counts.by_model).toEqual({
        'a:1': { pending: 2, queued: 0, running: 0 },
        'b:1': { pending: 0, queued: 0, running: 1 },
      });
      expect((await store.list({ limit: 10 })).map((j) => j.model)).toEqual(['b:1', 'a:1', 'a:1']);
      expect(await store.list({ status: 'running', limit: 10 })).toHaveLength(1);
      expect(await store.list({ model: 'b:1', limit: 10 })).toHaveLength(1);
      await store.complete(running?.id as string, { response: 'x' }, T0 + 100);
      expect(await store.prune(T0 + 50)).toBe(0);
      expect(await store.prune(T0 + 101)).toBe(1);
      expect((await store.counts()).total).toBe(2);
    });

    it('no job is lost or run twice (property)', async () => {
      type Op =
        | { op: 'submit'; n: number }
        | { op: 'claim'; n: number }
        | { op: 'finish'; pick: number; how: 'complete' | 'requeue' | 'cancel' | 'fail' };
      const ops = fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('submit' as const), n: fc.integer({ min: 1, max: 4 }) }),
          fc.record({ op: fc.constant('claim' as const), n: fc.integer({ min: 1, max: 3 }) }),
          fc.record({
            op: fc.constant('finish' as const),
            pick: fc.nat(),
            how: fc.constantFrom(
              'complete' as const,
              'requeue' as const,
              'cancel' as const,
              'fail' as const,
            ),
          }),
        ),
        { maxLength: 40 },
      );
      await fc.assert(
        fc.asyncProperty(ops, async (steps: Op[]) => {
          const store = await open(SETTINGS);
          const submitted = new Set<string>();
          const running = new Set<string>();
          const ended = new Set<string>();
          try {
            for (const step of steps) {
              if (step.op === 'submit') {
                for (const j of await store.submit(
                  Array.from({ length: step.n }, () => job('m:1')),
                  T0,
                  BIG,
                ))
                  submitted.add(j.id);
              } else if (step.op === 'claim') {
                for (const j of await store.claim({
                  models: ['m:1'],
                  resolved: 'm:1',
                  limit: step.n,
                  now: T0,
                })) {
                  expect(running.has(j.id) || ended.has(j.id)).toBe(false);
                  running.add(j.id);
                }
              } else if (running.size > 0) {
                const id = [...running][step.pick % running.size] as string;
                running.delete(id);
                const after =
                  step.how === 'complete'
                    ? await store.complete(id, { response: 'x' }, T0)
                    : step.how === 'requeue'
                      ? await store.requeue(id, failure, true, T0)
                      : step.how === 'cancel'
                        ? await store.cancel(id, T0)
                        : await store.fail(id, failure, T0);
                if (after && after.status !== 'pending') ended.add(id);
              }
            }
            const counts = await store.counts();
            expect(counts.total).toBe(submitted.size);
            expect(counts.by_status.running).toBe(running.size);
            expect(
              counts.by_status.complete + counts.by_status.failed + counts.by_status.cancelled,
            ).toBe(ended.size);
          } finally {
            await store.close();
          }
        }),
        { numRuns: 30 },
      );
    });
  });
}
