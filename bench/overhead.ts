/**
 * What ollama-fleet costs per request: added latency against the same request sent straight
 * to the simulator, durable submits per second against the same server's cheapest route,
 * memory with a deep queue, and the planner's time per decision.
 */
import { performance } from 'node:perf_hooks';
import { type DemandGroup, type LoadedState, plan } from '../src/scheduler/planner.js';
import { freePort, post, startServe, startSim } from './processes.js';
import { type Spread, spread } from './stats.js';

export interface OverheadResult {
  /** Milliseconds per request, sent one after another with the model loaded. */
  latency_ms: { direct: Spread; fleet: Spread; added_p50: number; added_p99: number };
  submits: { clients: number; jobs_per_s: number; health_per_s: number; ratio: number };
  rss: { idle_mb: number; queued_jobs: number; with_queue_mb: number };
  planner_us: Record<string, number>;
}

const MODEL = 'qwen2.5:0.5b';

/** Job round trip (submit, then the long-poll that returns when it is done) vs Ollama's. */
async function latency(requests: number): Promise<OverheadResult['latency_ms']> {
  // At 0.01 a one-token answer takes well under a millisecond; an hour's keep-alive (36 s
  // here) keeps the model loaded for the whole measurement.
  const sim = await startSim({ vramMib: 8192, timeScale: 0.01 });
  const fleet = await startServe(sim.url, 'scheduler: { keep_alive: 1h }');
  try {
    const direct: number[] = [];
    const viaFleet: number[] = [];
    const one = { model: MODEL, prompt: 'hi', options: { num_predict: 1 } };
    const roundTrip = async () => {
      const { job_id } = (await (await post(`${fleet.url}/api/submit`, one)).json()) as {
        job_id: string;
      };
      for (;;) {
        const job = (await (await fetch(`${fleet.url}/api/job/${job_id}?wait=30`)).json()) as {
          status: string;
        };
        if (job.status === 'complete') return;
        if (job.status === 'failed') throw new Error('a latency job failed');
      }
    };
    await roundTrip(); // loads the model
    for (let i = 0; i < requests; i++) {
      let t = performance.now();
      await (await post(`${sim.url}/api/generate`, { ...one, stream: false })).text();
      direct.push(performance.now() - t);
      t = performance.now();
      await roundTrip();
      viaFleet.push(performance.now() - t);
    }
    const d = spread(direct);
    const f = spread(viaFleet);
    const sub = (a: number | null, b: number | null) =>
      Math.round(((a ?? 0) - (b ?? 0)) * 100) / 100;
    return { direct: d, fleet: f, added_p50: sub(f.p50, d.p50), added_p99: sub(f.p99, d.p99) };
  } finally {
    await fleet.stop();
    await sim.stop();
  }
}

/** `clients` loops hammering one route for `ms`: completed requests per second. */
async function hammer(clients: number, ms: number, send: () => Promise<Response>): Promise<number> {
  const until = performance.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const response = await send();
        await response.arrayBuffer();
        if (response.ok) done++;
      }
    }),
  );
  return Math.round(done / (ms / 1000));
}

async function submits(clients: number, ms: number): Promise<OverheadResult['submits']> {
  // Ollama nowhere: every job stays queued, so this measures the durable write alone.
  const fleet = await startServe(
    `http://127.0.0.1:${await freePort()}`,
    'scheduler: { queue_max_size: 10000000 }',
  );
  try {
    const health = await hammer(clients, ms, () => fetch(`${fleet.url}/api/health`));
    const jobs = await hammer(clients, ms, () =>
      post(`${fleet.url}/api/submit`, { model: MODEL, prompt: 'queued' }),
    );
    return {
      clients,
      jobs_per_s: jobs,
      health_per_s: health,
      ratio: Math.round((jobs / health) * 100) / 100,
    };
  } finally {
    await fleet.stop();
  }
}

async function rss(queued: number): Promise<OverheadResult['rss']> {
  const fleet = await startServe(
    `http://127.0.0.1:${await freePort()}`,
    'scheduler: { queue_max_size: 10000000 }',
  );
  try {
    await new Promise((r) => setTimeout(r, 1_000));
    const idle = await fleet.rssBytes();
    const batch = Array.from({ length: 1000 }, (_, i) => ({ model: MODEL, prompt: `deep ${i}` }));
    for (let sent = 0; sent < queued; sent += batch.length) {
      const response = await post(`${fleet.url}/api/submit/batch`, { jobs: batch });
      if (!response.ok)
        throw new Error(`batch submit: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }
    // Let the scheduler loop see the whole queue a few times before reading.
    await new Promise((r) => setTimeout(r, 2_000));
    const mb = (b: number) => Math.round(b / 2 ** 20);
    return { idle_mb: mb(idle), queued_jobs: queued, with_queue_mb: mb(await fleet.rssBytes()) };
  } finally {
    await fleet.stop();
  }
}

/** Microseconds per plan with `models` models waiting and four loaded, busy. */
export function planTime(models: number, iterations: number): number {
  const now = Date.now();
  const demand: DemandGroup[] = Array.from({ length: models }, (_, i) => ({
    model: `model-${i}:latest`,
    submitted: [`model-${i}:latest`],
    pending: 1 + (i % 7),
    rank: i % 3,
    oldest: now - i * 1000,
  }));
  const loaded: LoadedState[] = demand
    .slice(0, 4)
    .map((d) => ({ model: d.model, bytes: 2 * 2 ** 30, running: 2 }));
  const input = {
    demand,
    loaded,
    capacity: { total: 24 * 2 ** 30, external: 0 },
    estimate: (model: string) => (2 + (model.length % 3)) * 2 ** 30,
    marginBytes: 2 ** 30,
    maxConcurrentPerModel: 20,
    maxWaitMs: 60_000,
    busy: false,
    now,
  };
  for (let i = 0; i < Math.min(iterations, 100); i++) plan(input);
  const t = performance.now();
  for (let i = 0; i < iterations; i++) plan(input);
  return Math.round(((performance.now() - t) / iterations) * 1000 * 100) / 100;
}

export async function measureOverhead(quick: boolean): Promise<OverheadResult> {
  return {
    latency_ms: await latency(quick ? 100 : 500),
    submits: await submits(16, quick ? 2_000 : 5_000),
    rss: await rss(100_000),
    planner_us: Object.fromEntries(
      [10, 100, 1000].map((n) => [String(n), planTime(n, n >= 1000 ? 200 : 2000)]),
    ),
  };
}
