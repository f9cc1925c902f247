/**
 * The `queue` section: the shared job queue on PostgreSQL, two supervisors on one database,
 * against one supervisor on its embedded SQLite file, both measured in this run. Durable
 * submits per second (16 clients, the same count of jobs), and claim latency: from a job's
 * submit to its start, on idle supervisors with the model already loaded, so it is the
 * queue's time and not a model load's. Needs a PostgreSQL server: scripts/postgres-up.sh
 * starts the tests' one; when it cannot, the section says why instead of failing the run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  freePort,
  post,
  type ServeProcess,
  type SimProcess,
  startServe,
  startSim,
} from './processes.js';
import { percentile } from './stats.js';

const MODEL = 'qwen2.5:0.5b';
const CLIENTS = 16;

export interface SubmitRun {
  supervisors: number;
  jobs_per_s: number;
  /** The rate over the first and the last fifth of the jobs: the queue deepens as they come. */
  first_fifth_per_s: number;
  last_fifth_per_s: number;
  /** Rows in the store afterwards: every acknowledged submit, once. */
  stored: number;
}

export interface ClaimRun {
  supervisors: number;
  /** Submit to `started_at` (the job's own timestamps, milliseconds). */
  claim_ms: { p50: number | null; p95: number | null; min: number | null; max: number | null };
  /** The client's submit to the long-poll's answer that the job completed. */
  round_trip_ms: { p50: number | null; p95: number | null };
  /** Jobs run by a supervisor other than the one they were submitted to. */
  ran_elsewhere: number;
  /** Model loads during the measured jobs, over every simulator: 0 when it measures the queue. */
  loads: number;
}

export type QueueResult =
  | {
      measured: true;
      clients: number;
      /** Jobs per submit run, and jobs per claim run. */
      submit_jobs: number;
      claim_jobs: number;
      /** The server's settings that bear on a commit's cost. */
      server: { version: string; fsync: string; synchronous_commit: string };
      submits: { sqlite: SubmitRun; postgres_one: SubmitRun; postgres: SubmitRun };
      claim: { sqlite: ClaimRun; postgres_one: ClaimRun; postgres: ClaimRun };
      /** Two supervisors on PostgreSQL over one on SQLite (submits: higher is better). */
      ratios: { submits_per_s: number; claim_p50: number | null; claim_p95: number | null };
    }
  | { measured: false; why: string };

type QueueMeasured = Extract<QueueResult, { measured: true }>;

/** scripts/postgres-up.sh: the server's URL (its last line), or why it could not start. */
function postgresUp(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path.resolve('scripts/postgres-up.sh'),
      { timeout: 300_000 },
      (error, stdout, stderr) => {
        const last = (s: string) => s.trim().split('\n').at(-1) ?? '';
        if (error) reject(new Error(last(stderr) || error.message));
        else resolve(last(stdout));
      },
    );
  });
}

/** A database of the run's own on the server, so no test's jobs are in its queue. */
async function freshDatabase(server: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `fleet_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function serverSettings(server: string): Promise<QueueMeasured['server']> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    const show = async (name: string) =>
      String((await client.query(`SHOW ${name}`)).rows[0]?.[name] ?? '?');
    return {
      version: (await show('server_version')).split(' ')[0] as string,
      fsync: await show('fsync'),
      synchronous_commit: await show('synchronous_commit'),
    };
  } finally {
    await client.end();
  }
}

/** Rows in the store, read once its supervisors have gone. */
async function storedRows(queue: string | ServeProcess): Promise<number> {
  if (typeof queue !== 'string') {
    const db = new Database(path.join(queue.dir, 'state', 'jobs.db'), { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: queue });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM jobs');
    return rows[0]?.n as number;
  } finally {
    await client.end();
  }
}

const perSecond = (jobs: number, ms: number) => Math.round(jobs / (ms / 1000));

/** `jobs` submits by CLIENTS clients, each sending to one supervisor (spread over them). */
async function submitRun(
  urls: readonly string[],
  jobs: number,
): Promise<Omit<SubmitRun, 'stored' | 'supervisors'>> {
  let sent = 0;
  const doneAt: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const url = urls[c % urls.length] as string;
      while (sent < jobs) {
        sent++;
        const response = await post(`${url}/api/submit`, { model: MODEL, prompt: 'queued' });
        const body = await response.text();
        // A refused submit would make the rate meaningless: stop here and say why.
        if (!response.ok) throw new Error(`submit: ${response.status} ${body}`);
        doneAt.push(performance.now() - started);
      }
    }),
  );
  const fifth = Math.floor(jobs / 5);
  const at = (i: number) => doneAt[i] as number;
  return {
    jobs_per_s: perSecond(jobs, at(jobs - 1)),
    first_fifth_per_s: perSecond(fifth, at(fifth - 1)),
    last_fifth_per_s: perSecond(fifth, at(jobs - 1) - at(jobs - 1 - fifth)),
  };
}

/** Supervisors whose Ollama never answers: every job stays queued, so only the write counts. */
async function submits(queueUrl: string | undefined, supervisors: number, jobs: number) {
  const yaml = [
    'scheduler: { queue_max_size: 10000000 }',
    ...(queueUrl ? [`queue: { url: "${queueUrl}", lease: 30s }`] : []),
  ].join('\n');
  const serves: ServeProcess[] = [];
  try {
    for (let i = 0; i < supervisors; i++)
      serves.push(await startServe(`http://127.0.0.1:${await freePort()}`, yaml));
    const run = await submitRun(
      serves.map((s) => s.url),
      jobs,
    );
    await Promise.all(serves.map((s) => s.stop()));
    const stored = await storedRows(queueUrl ?? (serves[0] as ServeProcess));
    return { supervisors, ...run, stored };
  } finally {
    await Promise.all(serves.map((s) => s.stop()));
  }
}

interface JobView {
  status: string;
  backend: string | null;
  submitted_at: string;
  started_at?: string;
}

/** Submits one job to a supervisor and long-polls it there until it ends. */
async function oneJob(url: string): Promise<{ job: JobView; ms: number }> {
  const started = performance.now();
  const response = await post(`${url}/api/submit`, {
    model: MODEL,
    prompt: 'hi',
    options: { num_predict: 1 },
  });
  const { job_id } = (await response.json()) as { job_id: string };
  for (;;) {
    const job = (await (await fetch(`${url}/api/job/${job_id}?wait=30`)).json()) as JobView;
    if (job.status === 'complete') return { job, ms: performance.now() - started };
    if (job.status === 'failed' || job.status === 'cancelled')
      throw new Error(`a claim-latency job ended ${job.status}`);
  }
}

/**
 * Jobs one at a time, each to the next supervisor in turn, with a pause between them so that
 * every one finds the supervisors idle; each supervisor has its own simulator with the model
 * loaded before the first.
 */
async function claims(queueUrl: string | undefined, supervisors: number, jobs: number) {
  const sims: SimProcess[] = [];
  const serves: ServeProcess[] = [];
  try {
    for (let i = 0; i < supervisors; i++) {
      // At 0.01 a one-token answer takes well under a millisecond; ten hours' keep-alive (six
      // minutes here) keeps the model loaded throughout.
      const sim = await startSim({ vramMib: 8192, timeScale: 0.01 });
      sims.push(sim);
      const yaml = [
        'scheduler: { keep_alive: 10h }',
        ...(queueUrl ? [`queue: { url: "${queueUrl}", lease: 30s }`] : []),
      ].join('\n');
      // A backend name each, so a job's `backend` says which supervisor ran it.
      serves.push(await startServe([{ name: `s${i}`, url: sim.url }], yaml));
    }
    // The model loaded on every card straight away, rather than by whichever supervisor
    // claims first; then time for each supervisor's monitor (every second) to see it.
    await Promise.all(
      sims.map((s) => s.post('/api/generate', { model: MODEL, keep_alive: '10h' })),
    );
    await new Promise((r) => setTimeout(r, 1_500));
    // Two unmeasured jobs per supervisor: connections open, code warm.
    for (let i = 0; i < 2 * supervisors; i++)
      await oneJob((serves[i % supervisors] as ServeProcess).url);
    const loadsBefore = sims.reduce((a, s) => a + s.loads(), 0);
    const claim: number[] = [];
    const trip: number[] = [];
    let elsewhere = 0;
    for (let i = 0; i < jobs; i++) {
      const to = i % supervisors;
      const { job, ms } = await oneJob((serves[to] as ServeProcess).url);
      claim.push(Date.parse(job.started_at as string) - Date.parse(job.submitted_at));
      trip.push(ms);
      if (job.backend !== `s${to}`) elsewhere++;
      // Pauses of 20 to 119 ms, so that submits do not fall in step with the 100 ms loop.
      await new Promise((r) => setTimeout(r, 20 + ((i * 37) % 100)));
    }
    const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
    return {
      supervisors,
      claim_ms: {
        p50: percentile(claim, 50),
        p95: percentile(claim, 95),
        min: Math.min(...claim),
        max: Math.max(...claim),
      },
      round_trip_ms: { p50: round(percentile(trip, 50)), p95: round(percentile(trip, 95)) },
      ran_elsewhere: elsewhere,
      loads: sims.reduce((a, s) => a + s.loads(), 0) - loadsBefore,
    };
  } finally {
    await Promise.all(serves.map((s) => s.stop()));
    await Promise.all(sims.map((s) => s.stop()));
  }
}

export async function measureQueue(quick: boolean): Promise<QueueResult> {
  let server: string;
  try {
    server = await postgresUp();
  } catch (err) {
    return {
      measured: false,
      why: `scripts/postgres-up.sh could not start PostgreSQL: ${(err as Error).message}`,
    };
  }
  const submitJobs = quick ? 1_000 : 5_000;
  const claimJobs = quick ? 30 : 100;
  // One database per run of the store, dropped after: each starts from an empty queue.
  const databases: { url: string; drop(): Promise<void> }[] = [];
  const fresh = async () => {
    const db = await freshDatabase(server);
    databases.push(db);
    return db.url;
  };
  try {
    const settings = await serverSettings(server);
    const s = {
      sqlite: await submits(undefined, 1, submitJobs),
      postgres_one: await submits(await fresh(), 1, submitJobs),
      postgres: await submits(await fresh(), 2, submitJobs),
    };
    const c = {
      sqlite: await claims(undefined, 1, claimJobs),
      postgres_one: await claims(await fresh(), 1, claimJobs),
      postgres: await claims(await fresh(), 2, claimJobs),
    };
    const ratio = (a: number | null, b: number | null) =>
      a !== null && b ? Math.round((a / b) * 100) / 100 : null;
    return {
      measured: true,
      clients: CLIENTS,
      submit_jobs: submitJobs,
      claim_jobs: claimJobs,
      server: settings,
      submits: s,
      claim: c,
      ratios: {
        submits_per_s: ratio(s.postgres.jobs_per_s, s.sqlite.jobs_per_s) as number,
        claim_p50: ratio(c.postgres.claim_ms.p50, c.sqlite.claim_ms.p50),
        claim_p95: ratio(c.postgres.claim_ms.p95, c.sqlite.claim_ms.p95),
      },
    };
  } catch (err) {
    // The server is shared with the tests and may go away mid-run: the rest of the bench stands.
    return { measured: false, why: `failed: ${(err as Error).message}` };
  } finally {
    for (const db of databases) await db.drop().catch(() => {});
  }
}
