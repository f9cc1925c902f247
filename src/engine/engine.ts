/**
 * The dispatcher: each loop it asks the planner what Ollama should hold and carries that out
 * on its backend (unloads: keep_alive 0, then waits until /api/ps no longer lists the model;
 * loads: an empty generate with the configured keep_alive), then claims up to the per-model
 * concurrency of jobs on loaded models and hands them to the job runner (`job-runner.ts`,
 * which runs and relays them). The supervisor unloads before it loads, so Ollama never has
 * to evict on its own. Ollama unreachable pauses dispatch and probes it every second; once
 * it counts as down, what runs on it goes back to the queue with its attempt given back.
 * With several backends, each has its own dispatcher, and placement (`backends/placement.ts`)
 * tells each which models are its share.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendHealth } from '../backends/health.js';
import type { BackendView, PlacementResult } from '../backends/placement.js';
import type { LadderState } from '../fleet/ladder.js';
import type { ResourceSnapshot } from '../gpu/snapshot.js';
import type { Logger } from '../log.js';
import { canonicalModelName } from '../ollama/names.js';
import type { JobEvents } from '../queue/events.js';
import { type JobError, ladderOfAlias } from '../queue/job.js';
import type { Jobs } from '../queue/jobs.js';
import { QueuePositions } from '../queue/positions.js';
import type { JobStore } from '../queue/store.js';
import { PlanLog } from '../scheduler/plan-log.js';
import { type DemandGroup, type LoadedState, type Plan, plan } from '../scheduler/planner.js';
import { aliasResolver } from './aliases.js';
import type { OllamaBackend } from './backend.js';
import { capacityOf, loadedStateOf } from './card-state.js';
import { JobRunner } from './job-runner.js';
import { ModelActions } from './model-actions.js';

export type EngineState =
  | 'idle'
  | 'dispatching'
  | 'waiting'
  | 'backing-off'
  | 'stopping'
  | 'stopped';

/** Which models are this backend's to serve, of all the demand; see backends/placement.ts. */
export interface Placer {
  share(
    backend: string,
    demand: readonly DemandGroup[],
    now: number,
  ): { models: ReadonlySet<string>; impossible: PlacementResult['impossible'] };
}

/** Which running jobs high-priority work may preempt (`scheduler.preempt`). */
export type PreemptPolicy = 'never' | 'low' | 'normal';

const PREEMPTIBLE: Record<PreemptPolicy, ReadonlySet<string>> = {
  never: new Set(),
  low: new Set(['low']),
  normal: new Set(['low', 'normal']),
};

export interface EngineOptions {
  /** Publishes queue positions to watchers; shared by the dispatchers of several backends. */
  positions?: QueuePositions;
  /**
   * Whether jobs this supervisor can never run may fail here (default yes); on a shared
   * queue, only while no other supervisor is alive that might run them.
   */
  mayFailUnplaceable?: () => boolean;
  /** Which running jobs high-priority work may send back to the queue (default: low ones). */
  preempt?: PreemptPolicy;
  /** A job preempted: how long it had run (wasted work), by model. */
  onPreempted?: (model: string, ranMs: number) => void;
  /** With several backends: the share of the demand this one serves (default: all of it). */
  placement?: Placer;
  /** How the engine waits (default: a timer); rejects when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
  store: JobStore;
  /** Every change of a job's state and its event. */
  jobs: Jobs;
  /** The Ollama server the jobs run on, and what its cards hold. */
  backend: OllamaBackend;
  events: JobEvents;
  log: Logger;
  now: () => number;
  /** Bytes a model needs (the registry). */
  estimate: (model: string) => number | undefined;
  /** gpu.vram_total_mib in bytes, for hosts without telemetry. */
  vramTotal: number | undefined;
  /** OLLAMA_MAX_LOADED_MODELS of the server; Ollama's default (3 per GPU) when undefined. */
  maxLoadedModels?: number;
  /** OLLAMA_NUM_PARALLEL of the server (default 1, as Ollama since 0.10). */
  numParallel?: number;
  marginBytes: number;
  schedulerLog: Logger;
  /** The ladders as they stand now, to resolve `fleet` aliases at dispatch. */
  ladders: () => Promise<readonly LadderState[]>;
  maxConcurrentPerModel: number;
  /** A pull of this model is under way: its jobs wait rather than fail on "not found". */
  pulling?: (model: string) => boolean;
  loopIntervalMs: number;
  agingMs: number;
  keepAlive: string | number;
  timeouts: { load: number; request: number };
  /** A model Ollama holds changed: loaded (with how long it took) or unloaded. */
  onModelChange?: (change: { type: 'load' | 'unload'; model: string; seconds?: number }) => void;
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

const MAX_BACKOFF_MS = 10_000;
/** While a backend does not answer, it is asked again this often. */
const PROBE_EVERY_MS = 1_000;
export class Engine {
  #state: EngineState = 'idle';
  readonly #runner: JobRunner;
  readonly #positions: QueuePositions;
  #backoffMs = 0;
  /** The run's signal: every load, unload and poll stops with it. */
  #signal: AbortSignal = new AbortController().signal;
  /** Grows while dispatch itself fails (the store, the ladder file), so errors do not spin. */
  #dispatchBackoffMs = 0;
  /** Whether Ollama answers: no job is claimed while it is not up. */
  readonly #health: BackendHealth;
  #wake: (() => void) | undefined;
  /** The load or unload being carried out; one at a time. */
  readonly #actions: ModelActions;
  readonly #planLog: PlanLog;
  /** The demand of the last dispatch, by concrete model. */
  #groups = new Map<string, DemandGroup>();
  /** All of it, this backend's share or not (to find the names a failing model's jobs carry). */
  #allGroups = new Map<string, DemandGroup>();
  /** Models a caller asked to unload (keep_alive 0): let go once no job needs them. */
  readonly #idleUnloads = new Set<string>();

  /** The priorities of running jobs that high work may preempt. */
  get #preemptible(): ReadonlySet<string> {
    return PREEMPTIBLE[this.options.preempt ?? 'low'];
  }

  /** Time passes through here (an injected `sleep` in tests); rejects when aborted. */
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<unknown>;

  constructor(private readonly options: EngineOptions) {
    this.#sleep = options.sleep ?? ((ms, signal) => sleep(ms, undefined, { signal }));
    this.#health = options.backend.health ?? new BackendHealth(options.now);
    this.#positions = options.positions ?? new QueuePositions(options.store, options.events);
    this.#planLog = new PlanLog(options.schedulerLog);
    // Down: what runs there will not finish; it goes back to the queue for any backend.
    this.#health.onChange(({ state, problem }) => {
      // Back (a poll or a probe answered): no more waiting between loops.
      if (state === 'up') this.#backoffMs = 0;
      if (state === 'down') {
        this.#runner.interruptAll({
          code: 'FLEET_ERR_OLLAMA_UNREACHABLE',
          message: `backend ${options.backend.name} stopped answering: ${problem ?? 'no answer'}`,
        });
      }
      this.#wake?.();
    });
    this.#runner = new JobRunner({
      jobs: options.jobs,
      backend: options.backend,
      events: options.events,
      log: options.log,
      now: options.now,
      keepAlive: options.keepAlive,
      timeouts: options.timeouts,
      ...(options.onVramIncident ? { onVramIncident: options.onVramIncident } : {}),
      onAnswered: () => {
        this.#backoffMs = 0;
        this.#health.answered();
      },
      onUnreachable: (problem) => {
        this.#health.suspect(problem);
        this.#backoffMs = Math.min(PROBE_EVERY_MS, Math.max(250, this.#backoffMs * 2));
        return this.#backoffMs;
      },
      unloadWhenIdle: (model) => this.unloadWhenIdle(model),
      onSettled: () => this.#wake?.(),
    });
    this.#actions = new ModelActions({
      backend: options.backend,
      log: options.schedulerLog,
      now: options.now,
      keepAlive: options.keepAlive,
      loadTimeoutMs: options.timeouts.load,
      sleep: this.#sleep,
      ...(options.onModelChange ? { onModelChange: options.onModelChange } : {}),
      ...(options.onVramIncident ? { onVramIncident: options.onVramIncident } : {}),
      stillLoads: (fresh, model) => this.#decide(fresh, options.now(), false).load === model,
      onRefused: (model, error) => this.#failWaiting(model, error),
      onFailed: (unreachable, problem) => {
        if (unreachable) this.#health.suspect(problem);
        const cap = unreachable ? PROBE_EVERY_MS : MAX_BACKOFF_MS;
        this.#backoffMs = Math.min(cap, Math.max(250, this.#backoffMs * 2));
      },
    });
  }

  get state(): EngineState {
    return this.#state;
  }

  /** Whether its backend answers. */
  get health(): BackendHealth {
    return this.#health;
  }

  /** This backend as placement sees it: health, card, what it holds or is loading. */
  view(): BackendView {
    const { backend, now, estimate } = this.options;
    const snapshot = backend.monitor.current();
    const loaded = snapshot ? this.#loadedState(snapshot, now()) : [];
    const loading = this.#actions.loading;
    if (loading !== undefined && !loaded.some((l) => l.model === canonicalModelName(loading))) {
      loaded.push({
        model: canonicalModelName(loading),
        bytes: estimate(loading) ?? 0,
        running: 0,
      });
    }
    return {
      name: backend.name,
      healthy: this.#health.dispatchable,
      capacity: capacityOf(snapshot, this.options.vramTotal, this.options.maxLoadedModels),
      loaded,
      allows: backend.models,
      parallel: this.options.numParallel ?? 1,
      installed: snapshot?.installed
        ? new Set(snapshot.installed.map((m) => canonicalModelName(m.name)))
        : undefined,
      marginBytes: this.options.marginBytes,
    };
  }

  /** Jobs in flight, by concrete model. */
  runningByModel(): Record<string, number> {
    return this.#runner.runningByModel();
  }

  /** Runs until the signal aborts; then requeues what runs and resolves when all settled. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
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
          this.#dispatchBackoffMs = 0;
        } catch (err) {
          // A store or a file that fails now will likely fail the next loop too: back off.
          this.#dispatchBackoffMs = Math.min(
            MAX_BACKOFF_MS,
            Math.max(250, this.#dispatchBackoffMs * 2),
          );
          this.options.log.error({ err, backoff_ms: this.#dispatchBackoffMs }, 'dispatch failed');
        }
        this.#set('waiting');
        await this.#pause(Math.max(this.options.loopIntervalMs, this.#dispatchBackoffMs), signal);
      }
    } finally {
      stopWaking();
      this.#set('stopping');
      await this.#runner.stop();
      await this.#actions.settle();
      this.#set('stopped');
    }
  }

  /**
   * A caller's `keep_alive: 0` (what `ollama stop` sends): the model is unloaded as soon as
   * no queued or running job needs it.
   */
  unloadWhenIdle(model: string): void {
    this.#idleUnloads.add(canonicalModelName(model));
    this.#wake?.();
  }

  /** Aborts a running job's request; the caller has already marked it cancelled. */
  cancel(id: string): boolean {
    return this.#runner.cancel(id);
  }

  #set(state: EngineState): void {
    this.#state = state;
  }

  /** Waits `ms`, or less when woken (work changed, the run stopped). */
  #pause(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    const local = new AbortController();
    return new Promise((resolve) => {
      const done = () => {
        local.abort(); // the sleep's timer goes with it
        resolve();
      };
      this.#wake = done;
      this.#sleep(ms, local.signal).then(done, done);
    });
  }

  async #dispatch(): Promise<void> {
    const { store, now } = this.options;
    if (!this.#health.dispatchable) {
      // Jobs stay pending while Ollama is away, rather than flicker through running.
      try {
        await this.options.backend.client.version(
          AbortSignal.any([this.#signal, AbortSignal.timeout(PROBE_EVERY_MS * 3)]),
        );
      } catch (err) {
        this.#health.down((err as Error).message);
        this.#backoffMs = PROBE_EVERY_MS;
        return;
      }
      this.#health.answered();
      this.#backoffMs = 0;
      this.options.log.info('Ollama answers again');
    }
    const at = now();
    const demand = await store.demand(at);
    const { monitor } = this.options.backend;
    const snapshot = monitor.current() ?? (await monitor.refresh());
    if (demand.length === 0 && this.#runner.size === 0) {
      this.#groups = new Map();
      this.#unloadIdle(snapshot);
      return;
    }
    // The ladders are read only when an alias needs them: jobs for a concrete model run
    // even while the state file cannot be read.
    const resolve = demand.some((d) => ladderOfAlias(d.model) !== undefined)
      ? aliasResolver(await this.options.ladders())
      : (model: string) => model;
    const groups = new Map<string, DemandGroup>();
    for (const d of demand) {
      const model = resolve(d.model);
      if (model === undefined || this.options.pulling?.(model)) continue;
      const group = groups.get(model) ?? {
        model,
        submitted: [],
        pending: 0,
        rank: d.best_rank,
        oldest: d.oldest_submitted_at,
      };
      group.submitted.push(d.model);
      group.pending += d.pending;
      group.rank = Math.min(group.rank, d.best_rank);
      group.oldest = Math.min(group.oldest, d.oldest_submitted_at);
      groups.set(model, group);
    }
    this.#groups = this.#share(groups, at);
    const decision = this.#decide(snapshot, at, this.#actions.busy);
    this.#planLog.note(decision);
    // On a shared queue another host may run what this one cannot: only fail when none can.
    const mayFail = this.options.mayFailUnplaceable?.() ?? true;
    for (const { model, reason } of mayFail ? decision.impossible : []) {
      await this.#failWaiting(model, { code: 'FLEET_ERR_MODEL_TOO_LARGE', message: reason });
    }
    for (const { model, reason, code } of mayFail ? this.#impossible : []) {
      await this.#failWaiting(model, { code, message: reason });
    }
    for (const model of decision.preempt) {
      const stopped = this.#runner.preempt(
        model,
        this.#preemptible,
        decision.preemptFor ?? 'another model',
      );
      for (const { ranMs } of stopped) this.options.onPreempted?.(model, ranMs);
      if (stopped.length > 0)
        this.options.schedulerLog.info(
          { model, jobs: stopped.map((s) => s.job.id) },
          `preempted ${stopped.length} running job(s) of ${model}: ${decision.reason}`,
        );
    }
    if (decision.unload.length > 0 || decision.load !== undefined) {
      this.#actions.begin(decision.unload, decision.load, this.#signal, () => this.#wake?.());
    }
    this.#unloadIdle(snapshot);
    for (const { model, count } of decision.dispatch) {
      // Never start work on a model that an unload is taking away.
      if (this.#actions.isUnloading(model)) continue;
      const group = [...this.#groups.values()].find((g) => canonicalModelName(g.model) === model);
      if (!group) continue;
      const jobs = await store.claim({
        models: group.submitted,
        resolved: group.model,
        limit: count,
        now: at,
        backend: this.options.backend.name,
      });
      for (const job of jobs) this.#runner.start(job);
    }
    await this.#positions.publish(at);
  }

  /** Starts unloading the models callers asked to let go, of those no job needs now. */
  #unloadIdle(snapshot: ResourceSnapshot): void {
    if (this.#actions.busy || this.#idleUnloads.size === 0) return;
    const running = this.runningByModel();
    const wanted = new Set([...this.#groups.keys()].map(canonicalModelName));
    const idle: string[] = [];
    for (const model of this.#idleUnloads) {
      if (wanted.has(model) || (running[model] ?? 0) > 0) continue;
      this.#idleUnloads.delete(model);
      if (snapshot.loaded.some((m) => canonicalModelName(m.name) === model)) idle.push(model);
    }
    if (idle.length === 0) return;
    this.options.schedulerLog.info({ unload: idle }, 'unloading: a caller asked (keep_alive 0)');
    this.#actions.begin(idle, undefined, this.#signal, () => this.#wake?.());
  }

  /** Models placement gave no backend (too large for every card, on no list), to fail. */
  #impossible: PlacementResult['impossible'] = [];

  /** The demand this backend serves: all of it alone, its placed share among several. */
  #share(groups: Map<string, DemandGroup>, at: number): Map<string, DemandGroup> {
    this.#impossible = [];
    this.#allGroups = groups;
    const { placement } = this.options;
    if (!placement) return groups;
    const demand = [...groups.values()].map((g) => ({ ...g, model: canonicalModelName(g.model) }));
    const { models, impossible } = placement.share(this.options.backend.name, demand, at);
    this.#impossible = impossible;
    return new Map([...groups].filter(([, g]) => models.has(canonicalModelName(g.model))));
  }

  /** What the card holds as the planner counts it: jobs running, unloads under way left out. */
  #loadedState(snapshot: ResourceSnapshot, now: number): LoadedState[] {
    return loadedStateOf({
      snapshot,
      now,
      running: this.runningByModel(),
      preemptible: this.#runner.preemptibleByModel(this.#preemptible),
      isUnloading: (model) => this.#actions.isUnloading(model),
      estimate: this.options.estimate,
    });
  }

  /** The planner's answer for the demand of this loop and the given picture of the card. */
  #decide(snapshot: ResourceSnapshot, now: number, busy: boolean): Plan {
    const loaded = this.#loadedState(snapshot, now);
    return plan({
      demand: [...this.#groups.values()].map((g) => ({ ...g, model: canonicalModelName(g.model) })),
      loaded,
      capacity: capacityOf(snapshot, this.options.vramTotal, this.options.maxLoadedModels),
      estimate: this.options.estimate,
      marginBytes: this.options.marginBytes,
      maxConcurrentPerModel: this.options.maxConcurrentPerModel,
      maxWaitMs: this.options.agingMs,
      busy,
      now,
    });
  }

  /** Fails every waiting job of a model (it can never run, or Ollama refuses it). */
  async #failWaiting(model: string, error: JobError): Promise<void> {
    const { store, now } = this.options;
    const group = [...this.#allGroups.values()].find((g) => canonicalModelName(g.model) === model);
    const submitted = group?.submitted ?? [model];
    let failed = 0;
    for (;;) {
      const jobs = await store.claim({
        models: submitted,
        resolved: model,
        limit: 100,
        now: now(),
      });
      if (jobs.length === 0) break;
      for (const job of jobs) await this.options.jobs.fail(job.id, error);
      failed += jobs.length;
    }
    // Among several backends, whichever dispatcher comes first fails them; the rest find none.
    if (failed > 0)
      this.options.schedulerLog.error(
        { model, error, jobs: failed },
        `failed the waiting jobs of ${model}`,
      );
  }
}
