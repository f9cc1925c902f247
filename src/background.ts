/**
 * Work the supervisor starts and does not wait for (counting an incident, learning VRAM from
 * a snapshot, pulling a model after a ladder step): each task is owned here. A failure is
 * caught, logged with the task's name and counted, never left to crash the process, and
 * `settle()` waits for what is still in flight, so shutdown lets go of the files only after.
 */
import type { Logger } from './log.js';

export class Background {
  readonly #inFlight = new Set<Promise<void>>();
  readonly #failures = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    /** Told of each failure by task name (metrics). */
    private readonly onFailure: (task: string) => void = () => {},
  ) {}

  /** Starts a task; its failure is logged and counted under `task`. */
  run(task: string, work: () => Promise<unknown>): void {
    const running = (async () => {
      try {
        await work();
      } catch (err) {
        this.#failures.set(task, (this.#failures.get(task) ?? 0) + 1);
        this.log.error({ err, task }, `background task failed: ${task}`);
        this.onFailure(task);
      }
    })();
    this.#inFlight.add(running);
    void running.finally(() => this.#inFlight.delete(running));
  }

  /** Failures so far, by task name. */
  failures(): Record<string, number> {
    return Object.fromEntries(this.#failures);
  }

  /** Resolves once nothing is in flight, tasks started meanwhile included. */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
