/**
 * One Ollama backend at run time: its client, its resource monitor (Ollama's /api/ps and its
 * own nvidia-smi), its health, its pulls, its dispatcher and, when it names one, its log
 * source. The supervisor builds one per backend in fleet.yaml and shares the queue, the
 * registry and the ladders among them.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackendConfig } from '../config/backends.js';
import { DEFAULT_BACKEND } from '../config/backends.js';
import type { FleetConfig } from '../config/load.js';
import { Engine, type EngineOptions, type Placer } from '../engine/engine.js';
import type { VramIncidentReport } from '../engine/job-runner.js';
import { ModelPulls } from '../fleet/pulls.js';
import { VramHistory } from '../gpu/history.js';
import { ResourceMonitor } from '../gpu/monitor.js';
import { dockerExecRunner, NvidiaSmiReader } from '../gpu/nvidia-smi.js';
import { cardOf, type ResourceSnapshot } from '../gpu/snapshot.js';
import type { Logger } from '../log.js';
import { OllamaClient } from '../ollama/client.js';
import { canonicalModelName } from '../ollama/names.js';
import type { DockerClient } from '../watch/docker.js';
import type { CollapsedIncident } from '../watch/incidents.js';
import { type LogSource, VramWatcher } from '../watch/watcher.js';
import { BackendHealth } from './health.js';

/** /api/ps is cheap: read it every second between nvidia-smi polls. */
const OLLAMA_POLL_MS = 1_000;
const NVIDIA_SMI_TIMEOUT_MS = 10_000;
/** The longest a pull may take, progress or not: a large model on a slow link takes hours. */
const PULL_TIMEOUT_MS = 6 * 3_600_000;

/** What every backend shares: the queue, the registry, the ladders, the log. */
export interface SharedParts
  extends Pick<
    EngineOptions,
    | 'store'
    | 'jobs'
    | 'events'
    | 'now'
    | 'ladders'
    | 'maxConcurrentPerModel'
    | 'loopIntervalMs'
    | 'agingMs'
    | 'keepAlive'
    | 'mayFailUnplaceable'
    | 'positions'
  > {
  config: FleetConfig;
  /** Bytes a model needs on a kind of card (undefined: not known), as the registry learned. */
  estimateOn: (model: string, card: string | undefined) => number | undefined;
  log: Logger;
  docker: DockerClient;
  placement: Placer | undefined;
  /** A model this backend holds changed: loaded (with how long it took) or unloaded. */
  onModelChange: (
    backend: string,
    change: { type: 'load' | 'unload'; model: string; seconds?: number },
  ) => void;
  /** A running job sent back to the queue for high-priority work, and how long it had run. */
  onPreempted: (backend: string, model: string, ranMs: number) => void;
  /** Every new picture of a backend's cards and models. */
  onSnapshot: (backend: BackendRuntime, snapshot: ResourceSnapshot) => void;
  /** VRAM trouble a job or a load met on this backend. */
  onVramIncident: (backend: string, report: VramIncidentReport) => void;
  /** VRAM trouble in this backend's log. */
  onLogIncident: (backend: string, incident: CollapsedIncident, model: string | undefined) => void;
}

export class BackendRuntime {
  readonly name: string;
  readonly client: OllamaClient;
  readonly monitor: ResourceMonitor;
  readonly health: BackendHealth;
  readonly pulls: ModelPulls;
  readonly engine: Engine;
  /** Undefined when fleet.yaml names no container, log file or unit for it. */
  readonly watcher: VramWatcher | undefined;
  /** The last hour of VRAM, for the dashboard's chart on a fresh page. */
  readonly vramHistory = new VramHistory();
  readonly #log: Logger;
  readonly #estimateOn: SharedParts['estimateOn'];

  constructor(
    readonly config: BackendConfig,
    shared: SharedParts,
  ) {
    const { log, now } = shared;
    this.name = config.name;
    this.#estimateOn = shared.estimateOn;
    // The single backend logs as before; several name theirs.
    const scoped = (component: string) =>
      config.name === DEFAULT_BACKEND
        ? log.child({ component })
        : log.child({ component, backend: config.name });
    this.#log = scoped('backend');
    this.client = new OllamaClient({ url: config.url, timeout: config.timeouts.connect });
    this.health = new BackendHealth(now);
    this.pulls = new ModelPulls(this.client, scoped('fleet'), PULL_TIMEOUT_MS);
    const vramTotal =
      config.gpu.vram_total_mib === undefined ? undefined : config.gpu.vram_total_mib * 2 ** 20;
    this.monitor = new ResourceMonitor({
      ollama: this.client,
      smi: new NvidiaSmiReader({
        command: config.gpu.nvidia_smi,
        timeoutMs: NVIDIA_SMI_TIMEOUT_MS,
        now,
        ...(config.gpu.nvidia_smi_container !== undefined
          ? { runner: dockerExecRunner(shared.docker, config.gpu.nvidia_smi_container) }
          : {}),
      }),
      vramTotal,
      telemetryIntervalMs: config.gpu.poll_interval,
      ollamaIntervalMs: OLLAMA_POLL_MS,
      log: scoped('gpu'),
      now,
    });
    this.monitor.subscribe((snapshot) => {
      // Every poll is a probe: two failed in a row and the backend is down.
      if (snapshot.ollama.reachable) this.health.answered();
      else this.health.pollFailed(snapshot.ollama.error);
      this.vramHistory.record(snapshot);
      shared.onSnapshot(this, snapshot);
    });
    this.health.onChange(({ state, problem }) => {
      if (state === 'down')
        this.#log.warn({ backend: this.name, problem }, `backend ${this.name} is down: ${problem}`);
      if (state === 'up') this.#log.info({ backend: this.name }, `backend ${this.name} answers`);
    });
    this.engine = new Engine({
      ...shared,
      backend: {
        name: config.name,
        client: this.client,
        monitor: this.monitor,
        health: this.health,
        ...(config.models ? { models: new Set(config.models.map(canonicalModelName)) } : {}),
      },
      ...(shared.placement ? { placement: shared.placement } : {}),
      estimate: (model) => this.estimate(model),
      log: scoped('engine'),
      schedulerLog: scoped('scheduler'),
      vramTotal,
      ...(config.max_loaded_models !== undefined
        ? { maxLoadedModels: config.max_loaded_models }
        : {}),
      numParallel: config.num_parallel,
      marginBytes: config.gpu.safety_margin_mib * 2 ** 20,
      pulling: (model) => this.pulls.isPulling(model),
      timeouts: { load: config.timeouts.load, request: config.timeouts.request },
      onVramIncident: (report) => shared.onVramIncident(config.name, report),
      onModelChange: (change) => shared.onModelChange(config.name, change),
      onPreempted: (model, ranMs) => shared.onPreempted(config.name, model, ranMs),
      preempt: shared.config.scheduler.preempt,
    });
    const source = logSourceOf(config, shared.config, shared.docker);
    this.watcher = source
      ? new VramWatcher({
          source,
          detection: shared.config.detection,
          log: scoped('watch'),
          now,
          onIncident: (incident, model) => shared.onLogIncident(config.name, incident, model),
        })
      : undefined;
  }

  /** Runs its monitor, dispatcher and log watcher until the signal aborts. */
  run(signal: AbortSignal): Promise<unknown> {
    return Promise.all([
      this.monitor.run(signal),
      this.engine.run(signal),
      this.watcher?.run(signal),
    ]);
  }

  /** Resolves with Ollama's version once it answers (backing off), or undefined at stop. */
  async answers(signal: AbortSignal): Promise<string | undefined> {
    for (let wait = 1_000; !signal.aborted; wait = Math.min(30_000, wait * 2)) {
      try {
        return await this.client.version(signal);
      } catch {
        await sleep(wait, undefined, { signal }).catch(() => {});
      }
    }
    return undefined;
  }

  /** The kind of card it runs on (nvidia-smi's GPU name), once telemetry has told. */
  card(): string | undefined {
    return cardOf(this.monitor.current());
  }

  /** Bytes the model needs on this backend's card. */
  estimate(model: string): number | undefined {
    return this.#estimateOn(model, this.card());
  }

  /** Whether fleet.yaml lets it run this model. */
  allows(model: string): boolean {
    return (
      !this.config.models ||
      this.config.models.some((m) => canonicalModelName(m) === canonicalModelName(model))
    );
  }

  /** As `/api/stats` shows it. */
  status() {
    const snapshot = this.monitor.current();
    return {
      name: this.name,
      url: this.config.url,
      healthy: this.health.healthy,
      state: this.health.state,
      problem: this.health.problem ?? null,
      since: new Date(this.health.since).toISOString(),
      gpus: snapshot?.gpus ?? [],
      loaded: (snapshot?.loaded ?? []).map((m) => ({
        name: m.name,
        size_vram: m.size_vram,
        expires_at: m.expires_at,
      })),
      running: this.engine.runningByModel(),
      engine: this.engine.state,
      watch: this.watcher?.status() ?? { state: 'off' },
      ...(this.config.models ? { models: this.config.models } : {}),
    };
  }
}

/** Its log: a file or a systemd unit when named, else its container; none when none is. */
function logSourceOf(
  backend: BackendConfig,
  config: FleetConfig,
  docker: DockerClient,
): LogSource | undefined {
  // The single backend keeps today's file names, so an upgrade resumes where it left off.
  const suffix = backend.name === DEFAULT_BACKEND ? '' : `-${backend.name}`;
  if (backend.log_file !== undefined) {
    return {
      kind: 'file',
      file: path.resolve(path.dirname(config.source), backend.log_file),
      positionFile: path.join(config.state_dir, `log-position${suffix}.json`),
    };
  }
  if (backend.journald_unit !== undefined) {
    return {
      kind: 'journald',
      unit: backend.journald_unit,
      cursorFile: path.join(config.state_dir, `journal-cursor${suffix}.json`),
    };
  }
  if (backend.container !== undefined)
    return { kind: 'container', docker, target: backend.container };
  return undefined;
}
