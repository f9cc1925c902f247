/**
 * Models present before work needs them: pulls a model Ollama lacks (a ladder's rung at
 * start or after a step, `pull_on_start`), one pull per model at a time. While a model is
 * being pulled its jobs wait in the queue instead of failing on "model not found".
 */
import type { Logger } from '../log.js';
import type { OllamaClient } from '../ollama/client.js';
import { sameModel } from '../ollama/names.js';

export class ModelPulls {
  readonly #pulling = new Map<string, Promise<boolean>>();

  constructor(
    private readonly ollama: OllamaClient,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** A pull of this model (or the check before it) is under way. */
  isPulling(model: string): boolean {
    return [...this.#pulling.keys()].some((m) => sameModel(m, model));
  }

  /** Resolves true once the model is installed (pulled if need be), false if it cannot be. */
  ensure(model: string, signal: AbortSignal): Promise<boolean> {
    const running = this.#pulling.get(model);
    if (running) return running;
    const pull = this.#ensure(model, signal).finally(() => this.#pulling.delete(model));
    this.#pulling.set(model, pull);
    return pull;
  }

  async #ensure(model: string, signal: AbortSignal): Promise<boolean> {
    const installed = await this.ollama.tags(signal);
    if (installed.models.some((m) => sameModel(m.name, model))) return true;
    const started = Date.now();
    this.log.info({ model }, `pulling ${model}: Ollama does not have it yet; its jobs wait`);
    try {
      await this.ollama.call(
        '/api/pull',
        { model, stream: false },
        { signal, firstByteTimeoutMs: this.timeoutMs, idleTimeoutMs: this.timeoutMs },
      );
    } catch (err) {
      if (signal.aborted) return false;
      this.log.error(
        { err, model },
        `could not pull ${model}; its jobs will fail until it is there`,
      );
      return false;
    }
    this.log.info(
      { model, seconds: Math.round((Date.now() - started) / 100) / 10 },
      `pulled ${model}`,
    );
    return true;
  }
}
