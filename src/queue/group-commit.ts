/**
 * Group commit: single submits that arrive in the same turn of the event loop are written in
 * one transaction, so many clients share one fsync instead of paying one each. Each caller
 * still gets its own job and place in line, and its own refusal when the queue is full.
 * Every way in (single, batch, the compatible routes) comes through here, and here each new
 * job is announced as queued.
 */
import type { JobEvents } from './events.js';
import type { Job, NewJob } from './job.js';
import type { JobStore } from './store.js';

interface Waiting {
  job: NewJob;
  resolve: (saved: { job: Job; position: number | undefined }) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  #waiting: Waiting[] = [];

  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly maxSize: number,
    private readonly now: () => number,
  ) {}

  /** A batch: all in one transaction, or none (the queue bound applies to the whole batch). */
  async batch(jobs: readonly NewJob[]): Promise<{ job: Job; position: number | undefined }[]> {
    const at = this.now();
    const saved = await this.store.submit(jobs, at, this.maxSize);
    return this.#announce(saved, at);
  }

  /**
   * After the commit nothing may fail the submit (the jobs exist): a place that cannot be
   * read is unknown, not an error. A job given back for a repeated idempotency key is not
   * announced again (it may be running already).
   */
  async #announce(saved: Job[], at: number): Promise<{ job: Job; position: number | undefined }[]> {
    const places = await this.store
      .positions(
        saved.map((j) => j.id),
        at,
      )
      .catch(() => new Map<string, number>());
    return saved.map((job) =>
      job.submitted_at === at
        ? this.#queued(job, places.get(job.id))
        : { job, position: places.get(job.id) },
    );
  }

  submit(job: NewJob): Promise<{ job: Job; position: number | undefined }> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject });
      if (this.#waiting.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const group = this.#waiting.splice(0);
    try {
      const saved = await this.batch(group.map((w) => w.job));
      for (const [i, one] of saved.entries()) group[i]?.resolve(one);
    } catch (err) {
      if (group.length === 1) {
        group[0]?.reject(err);
        return;
      }
      // The group did not fit, or one of it could not be written: each is tried alone, in
      // order, so one bad submit never fails its neighbours.
      for (const w of group) {
        try {
          w.resolve(
            ((await this.batch([w.job])) as [{ job: Job; position: number | undefined }])[0],
          );
        } catch (one) {
          w.reject(one);
        }
      }
    }
  }

  #queued(job: Job, position: number | undefined): { job: Job; position: number | undefined } {
    try {
      this.events.publish(job.id, { type: 'queued', job, position });
    } catch {
      // A follower that failed does not undo the submit: the job is stored, and it is said.
    }
    return { job, position };
  }
}
