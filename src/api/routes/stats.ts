/** `/api/stats` (the picture the existing tool's users read, in bytes, plus ours) and `/api/ready`. */
import type { FastifyInstance } from 'fastify';
import type { OllamaFront } from '../../backends/backends.js';
import type { FleetControl } from '../../fleet/control.js';
import type { PullProgress } from '../../fleet/pulls.js';
import type { VramSample } from '../../gpu/history.js';
import type { ResourceSnapshot } from '../../gpu/snapshot.js';
import type { JobStore } from '../../queue/store.js';
import type { Estimate } from '../../registry/registry.js';

export interface StatsOptions {
  store: JobStore;
  ollama: OllamaFront;
  fleet: FleetControl;
  snapshot: () => Promise<ResourceSnapshot>;
  estimate: (model: string, numCtx?: number) => Estimate;
  engineState: () => string;
  watchState: () => unknown;
  /** The job database's last disk fault, until a write succeeds again. */
  storeHealth?: () => { ok: true } | { ok: false; problem: string };
  /** VRAM per GPU over the last hour. */
  vramHistory?: () => readonly VramSample[];
  /** Models being pulled, and how far each has got. */
  pulls?: () => PullProgress[];
  /** Each Ollama backend: health, cards, loaded models, running jobs. */
  backends?: () => unknown[];
  /** On a shared queue: every live supervisor and its backends. */
  cluster?: () => Promise<unknown>;
}

export function resourcesView(snapshot: ResourceSnapshot, estimate: StatsOptions['estimate']) {
  return {
    vram: snapshot.totals,
    gpus: snapshot.gpus,
    loaded_models: snapshot.loaded.map((m) => ({
      ...m,
      estimate: estimate(m.name, m.context_length),
    })),
    telemetry: snapshot.telemetry,
    ollama: snapshot.ollama,
    taken_at: new Date(snapshot.at).toISOString(),
  };
}

export function statsRoutes(app: FastifyInstance, options: StatsOptions): void {
  app.get('/api/stats', async () => {
    const [counts, breakdown, snapshot, fleet, cluster] = await Promise.all([
      options.store.counts(),
      options.store.openBreakdown(),
      options.snapshot(),
      options.fleet.status(),
      options.cluster?.(),
    ]);
    // Waiting jobs per model and priority: { model: { high, normal, low } }.
    const byPriority: Record<string, Record<string, number>> = {};
    for (const row of breakdown) {
      if (row.status === 'running') continue;
      const model = byPriority[row.model] ?? { high: 0, normal: 0, low: 0 };
      model[row.priority] = (model[row.priority] ?? 0) + row.count;
      byPriority[row.model] = model;
    }
    return {
      running: counts.by_status.running,
      queue: {
        total_jobs: counts.total,
        by_status: counts.by_status,
        by_model: counts.by_model,
        waiting_by_priority: byPriority,
      },
      resources: {
        ...resourcesView(snapshot, options.estimate),
        history: (options.vramHistory?.() ?? []).map((h) => ({
          at: new Date(h.at).toISOString(),
          gpus: h.gpus,
        })),
      },
      fleet: {
        ladders: fleet.ladders.map((l) => ({
          ...l,
          estimates: Object.fromEntries(l.models.map((m) => [m, options.estimate(m)])),
        })),
      },
      engine: { state: options.engineState() },
      backends: options.backends?.() ?? [],
      ...(cluster === undefined ? {} : { cluster }),
      pulls: (options.pulls?.() ?? []).map((p) => ({
        ...p,
        started_at: new Date(p.started_at).toISOString(),
      })),
      watch: options.watchState(),
    };
  });

  app.get('/api/ready', async (_request, reply) => {
    const [ollama, store] = await Promise.all([
      options.ollama.version().then(
        (version) => ({ ok: true, version }),
        (err: Error) => ({ ok: false, error: err.message }),
      ),
      options.store.counts().then(
        () => {
          // Reads may work while writes fail (a full disk): the last write fault counts.
          const health = options.storeHealth?.() ?? { ok: true };
          return health.ok ? { ok: true } : { ok: false, error: health.problem };
        },
        (err: Error) => ({ ok: false, error: err.message }),
      ),
    ]);
    const ready = ollama.ok && store.ok;
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not_ready', checks: { ollama, store } });
  });
}
