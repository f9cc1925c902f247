/**
 * Prometheus metrics (`GET /metrics`): counters the supervisor's parts bump as things happen,
 * and gauges read at scrape time from what they already know (the queue, the last resource
 * snapshot, the ladders, the log watcher). Names follow Prometheus conventions: the `fleet_`
 * prefix, base units, `_total` for counters.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LadderState } from '../fleet/ladder.js';
import { currentModel } from '../fleet/ladder.js';
import type { ResourceSnapshot } from '../gpu/snapshot.js';
import type { JobEvent } from '../queue/events.js';
import type { JobStore } from '../queue/store.js';

/** One Ollama backend as the metrics read it. */
export interface BackendSource {
  name: string;
  snapshot: ResourceSnapshot | undefined;
  healthy: boolean;
  running: number;
}

export interface MetricSources {
  store: JobStore;
  /** Every backend, read at scrape time (`default` for the single Ollama). */
  backends: () => readonly BackendSource[];
  ladders: () => Promise<readonly LadderState[]>;
  estimates: (model: string) => { bytes: number | undefined; source: string };
  watching: () => boolean;
}

const SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class FleetMetrics {
  readonly registry = new Registry();
  readonly #jobsFinished = new Counter({
    name: 'fleet_jobs_finished_total',
    help: 'Jobs that ended, by model, final status and reason (an error code, or "ok")',
    labelNames: ['model', 'status', 'reason'],
    registers: [this.registry],
  });
  readonly #wait = new Histogram({
    name: 'fleet_job_wait_seconds',
    help: 'From submit to start, per model',
    labelNames: ['model'],
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly #run = new Histogram({
    name: 'fleet_job_run_seconds',
    help: 'From start to completion, per model',
    labelNames: ['model'],
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly #loads = new Counter({
    name: 'fleet_model_loads_total',
    help: 'Model loads the scheduler sent to Ollama',
    labelNames: ['model', 'backend'],
    registers: [this.registry],
  });
  readonly #unloads = new Counter({
    name: 'fleet_model_unloads_total',
    help: 'Model unloads the scheduler sent to Ollama',
    labelNames: ['model', 'backend'],
    registers: [this.registry],
  });
  readonly #loadSeconds = new Histogram({
    name: 'fleet_model_load_seconds',
    help: 'How long each load took',
    labelNames: ['model'],
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly #incidents = new Counter({
    name: 'fleet_ladder_incidents_total',
    help: 'VRAM incidents counted on a ladder, by kind and severity',
    labelNames: ['ladder', 'kind', 'severity'],
    registers: [this.registry],
  });
  readonly #transitions = new Counter({
    name: 'fleet_ladder_transitions_total',
    help: 'Ladder moves, by direction and what moved it (policy, schedule, cli, api)',
    labelNames: ['ladder', 'direction', 'source'],
    registers: [this.registry],
  });
  readonly #preempted = new Counter({
    name: 'fleet_jobs_preempted_total',
    help: 'Running jobs sent back to the queue for high-priority work, by model and backend',
    labelNames: ['model', 'backend'],
    registers: [this.registry],
  });
  readonly #preemptedSeconds = new Counter({
    name: 'fleet_preempted_work_seconds_total',
    help: 'Work thrown away by preemption: how long the preempted jobs had run',
    labelNames: ['model', 'backend'],
    registers: [this.registry],
  });
  readonly #backgroundFailures = new Counter({
    name: 'fleet_background_failures_total',
    help: 'Background tasks that failed (logged with their error), by task',
    labelNames: ['task'],
    registers: [this.registry],
  });
  readonly #http = new Counter({
    name: 'fleet_http_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    new Gauge({
      name: 'fleet_queue_jobs',
      help: 'Unfinished jobs, by status, model and priority',
      labelNames: ['status', 'model', 'priority'],
      registers,
      async collect() {
        this.reset();
        for (const row of await sources.store.openBreakdown())
          this.set({ status: row.status, model: row.model, priority: row.priority }, row.count);
      },
    });
    const perGpu = (
      name: string,
      help: string,
      pick: (g: ResourceSnapshot['gpus'][number]) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['backend', 'gpu', 'name'],
        registers,
        collect() {
          this.reset();
          for (const b of sources.backends()) {
            for (const g of b.snapshot?.gpus ?? []) {
              const value = pick(g);
              if (value !== undefined)
                this.set({ backend: b.name, gpu: String(g.index), name: g.name }, value);
            }
          }
        },
      });
    perGpu('fleet_gpu_vram_total_bytes', 'VRAM of each GPU', (g) => g.total);
    perGpu('fleet_gpu_vram_used_bytes', 'VRAM in use on each GPU', (g) => g.used);
    perGpu('fleet_gpu_vram_ollama_bytes', "VRAM Ollama's models hold on each GPU", (g) => g.ollama);
    perGpu(
      'fleet_gpu_vram_external_bytes',
      'VRAM other processes hold on each GPU',
      (g) => g.external,
    );
    const perBackend = (name: string, help: string, pick: (b: BackendSource) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['backend'],
        registers,
        collect() {
          this.reset();
          for (const b of sources.backends()) this.set({ backend: b.name }, pick(b));
        },
      });
    perBackend('fleet_gpu_telemetry_available', "1 when the backend's nvidia-smi answers", (b) =>
      b.snapshot?.telemetry.available ? 1 : 0,
    );
    perBackend(
      'fleet_backend_up',
      '1 while the backend answers (0: down, its jobs go elsewhere)',
      (b) => (b.healthy ? 1 : 0),
    );
    perBackend('fleet_backend_jobs_running', 'Jobs running on the backend', (b) => b.running);
    new Gauge({
      name: 'fleet_model_loaded_vram_bytes',
      help: 'VRAM each loaded model holds (Ollama /api/ps)',
      labelNames: ['model', 'backend'],
      registers,
      collect() {
        this.reset();
        for (const b of sources.backends())
          for (const m of b.snapshot?.loaded ?? [])
            this.set({ model: m.name, backend: b.name }, m.size_vram);
      },
    });
    new Gauge({
      name: 'fleet_ladder_rung',
      help: "Each ladder's current rung (0 is the largest model); the model label names it",
      labelNames: ['ladder', 'model'],
      registers,
      async collect() {
        this.reset();
        for (const ladder of await sources.ladders())
          this.set(
            { ladder: ladder.name, model: currentModel(ladder) },
            ladder.current_model_index,
          );
      },
    });
    new Gauge({
      name: 'fleet_model_vram_estimate_bytes',
      help: 'The VRAM the scheduler plans for each rung, by source (catalogue, default, learned)',
      labelNames: ['model', 'source'],
      registers,
      async collect() {
        this.reset();
        for (const ladder of await sources.ladders()) {
          for (const model of ladder.models) {
            const estimate = sources.estimates(model);
            if (estimate.bytes !== undefined)
              this.set({ model, source: estimate.source }, estimate.bytes);
          }
        }
      },
    });
    new Gauge({
      name: 'fleet_log_follower_connected',
      help: "1 while the Ollama container's log is being followed",
      registers,
      collect() {
        this.set(sources.watching() ? 1 : 0);
      },
    });
  }

  /** Job events, as JobEvents.tap delivers them. */
  job(_id: string, event: JobEvent): void {
    if (event.type !== 'complete' && event.type !== 'failed' && event.type !== 'cancelled') return;
    const job = event.job;
    const model = job.resolved_model ?? job.model;
    this.#jobsFinished.inc({ model, status: job.status, reason: job.error?.code ?? 'ok' });
    if (job.started_at !== null)
      this.#wait.observe({ model }, (job.started_at - job.submitted_at) / 1000);
    if (job.status === 'complete' && job.started_at !== null && job.completed_at !== null)
      this.#run.observe({ model }, (job.completed_at - job.started_at) / 1000);
  }

  modelChange(change: {
    type: 'load' | 'unload';
    model: string;
    seconds?: number;
    backend: string;
  }): void {
    const labels = { model: change.model, backend: change.backend };
    if (change.type === 'unload') this.#unloads.inc(labels);
    else {
      this.#loads.inc(labels);
      if (change.seconds !== undefined)
        this.#loadSeconds.observe({ model: change.model }, change.seconds);
    }
  }

  preempted(backend: string, model: string, ranMs: number): void {
    this.#preempted.inc({ model, backend });
    this.#preemptedSeconds.inc({ model, backend }, ranMs / 1000);
  }

  backgroundFailure(task: string): void {
    this.#backgroundFailures.inc({ task });
  }

  incident(ladder: string, kind: string, severity: string): void {
    this.#incidents.inc({ ladder, kind, severity });
  }

  transition(ladder: string, direction: string, source: string): void {
    this.#transitions.inc({ ladder, direction, source });
  }

  request(method: string, route: string, status: number): void {
    this.#http.inc({ method, route, status: String(status) });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
