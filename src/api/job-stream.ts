/**
 * A job run on behalf of a caller that waits on the line (the Ollama- and OpenAI-compatible
 * routes): submitted like any job, then followed as events until it ends, and answered with
 * Ollama's own answer: its status, content type and every frame as it came. A job sent back
 * to the queue (an OOM) runs again from the start; the frames the caller already has are not
 * sent twice. The caller leaving cancels the job.
 */
import type { FastifyReply } from 'fastify';
import { Errors } from '../errors.js';
import type { JobEvent, JobEvents } from '../queue/events.js';
import type { GroupCommit } from '../queue/group-commit.js';
import { FINAL_STATUSES, type Job, type NewJob } from '../queue/job.js';
import type { JobStore } from '../queue/store.js';

export type RunEvent =
  | { type: 'head'; status: number; contentType: string }
  | { type: 'chunk'; data: string }
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
  /** Ollama's head and frames, then one `done` with the job as it ended. */
  events(): AsyncGenerator<RunEvent>;
  cancel(): Promise<void>;
}

export async function runJob(deps: JobRunDeps, newJob: NewJob): Promise<JobRun> {
  const { job, position } = await deps.submits.submit(newJob);
  const queue: RunEvent[] = [];
  let wake: (() => void) | undefined;
  let sent = 0; // frames the caller has
  let skip = 0; // frames of a re-run not yet past what was sent
  let ended = false;
  const push = (event: RunEvent) => {
    queue.push(event);
    wake?.();
  };
  const onEvent = (event: JobEvent) => {
    if (event.type === 'requeued') {
      skip = sent;
    } else if (event.type === 'head') {
      push(event);
    } else if (event.type === 'chunk') {
      if (skip > 0) {
        skip--;
        return;
      }
      sent++;
      push(event);
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
      ended = true;
      const before = await deps.store.get(job.id);
      const cancelled = await deps.store.cancel(job.id, deps.now());
      // Whatever the job's end, the one following it here stops waiting.
      const last = cancelled ?? (await deps.store.get(job.id)) ?? before;
      if (last) push({ type: 'done', job: last });
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

/** How a dialect (Ollama's, OpenAI's) words the errors that are the fleet's own. */
export interface Dialect {
  /** The body of an error answered before any of Ollama's answer was sent. */
  error(status: number, message: string, code: string): unknown;
  /** The frame that ends a stream that broke after it began. */
  streamError(message: string): string;
}

const STREAMED_TYPES = ['application/x-ndjson', 'text/event-stream'];

/**
 * Answers a caller from its job with Ollama's answer unchanged: a stream is relayed frame by
 * frame once its first frame is there, so a failure before it still gets its real status;
 * a whole answer is sent once the job completed. The job's id and its place in line go in
 * headers; the caller leaving before the end cancels the job.
 */
export async function respond(
  reply: FastifyReply,
  run: JobRun,
  dialect: Dialect,
): Promise<unknown> {
  let finished = false;
  let gone = false;
  // The response closing before the job ended: the caller went away.
  reply.raw.once('close', () => {
    if (finished) return;
    gone = true;
    // At shutdown the store may already be closed: the job then stays, and start-up cancels it.
    run.cancel().catch((err: Error) => reply.log.warn({ err }, `could not cancel job ${run.id}`));
  });
  const headers: Record<string, string> = { 'x-fleet-job': run.id };
  if (run.position !== undefined) headers['x-fleet-queue-position'] = String(run.position);
  let head: { status: number; contentType: string } | undefined;
  let streaming = false;
  let whole = '';
  for await (const event of run.events()) {
    if (event.type === 'head') {
      if (!streaming) {
        head = event;
        whole = '';
      }
    } else if (event.type === 'chunk') {
      if (!streaming && head && STREAMED_TYPES.some((t) => head?.contentType.startsWith(t))) {
        streaming = true;
        reply.hijack();
        reply.raw.writeHead(head.status, {
          'content-type': head.contentType,
          'cache-control': 'no-cache',
          ...headers,
        });
      }
      if (streaming) reply.raw.write(event.data);
      else whole += event.data;
    } else {
      finished = true;
      if (gone) return reply; // nobody to answer
      const { job } = event;
      if (streaming) {
        reply.raw.end(job.status === 'failed' ? dialect.streamError(failureText(job)) : undefined);
        return reply;
      }
      void reply.headers(headers);
      if (job.status === 'complete') {
        return reply
          .status(head?.status ?? 200)
          .type(head?.contentType ?? 'application/json; charset=utf-8')
          .send(whole !== '' ? whole : JSON.stringify(job.result ?? {}));
      }
      const error = job.error;
      if (error?.status !== undefined && error.body !== undefined) {
        // Ollama's own refusal: its status and its words, as it sent them.
        return reply.status(error.status).type('application/json; charset=utf-8').send(error.body);
      }
      const status = error?.status ?? statusOf(job);
      return reply
        .status(status)
        .send(dialect.error(status, failureText(job), error?.code ?? 'FLEET_ERR_INTERNAL'));
    }
  }
  return reply;
}

function failureText(job: Job): string {
  return job.error?.message ?? `the job was ${job.status}`;
}

/** The status for a job that ended without an answer from Ollama. */
function statusOf(job: Job): number {
  if (job.status === 'cancelled') return Errors.FLEET_ERR_JOB_CANCELLED.status;
  const code = job.error?.code as keyof typeof Errors | undefined;
  return (code && Errors[code]?.status) || 500;
}
