/**
 * Every change of a job's state, written and announced in one place: the store says what
 * happened (a change that came too late, the job having ended meanwhile, returns undefined)
 * and its event goes out only then, so followers never see a state the store does not hold.
 * Cancelling or failing a job from outside also stops its request if it is running.
 */
import type { JobEvents } from './events.js';
import type { Job, JobError } from './job.js';
import type { JobStore } from './store.js';

export class Jobs {
  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly now: () => number,
    /** Aborts a running job's request (the engine); a no-op for a job not running. */
    private readonly stopRunning: (id: string) => void = () => {},
  ) {}

  /** Claimed to run: followers hear it is running. */
  started(job: Job): void {
    this.events.publish(job.id, { type: 'running', job });
  }

  complete(id: string, result: Record<string, unknown>): Promise<Job | undefined> {
    return this.#change(this.store.complete(id, result, this.now()), 'complete');
  }

  /** Back to the queue (or failed, when out of attempts: the store decides). */
  async requeue(id: string, error: JobError, countAttempt: boolean): Promise<Job | undefined> {
    const after = await this.store.requeue(id, error, countAttempt, this.now());
    if (after)
      this.events.publish(
        id,
        after.status === 'failed'
          ? { type: 'failed', job: after }
          : { type: 'requeued', job: after },
      );
    return after;
  }

  /**
   * Ends a job as failed. From outside the engine (`stop: true`), a running request is
   * stopped too; the engine failing its own call needs no stopping.
   */
  async fail(
    id: string,
    error: JobError,
    options: { stop?: boolean } = {},
  ): Promise<Job | undefined> {
    const failed = await this.#change(this.store.fail(id, error, this.now()), 'failed');
    if (failed && options.stop) this.stopRunning(id);
    return failed;
  }

  /** Cancels a job that has not ended; undefined when it had. Stops it if it runs. */
  async cancel(id: string): Promise<Job | undefined> {
    const cancelled = await this.store.cancel(id, this.now());
    if (!cancelled) return undefined;
    this.stopRunning(id);
    this.events.publish(id, { type: 'cancelled', job: cancelled });
    return cancelled;
  }

  async #change(
    write: Promise<Job | undefined>,
    type: 'complete' | 'failed',
  ): Promise<Job | undefined> {
    const job = await write;
    if (job) this.events.publish(job.id, { type, job });
    return job;
  }
}
