/**
 * Runs the jobs the dispatcher claimed: each one's request to its path on Ollama, as the
 * caller gave it (only the model resolved, the fleet's keep-alive where the caller gave
 * none), its answer relayed frame by frame, and its end written through the Jobs service.
 *
 * Failures: an OOM or a runner crash sends the job back to the queue (its attempt counted)
 * and reports the incident; Ollama unreachable sends it back with the attempt given back and
 * tells the dispatcher to pause; a request Ollama refuses fails the job with Ollama's words.
 * At stop, what runs is aborted and sent back without spending its attempt; so is a job
 * preempted for high-priority work, unless its caller has already received bytes.
 */
import type { Logger } from '../log.js';
import type { OllamaCallError } from '../ollama/client.js';
import { isZeroKeepAlive } from '../ollama/duration.js';
import { canonicalModelName } from '../ollama/names.js';
import type { JobEvents } from '../queue/events.js';
import type { Job, JobError } from '../queue/job.js';
import type { Jobs } from '../queue/jobs.js';
import type { OllamaBackend } from './backend.js';
import { classifyFailure, type FailureKind } from './failures.js';
import { relayAnswer } from './relay.js';

export interface VramIncidentReport {
  model: string;
  message: string;
  at: number;
  severity: 'hard' | 'soft';
}

export interface JobRunnerOptions {
  jobs: Jobs;
  backend: OllamaBackend;
  events: JobEvents;
  log: Logger;
  now: () => number;
  keepAlive: string | number;
  timeouts: { load: number; request: number };
  /** VRAM trouble a job met: an OOM (hard) or a runner that died without saying why (soft). */
  onVramIncident?: (incident: VramIncidentReport) => void;
  /** A job's call was answered: Ollama is there. */
  onAnswered: () => void;
  /** Ollama could not be reached: the dispatcher pauses; returns how long, for the log. */
  onUnreachable: (problem: string) => number;
  /** A caller's keep_alive 0: let the model go once no job needs it. */
  unloadWhenIdle: (model: string) => void;
  /** A job stopped running (there may be room for another). */
  onSettled: () => void;
}

interface Running {
  job: Job;
  controller: AbortController;
  cancelled: boolean;
  /** Stopped because its backend went down, or preempted: back to the queue, uncounted. */
  interrupted?: JobError;
  /** Its caller (or a follower) has received bytes of the answer: never preempted. */
  delivered: boolean;
  done: Promise<void>;
}

/** What a job keeps of a failure: Ollama's words, and its status and answer where it answered. */
export function jobErrorOf(err: unknown): JobError {
  const e = err as Partial<OllamaCallError> & Error;
  const error: JobError = {
    code: e.code ?? 'FLEET_ERR_INTERNAL',
    message: e.ollamaError || e.message,
  };
  if (e.httpStatus !== undefined && e.httpStatus > 0) error.status = e.httpStatus;
  if (e.response !== undefined) {
    error.body = e.response.body;
    error.content_type = e.response.contentType;
  }
  return error;
}

export class JobRunner {
  readonly #running = new Map<string, Running>();
  #stopping = false;

  constructor(private readonly options: JobRunnerOptions) {}

  get size(): number {
    return this.#running.size;
  }

  /** Jobs in flight, by concrete model. */
  runningByModel(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { job } of this.#running.values()) {
      const model = canonicalModelName(job.resolved_model ?? job.model);
      counts[model] = (counts[model] ?? 0) + 1;
    }
    return counts;
  }

  start(job: Job): void {
    const controller = new AbortController();
    const entry: Running = {
      job,
      controller,
      cancelled: false,
      delivered: false,
      done: Promise.resolve(),
    };
    this.#running.set(job.id, entry);
    this.options.jobs.started(job);
    entry.done = this.#execute(entry).finally(() => {
      this.#running.delete(job.id);
      this.options.onSettled();
    });
  }

  /** Aborts a running job's request; whoever cancelled it has marked it so already. */
  cancel(id: string): boolean {
    const entry = this.#running.get(id);
    if (!entry) return false;
    entry.cancelled = true;
    entry.controller.abort();
    return true;
  }

  /** Jobs in flight that may be preempted, by concrete model: of these priorities, no bytes sent. */
  preemptibleByModel(priorities: ReadonlySet<string>): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const entry of this.#running.values()) {
      if (!this.#preemptible(entry, priorities)) continue;
      const model = canonicalModelName(entry.job.resolved_model ?? entry.job.model);
      counts[model] = (counts[model] ?? 0) + 1;
    }
    return counts;
  }

  /**
   * Sends the model's preemptible jobs back to the queue under the same id, their attempt not
   * counted (never cancelled); returns them with how long each had run, for the count of
   * wasted work.
   */
  preempt(
    model: string,
    priorities: ReadonlySet<string>,
    forModel: string,
  ): { job: Job; ranMs: number }[] {
    const stopped: { job: Job; ranMs: number }[] = [];
    for (const entry of this.#running.values()) {
      if (canonicalModelName(entry.job.resolved_model ?? entry.job.model) !== model) continue;
      if (!this.#preemptible(entry, priorities)) continue;
      entry.interrupted = {
        code: 'FLEET_ERR_PREEMPTED',
        message: `preempted for high-priority work on ${forModel}; it runs again`,
      };
      entry.controller.abort();
      stopped.push({
        job: entry.job,
        ranMs: this.options.now() - (entry.job.started_at ?? this.options.now()),
      });
    }
    return stopped;
  }

  #preemptible(entry: Running, priorities: ReadonlySet<string>): boolean {
    return (
      priorities.has(entry.job.priority) &&
      !entry.delivered &&
      !entry.cancelled &&
      !entry.interrupted
    );
  }

  /** Its backend is down: what runs there goes back to the queue, attempts given back. */
  interruptAll(error: JobError): void {
    for (const entry of this.#running.values()) {
      if (entry.cancelled || entry.interrupted) continue;
      entry.interrupted = error;
      entry.controller.abort();
    }
  }

  /** Aborts what runs (each goes back to the queue) and resolves once all have settled. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const entry of this.#running.values()) entry.controller.abort();
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
  }

  async #execute(entry: Running): Promise<void> {
    const { jobs } = this.options;
    const { job } = entry;
    const log = this.options.log.child({ job: job.id, model: job.resolved_model });
    try {
      const result = await this.#call(entry);
      this.options.onAnswered();
      await jobs.complete(job.id, result);
    } catch (err) {
      if (entry.cancelled) return;
      if (entry.interrupted) {
        await jobs.requeue(job.id, entry.interrupted, false);
        log.info(
          { error: entry.interrupted.message },
          'job back in the queue, its attempt given back',
        );
        return;
      }
      if (this.#stopping) {
        const stopped = { code: 'FLEET_ERR_SHUTTING_DOWN', message: 'the supervisor stopped' };
        await jobs.requeue(job.id, stopped, false);
        return;
      }
      await this.#failed(job, err, classifyFailure(err), log);
    }
  }

  async #failed(job: Job, err: unknown, kind: FailureKind, log: Logger): Promise<void> {
    const { jobs, now } = this.options;
    const error = jobErrorOf(err);
    const after =
      kind === 'rejected'
        ? await jobs.fail(job.id, error)
        : await jobs.requeue(job.id, error, kind !== 'unreachable');
    // Expected outcomes (Ollama away, an OOM the job survives, a refusal) are one line at
    // info or warn, without a stack; the stack is there at debug for whoever digs.
    log.debug({ err, kind }, "the job's call to Ollama failed");
    if (kind === 'unreachable') {
      const backoff = this.options.onUnreachable(error.message);
      log.info(
        { error: error.message, backoff_ms: backoff },
        'Ollama is unreachable; the job waits',
      );
    } else {
      log[kind === 'rejected' ? 'info' : 'warn'](
        { error: error.message, kind, status: after?.status },
        `job ${kind === 'rejected' ? 'failed' : 'will run again'}: ${error.message}`,
      );
    }
    if (kind === 'oom' || kind === 'crash') {
      this.options.onVramIncident?.({
        model: job.resolved_model ?? job.model,
        message: error.message,
        at: now(),
        severity: kind === 'oom' ? 'hard' : 'soft',
      });
    }
  }

  /**
   * Sends the job's request to its path on Ollama as the caller gave it, with only the model
   * resolved and the keep-alive the fleet needs, and relays Ollama's answer frame by frame.
   */
  async #call(entry: Running): Promise<Record<string, unknown>> {
    const { job } = entry;
    const { signal } = entry.controller;
    const { events, timeouts } = this.options;
    // Bytes reach someone: a caller on the line once the head goes out, a follower of the
    // job's events once a chunk does.
    const reaching = () => {
      if (!entry.delivered) entry.delivered = job.attached || events.isWatched(job.id);
    };
    const ollama = this.options.backend.client;
    const model = job.resolved_model ?? job.model;
    const body: Record<string, unknown> = { ...job.request, model };
    // On Ollama's own paths the fleet keeps models loaded (its keep-alive unless the caller
    // gave one); a keep-alive of 0 becomes an unload once no job needs the model.
    if (job.endpoint.startsWith('/api/')) {
      if (body.keep_alive === undefined) body.keep_alive = this.options.keepAlive;
      else if (isZeroKeepAlive(body.keep_alive)) {
        body.keep_alive = this.options.keepAlive;
        this.options.unloadWhenIdle(model);
      }
    }
    // An answer that is not streamed begins only once the whole generation is done.
    const streamed = job.endpoint.startsWith('/v1/')
      ? body.stream === true
      : job.kind !== 'embed' && body.stream !== false;
    const answer = await ollama.send(job.endpoint, body, {
      signal,
      firstByteTimeoutMs: streamed ? timeouts.load : timeouts.load + timeouts.request,
      idleTimeoutMs: timeouts.request,
    });
    if (job.attached) entry.delivered = true;
    events.publish(job.id, {
      type: 'head',
      status: answer.status,
      contentType: answer.contentType,
    });
    return relayAnswer(answer, job.endpoint, signal, {
      chunk: (data) => {
        reaching();
        events.publish(job.id, { type: 'chunk', data });
      },
      token: (text) => {
        reaching();
        events.publish(job.id, { type: 'token', text });
      },
    });
  }
}
