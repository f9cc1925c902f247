/**
 * Tells the jobs someone watches (a long-poll, an event stream) where they now stand in line,
 * when that changed. One for the supervisor: several dispatchers (one per backend) ask after
 * each of their loops, and a round already under way serves them all.
 */
import type { JobEvents } from './events.js';
import type { JobStore } from './store.js';

export class QueuePositions {
  readonly #last = new Map<string, number>();
  #round: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<JobStore, 'position'>,
    private readonly events: JobEvents,
  ) {}

  publish(at: number): Promise<void> {
    this.#round ??= this.#publish(at).finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  async #publish(at: number): Promise<void> {
    for (const id of this.events.watched()) {
      const position = await this.store.position(id, at);
      if (position === undefined) {
        this.#last.delete(id);
        continue;
      }
      if (this.#last.get(id) === position) continue;
      this.#last.set(id, position);
      this.events.publish(id, { type: 'position', position });
    }
  }
}
