/**
 * A job run on behalf of a caller that waits on the line (the Ollama- and OpenAI-compatible
 * routes): submitted like any job, then followed as events until it ends. A job sent back to
 * the queue (an OOM) runs again from the start; the text the caller already has is not sent
 * twice. Cancelling (the caller went away) cancels the job.
 */
import type { FastifyReply } from 'fastify';
import type { JobEvent, JobEvents } from '../queue/events.js';
import type { GroupCommit } from '../queue/group-commit.js';
import { FINAL_STATUSES, type Job, type NewJob } from '../queue/job.js';
import type { JobStore } from '../queue/store.js';

export type RunEvent =
  | { type: 'running'; model: string }
  | { type: 'token'; text: string }
  | { type: 'done'; job: Job };

export interface JobRunDeps {
  store: JobStore;
  events: JobEvents;
  submits: GroupCommit;
  cancelRunning: (id: string) => void;
  now: () => number;
}

export interface JobRun {
  id: string;
  position: number | undefined;
  /** Running, tokens, then one `done` with the job as it ended (complete, failed, cancelled). */
  events(): AsyncGenerator<RunEvent>;
  cancel(): Promise<void>;
}

export async function runJob(deps: JobRunDeps, newJob: NewJob): Promise<JobRun> {
  const { job, position } = await deps.submits.submit(newJob);
  const queue: RunEvent[] = [];
  let wake: (() => void) | undefined;
  let sent = 0; // characters the caller has
  let replay = 0; // characters of a re-run not yet past what was sent
  let ended = false;
  const push = (event: RunEvent) => {
    queue.push(event);
    wake?.();
  };
  const onEvent = (event: JobEvent) => {
    if (event.type === 'running') push({ type: 'running', model: modelOf(event.job) });
    else if (event.type === 'requeued') replay = sent;
    else if (event.type === 'token') {
      let text = event.text;
      if (replay > 0) {
        const skip = Math.min(replay, text.length);
        replay -= skip;
        text = text.slice(skip);
      }
      if (text === '') return;
      sent += text.length;
      push({ type: 'token', text });
    } else if (FINAL_STATUSES.has(event.type as Job['status'])) {
      ended = true;
      push({ type: 'done', job: (event as { job: Job }).job });
    }
  };
  const unsubscribe = deps.events.subscribe(job.id, onEvent);
  // It may have ended between the write and the subscription.
  const current = await deps.store.get(job.id);
  if (current && FINAL_STATUSES.has(current.status) && !ended) {
    ended = true;
    push({ type: 'done', job: current });
  }
  return {
    id: job.id,
    position,
    async *events() {
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            yield next;
            if (next.type === 'done') return;
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        unsubscribe();
      }
    },
    async cancel() {
      unsubscribe();
      if (ended) return;
      const before = await deps.store.get(job.id);
      const cancelled = await deps.store.cancel(job.id, deps.now());
      if (!cancelled) return;
      if (before?.status === 'running' || before?.status === 'queued') deps.cancelRunning(job.id);
      deps.events.publish(job.id, { type: 'cancelled', job: cancelled });
    },
  };
}

/** The model the job ran on: the rung an alias resolved to, or the name it was given. */
export function modelOf(job: Job): string {
  return job.resolved_model ?? job.model;
}

/** How a dialect (Ollama's NDJSON, OpenAI's server-sent events) frames a job's answer. */
export interface Framing {
  contentType: string;
  /** One streamed piece of text, as the bytes to write. */
  chunk(model: string, piece: string, first: boolean): string;
  /** The bytes that end a stream: the final frame, or the error. */
  end(job: Job): string;
  /** The whole answer of a job that completed, when not streaming. */
  whole(job: Job): unknown;
  /** The body of a job that did not complete, when not streaming (sent with status 500). */
  failure(job: Job): unknown;
}

/**
 * Answers a caller from its job: streamed as the tokens come, or once at the end. The job's
 * id and its place in line go in headers; the caller leaving before the end cancels the job.
 */
export async function respond(
  reply: FastifyReply,
  run: JobRun,
  stream: boolean,
  framing: Framing,
): Promise<unknown> {
  let finished = false;
  // The response closing before the job ended: the caller went away.
  reply.raw.once('close', () => {
    // At shutdown the store may already be closed: the job then simply stays queued.
    if (!finished)
      run.cancel().catch((err: Error) => reply.log.warn({ err }, `could not cancel job ${run.id}`));
  });
  const headers: Record<string, string> = { 'x-fleet-job': run.id };
  if (run.position !== undefined) headers['x-fleet-queue-position'] = String(run.position);
  if (!stream) {
    for await (const event of run.events()) {
      if (event.type !== 'done') continue;
      finished = true;
      if (event.job.status !== 'complete')
        return reply.headers(headers).status(500).send(framing.failure(event.job));
      return reply.headers(headers).send(framing.whole(event.job));
    }
    return undefined;
  }
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': framing.contentType,
    'cache-control': 'no-cache',
    ...headers,
  });
  let model = '';
  let first = true;
  for await (const event of run.events()) {
    if (event.type === 'running') model = event.model;
    else if (event.type === 'token') {
      reply.raw.write(framing.chunk(model, event.text, first));
      first = false;
    } else {
      finished = true;
      reply.raw.end(framing.end(event.job));
    }
  }
  return reply;
}
