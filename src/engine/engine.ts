/**
 * Carries queued jobs out against Ollama. This first engine serves one model at a time:
 * it runs the waiting jobs of the best-placed model (priority with aging, then age) up to the
 * per-model concurrency, and moves to another model only when that one's jobs rank higher,
 * so models are swapped as rarely as priorities allow and two models never compete for VRAM.
 * (The VRAM planner of src/scheduler/ will decide co-residency; this loop stays the doer.)
 *
 * Failures: an OOM or a runner crash sends the job back to the queue (its attempt counted)
 * and reports the incident; Ollama unreachable sends it back with the attempt given back and
 * pauses dispatch with backoff; a request Ollama refuses fails the job with Ollama's words.
 */
import type { LadderState } from '../fleet/ladder.js';
import type { Logger } from '../log.js';
import type { OllamaCallError, OllamaClient } from '../ollama/client.js';
import type { JobEvents } from '../queue/events.js';
import type { Job, JobError } from '../queue/job.js';
import type { JobStore } from '../queue/store.js';
import { aliasResolver } from './aliases.js';
import { classifyFailure, type FailureKind } from './failures.js';

export type EngineState =
  | 'idle'
  | 'dispatching'
  | 'waiting'
  | 'backing-off'
  | 'stopping'
  | 'stopped';

export interface EngineOptions {
  store: JobStore;
  ollama: OllamaClient;
  events: JobEvents;
  log: Logger;
  now: () => number;
  /** The ladders as they stand now, to resolve `fleet` aliases at dispatch. */
  ladders: () => Promise<readonly LadderState[]>;
  maxConcurrentPerModel: number;
  loopIntervalMs: number;
  agingMs: number;
  keepAlive: string | number;
  timeouts: { load: number; request: number };
  /**
   * VRAM trouble met by a job, for the ladder policy: an out-of-memory answer (hard), or a
   * runner that died without saying why, which on a GPU is mostly memory (soft).
   */
  onVramIncident?: (incident: {
    model: string;
    message: string;
    at: number;
    severity: 'hard' | 'soft';
  }) => void;
}

interface Running {
  job: Job;
  controller: AbortController;
  cancelled: boolean;
  done: Promise<void>;
}

const MAX_BACKOFF_MS = 10_000;

export class Engine {
  #state: EngineState = 'idle';
  readonly #running = new Map<string, Running>();
  readonly #positions = new Map<string, number>();
  #backoffMs = 0;
  /** Set when Ollama stopped answering: no job is claimed until it answers again. */
  #ollamaDown = false;
  #wake: (() => void) | undefined;
  #stopping = false;

  constructor(private readonly options: EngineOptions) {}

  get state(): EngineState {
    return this.#state;
  }

  /** Jobs in flight, by concrete model. */
  runningByModel(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { job } of this.#running.values()) {
      const model = job.resolved_model ?? job.model;
      counts[model] = (counts[model] ?? 0) + 1;
    }
    return counts;
  }

  /** Runs until the signal aborts; then requeues what runs and resolves when all settled. */
  async run(signal: AbortSignal): Promise<void> {
    const stopWaking = this.options.events.onChange(() => this.#wake?.());
    signal.addEventListener('abort', () => this.#wake?.(), { once: true });
    try {
      while (!signal.aborted) {
        if (this.#backoffMs > 0) {
          this.#set('backing-off');
          await this.#pause(this.#backoffMs, signal);
          if (signal.aborted) break;
        }
        this.#set('dispatching');
        try {
          await this.#dispatch();
        } catch (err) {
          this.options.log.error({ err }, 'dispatch failed');
        }
        this.#set('waiting');
        await this.#pause(this.options.loopIntervalMs, signal);
      }
    } finally {
      stopWaking();
      this.#set('stopping');
      this.#stopping = true;
      for (const entry of this.#running.values()) entry.controller.abort();
      await Promise.allSettled([...this.#running.values()].map((r) => r.done));
      this.#set('stopped');
    }
  }

  /** Aborts a running job's request; the caller has already marked it cancelled. */
  cancel(id: string): boolean {
    const entry = this.#running.get(id);
    if (!entry) return false;
    entry.cancelled = true;
    entry.controller.abort();
    return true;
  }

  #set(state: EngineState): void {
    this.#state = state;
  }

  #pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
      if (signal.aborted) done();
    });
  }

  async #dispatch(): Promise<void> {
    const { store, now } = this.options;
    if (this.#ollamaDown) {
      // Jobs stay pending while Ollama is away, rather than flicker through running.
      try {
        await this.options.ollama.version();
      } catch {
        this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(250, this.#backoffMs * 2));
        return;
      }
      this.#ollamaDown = false;
      this.#backoffMs = 0;
      this.options.log.info('Ollama answers again');
    }
    const at = now();
    const demand = await store.demand(at);
    if (demand.length === 0) return;
    const resolve = aliasResolver(await this.options.ladders());
    const groups = new Map<string, { models: string[]; rank: number; oldest: number }>();
    for (const d of demand) {
      const concrete = resolve(d.model);
      if (concrete === undefined) continue;
      const group = groups.get(concrete) ?? {
        models: [],
        rank: d.best_rank,
        oldest: d.oldest_submitted_at,
      };
      group.models.push(d.model);
      group.rank = Math.min(group.rank, d.best_rank);
      group.oldest = Math.min(group.oldest, d.oldest_submitted_at);
      groups.set(concrete, group);
    }
    const ranked = [...groups.entries()].sort(
      ([, a], [, b]) => a.rank - b.rank || a.oldest - b.oldest,
    );
    const best = ranked[0];
    if (!best) return;
    const serving = this.#servingModel();
    let target = best;
    if (serving !== undefined) {
      const current = groups.get(serving);
      if (!current) return; // let the running jobs finish before another model loads
      const [, other] = best;
      const starving =
        other.rank === 0 && current.rank === 0 && at - other.oldest > this.options.agingMs;
      if (best[0] !== serving && (other.rank < current.rank || starving)) return;
      target = [serving, current];
    }
    const [model, group] = target;
    const room = this.options.maxConcurrentPerModel - this.#running.size;
    if (room <= 0) return;
    const jobs = await store.claim({ models: group.models, resolved: model, limit: room, now: at });
    if (jobs.length > 0 && serving === undefined) {
      this.options.log.info({ model, jobs: jobs.length, waiting: group.models }, 'serving model');
    }
    for (const job of jobs) this.#start(job);
    await this.#publishPositions(at);
  }

  #servingModel(): string | undefined {
    for (const { job } of this.#running.values()) return job.resolved_model ?? job.model;
    return undefined;
  }

  #start(job: Job): void {
    const controller = new AbortController();
    const entry: Running = { job, controller, cancelled: false, done: Promise.resolve() };
    this.#running.set(job.id, entry);
    this.options.events.publish(job.id, { type: 'running', job });
    entry.done = this.#execute(entry).finally(() => {
      this.#running.delete(job.id);
      this.#wake?.();
    });
  }

  async #execute(entry: Running): Promise<void> {
    const { store, events, now } = this.options;
    const { job } = entry;
    const log = this.options.log.child({ job: job.id, model: job.resolved_model });
    try {
      const result = await this.#call(job, entry.controller.signal);
      this.#backoffMs = 0;
      const done = await store.complete(job.id, result, now());
      if (done) events.publish(job.id, { type: 'complete', job: done });
    } catch (err) {
      if (entry.cancelled) return;
      if (this.#stopping) {
        const back = await store.requeue(
          job.id,
          { code: 'FLEET_ERR_SHUTTING_DOWN', message: 'the supervisor stopped' },
          false,
          now(),
        );
        if (back) events.publish(job.id, { type: 'requeued', job: back });
        return;
      }
      await this.#failed(job, err, classifyFailure(err), log);
    }
  }

  async #failed(job: Job, err: unknown, kind: FailureKind, log: Logger): Promise<void> {
    const { store, events, now } = this.options;
    const callError = err as Partial<OllamaCallError> & Error;
    const error: JobError = {
      code: callError.code ?? 'FLEET_ERR_INTERNAL',
      message: callError.ollamaError || callError.message,
    };
    let after: Job | undefined;
    if (kind === 'rejected') {
      after = await store.fail(job.id, error, now());
    } else {
      after = await store.requeue(job.id, error, kind !== 'unreachable', now());
    }
    if (kind === 'unreachable') {
      this.#ollamaDown = true;
      this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(250, this.#backoffMs * 2));
      log.warn({ err, backoff_ms: this.#backoffMs }, 'Ollama is unreachable; the job waits');
    } else {
      log.warn(
        { err, kind, status: after?.status },
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
    if (after)
      events.publish(
        job.id,
        after.status === 'failed'
          ? { type: 'failed', job: after }
          : { type: 'requeued', job: after },
      );
  }

  async #call(job: Job, signal: AbortSignal): Promise<Record<string, unknown>> {
    const { ollama, events, timeouts } = this.options;
    const model = job.resolved_model ?? job.model;
    const call = { signal, firstByteTimeoutMs: timeouts.load, idleTimeoutMs: timeouts.request };
    const { request } = job;
    const keep_alive = request.keep_alive ?? this.options.keepAlive;
    const common = {
      model,
      keep_alive,
      ...(request.options ? { options: request.options } : {}),
      ...(request.format !== undefined ? { format: request.format } : {}),
      ...(request.think !== undefined ? { think: request.think } : {}),
    };
    if (job.kind === 'embed') {
      return ollama.call('/api/embed', { ...common, input: request.input }, call);
    }
    let text = '';
    const onChunk = (chunk: Record<string, unknown>) => {
      const piece =
        job.kind === 'chat'
          ? (chunk.message as { content?: string } | undefined)?.content
          : chunk.response;
      if (typeof piece === 'string' && piece !== '') {
        text += piece;
        events.publish(job.id, { type: 'token', text: piece });
      }
    };
    if (job.kind === 'chat') {
      const final = await ollama.stream(
        '/api/chat',
        { ...common, messages: request.messages },
        { ...call, onChunk },
      );
      return { ...final, message: { role: 'assistant', content: text } };
    }
    const final = await ollama.stream(
      '/api/generate',
      {
        ...common,
        prompt: request.prompt,
        ...(request.images ? { images: request.images } : {}),
        ...(request.system !== undefined ? { system: request.system } : {}),
      },
      { ...call, onChunk },
    );
    return { ...final, response: text };
  }

  /** Tells the jobs someone watches where they now stand. */
  async #publishPositions(at: number): Promise<void> {
    for (const id of this.options.events.watched()) {
      const position = await this.options.store.position(id, at);
      if (position === undefined || this.#positions.get(id) === position) continue;
      this.#positions.set(id, position);
      this.options.events.publish(id, { type: 'position', position });
    }
  }
}
