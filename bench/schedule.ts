/**
 * One workload, run straight against Ollama (the simulator) or through ollama-fleet, with
 * the same jobs at the same arrival times.
 */
import type { Priority } from '../src/queue/job.js';
import { post, type ServeProcess, type SimProcess } from './processes.js';
import type { JobOutcome } from './stats.js';
import type { BenchJob } from './workloads.js';

const OOM_TEXT =
  /out of memory|unable to allocate|cudaMalloc failed|unexpectedly stopped|resource limitations/i;

/**
 * Sleeps until `job` arrives on the scaled clock, and gives that time: a job that finds every
 * client busy has still arrived, and its wait counts from then.
 */
async function arrival(startedAt: number, job: BenchJob, timeScale: number): Promise<number> {
  const due = startedAt + job.at * timeScale;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return due;
}

/** Ollama's own timing fields (simulated ns): the work, less any load it waited for. */
function workMs(fields: { total_duration?: number; load_duration?: number } | undefined): number {
  if (!fields?.total_duration) return 0;
  return (fields.total_duration - (fields.load_duration ?? 0)) / 1e6;
}

/**
 * Direct: `clients` workers take the jobs in arrival order, each sending one request at a
 * time (streamed, so the first byte marks the start), as scripts sharing a server do.
 */
export async function runDirect(
  jobs: readonly BenchJob[],
  sim: SimProcess,
  clients: number,
  timeScale: number,
): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  const startedAt = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as BenchJob;
        const at = await arrival(startedAt, job, timeScale);
        outcomes.push({ ...(await sendDirect(sim.url, job)), arrival: at, priority: job.priority });
      }
    }),
  );
  return outcomes;
}

async function sendDirect(
  url: string,
  job: BenchJob,
): Promise<Omit<JobOutcome, 'arrival' | 'priority'>> {
  const body =
    job.kind === 'embed'
      ? { model: job.model, input: job.prompt }
      : { model: job.model, prompt: job.prompt, stream: true };
  try {
    const response = await post(`${url}/api/${job.kind}`, body);
    if (!response.ok || !response.body) {
      const text = await response.text();
      return {
        start: undefined,
        end: Date.now(),
        ok: false,
        oom: OOM_TEXT.test(text),
        workMs: 0,
        reason: `HTTP ${response.status}: ${text.slice(0, 80)}`,
      };
    }
    let start: number | undefined;
    let text = '';
    for await (const chunk of response.body) {
      start ??= Date.now();
      text += Buffer.from(chunk).toString('utf8');
    }
    const end = Date.now();
    // A stream can end in an error line when the runner dies mid-answer.
    const failed = /"error"\s*:/.test(text);
    const last = text.trim().split('\n').at(-1) ?? '{}';
    return {
      start,
      end,
      ok: !failed,
      oom: failed && OOM_TEXT.test(text),
      workMs: failed ? 0 : workMs(JSON.parse(last)),
      ...(failed ? { reason: `stream error: ${last.slice(0, 80)}` } : {}),
    };
  } catch (err) {
    return {
      start: undefined,
      end: Date.now(),
      ok: false,
      oom: false,
      workMs: 0,
      reason: (err as Error).message,
    };
  }
}

/**
 * Through ollama-fleet: each job is submitted when it arrives (a queue takes work without
 * holding a connection), then its record says when it started and finished.
 */
export async function runFleet(
  jobs: readonly BenchJob[],
  fleet: ServeProcess,
  timeScale: number,
): Promise<JobOutcome[]> {
  const startedAt = Date.now();
  const submitted: Promise<{ id: string; arrival: number; priority: Priority }>[] = [];
  for (const job of jobs) {
    const at = await arrival(startedAt, job, timeScale);
    submitted.push(
      postOk(`${fleet.url}/api/submit`, {
        model: job.model,
        priority: job.priority,
        ...(job.kind === 'embed' ? { input: job.prompt } : { prompt: job.prompt }),
      }).then((r) => ({
        id: (r as { job_id: string }).job_id,
        arrival: at,
        priority: job.priority,
      })),
    );
  }
  const outcomes: JobOutcome[] = [];
  for (const { id, arrival: at, priority } of await Promise.all(submitted)) {
    for (;;) {
      const job = (await (await fetch(`${fleet.url}/api/job/${id}?wait=30`)).json()) as {
        status: string;
        started_at: string | null;
        completed_at: string | null;
        error: { code: string; message: string } | null;
        result: { total_duration?: number; load_duration?: number } | null;
      };
      if (!['complete', 'failed', 'cancelled'].includes(job.status)) continue;
      outcomes.push({
        priority,
        arrival: at,
        start: job.started_at ? Date.parse(job.started_at) : undefined,
        end: job.completed_at ? Date.parse(job.completed_at) : undefined,
        ok: job.status === 'complete',
        oom: job.status !== 'complete' && OOM_TEXT.test(job.error?.message ?? ''),
        ...(job.error ? { reason: `${job.error.code}: ${job.error.message.slice(0, 120)}` } : {}),
        workMs: workMs(job.result ?? undefined),
      });
      break;
    }
  }
  return outcomes;
}

async function postOk(url: string, body: unknown): Promise<unknown> {
  const response = await post(url, body);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}
