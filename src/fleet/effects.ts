/**
 * The effects of ladder moves (pull the new rung, let the old one go, rewrite and restart the
 * workers), carried out one after another: two quick moves never race on the same worker
 * config, and the last move's model is what the workers end up with. Each effect is owned:
 * a failure is caught, logged and counted, never lost. `close()` stops taking effects, aborts
 * the one running (its work takes the signal) and resolves once it has stopped; it can be
 * called twice.
 */
import type { Logger } from '../log.js';

export class SerialEffects {
  #tail: Promise<void> = Promise.resolve();
  readonly #stop = new AbortController();
  #closed: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    /** Told of each failure by effect name (metrics). */
    private readonly onFailure: (effect: string) => void = () => {},
  ) {}

  /** Queues an effect behind the ones before it; after close(), it is dropped and said so. */
  enqueue(name: string, work: (signal: AbortSignal) => Promise<unknown>): void {
    if (this.#stop.signal.aborted) {
      this.log.warn({ effect: name }, `not carried out (shutting down): ${name}`);
      return;
    }
    this.#tail = this.#tail.then(async () => {
      if (this.#stop.signal.aborted) return;
      try {
        await work(this.#stop.signal);
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        this.log.error({ err, effect: name }, `failed: ${name}`);
        this.onFailure(name);
      }
    });
  }

  /** Resolves once every queued effect has run (for tests and an orderly wait). */
  idle(): Promise<void> {
    return this.#tail;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#stop.abort();
      await this.#tail;
    })();
    return this.#closed;
  }
}
