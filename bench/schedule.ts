/**
 * One workload, run straight against Ollama (the simulator) or through ollama-fleet, with
 * the same jobs at the same arrival times.
 */
import type { Priority } from '../src/queue/job.js';
import { type BackendTarget, post, type ServeProcess, type SimProcess } from './processes.js';
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
export function runDirect(
  jobs: readonly BenchJob[],
  sim: SimProcess,
  clients: number,
  timeScale: number,
): Promise<JobOutcome[]> {
  return runRouted(jobs, [{ name: 'default', url: sim.url }], clients, timeScale, 'round-robin');
}

/**
 * How clients without ollama-fleet share several Ollamas, each request sent straight to one.
 * round-robin: each server in turn, as a plain client with a list of URLs does; an error is the
 * job's failure. least-connections: the server with the fewest requests open (ties in turn),
 * as a load balancer does; a request whose connection is refused goes once to another server,
 * but one cut off mid-answer is not sent again (a POST is not safe to repeat), as nginx's
 * least_conn with its default proxy_next_upstream does.
 */
export type Routing = 'round-robin' | 'least-connections';

/** Direct, over `servers`: the same clients as runDirect, each request routed by `routing`. */
export async function runRouted(
  jobs: readonly BenchJob[],
  servers: readonly BackendTarget[],
  clients: number,
  timeScale: number,
  routing: Routing,
): Promise<JobOutcome[]> {
  const open = servers.map(() => 0);
  let turn = 0;
  const pick = (except?: number): number => {
    const candidates = servers.map((_, i) => i).filter((i) => i !== except);
    const first = turn++;
    if (routing === 'round-robin') return candidates[first % candidates.length] as number;
    const fewest = Math.min(...candidates.map((i) => open[i] as number));
    const tied = candidates.filter((i) => open[i] === fewest);
    return tied[first % tied.length] as number;
  };
  const send = async (job: BenchJob, server: number) => {
    open[server] = (open[server] as number) + 1;
    try {
      const { name, url } = servers[server] as BackendTarget;
      return { ...(await sendDirect(url, job)), backend: name };
    } finally {
      open[server] = (open[server] as number) - 1;
    }
  };
  const outcomes: JobOutcome[] = [];
  const startedAt = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as BenchJob;
        const at = await arrival(startedAt, job, timeScale);
        const server = pick();
        let outcome = await send(job, server);
        const retry = outcome.refused && routing === 'least-connections' && servers.length > 1;
        if (retry) outcome = await send(job, pick(server));
        const { refused: _, ...seen } = outcome;
        outcomes.push({
          ...seen,
          arrival: at,
          priority: job.priority,
          ...(retry ? { sentAgain: true } : {}),
        });
      }
    }),
  );
  return outcomes;
}

/** One request; `refused` when it never reached the server (nothing was sent). */
async function sendDirect(
  url: string,
  job: BenchJob,
): Promise<Omit<JobOutcome, 'arrival' | 'priority'> & { refused: boolean }> {
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
        refused: false,
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
      refused: false,
    };
  } catch (err) {
    // fetch says only "fetch failed"; its cause says how (ECONNREFUSED, the socket closed).
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const how = cause?.code ?? cause?.message;
    return {
      start: undefined,
      end: Date.now(),
      ok: false,
      oom: false,
      workMs: 0,
      reason: how ? `${(err as Error).message} (${how})` : (err as Error).message,
      refused: cause?.code === 'ECONNREFUSED',
    };
  }
}

/**
 * Through ollama-fleet: each job is submitted when it arrives (a queue takes work without
 * holding a connection), then its record says when it started and finished. A job not
 * finished by `deadline` (epoch ms), when given, counts as lost rather than waited for.
 */
export async function runFleet(
  jobs: readonly BenchJob[],
  fleet: ServeProcess,
  timeScale: number,
  deadline = Number.POSITIVE_INFINITY,
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
      const wait = Math.min(30, Math.max(0, (deadline - Date.now()) / 1000));
      const job = (await (await fetch(`${fleet.url}/api/job/${id}?wait=${wait}`)).json()) as {
        status: string;
        backend: string | null;
        started_at: string | null;
        completed_at: string | null;
        error: { code: string; message: string } | null;
        /** Why it last went back to the queue, on a job that did not fail. */
        last_error?: { code: string };
        result: { total_duration?: number; load_duration?: number } | null;
      };
      const final = ['complete', 'failed', 'cancelled'].includes(job.status);
      if (!final && Date.now() < deadline) continue;
      if (!final) {
        outcomes.push({
          priority,
          arrival: at,
          start: undefined,
          end: undefined,
          ok: false,
          oom: false,
          lost: true,
          reason: `still ${job.status} at the deadline`,
          workMs: 0,
          ...(job.backend ? { backend: job.backend } : {}),
        });
        break;
      }
      outcomes.push({
        priority,
        arrival: at,
        start: job.started_at ? Date.parse(job.started_at) : undefined,
        end: job.completed_at ? Date.parse(job.completed_at) : undefined,
        ok: job.status === 'complete',
        oom: job.status !== 'complete' && OOM_TEXT.test(job.error?.message ?? ''),
        ...(job.error ? { reason: `${job.error.code}: ${job.error.message.slice(0, 120)}` } : {}),
        workMs: workMs(job.result ?? undefined),
        ...(job.backend ? { backend: job.backend } : {}),
        ...(job.last_error ? { sentAgain: true } : {}),
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
