/**
 * The JobStore on an embedded SQLite file (`<state_dir>/jobs.db`, WAL, synchronous FULL so a
 * committed submit survives a crash or a power cut). better-sqlite3 is synchronous; each
 * method is one statement or one transaction.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { Errors, FleetError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  type Job,
  type JobError,
  type JobStatus,
  type NewJob,
  PRIORITIES,
  PRIORITY_RANK,
  type Priority,
} from './job.js';
import { breakdownOf, countsOf, type JobRow, OPEN_STATUSES as OPEN, toJob } from './job-row.js';
import { openJobDatabase } from './sqlite-schema.js';
import type { ClaimRequest, JobCounts, JobStore, ModelDemand, StoreSettings } from './store.js';

export const JOBS_FILE = 'jobs.db';

/** The effective rank as SQL: priority lifted one level per aging period, never below 0. */
const RANK = 'MAX(priority - CAST((@now - submitted_at) / @aging AS INTEGER), 0)';

export class SqliteJobStore implements JobStore {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #settings: StoreSettings;
  #closed = false;

  constructor(options: { stateDir: string; settings: StoreSettings; log: Logger }) {
    this.file = path.join(options.stateDir, JOBS_FILE);
    this.#settings = options.settings;
    mkdirSync(options.stateDir, { recursive: true });
    this.#db = openJobDatabase(this.file, options.log);
  }

  async submit(jobs: readonly NewJob[], now: number, maxSize: number): Promise<Job[]> {
    const insert = this.#db.prepare(
      `INSERT INTO jobs (id, model, kind, endpoint, request, attached, priority, metadata, client, idempotency_key, status, max_attempts, submitted_at)
       VALUES (@id, @model, @kind, @endpoint, @request, @attached, @priority, @metadata, @client, @idempotency_key, 'pending', @max_attempts, @submitted_at)`,
    );
    const open = this.#db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status IN ${OPEN}`);
    const byKey = this.#db.prepare('SELECT id FROM jobs WHERE idempotency_key = ?');
    const ids = this.#db.transaction(() => {
      const waiting = (open.get() as { n: number }).n;
      const fresh = jobs.filter(
        (j) => !j.idempotency_key || byKey.get(j.idempotency_key) === undefined,
      ).length;
      if (waiting + fresh > maxSize) {
        throw new FleetError(
          Errors.FLEET_ERR_QUEUE_FULL,
          `the queue holds ${waiting} unfinished jobs of at most ${maxSize}; ${fresh} more do not fit (scheduler.queue_max_size)`,
          { details: { waiting, max: maxSize } },
        );
      }
      return jobs.map((job) => {
        // A repeat of a submit whose answer the caller did not get: the job it made.
        const known = job.idempotency_key
          ? (byKey.get(job.idempotency_key) as { id: string } | undefined)
          : undefined;
        if (known) return known.id;
        const id = randomUUID();
        insert.run({
          id,
          model: job.model,
          kind: job.kind,
          endpoint: job.endpoint,
          request: JSON.stringify(job.request),
          attached: job.attached ? 1 : 0,
          priority: PRIORITY_RANK[job.priority],
          metadata: job.metadata === null ? null : JSON.stringify(job.metadata),
          client: job.client,
          idempotency_key: job.idempotency_key ?? null,
          max_attempts: this.#settings.maxAttempts,
          submitted_at: now,
        });
        return id;
      });
    })();
    return ids.map((id) => this.#getSync(id) as Job);
  }

  async get(id: string): Promise<Job | undefined> {
    return this.#getSync(id);
  }

  #getSync(id: string): Job | undefined {
    const row = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toJob(row) : undefined;
  }

  async list(filter: { status?: JobStatus; model?: string; limit: number }): Promise<Job[]> {
    const where: string[] = [];
    if (filter.status) where.push('status = @status');
    if (filter.model) where.push('(model = @model OR resolved_model = @model)');
    const rows = this.#db
      .prepare(
        `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`,
      )
      .all({ status: filter.status, model: filter.model, limit: filter.limit }) as JobRow[];
    return rows.map(toJob);
  }

  async demand(now: number): Promise<ModelDemand[]> {
    const rows = this.#db
      .prepare(
        `SELECT model, COUNT(*) AS pending, MIN(submitted_at) AS oldest, MIN(${RANK}) AS best
         FROM jobs WHERE status = 'pending' GROUP BY model`,
      )
      .all({ now, aging: this.#settings.agingMs }) as {
      model: string;
      pending: number;
      oldest: number;
      best: number;
    }[];
    return rows.map((r) => ({
      model: r.model,
      pending: r.pending,
      oldest_submitted_at: r.oldest,
      best_rank: r.best,
      best_priority: PRIORITIES[r.best] ?? 'normal',
    }));
  }

  async claim(request: ClaimRequest): Promise<Job[]> {
    if (request.models.length === 0 || request.limit <= 0) return [];
    const models = request.models.map((_, i) => `@m${i}`).join(', ');
    const params: Record<string, unknown> = {
      now: request.now,
      aging: this.#settings.agingMs,
      limit: request.limit,
    };
    request.models.forEach((m, i) => {
      params[`m${i}`] = m;
    });
    const pick = this.#db.prepare(
      `SELECT id FROM jobs WHERE status = 'pending' AND model IN (${models})
       ORDER BY ${RANK}, seq LIMIT @limit`,
    );
    const start = this.#db.prepare(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = @now, resolved_model = @resolved,
       backend = @backend WHERE id = @id AND status = 'pending'`,
    );
    const ids = this.#db.transaction(() => {
      const picked = (pick.all(params) as { id: string }[]).map((r) => r.id);
      for (const id of picked)
        start.run({
          id,
          now: request.now,
          resolved: request.resolved,
          backend: request.backend ?? null,
        });
      return picked;
    })();
    return ids.map((id) => this.#getSync(id) as Job);
  }

  async complete(
    id: string,
    result: Record<string, unknown>,
    now: number,
  ): Promise<Job | undefined> {
    const changed = this.#db
      .prepare(
        `UPDATE jobs SET status = 'complete', result = ?, completed_at = ? WHERE id = ? AND status = 'running'`,
      )
      .run(JSON.stringify(result), now, id).changes;
    return changed ? this.#getSync(id) : undefined;
  }

  async fail(id: string, error: JobError, now: number): Promise<Job | undefined> {
    const changed = this.#db
      .prepare(
        `UPDATE jobs SET status = 'failed', error = ?, completed_at = ? WHERE id = ? AND status IN ${OPEN}`,
      )
      .run(JSON.stringify(error), now, id).changes;
    return changed ? this.#getSync(id) : undefined;
  }

  async requeue(
    id: string,
    error: JobError,
    countAttempt: boolean,
    now: number,
  ): Promise<Job | undefined> {
    const changed = this.#db.transaction(() => {
      const row = this.#db
        .prepare(`SELECT * FROM jobs WHERE id = ? AND status IN ('running', 'queued')`)
        .get(id) as JobRow | undefined;
      if (!row) return 0;
      const attempts = countAttempt ? row.attempts : Math.max(0, row.attempts - 1);
      if (attempts >= row.max_attempts) {
        const final = {
          code: 'FLEET_ERR_JOB_ATTEMPTS',
          message: `gave up after ${attempts} attempts; the last: ${error.message}`,
        };
        return this.#db
          .prepare(
            `UPDATE jobs SET status = 'failed', attempts = ?, error = ?, completed_at = ? WHERE id = ?`,
          )
          .run(attempts, JSON.stringify(final), now, id).changes;
      }
      return this.#db
        .prepare(
          `UPDATE jobs SET status = 'pending', attempts = ?, error = ?, started_at = NULL, resolved_model = NULL, backend = NULL WHERE id = ?`,
        )
        .run(attempts, JSON.stringify(error), id).changes;
    })();
    return changed ? this.#getSync(id) : undefined;
  }

  async cancel(id: string, now: number): Promise<Job | undefined> {
    const changed = this.#db
      .prepare(
        `UPDATE jobs SET status = 'cancelled', completed_at = ? WHERE id = ? AND status IN ${OPEN}`,
      )
      .run(now, id).changes;
    return changed ? this.#getSync(id) : undefined;
  }

  async recover(now: number): Promise<{ requeued: number; failed: number; cancelled: number }> {
    return this.#db.transaction(() => {
      // A caller that waited on a connection is gone with the process that held it.
      const cancelled = this.#db
        .prepare(
          `UPDATE jobs SET status = 'cancelled', error = ?, completed_at = ?
           WHERE status IN ${OPEN} AND attached = 1`,
        )
        .run(
          JSON.stringify({
            code: 'FLEET_ERR_JOB_CANCELLED',
            message:
              'the supervisor restarted while its caller waited; nobody can receive the answer',
          }),
          now,
        ).changes;
      const error = JSON.stringify({
        code: 'FLEET_ERR_JOB_ATTEMPTS',
        message: 'the supervisor stopped while this job ran, and it has no attempts left',
      });
      const failed = this.#db
        .prepare(
          `UPDATE jobs SET status = 'failed', error = ?, completed_at = ?
           WHERE status IN ('running', 'queued') AND attempts >= max_attempts`,
        )
        .run(error, now).changes;
      const requeued = this.#db
        .prepare(
          `UPDATE jobs SET status = 'pending', started_at = NULL, resolved_model = NULL, backend = NULL WHERE status IN ('running', 'queued')`,
        )
        .run().changes;
      return { requeued, failed, cancelled };
    })();
  }

  async position(id: string, now: number): Promise<number | undefined> {
    return (await this.positions([id], now)).get(id);
  }

  async positions(ids: readonly string[], now: number): Promise<Map<string, number>> {
    const params = { now, aging: this.#settings.agingMs };
    const mine = this.#db
      .prepare(
        `SELECT id, seq, ${RANK} AS rank FROM jobs WHERE status = 'pending'
         AND id IN (SELECT value FROM json_each(@ids))`,
      )
      .all({ ...params, ids: JSON.stringify(ids) }) as { id: string; seq: number; rank: number }[];
    const places = new Map<string, number>();
    for (const rank of new Set(mine.map((m) => m.rank))) {
      // Ahead of a job: every pending job of a better rank, and the older ones of its own.
      const better = this.#betterThan(rank, now);
      const group = mine.filter((x) => x.rank === rank);
      // A few jobs: a count each on the index. A batch: its rank's line once, then a search each.
      const line =
        group.length > 8
          ? (
              this.#db
                .prepare(
                  `SELECT seq FROM jobs WHERE status = 'pending' AND ${RANK} = @rank ORDER BY seq`,
                )
                .all({ ...params, rank }) as { seq: number }[]
            ).map((r) => r.seq)
          : undefined;
      for (const m of group) {
        const older = line ? countBelow(line, m.seq) : this.#olderOfRank(rank, m.seq, now);
        places.set(m.id, better + older + 1);
      }
    }
    return places;
  }

  /**
   * Pending jobs whose effective rank is better than `rank`, counted on the jobs_rank index:
   * a job of priority p has a rank below `rank` once it has waited p - rank + 1 agings.
   */
  #betterThan(rank: number, now: number): number {
    let n = 0;
    for (let p = 0; p <= 2; p++) {
      if (p < rank) n += this.#countSubmitted(p, -Infinity, Infinity);
      else if (rank > 0)
        n += this.#countSubmitted(p, -Infinity, now - (p - rank + 1) * this.#aging());
    }
    return n;
  }

  /** Pending jobs of effective rank `rank` that came before `seq` in line. */
  #olderOfRank(rank: number, seq: number, now: number): number {
    let n = 0;
    for (let p = rank; p <= 2; p++) {
      const k = p - rank;
      // Waited at least k agings (for rank 0, any longer too), but not k + 1.
      const newest = k === 0 ? Infinity : now - k * this.#aging();
      const oldest = rank === 0 ? -Infinity : now - (k + 1) * this.#aging();
      n += this.#countSubmitted(p, oldest, newest, seq);
    }
    return n;
  }

  #aging(): number {
    return this.#settings.agingMs > 0 ? this.#settings.agingMs : Infinity;
  }

  /** Pending jobs of priority p submitted in (oldest, newest], and before `seq` if given. */
  #countSubmitted(p: number, oldest: number, newest: number, seq = Infinity): number {
    const bound = (v: number) =>
      Number.isFinite(v) ? v : v > 0 ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
    const row = this.#db
      .prepare(
        `SELECT COUNT(*) AS n FROM jobs WHERE status = 'pending' AND priority = @p
         AND submitted_at > @oldest AND submitted_at <= @newest AND seq < @seq`,
      )
      .get({ p, oldest: bound(oldest), newest: bound(newest), seq: bound(seq) }) as { n: number };
    return row.n;
  }

  async openBreakdown(): Promise<
    { status: JobStatus; model: string; priority: Priority; count: number }[]
  > {
    return breakdownOf(
      this.#db
        .prepare(
          `SELECT status, model, priority, COUNT(*) AS n FROM jobs WHERE status IN ${OPEN}
           GROUP BY status, model, priority`,
        )
        .all() as { status: JobStatus; model: string; priority: number; n: number }[],
    );
  }

  async counts(): Promise<JobCounts> {
    return countsOf(
      this.#db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as {
        status: JobStatus;
        n: number;
      }[],
      this.#db
        .prepare(
          `SELECT model, status, COUNT(*) AS n FROM jobs WHERE status IN ${OPEN} GROUP BY model, status`,
        )
        .all() as { model: string; status: 'pending' | 'queued' | 'running'; n: number }[],
    );
  }

  async prune(before: number): Promise<number> {
    return this.#db
      .prepare(
        `DELETE FROM jobs WHERE status IN ('complete', 'failed', 'cancelled') AND completed_at < ?`,
      )
      .run(before).changes;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

/** How many of the sorted numbers are below `value` (binary search). */
function countBelow(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
