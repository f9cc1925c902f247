/**
 * The engine against a stand-in Ollama backend (an OllamaBackend of plain functions: no HTTP,
 * a card of 8 GiB that fills as models load), on a real SQLite store: it makes room before it
 * loads, never holds more than the card, runs each job on the path it names, and an OOM
 * answer sends the job back and reports a hard incident. The stand-in is the point of the
 * interface: the same engine runs against `fleet sim` in the integration tests.
 */
import { describe, expect, it } from 'vitest';
import { BackendHealth } from '../../src/backends/health.js';
import { Engine, type Placer } from '../../src/engine/engine.js';
import type { ResourceSnapshot } from '../../src/gpu/snapshot.js';
import { OllamaCallError } from '../../src/ollama/client.js';
import { JobEvents } from '../../src/queue/events.js';
import { Jobs } from '../../src/queue/jobs.js';
import { SqliteJobStore } from '../../src/queue/sqlite-store.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';
import { job } from '../queue/conformance.js';

const GIB = 2 ** 30;
const SIZES: Record<string, number> = { 'big:1': 5 * GIB, 'mid:1': 3 * GIB, 'small:1': 1 * GIB };

interface StandInOptions {
  oomOnce?: string;
  /** The first request for this model runs until aborted (a long generation). */
  hang?: string;
  /** While true, the backend answers nothing (its process is gone). */
  away?: { now: boolean };
}

function standInBackend(options: StandInOptions = {}) {
  const loaded = new Map<string, number>();
  let peak = 0;
  const sent: { path: string; model: string }[] = [];
  let oom = options.oomOnce;
  let hung = false;
  const snapshot = (): ResourceSnapshot => {
    const used = [...loaded.values()].reduce((a, b) => a + b, 0);
    return {
      at: Date.now(),
      gpus: [
        {
          uuid: 'GPU-0',
          index: 0,
          name: 'stand-in',
          total: 8 * GIB,
          used,
          free: 8 * GIB - used,
          ollama: used,
          external: 0,
          source: 'nvidia-smi',
        },
      ],
      loaded: [...loaded].map(([name, bytes]) => ({
        name,
        size: bytes,
        size_vram: bytes,
        expires_at: new Date(Date.now() + 300_000).toISOString(),
        context_length: 4096,
      })),
      installed: Object.entries(SIZES).map(([name, size]) => ({ name, size })),
      telemetry: { available: true, at: Date.now() },
      ollama: { reachable: true },
      totals: { total: 8 * GIB, used, free: 8 * GIB - used },
    };
  };
  const client = {
    url: 'stand-in',
    async version() {
      if (options.away?.now) throw new OllamaCallError(0, '', 'connect ECONNREFUSED');
      return '0.12.3';
    },
    async ps() {
      return { models: [] };
    },
    async call(_route: string, body: Record<string, unknown>) {
      const model = String(body.model);
      if (body.keep_alive === 0) loaded.delete(model);
      else loaded.set(model, SIZES[model] ?? GIB);
      peak = Math.max(
        peak,
        [...loaded.values()].reduce((a, b) => a + b, 0),
      );
      return {};
    },
    async send(path: string, body: Record<string, unknown>, call: { signal?: AbortSignal }) {
      const model = String(body.model);
      sent.push({ path, model });
      if (options.hang === model && !hung) {
        hung = true;
        await new Promise((_resolve, reject) =>
          call.signal?.addEventListener('abort', () => reject(new Error('aborted')), {
            once: true,
          }),
        );
      }
      if (oom === model) {
        oom = undefined;
        throw new OllamaCallError(500, 'CUDA error: out of memory', 'CUDA error: out of memory');
      }
      const text = JSON.stringify({ model, response: 'ok', done: true });
      return {
        status: 200,
        contentType: 'application/json; charset=utf-8',
        body: (async function* () {
          yield Buffer.from(text);
        })(),
      };
    },
  };
  const monitor = {
    current: () => snapshot(),
    async refresh() {
      return snapshot();
    },
  };
  return { backend: { name: 'default', client, monitor }, sent, peak: () => peak };
}

async function run(
  options: StandInOptions & {
    sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
    health?: BackendHealth;
    placement?: Placer;
  } = {},
) {
  const store = new SqliteJobStore({
    stateDir: await tempDir(),
    settings: { agingMs: 60_000, maxAttempts: 3 },
    log: captureLogger().log,
  });
  const events = new JobEvents();
  const stand = standInBackend(options);
  const incidents: { model: string; severity: string }[] = [];
  let engine: Engine | undefined;
  const jobs = new Jobs(store, events, Date.now, (id) => engine?.cancel(id));
  engine = new Engine({
    store,
    jobs,
    backend: options.health ? { ...stand.backend, health: options.health } : stand.backend,
    ...(options.placement ? { placement: options.placement } : {}),
    events,
    log: captureLogger().log,
    schedulerLog: captureLogger().log,
    now: Date.now,
    estimate: (model) => SIZES[model],
    vramTotal: undefined,
    marginBytes: 512 * 2 ** 20,
    ladders: async () => [],
    maxConcurrentPerModel: 4,
    loopIntervalMs: 10,
    agingMs: 60_000,
    keepAlive: '5m',
    timeouts: { load: 10_000, request: 10_000 },
    onVramIncident: (i) => incidents.push({ model: i.model, severity: i.severity }),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  const stop = new AbortController();
  const done = engine.run(stop.signal);
  return { store, stand, incidents, stop, done, events };
}

async function untilFinal(store: SqliteJobStore, ids: string[]) {
  for (;;) {
    const statuses = await Promise.all(ids.map(async (id) => (await store.get(id))?.status));
    if (statuses.every((s) => s === 'complete' || s === 'failed')) return statuses;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the engine on an OllamaBackend', () => {
  it('runs jobs for three models on a card that holds two at a time, never over the card', async () => {
    const { store, stand, stop, done, events } = await run();
    const saved = await store.submit(
      ['big:1', 'mid:1', 'small:1', 'big:1', 'small:1'].map((m) => job(m)),
      Date.now(),
      100,
    );
    events.changed();
    const statuses = await untilFinal(
      store,
      saved.map((j) => j.id),
    );
    stop.abort();
    await done;
    expect(statuses.every((s) => s === 'complete')).toBe(true);
    // Never more than the card less the safety margin: big (5) and mid (3) never together.
    expect(stand.peak()).toBeLessThanOrEqual(7.5 * GIB);
    expect(stand.sent.every((s) => s.path === '/api/generate')).toBe(true);
  });

  it('an OOM answer sends the job back, reports a hard incident, and the job completes', async () => {
    const { store, stand, incidents, stop, done, events } = await run({ oomOnce: 'mid:1' });
    const [saved] = await store.submit([job('mid:1')], Date.now(), 100);
    events.changed();
    const [status] = await untilFinal(store, [saved?.id as string]);
    stop.abort();
    await done;
    expect(status).toBe('complete');
    expect((await store.get(saved?.id as string))?.attempts).toBe(2);
    expect(incidents).toEqual([{ model: 'mid:1', severity: 'hard' }]);
    expect(stand.sent.filter((s) => s.model === 'mid:1')).toHaveLength(2);
  });

  it('waits only through the sleep it is given (time is injected, no timer of its own)', async () => {
    const waits: number[] = [];
    // A clock that never waits: each pause ends at the next turn of the event loop.
    const sleep = (ms: number) => {
      waits.push(ms);
      return new Promise<void>((resolve) => setImmediate(resolve));
    };
    const { store, stop, done, events } = await run({ sleep });
    const [saved] = await store.submit([job('small:1')], Date.now(), 100);
    events.changed();
    const [status] = await untilFinal(store, [saved?.id as string]);
    stop.abort();
    await done;
    expect(status).toBe('complete');
    expect(waits.length).toBeGreaterThan(0);
    expect(new Set(waits)).toContain(10); // the loop interval, through the injected sleep
  });

  it('a backend gone down: what runs there returns to the queue with its attempt given back, nothing is claimed meanwhile, and work resumes when it answers', async () => {
    const away = { now: false };
    const health = new BackendHealth(Date.now);
    const { store, stop, done, events } = await run({ hang: 'mid:1', away, health });
    const [saved] = await store.submit([job('mid:1')], Date.now(), 100);
    const id = saved?.id as string;
    events.changed();
    for (;;) {
      if ((await store.get(id))?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    away.now = true;
    health.pollFailed('ECONNREFUSED');
    health.pollFailed('ECONNREFUSED');
    expect(health.state).toBe('down');
    for (;;) {
      if ((await store.get(id))?.status === 'pending') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const back = await store.get(id);
    expect(back).toMatchObject({ attempts: 0, error: { code: 'FLEET_ERR_OLLAMA_UNREACHABLE' } });
    expect(back?.error?.message).toContain('backend default stopped answering: ECONNREFUSED');
    // While it is down the job stays in the queue (no claim, no flicker through running).
    await new Promise((r) => setTimeout(r, 100));
    expect((await store.get(id))?.status).toBe('pending');
    away.now = false;
    health.answered();
    events.changed();
    const [status] = await untilFinal(store, [id]);
    stop.abort();
    await done;
    expect(status).toBe('complete');
    expect((await store.get(id))?.attempts).toBe(1);
  });

  it('among several backends, serves only the share placement gives it and fails what no backend can run', async () => {
    const placement: Placer = {
      share: () => ({
        models: new Set(['small:1']),
        impossible: [
          { model: 'big:1', code: 'FLEET_ERR_NO_BACKEND', reason: 'no backend may run big:1' },
        ],
      }),
    };
    const { store, stand, stop, done, events } = await run({ placement });
    const [small, mid, big] = await store.submit(
      ['small:1', 'mid:1', 'big:1'].map((m) => job(m)),
      Date.now(),
      100,
    );
    events.changed();
    const statuses = await untilFinal(store, [small?.id as string, big?.id as string]);
    stop.abort();
    await done;
    expect(statuses).toEqual(['complete', 'failed']);
    expect((await store.get(big?.id as string))?.error).toEqual({
      code: 'FLEET_ERR_NO_BACKEND',
      message: 'no backend may run big:1',
    });
    // mid:1 is another backend's: it waits, and this backend never loaded or ran it.
    expect((await store.get(mid?.id as string))?.status).toBe('pending');
    expect(stand.sent.map((x) => x.model)).toEqual(['small:1']);
    expect((await store.get(small?.id as string))?.backend).toBe('default');
  });

  it('high work preempts a low job in its way: the job goes back to the queue under its id, uncounted, never cancelled, and runs again', async () => {
    const { store, stop, done, events } = await run({ hang: 'big:1' });
    const seen: string[] = [];
    const [low] = await store.submit([job('big:1', 'low')], Date.now(), 100);
    const lowId = low?.id as string;
    events.tap((id, event) => {
      if (id === lowId) seen.push(event.type);
    });
    events.changed();
    for (;;) {
      if ((await store.get(lowId))?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // mid (3 GiB) does not fit beside big (5 GiB) on the 8 GiB card with the margin.
    const [high] = await store.submit([job('mid:1', 'high')], Date.now(), 100);
    events.changed();
    const statuses = await untilFinal(store, [high?.id as string, lowId]);
    stop.abort();
    await done;
    expect(statuses).toEqual(['complete', 'complete']);
    const after = await store.get(lowId);
    expect(after?.attempts).toBe(1);
    expect(after?.error).toMatchObject({ code: 'FLEET_ERR_PREEMPTED' });
    expect(seen).toContain('requeued');
    expect(seen).not.toContain('cancelled');
    // The high job finished before the low one ran again.
    const highJob = await store.get(high?.id as string);
    expect(highJob?.completed_at as number).toBeLessThanOrEqual(after?.started_at as number);
  });
});
