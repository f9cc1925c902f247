/** The job API: submit (one or a batch), read (with long-poll), follow (SSE), cancel, list. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Errors, FleetError } from '../../errors.js';
import type { JobEvent, JobEvents } from '../../queue/events.js';
import type { GroupCommit } from '../../queue/group-commit.js';
import { FINAL_STATUSES, JOB_STATUSES, type Job } from '../../queue/job.js';
import type { Jobs } from '../../queue/jobs.js';
import type { JobStore } from '../../queue/store.js';
import type { KnownModels } from '../../registry/known-models.js';
import { type SubmitContext, toNewJob } from '../submit-body.js';
import { parseBody } from '../validate.js';

export interface JobRoutesOptions {
  store: JobStore;
  limits: SubmitContext['limits'];
  events: JobEvents;
  known: KnownModels;
  ladders: readonly string[];
  queueMaxSize: number;
  now: () => number;
  /** Every change of a job's state and its event (cancelling stops a running request). */
  jobs: Jobs;
  /** True once shutdown began: no new work is taken. */
  closing: () => boolean;
  tokenConfigured: boolean;
  /** Submits that arrive together share one write (one per server). */
  submits: GroupCommit;
}

/** No new work once shutdown began (every route that takes jobs says so the same way). */
export function refuseNewWork(closing: () => boolean): void {
  if (closing()) {
    throw new FleetError(
      Errors.FLEET_ERR_SHUTTING_DOWN,
      'the supervisor is shutting down; submit again once it is back',
    );
  }
}

/** Who submits and what they may name, for toNewJob. */
export function submitContext(
  options: Pick<JobRoutesOptions, 'known' | 'ladders' | 'tokenConfigured' | 'limits'>,
  request: FastifyRequest,
): SubmitContext {
  const key = request.headers['idempotency-key'];
  return {
    known: options.known,
    ladders: options.ladders,
    client: options.tokenConfigured ? 'token' : request.ip,
    limits: options.limits,
    idempotencyKey: Array.isArray(key) ? key[0] : key,
  };
}

const MAX_WAIT_SECONDS = 120;
const HEARTBEAT_MS = 15_000;

const listQuery = z.strictObject({
  status: z
    .enum(JOB_STATUSES, { message: `expected one of ${JOB_STATUSES.join(', ')}` })
    .optional(),
  model: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const jobQuery = z.strictObject({
  wait: z.coerce.number().min(0, { message: 'expected seconds >= 0' }).optional(),
});

const batchBody = z.strictObject({ jobs: z.array(z.unknown()).min(1).max(1000) });

export function jobView(job: Job, position?: number) {
  const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());
  return {
    job_id: job.id,
    status: job.status,
    model: job.model,
    resolved_model: job.resolved_model,
    /** The Ollama backend that runs or ran it (`default` with a single Ollama). */
    backend: job.backend,
    kind: job.kind,
    priority: job.priority,
    attempts: job.attempts,
    metadata: job.metadata,
    ...(job.result ? { result: job.result } : {}),
    ...(job.error && job.status === 'failed' ? { error: job.error } : {}),
    ...(job.error && job.status !== 'failed' ? { last_error: job.error } : {}),
    submitted_at: iso(job.submitted_at),
    ...(job.started_at !== null ? { started_at: iso(job.started_at) } : {}),
    ...(job.completed_at !== null ? { completed_at: iso(job.completed_at) } : {}),
    ...(position !== undefined ? { position } : {}),
  };
}

export function jobRoutes(app: FastifyInstance, options: JobRoutesOptions): void {
  const { store, events, now } = options;

  const context = (request: FastifyRequest) => submitContext(options, request);

  const refuseWhenClosing = () => refuseNewWork(options.closing);

  const mustGet = async (id: string): Promise<Job> => {
    const job = await store.get(id);
    if (!job) throw new FleetError(Errors.FLEET_ERR_JOB_NOT_FOUND, `no job ${id}`);
    return job;
  };

  const { submits } = options;

  app.post('/api/submit', async (request, reply) => {
    refuseWhenClosing();
    const job = await toNewJob(request.body, context(request));
    const { job: created, position } = await submits.submit(job);
    return reply.status(202).send({ job_id: created.id, status: 'submitted', position });
  });

  app.post('/api/submit/batch', async (request, reply) => {
    refuseWhenClosing();
    const { jobs } = parseBody(batchBody, request.body);
    // One key cannot stand for many jobs: each job of a batch carries its own.
    const ctx = { ...context(request), idempotencyKey: undefined };
    const fresh = [];
    for (const [i, raw] of jobs.entries()) fresh.push(await toNewJob(raw, ctx, `body.jobs[${i}]`));
    const saved = await submits.batch(fresh);
    const answer = saved.map(({ job, position }) => ({
      job_id: job.id,
      status: 'submitted',
      position,
    }));
    return reply.status(202).send({ jobs: answer });
  });

  app.get<{ Params: { id: string } }>('/api/job/:id', async (request) => {
    const { wait } = parseBody(jobQuery, request.query, 'query');
    const id = request.params.id;
    if (wait !== undefined && wait > 0) {
      await untilFinal(events, store, id, Math.min(wait, MAX_WAIT_SECONDS), request);
    }
    const job = await mustGet(id);
    return jobView(job, job.status === 'pending' ? await store.position(id, now()) : undefined);
  });

  app.get<{ Params: { id: string } }>('/api/job/:id/events', async (request, reply) => {
    const job = await mustGet(request.params.id);
    streamEvents(request, reply, job, options);
  });

  app.delete<{ Params: { id: string } }>('/api/job/:id', async (request) => {
    const id = request.params.id;
    const before = await mustGet(id);
    const cancelled = await options.jobs.cancel(id);
    if (!cancelled) {
      throw new FleetError(
        Errors.FLEET_ERR_JOB_FINISHED,
        `job ${id} has already ended (${before.status})`,
      );
    }
    return jobView(cancelled);
  });

  app.get('/api/jobs', async (request) => {
    const query = parseBody(listQuery, request.query, 'query');
    const jobs = await store.list(query);
    return { jobs: jobs.map((job) => jobView(job)) };
  });
}

/** Resolves when the job ends, the time passes, the client leaves or the supervisor stops. */
async function untilFinal(
  events: JobEvents,
  store: JobStore,
  id: string,
  seconds: number,
  request: FastifyRequest,
) {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, seconds * 1000);
    const unsubscribe = events.subscribe(id, (event) => {
      if (isFinal(event)) done();
    });
    const unclose = events.onClose(done);
    request.raw.once('close', done);
    function done() {
      clearTimeout(timer);
      unsubscribe();
      unclose();
      request.raw.off('close', done);
      resolve();
    }
    // Subscribed first, then looked: a job that ended in between is not missed.
    store.get(id).then(
      (job) => {
        if (!job || FINAL_STATUSES.has(job.status)) done();
      },
      (err: Error) => {
        // The store cannot be read now: answer with what there is rather than wait blind.
        request.log.warn({ err, job: id }, 'could not read the job while long-polling');
        done();
      },
    );
  });
}

function isFinal(event: JobEvent): boolean {
  return event.type === 'complete' || event.type === 'failed' || event.type === 'cancelled';
}

/** Server-sent events: the job's state now, then queued/position/running/token/... to the end. */
function streamEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  job: Job,
  options: JobRoutesOptions,
): void {
  const { events, store, now } = options;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const send = (type: string, data: unknown) =>
    raw.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
    unclose();
    raw.end();
  };
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const unsubscribe = events.subscribe(job.id, (event) => {
    // Ollama's own frames are for the caller on the line; followers get the text as tokens.
    if (event.type === 'head' || event.type === 'chunk') return;
    if (event.type === 'token') send('token', { text: event.text });
    else if (event.type === 'position') send('position', { position: event.position });
    else if (event.type === 'queued')
      send('queued', { ...jobView(event.job), position: event.position });
    else send(event.type, jobView(event.job));
    if (isFinal(event)) end();
  });
  const unclose = events.onClose(end);
  request.raw.once('close', end);
  (async () => {
    const current = (await store.get(job.id)) ?? job;
    if (FINAL_STATUSES.has(current.status)) {
      send(current.status, jobView(current));
      end();
    } else if (current.status === 'pending') {
      send('queued', jobView(current, await store.position(current.id, now())));
    } else {
      send('running', jobView(current));
    }
  })().catch((err: Error) => {
    request.log.warn({ err, job: job.id }, 'could not read the job for its event stream');
    end();
  });
}
