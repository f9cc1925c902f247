/**
 * The durable job store. SQLite today; a PostgreSQL store must pass the same conformance
 * suite (test/queue/conformance.ts), so every method is async and says exactly what it does.
 */
import type { Job, JobError, JobStatus, NewJob, Priority } from './job.js';

export interface ModelDemand {
  /** The job's `model` field as submitted (a concrete name or a ladder alias). */
  model: string;
  pending: number;
  /** Epoch ms of the oldest pending job. */
  oldest_submitted_at: number;
  /** The best effective rank among its pending jobs (0 high, 1 normal, 2 low). */
  best_rank: number;
  /** That rank's priority name. */
  best_priority: Priority;
}

export interface JobCounts {
  total: number;
  by_status: Record<JobStatus, number>;
  /** Jobs not yet final, per submitted model. */
  by_model: Record<string, { pending: number; queued: number; running: number }>;
}

export interface ClaimRequest {
  /** Only jobs whose submitted `model` is one of these. */
  models: readonly string[];
  /** The concrete model they will run on. */
  resolved: string;
  /** The backend they will run on, kept on each job. */
  backend?: string;
  limit: number;
  now: number;
}

export interface JobStore {
  /**
   * Adds jobs in one transaction; all or none. Throws FLEET_ERR_QUEUE_FULL when the jobs not
   * yet final would exceed `maxSize`. A job whose `idempotency_key` a kept job already has is
   * not added: that job is returned in its place.
   */
  submit(jobs: readonly NewJob[], now: number, maxSize: number): Promise<Job[]>;
  get(id: string): Promise<Job | undefined>;
  list(filter: { status?: JobStatus; model?: string; limit: number }): Promise<Job[]>;
  /** Pending jobs by submitted model, for the scheduler. */
  demand(now: number): Promise<ModelDemand[]>;
  /**
   * Takes up to `limit` pending jobs of these models, best effective rank first then oldest,
   * marks them running with one more attempt, and returns them.
   */
  claim(request: ClaimRequest): Promise<Job[]>;
  /** running -> complete; undefined when the job was not running (cancelled meanwhile). */
  complete(id: string, result: Record<string, unknown>, now: number): Promise<Job | undefined>;
  /** pending/queued/running -> failed. */
  fail(id: string, error: JobError, now: number): Promise<Job | undefined>;
  /**
   * running/queued -> pending, to run again. With `countAttempt` false the attempt it used is
   * given back (the supervisor's own shutdown, Ollama unreachable). A job out of attempts
   * fails instead, with `error` as the reason.
   */
  requeue(
    id: string,
    error: JobError,
    countAttempt: boolean,
    now: number,
  ): Promise<Job | undefined>;
  /** pending/queued/running -> cancelled; undefined when it had already ended. */
  cancel(id: string, now: number): Promise<Job | undefined>;
  /**
   * After a crash: running/queued jobs go back to pending, or fail when out of attempts;
   * attached jobs that have not ended are cancelled (their callers' connections are gone).
   */
  recover(now: number): Promise<{ requeued: number; failed: number; cancelled: number }>;
  /** 1-based place among pending jobs, or undefined when not pending. */
  position(id: string, now: number): Promise<number | undefined>;
  /**
   * The places of many jobs at once (a batch just submitted): the same answers as `position`
   * for each, in one pass over the queue per priority level rather than one per job.
   */
  positions(ids: readonly string[], now: number): Promise<Map<string, number>>;
  counts(): Promise<JobCounts>;
  /** Unfinished jobs by status, model and priority (for metrics). */
  openBreakdown(): Promise<
    { status: JobStatus; model: string; priority: Priority; count: number }[]
  >;
  /** Deletes final jobs completed before `before`; returns how many. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}

export interface StoreSettings {
  /** A low job is served like a normal one after waiting this long (ms). */
  agingMs: number;
  /** Runs a job may start before it fails for good. */
  maxAttempts: number;
}
