/**
 * Whether a backend answers. `suspect` after one call went unanswered (dispatch pauses there
 * and probes), `down` once the probe or two polls in a row fail: placement skips it and the
 * jobs running on it go back to the queue. Any answer brings it back `up`.
 */
export type HealthState = 'up' | 'suspect' | 'down';

export interface HealthChange {
  state: HealthState;
  /** Why it is not up, in words. */
  problem: string | undefined;
  at: number;
}

/** Polls of /api/ps that must fail in a row before the backend counts as down. */
const FAILED_POLLS_FOR_DOWN = 2;

export class BackendHealth {
  #state: HealthState = 'up';
  #problem: string | undefined;
  #since: number;
  #failedPolls = 0;
  readonly #listeners = new Set<(change: HealthChange) => void>();

  constructor(private readonly now: () => number) {
    this.#since = now();
  }

  get state(): HealthState {
    return this.#state;
  }

  /** Whether the backend counts as there: up, or suspect until a probe says otherwise. */
  get healthy(): boolean {
    return this.#state !== 'down';
  }

  /** Whether new work may go to it now. */
  get dispatchable(): boolean {
    return this.#state === 'up';
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  /** Since when it has been in its state (epoch ms). */
  get since(): number {
    return this.#since;
  }

  onChange(listener: (change: HealthChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** It answered (a poll, a probe, a job's call). */
  answered(): void {
    this.#failedPolls = 0;
    this.#set('up', undefined);
  }

  /** A call went unanswered: stop sending work until a probe tells. */
  suspect(problem: string): void {
    if (this.#state === 'up') this.#set('suspect', problem);
  }

  /** A poll of its /api/ps failed; the second in a row marks it down. */
  pollFailed(problem: string): void {
    this.#failedPolls += 1;
    if (this.#failedPolls >= FAILED_POLLS_FOR_DOWN) this.down(problem);
    else this.suspect(problem);
  }

  /** A probe failed: it is down. */
  down(problem: string): void {
    if (this.#state === 'down') {
      this.#problem = problem;
      return;
    }
    this.#set('down', problem);
  }

  #set(state: HealthState, problem: string | undefined): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#problem = problem;
    this.#since = this.now();
    const change = { state, problem, at: this.#since };
    for (const listener of this.#listeners) listener(change);
  }
}
