/**
 * Models present before work needs them: pulls a model Ollama lacks (a ladder's rung at
 * start or after a step, `pull_on_start`), one pull per model at a time. While a model is
 * being pulled its jobs wait in the queue instead of failing on "model not found".
 */
import type { Logger } from '../log.js';
import type { OllamaClient } from '../ollama/client.js';
import { canonicalModelName, sameModel } from '../ollama/names.js';
import { ndjsonObjects } from '../ollama/ndjson.js';

/** A pull under way, as `/api/stats` and the dashboard show it. */
export interface PullProgress {
  model: string;
  /** Ollama's last word: `pulling manifest`, `pulling 6a0746a1ec1a`, `verifying ...`. */
  status: string;
  completed?: number;
  total?: number;
  started_at: number;
}

export class ModelPulls {
  readonly #pulling = new Map<string, Promise<boolean>>();
  readonly #progress = new Map<string, PullProgress>();

  constructor(
    private readonly ollama: OllamaClient,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** The pulls under way and how far each has got. */
  progress(): PullProgress[] {
    return [...this.#progress.values()].map((p) => ({ ...p }));
  }

  /** A pull of this model (or the check before it) is under way. */
  isPulling(model: string): boolean {
    return [...this.#pulling.keys()].some((m) => sameModel(m, model));
  }

  /**
   * Resolves true once the model is installed (pulled if need be), false if it cannot be.
   * The model counts as being pulled from this call on, also while it waits for `ready`
   * (Ollama answering at all), so no job of it fails on "not found" meanwhile.
   */
  ensure(
    model: string,
    signal: AbortSignal,
    ready: Promise<unknown> = Promise.resolve(),
  ): Promise<boolean> {
    // One pull per model, however it is spelt (`llama3` and `llama3:latest` are one).
    const key = canonicalModelName(model);
    const running = this.#pulling.get(key);
    if (running) return running;
    const pull = ready
      .then(() => (signal.aborted ? false : this.#ensure(model, signal)))
      .finally(() => this.#pulling.delete(key));
    this.#pulling.set(key, pull);
    return pull;
  }

  async #ensure(model: string, signal: AbortSignal): Promise<boolean> {
    const installed = await this.ollama.tags(signal);
    if (installed.models.some((m) => sameModel(m.name, model))) return true;
    const started = Date.now();
    this.log.info({ model }, `pulling ${model}: Ollama does not have it yet; its jobs wait`);
    this.#progress.set(model, { model, status: 'starting', started_at: started });
    try {
      await this.#pull(model, signal);
    } catch (err) {
      if (signal.aborted) return false;
      this.log.error(
        { err, model },
        `could not pull ${model}; its jobs will fail until it is there`,
      );
      return false;
    } finally {
      this.#progress.delete(model);
    }
    this.log.info(
      { model, seconds: Math.round((Date.now() - started) / 100) / 10 },
      `pulled ${model}`,
    );
    return true;
  }

  /** Ollama's streamed pull, its progress noted line by line; an error line is a failure. */
  async #pull(model: string, signal: AbortSignal): Promise<void> {
    const answer = await this.ollama.forward(
      'POST',
      '/api/pull',
      JSON.stringify({ model, stream: true }),
      AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
    );
    let lastLogged = '';
    for await (const step of ndjsonObjects(answer.body as AsyncIterable<Buffer>)) {
      if (typeof step.error === 'string') throw new Error(step.error);
      const now = this.#progress.get(model);
      if (!now) continue;
      const next: PullProgress = {
        ...now,
        status: typeof step.status === 'string' ? step.status : now.status,
      };
      if (typeof step.total === 'number') next.total = step.total;
      if (typeof step.completed === 'number') next.completed = step.completed;
      this.#progress.set(model, next);
      // The log says each stage once, not every progress line.
      if (next.status !== lastLogged) {
        this.log.debug({ model, status: next.status }, `pull ${model}: ${next.status}`);
        lastLogged = next.status;
      }
    }
    if (answer.status >= 400) throw new Error(`Ollama answered ${answer.status}`);
  }
}
