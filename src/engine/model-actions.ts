/**
 * What Ollama holds, changed on the dispatcher's word: unloads (keep_alive 0, then waiting
 * until /api/ps no longer lists the model), then a load (an empty generate, or an empty embed
 * for an embedding model, with the fleet's keep_alive). One change at a time; a model being
 * unloaded is known as such until its unload ends, so no job is sent to it meanwhile.
 */
import type { ResourceSnapshot } from '../gpu/snapshot.js';
import type { Logger } from '../log.js';
import type { OllamaCallError } from '../ollama/client.js';
import { canonicalModelName } from '../ollama/names.js';
import type { JobError } from '../queue/job.js';
import type { OllamaBackend } from './backend.js';
import { classifyFailure } from './failures.js';
import type { VramIncidentReport } from './job-runner.js';

const UNLOAD_POLLS = 100;
const UNLOAD_POLL_MS = 100;

export interface ModelActionsOptions {
  backend: OllamaBackend;
  log: Logger;
  now: () => number;
  keepAlive: string | number;
  loadTimeoutMs: number;
  sleep: (ms: number, signal: AbortSignal) => Promise<unknown>;
  onModelChange?: (change: { type: 'load' | 'unload'; model: string; seconds?: number }) => void;
  onVramIncident?: (incident: VramIncidentReport) => void;
  /** Before loading beside other models: whether the plan still loads it on this picture. */
  stillLoads: (fresh: ResourceSnapshot, model: string) => boolean;
  /** Ollama refused the model itself (not installed, not a model): its waiting jobs fail. */
  onRefused: (model: string, error: JobError) => Promise<void>;
  /** A change failed; `unreachable` when Ollama did not answer at all. */
  onFailed: (unreachable: boolean, problem: string) => void;
}

export class ModelActions {
  readonly #unloading = new Set<string>();
  #loading: string | undefined;
  #action: Promise<void> | undefined;

  constructor(private readonly options: ModelActionsOptions) {}

  /** A change is under way. */
  get busy(): boolean {
    return this.#action !== undefined;
  }

  /** The model being loaded now (as the plan named it), if any. */
  get loading(): string | undefined {
    return this.#loading;
  }

  /** Being unloaded now (canonical name): no job goes to it. */
  isUnloading(model: string): boolean {
    return this.#unloading.has(canonicalModelName(model));
  }

  /**
   * Starts unloading, then loading, unless a change is under way (then false). `settled` is
   * called when it ends, whatever the outcome.
   */
  begin(
    unload: readonly string[],
    load: string | undefined,
    signal: AbortSignal,
    settled: () => void,
  ): boolean {
    if (this.#action !== undefined) return false;
    this.#loading = load;
    this.#action = this.#carryOut(unload, load, signal).finally(() => {
      this.#action = undefined;
      this.#loading = undefined;
      settled();
    });
    return true;
  }

  /** Resolves once the change under way (if any) has ended. */
  async settle(): Promise<void> {
    await this.#action?.catch(() => {});
  }

  async #carryOut(
    unload: readonly string[],
    load: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const { client: ollama, monitor } = this.options.backend;
    const timeout = this.options.loadTimeoutMs;
    const call = { signal, firstByteTimeoutMs: timeout, idleTimeoutMs: timeout };
    try {
      for (const model of unload) {
        this.#unloading.add(model);
        await ollama.call('/api/generate', { model, keep_alive: 0 }, call);
        // Ollama answers at once and stops the runner when it is idle: wait until it is gone.
        for (let i = 0; i < UNLOAD_POLLS; i++) {
          const ps = await ollama.ps(signal);
          if (!ps.models.some((m) => canonicalModelName(m.name) === model)) break;
          await this.options.sleep(UNLOAD_POLL_MS, signal);
        }
        this.options.onModelChange?.({ type: 'unload', model });
      }
      if (unload.length > 0) await monitor.refresh({ signal });
      if (load !== undefined && (monitor.current()?.loaded.length ?? 0) > 0) {
        // Loading beside other models: look at the card again first, as another process may
        // have taken memory since the last nvidia-smi reading.
        const fresh = await monitor.refresh({ telemetry: true, signal });
        if (!this.options.stillLoads(fresh, load)) {
          this.options.log.info(
            { model: load },
            `not loading ${load} now: on a fresh look at the card the plan is another (the next loop says which)`,
          );
          return;
        }
      }
      if (load !== undefined) {
        const body = { model: load, keep_alive: this.options.keepAlive };
        const started = this.options.now();
        try {
          // An empty generate loads a model without generating anything.
          await ollama.call('/api/generate', body, call);
        } catch (err) {
          // An embedding model takes no generate: an empty embed loads it.
          const text = (err as Partial<OllamaCallError>).ollamaError ?? '';
          if (!text.includes('does not support generate')) throw err;
          await ollama.call('/api/embed', body, call);
        }
        this.options.onModelChange?.({
          type: 'load',
          model: load,
          seconds: (this.options.now() - started) / 1000,
        });
        await monitor.refresh({ signal });
      }
    } catch (err) {
      // Shutdown cut the load or unload short: nothing went wrong.
      if (signal.aborted) return;
      const kind = classifyFailure(err);
      this.options.log.debug({ err, kind }, 'a load or unload failed');
      this.options.log.warn(
        { error: (err as Error).message, kind, unload, load },
        'could not change what Ollama holds',
      );
      if (load !== undefined && (kind === 'oom' || kind === 'crash')) {
        this.options.onVramIncident?.({
          model: load,
          message: (err as OllamaCallError).ollamaError ?? String(err),
          at: this.options.now(),
          severity: kind === 'oom' ? 'hard' : 'soft',
        });
      }
      if (load !== undefined && kind === 'rejected') {
        const { httpStatus, ollamaError } = err as OllamaCallError;
        await this.options.onRefused(load, {
          code: 'FLEET_ERR_OLLAMA_RESPONSE',
          message: ollamaError,
          status: httpStatus,
        });
      }
      this.options.onFailed(kind === 'unreachable', (err as Error).message);
    } finally {
      for (const model of unload) this.#unloading.delete(model);
    }
  }
}
