/**
 * The ladders as they stand, for resolving aliases on every dispatch: read at most once per
 * `maxAgeMs` (and at once after `forget()`, a transition), and when the state file cannot be
 * read for a while (replaced, out of file handles) the last good copy stands in, the trouble
 * said once until the file reads again.
 */
import type { Logger } from '../log.js';
import type { LadderState } from './ladder.js';

export class LadderCache {
  #cached: { at: number; value: LadderState[] } | undefined;
  #lastGood: LadderState[] | undefined;
  #failing = false;

  constructor(
    private readonly read: () => Promise<LadderState[]>,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly maxAgeMs = 1_000,
  ) {}

  forget(): void {
    this.#cached = undefined;
  }

  async current(): Promise<LadderState[]> {
    if (this.#cached && this.now() - this.#cached.at <= this.maxAgeMs) return this.#cached.value;
    try {
      const value = await this.read();
      this.#cached = { at: this.now(), value };
      this.#lastGood = value;
      if (this.#failing) this.log.info('the ladder state reads again');
      this.#failing = false;
      return value;
    } catch (err) {
      if (!this.#lastGood) throw err;
      if (!this.#failing)
        this.log.warn(
          { err },
          'cannot read the ladder state; resolving aliases from the last good copy',
        );
      this.#failing = true;
      this.#cached = { at: this.now(), value: this.#lastGood };
      return this.#lastGood;
    }
  }
}
