/** `/api/stats` (the picture the existing tool's users read, in bytes, plus ours) and `/api/ready`. */
import type { FastifyInstance } from 'fastify';
import type { FleetControl } from '../../fleet/control.js';
import type { OllamaClient } from '../../ollama/client.js';
import type { JobStore } from '../../queue/store.js';

export interface StatsOptions {
  store: JobStore;
  ollama: OllamaClient;
  fleet: FleetControl;
  /** gpu.vram_total_mib in bytes, when set. */
  vramTotal: number | undefined;
  engineState: () => string;
}

export function statsRoutes(app: FastifyInstance, options: StatsOptions): void {
  app.get('/api/stats', async () => {
    const [counts, ps, fleet] = await Promise.all([
      options.store.counts(),
      options.ollama.ps().then(
        (r) => ({ ok: true as const, models: r.models }),
        (err: Error) => ({ ok: false as const, error: err.message }),
      ),
      options.fleet.status(),
    ]);
    const loaded = ps.ok ? ps.models : [];
    const used = loaded.reduce((sum, m) => sum + m.size_vram, 0);
    const total = options.vramTotal ?? null;
    return {
      running: counts.by_status.running,
      queue: { total_jobs: counts.total, by_status: counts.by_status, by_model: counts.by_model },
      resources: {
        vram: { total, used, free: total === null ? null : Math.max(0, total - used) },
        loaded_models: loaded.map((m) => ({
          name: m.name,
          size: m.size,
          size_vram: m.size_vram,
          expires_at: m.expires_at,
        })),
        ollama: ps.ok
          ? { reachable: true, url: options.ollama.url }
          : { reachable: false, url: options.ollama.url, error: ps.error },
      },
      fleet: { ladders: fleet.ladders },
      engine: { state: options.engineState() },
    };
  });

  app.get('/api/ready', async (_request, reply) => {
    const [ollama, store] = await Promise.all([
      options.ollama.version().then(
        (version) => ({ ok: true, version }),
        (err: Error) => ({ ok: false, error: err.message }),
      ),
      options.store.counts().then(
        () => ({ ok: true }),
        (err: Error) => ({ ok: false, error: err.message }),
      ),
    ]);
    const ready = ollama.ok && store.ok;
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not_ready', checks: { ollama, store } });
  });
}
