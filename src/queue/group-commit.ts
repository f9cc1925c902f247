/**
 * Group commit: single submits that arrive in the same turn of the event loop are written in
 * one transaction, so many clients share one fsync instead of paying one each. Each caller
 * still gets its own job and place in line, and its own refusal when the queue is full.
 */
import { Errors, FleetError } from '../errors.js';
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
    private readonly maxSize: number,
    private readonly now: () => number,
  ) {}

  submit(job: NewJob): Promise<{ job: Job; position: number | undefined }> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject });
      if (this.#waiting.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const group = this.#waiting.splice(0);
    try {
      const saved = await this.store.submit(
        group.map((w) => w.job),
        this.now(),
        this.maxSize,
      );
      const places = await this.store.positions(
        saved.map((j) => j.id),
        this.now(),
      );
      for (const [i, job] of saved.entries())
        group[i]?.resolve({ job, position: places.get(job.id) });
    } catch (err) {
      // The group did not fit: some of it may; each is tried alone, in order.
      if (
        group.length > 1 &&
        err instanceof FleetError &&
        err.code === Errors.FLEET_ERR_QUEUE_FULL.code
      ) {
        for (const w of group) {
          try {
            const [job] = await this.store.submit([w.job], this.now(), this.maxSize);
            w.resolve({
              job: job as Job,
              position: await this.store.position((job as Job).id, this.now()),
            });
          } catch (one) {
            w.reject(one);
          }
        }
        return;
      }
      for (const w of group) w.reject(err);
    }
  }
}
