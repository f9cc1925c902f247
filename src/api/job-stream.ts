/**
 * A job run on behalf of a caller that waits on the line (the Ollama- and OpenAI-compatible
 * routes): submitted like any job, then followed as events until it ends, and answered with
 * Ollama's own answer: its status, content type and every frame as it came.
 *
 * A job sent back to the queue (an OOM) before any of its answer reached the caller runs
 * again, and the caller gets the second run's answer whole. Once part of a streamed answer
 * has reached the caller, a second run cannot continue it: the stream ends with an error
 * frame, as Ollama ends a stream that breaks, and the job fails. The caller leaving cancels
 * the job; the supervisor shutting down ends the caller's wait with a 503 (or an error frame).
 */
import type { FastifyReply } from 'fastify';
import { Errors } from '../errors.js';
import { framingOf } from '../ollama/framing.js';
import type { JobEvent, JobEvents } from '../queue/events.js';
import type { GroupCommit } from '../queue/group-commit.js';
import { FINAL_STATUSES, type Job, type JobError, type NewJob } from '../queue/job.js';
import type { Jobs } from '../queue/jobs.js';
import type { JobStore } from '../queue/store.js';

export type RunEvent =
  | { type: 'head'; status: number; contentType: string }
  | { type: 'chunk'; data: string }
  /** The job went back to the queue after part of its answer reached the caller. */
  | { type: 'broken'; job: Job }
  /** The supervisor is shutting down: the job stays, this caller's wait ends. */
  | { type: 'shutdown' }
  | { type: 'done'; job: Job };

export interface JobRunDeps {
  store: JobStore;
  events: JobEvents;
  submits: GroupCommit;
  jobs: Jobs;
}

export interface JobRun {
  id: string;
  position: number | undefined;
  /** Ollama's head and frames, then one `done` (or `broken`, or `shutdown`). */
  events(): AsyncGenerator<RunEvent>;
  /** The caller went away: the job is cancelled, and `events` ends. */
  cancel(): Promise<void>;
  /** Ends the job as failed (its answer broke off); stops it if it runs again already. */
  fail(error: JobError): Promise<Job | undefined>;
}

export async function runJob(deps: JobRunDeps, newJob: NewJob): Promise<JobRun> {
  const { store, events } = deps;
  const { job, position } = await deps.submits.submit(newJob);
  const queue: RunEvent[] = [];
  let wake: (() => void) | undefined;
  let sent = 0; // frames that reached the caller
  let ended = false;
  const push = (event: RunEvent) => {
    queue.push(event);
    wake?.();
  };
  const end = (event: RunEvent) => {
    if (ended) return;
    ended = true;
    push(event);
  };
  const onEvent = (event: JobEvent) => {
    if (ended) return;
    if (event.type === 'requeued') {
      // Nothing reached the caller yet: the next run answers in full.
      if (sent > 0) end({ type: 'broken', job: event.job });
    } else if (event.type === 'head') {
      push(event);
    } else if (event.type === 'chunk') {
      sent++;
      push(event);
    } else if (FINAL_STATUSES.has(event.type as Job['status'])) {
      end({ type: 'done', job: (event as { job: Job }).job });
    }
  };
  const unsubscribe = events.subscribe(job.id, onEvent);
  const unclose = events.onClose(() => end({ type: 'shutdown' }));
  const stop = () => {
    unsubscribe();
    unclose();
  };
  // It may have ended between the write and the subscription.
  const current = await store.get(job.id);
  if (current && FINAL_STATUSES.has(current.status)) end({ type: 'done', job: current });
  return {
    id: job.id,
    position,
    async *events() {
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            yield next;
            if (next.type === 'done' || next.type === 'broken' || next.type === 'shutdown') return;
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        stop();
      }
    },
    async cancel() {
      stop();
      if (ended) return;
      try {
        // A job the engine claimed a moment ago is stopped too.
        const cancelled = await deps.jobs.cancel(job.id);
        end({ type: 'done', job: cancelled ?? (await store.get(job.id)) ?? job });
      } catch (err) {
        // The store may be closed at shutdown; the job stays, and start-up cancels it.
        end({ type: 'done', job });
        throw err;
      }
    },
    async fail(error) {
      return deps.jobs.fail(job.id, error, { stop: true });
    },
  };
}

/** The model the job ran on: the rung an alias resolved to, or the name it was given. */
export function modelOf(job: Job): string {
  return job.resolved_model ?? job.model;
}

/** How a dialect (Ollama's, OpenAI's) frames the errors that are the fleet's own. */
export interface Dialect {
  /** The body of an error answered before any of Ollama's answer was sent. */
  error(status: number, message: string, code: string): unknown;
  /** The frame that ends a stream that broke after it began. */
  streamError(message: string): string;
}

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
  const leave = () => {
    if (finished || gone) return;
    gone = true;
    run.cancel().catch((err: Error) => reply.log.warn({ err }, `could not cancel job ${run.id}`));
  };
  // The response closing before the job ended: the caller went away (perhaps already, while
  // the job was being submitted).
  reply.raw.once('close', leave);
  if (reply.raw.destroyed || reply.request.raw.socket.destroyed) leave();

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
      continue;
    }
    if (event.type === 'chunk') {
      if (!streaming && head && framingOf(head.contentType) !== 'whole') {
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
      continue;
    }
    finished = true;
    if (gone) return reply; // nobody to answer
    if (event.type === 'broken') {
      const message = `the answer broke off after it began (${event.job.error?.message ?? 'no reason given'}); the part already sent cannot be continued by another run`;
      await run
        .fail({ code: event.job.error?.code ?? 'FLEET_ERR_OLLAMA_RESPONSE', message })
        .catch((err: Error) => reply.log.warn({ err }, `could not fail job ${run.id}`));
      return endWithError(
        reply,
        dialect,
        streaming,
        headers,
        502,
        message,
        'FLEET_ERR_OLLAMA_RESPONSE',
      );
    }
    if (event.type === 'shutdown') {
      void reply.header('retry-after', '5');
      return endWithError(
        reply,
        dialect,
        streaming,
        headers,
        Errors.FLEET_ERR_SHUTTING_DOWN.status,
        'the supervisor is shutting down; send the request again once it is back',
        'FLEET_ERR_SHUTTING_DOWN',
      );
    }
    const { job } = event;
    if (job.status === 'complete') {
      if (streaming) return reply.raw.end();
      return reply
        .headers(headers)
        .status(head?.status ?? 200)
        .type(head?.contentType ?? 'application/json; charset=utf-8')
        .send(whole !== '' ? whole : JSON.stringify(job.result ?? {}));
    }
    const error = job.error;
    if (!streaming && error?.status !== undefined && error.body !== undefined) {
      // Ollama's own refusal: its status and its words, as it sent them.
      return reply
        .headers(headers)
        .status(error.status)
        .type(error.content_type ?? 'application/json; charset=utf-8')
        .send(error.body);
    }
    const message = error?.message ?? `the job was ${job.status}`;
    const status = error?.status ?? statusOf(job);
    return endWithError(reply, dialect, streaming, headers, status, message, error?.code);
  }
  return reply;
}

/** An error in the dialect: a last frame when the stream began, else a whole answer. */
function endWithError(
  reply: FastifyReply,
  dialect: Dialect,
  streaming: boolean,
  headers: Record<string, string>,
  status: number,
  message: string,
  code = 'FLEET_ERR_INTERNAL',
) {
  if (streaming) return reply.raw.end(dialect.streamError(message));
  return reply
    .headers(headers)
    .status(status)
    .send(dialect.error(status, message, code));
}

/** The status for a job that ended without an answer from Ollama. */
function statusOf(job: Job): number {
  if (job.status === 'cancelled') return Errors.FLEET_ERR_JOB_CANCELLED.status;
  const spec = (Errors as Record<string, { status: number } | undefined>)[job.error?.code ?? ''];
  return spec?.status ?? 500;
}
