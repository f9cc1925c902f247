/**
 * Keeps the ResourceSnapshot fresh: Ollama's /api/ps often (it is cheap), /api/tags now and
 * then, nvidia-smi on its own slower interval (it can take over a second), never two at
 * once. Subscribers get each new snapshot; the scheduler can ask for a fresh one at once
 * after it loads or unloads.
 */
import type { Logger } from '../log.js';
import type { OllamaClient } from '../ollama/client.js';
import { canonicalModelName } from '../ollama/names.js';
import type { PsResponse } from '../ollama/schemas.js';
import type { NvidiaSmiReader, Telemetry } from './nvidia-smi.js';
import { buildSnapshot, type ResourceSnapshot } from './snapshot.js';

export interface MonitorOptions {
  ollama: OllamaClient;
  /** Undefined: no nvidia-smi configured for this host. */
  smi: NvidiaSmiReader | undefined;
  vramTotal: number | undefined;
  telemetryIntervalMs: number;
  ollamaIntervalMs: number;
  log: Logger;
  now: () => number;
}

const TAGS_EVERY_MS = 30_000;

export class ResourceMonitor {
  #snapshot: ResourceSnapshot | undefined;
  #telemetry: Telemetry | undefined;
  #installed: { name: string; size: number }[] | undefined;
  #tagsAt = Number.NEGATIVE_INFINITY;
  #telemetryHealthy: boolean | undefined;
  #started = 0;
  #published = 0;
  readonly #subscribers = new Set<(snapshot: ResourceSnapshot) => void>();

  constructor(private readonly options: MonitorOptions) {}

  current(): ResourceSnapshot | undefined {
    return this.#snapshot;
  }

  subscribe(listener: (snapshot: ResourceSnapshot) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  /** Reads Ollama now (and nvidia-smi when `telemetry` is set) and publishes a snapshot. */
  async refresh(
    options: { telemetry?: boolean; signal?: AbortSignal } = {},
  ): Promise<ResourceSnapshot> {
    const { ollama, now } = this.options;
    // Reads overlap (the poll loop, the engine after a load): a read that began before the
    // last published one must not replace it with an older picture.
    const started = ++this.#started;
    // The first snapshot always waits for telemetry (a reading in flight is shared).
    if ((options.telemetry || this.#telemetry === undefined) && this.options.smi) {
      this.#telemetry = await this.options.smi.read(options.signal);
      this.#noteTelemetry(this.#telemetry);
    }
    let ps: PsResponse | { error: string };
    try {
      ps = await ollama.ps(options.signal);
      if (now() - this.#tagsAt >= TAGS_EVERY_MS) {
        const tags = await ollama.tags(options.signal);
        this.#installed = tags.models.map((m) => ({
          name: canonicalModelName(m.name),
          size: m.size,
        }));
        this.#tagsAt = now();
      }
    } catch (err) {
      ps = { error: (err as Error).message };
    }
    const snapshot = buildSnapshot({
      at: now(),
      telemetry: this.#telemetry,
      ps,
      installed: this.#installed,
      vramTotal: this.options.vramTotal,
    });
    if (started < this.#published && this.#snapshot) return this.#snapshot;
    this.#published = started;
    this.#snapshot = snapshot;
    for (const listener of this.#subscribers) listener(snapshot);
    return snapshot;
  }

  /** Polls until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let telemetryDue = 0;
    while (!signal.aborted) {
      const now = this.options.now();
      const telemetry = now >= telemetryDue;
      if (telemetry) telemetryDue = now + this.options.telemetryIntervalMs;
      try {
        await this.refresh({ telemetry, signal });
      } catch (err) {
        if (!signal.aborted) this.options.log.error({ err }, 'resource poll failed');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.ollamaIntervalMs);
        signal.addEventListener('abort', done, { once: true });
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  }

  /** Logs when telemetry comes and goes, not on every poll. */
  #noteTelemetry(telemetry: Telemetry): void {
    if (telemetry.available === this.#telemetryHealthy) return;
    this.#telemetryHealthy = telemetry.available;
    if (telemetry.available) {
      this.options.log.info({ gpus: telemetry.gpus.map((g) => g.name) }, 'GPU telemetry available');
    } else {
      this.options.log.warn(
        { reason: telemetry.failure },
        `GPU telemetry unavailable (${telemetry.failure.message}); scheduling on Ollama's numbers and gpu.vram_total_mib`,
      );
    }
  }
}
