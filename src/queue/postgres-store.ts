/**
 * The job store on PostgreSQL, shared by several supervisors (one per GPU host). The same
 * contract as the SQLite store (test/queue/conformance.ts), plus what sharing needs:
 *
 * - a claim takes jobs with `FOR UPDATE SKIP LOCKED`, so two supervisors never take the same
 *   job, and records the claimer (`owner`), a lease and a claim token;
 * - the owner renews its leases while its jobs run (`renewLeases`); a job whose lease ran out
 *   (its supervisor died) goes back to the queue, its attempt counted (`reclaimExpired`);
 * - complete and requeue hold only for the claim that is current: a supervisor whose lease
 *   ran out and whose job runs elsewhere now cannot end it;
 * - an attached job (a caller waiting on one supervisor's connection) is claimed only there;
 * - every change is announced with NOTIFY, so long-polls and streams on any supervisor see a
 *   job another one ran (`watch`).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
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
import {
  type RecoveryCounts,
  type TakenBack,
  takeBackExpired,
  takeBackOwn,
} from './postgres-recovery.js';
import { migrate } from './postgres-schema.js';
import type { ClaimRequest, JobCounts, JobStore, ModelDemand, StoreSettings } from './store.js';

const CHANNEL = 'fleet_jobs';
/** Submits take this transaction lock: the queue bound and idempotency hold across supervisors. */
const SUBMIT_LOCK = 0x666c6566;

/** A change another supervisor made to a job, as NOTIFY carries it. */
export interface RemoteChange {
  id: string;
  status: JobStatus;
}

export interface PostgresStoreOptions {
  url: string;
  settings: StoreSettings;
  /** This supervisor, as claims and attached jobs name it. */
  owner: string;
  /** How long a claim holds without renewal. */
  leaseMs: number;
  log: Logger;
}

/** BIGINT columns hold epoch milliseconds: well within a JavaScript number. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? Number
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export class PostgresJobStore implements JobStore {
  readonly owner: string;
  readonly #pool: pg.Pool;
  readonly #options: PostgresStoreOptions;
  #listener: pg.Client | undefined;
  #closed = false;
  #problem: string | undefined;

  private constructor(options: PostgresStoreOptions) {
    this.#options = options;
    this.owner = options.owner;
    this.#pool = new pg.Pool({ connectionString: options.url, max: 8, types });
    // An idle client that loses its server must not crash the process; the next query says why.
    this.#pool.on('error', (err) => options.log.warn({ err }, 'a PostgreSQL connection broke'));
  }

  /** Connects and brings the schema up to date (refusing a newer one). */
  static async open(options: PostgresStoreOptions): Promise<PostgresJobStore> {
    const store = new PostgresJobStore(options);
    try {
      await migrate(store.#pool);
    } catch (err) {
      await store.#pool.end().catch(() => {});
      if (err instanceof FleetError) throw err;
      throw new FleetError(
        Errors.FLEET_ERR_STORAGE,
        `cannot open the job queue at ${redact(options.url)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return store;
  }

  /** The last fault the heartbeat met, until one succeeds again. */
  health(): { ok: true } | { ok: false; problem: string } {
    return this.#problem === undefined ? { ok: true } : { ok: false, problem: this.#problem };
  }

  noteProblem(problem: string | undefined): void {
    this.#problem = problem;
  }

  /** Where the queue lives, for logs: the URL without its password. */
  get where(): string {
    return redact(this.#options.url);
  }

  /**
   * Calls `listener` for each change another supervisor made (LISTEN/NOTIFY); resolves once
   * listening. Changes this store made are not repeated.
   */
  async watch(listener: (change: RemoteChange) => void): Promise<void> {
    const client = new pg.Client({ connectionString: this.#options.url, types });
    client.on('error', (err) => this.#options.log.warn({ err }, 'the job notifications broke'));
    client.on('notification', (message) => {
      const [origin, id, status] = (message.payload ?? '').split('|');
      if (!origin || !id || origin === this.owner) return;
      listener({ id, status: status as JobStatus });
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#listener = client;
  }

  async submit(jobs: readonly NewJob[], now: number, maxSize: number): Promise<Job[]> {
    return this.#transaction(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1)', [SUBMIT_LOCK]);
      const open = await db.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM jobs WHERE status IN ${OPEN}`,
      );
      const waiting = open.rows[0]?.n ?? 0;
      const keys = jobs.flatMap((j) => (j.idempotency_key ? [j.idempotency_key] : []));
      const known = new Map(
        (
          await db.query<{ id: string; idempotency_key: string }>(
            'SELECT id, idempotency_key FROM jobs WHERE idempotency_key = ANY($1)',
            [keys],
          )
        ).rows.map((r) => [r.idempotency_key, r.id]),
      );
      const fresh = jobs.filter((j) => !j.idempotency_key || !known.has(j.idempotency_key)).length;
      if (waiting + fresh > maxSize) {
        throw new FleetError(
          Errors.FLEET_ERR_QUEUE_FULL,
          `the queue holds ${waiting} unfinished jobs of at most ${maxSize}; ${fresh} more do not fit (scheduler.queue_max_size)`,
          { details: { waiting, max: maxSize } },
        );
      }
      const out: Job[] = [];
      for (const job of jobs) {
        const repeat = job.idempotency_key ? known.get(job.idempotency_key) : undefined;
        if (repeat) {
          out.push(
            toJob(
              (await db.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [repeat]))
                .rows[0] as JobRow,
            ),
          );
          continue;
        }
        const { rows } = await db.query<JobRow>(
          `INSERT INTO jobs (id, model, kind, endpoint, request, attached, priority, metadata, client,
             idempotency_key, status, max_attempts, submitted_at, home)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $13) RETURNING *`,
          [
            randomUUID(),
            job.model,
            job.kind,
            job.endpoint,
            JSON.stringify(job.request),
            job.attached,
            PRIORITY_RANK[job.priority],
            job.metadata === null ? null : JSON.stringify(job.metadata),
            job.client,
            job.idempotency_key ?? null,
            this.#options.settings.maxAttempts,
            now,
            job.attached ? this.owner : null,
          ],
        );
        const saved = rows[0] as JobRow;
        if (job.idempotency_key) known.set(job.idempotency_key, saved.id);
        // Other supervisors' dispatchers learn of new work at once.
        await this.#notify(db, saved.id, 'pending');
        out.push(toJob(saved));
      }
      return out;
    });
  }

  async get(id: string): Promise<Job | undefined> {
    const { rows } = await this.#pool.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  async list(filter: { status?: JobStatus; model?: string; limit: number }): Promise<Job[]> {
    const { rows } = await this.#pool.query<JobRow>(
      `SELECT * FROM jobs WHERE ($1::text IS NULL OR status = $1)
         AND ($2::text IS NULL OR model = $2 OR resolved_model = $2)
       ORDER BY seq DESC LIMIT $3`,
      [filter.status ?? null, filter.model ?? null, filter.limit],
    );
    return rows.map(toJob);
  }

  async demand(now: number): Promise<ModelDemand[]> {
    const { rows } = await this.#pool.query<{
      model: string;
      pending: number;
      oldest: number;
      best: number;
    }>(
      `SELECT model, COUNT(*)::int AS pending, MIN(submitted_at) AS oldest, MIN(${this.#rank('$1')})::int AS best
       FROM jobs WHERE status = 'pending' AND (attached = FALSE OR home = $2) GROUP BY model`,
      [now, this.owner],
    );
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
    const { rows } = await this.#pool.query<JobRow>(
      `WITH picked AS (
         SELECT id FROM jobs
         WHERE status = 'pending' AND model = ANY($1) AND (attached = FALSE OR home = $5)
         ORDER BY ${this.#rank('$3')}, seq LIMIT $4
         FOR UPDATE SKIP LOCKED)
       UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = $3,
         resolved_model = $2, backend = $6, owner = $5, lease_until = $3::bigint + $7::bigint, claim_token = $8
       FROM picked WHERE jobs.id = picked.id RETURNING jobs.*`,
      [
        request.models,
        request.resolved,
        request.now,
        request.limit,
        this.owner,
        request.backend ?? null,
        this.#options.leaseMs,
        randomUUID(),
      ],
    );
    rows.sort((a, b) => a.seq - b.seq);
    const jobs = rows.map(toJob);
    // Best rank first, then oldest, as the claim picked them.
    const rank = (j: Job) => Math.max(0, PRIORITY_RANK[j.priority] - this.#lift(j, request.now));
    jobs.sort((a, b) => rank(a) - rank(b));
    for (const job of jobs) await this.#notify(this.#pool, job.id, 'running');
    return jobs;
  }

  async complete(
    id: string,
    result: Record<string, unknown>,
    now: number,
  ): Promise<Job | undefined> {
    // Only the claim that is current may end the job.
    return this.#change(
      `UPDATE jobs SET status = 'complete', result = $2, completed_at = $3, lease_until = NULL
       WHERE id = $1 AND status = 'running' AND owner = $4 RETURNING *`,
      [id, JSON.stringify(result), now, this.owner],
    );
  }

  async fail(id: string, error: JobError, now: number): Promise<Job | undefined> {
    return this.#change(
      `UPDATE jobs SET status = 'failed', error = $2, completed_at = $3, lease_until = NULL
       WHERE id = $1 AND status IN ${OPEN} RETURNING *`,
      [id, JSON.stringify(error), now],
    );
  }

  async requeue(
    id: string,
    error: JobError,
    countAttempt: boolean,
    now: number,
  ): Promise<Job | undefined> {
    return this.#transaction(async (db) => {
      // Only the current claim (or a job no supervisor holds) goes back.
      const { rows } = await db.query<JobRow>(
        `SELECT * FROM jobs WHERE id = $1 AND status IN ('running', 'queued')
           AND (owner IS NULL OR owner = $2) FOR UPDATE`,
        [id, this.owner],
      );
      const row = rows[0];
      if (!row) return undefined;
      const attempts = countAttempt ? row.attempts : Math.max(0, row.attempts - 1);
      const outOfAttempts = attempts >= row.max_attempts;
      const final = {
        code: 'FLEET_ERR_JOB_ATTEMPTS',
        message: `gave up after ${attempts} attempts; the last: ${error.message}`,
      };
      const updated = await db.query<JobRow>(
        outOfAttempts
          ? `UPDATE jobs SET status = 'failed', attempts = $2, error = $3, completed_at = $4,
               lease_until = NULL WHERE id = $1 RETURNING *`
          : `UPDATE jobs SET status = 'pending', attempts = $2, error = $3, started_at = NULL,
               resolved_model = NULL, backend = NULL, owner = NULL, lease_until = NULL,
               claim_token = NULL WHERE id = $1 RETURNING *`,
        outOfAttempts
          ? [id, attempts, JSON.stringify(final), now]
          : [id, attempts, JSON.stringify(error)],
      );
      const saved = updated.rows[0] as JobRow;
      await this.#notify(db, saved.id, saved.status);
      return toJob(saved);
    });
  }

  async cancel(id: string, now: number): Promise<Job | undefined> {
    return this.#change(
      `UPDATE jobs SET status = 'cancelled', completed_at = $2, lease_until = NULL
       WHERE id = $1 AND status IN ${OPEN} RETURNING *`,
      [id, now],
    );
  }

  /**
   * This supervisor is alive: its row in `supervisors` (with what it says of itself) and the
   * leases of the jobs it runs are renewed.
   */
  async heartbeat(now: number, info: Record<string, unknown> = {}): Promise<number> {
    await this.#pool.query(
      `INSERT INTO supervisors (id, seen_at, info) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET seen_at = $2, info = $3`,
      [this.owner, now, JSON.stringify(info)],
    );
    const { rowCount } = await this.#pool.query(
      `UPDATE jobs SET lease_until = $1 WHERE status = 'running' AND owner = $2`,
      [now + this.#options.leaseMs, this.owner],
    );
    return rowCount ?? 0;
  }

  /** The supervisors seen alive within a lease, with what each said of itself. */
  async supervisors(now: number): Promise<{ id: string; seen_at: number; info: unknown }[]> {
    const { rows } = await this.#pool.query<{ id: string; seen_at: number; info: string }>(
      'SELECT id, seen_at, info FROM supervisors WHERE seen_at >= $1 ORDER BY id',
      [now - this.#options.leaseMs],
    );
    return rows.map((r) => ({ id: r.id, seen_at: r.seen_at, info: JSON.parse(r.info) }));
  }

  /**
   * Jobs whose supervisor stopped renewing their lease (it died): back to the queue with the
   * attempt counted, failed when out of attempts, cancelled when a caller waited on the dead
   * supervisor's connection (see postgres-recovery.ts).
   */
  async reclaimExpired(now: number): Promise<RecoveryCounts> {
    return this.#transaction(async (db) =>
      this.#announce(db, await takeBackExpired(db, now, this.owner, this.#options.leaseMs)),
    );
  }

  /**
   * At start: this supervisor's own jobs from before its restart (it keeps its id in its
   * state folder), and claims whose lease ran out. Another live supervisor's jobs are left
   * alone.
   */
  async recover(now: number): Promise<RecoveryCounts> {
    const own = await this.#transaction(async (db) =>
      this.#announce(db, await takeBackOwn(db, now, this.owner)),
    );
    const others = await this.reclaimExpired(now);
    return {
      requeued: own.requeued + others.requeued,
      failed: own.failed + others.failed,
      cancelled: own.cancelled + others.cancelled,
    };
  }

  /** Tells the other supervisors what recovery changed; the counts for the log. */
  async #announce(db: pg.PoolClient, taken: TakenBack): Promise<RecoveryCounts> {
    for (const id of taken.cancelled) await this.#notify(db, id, 'cancelled');
    for (const id of taken.failed) await this.#notify(db, id, 'failed');
    for (const id of taken.requeued) await this.#notify(db, id, 'pending');
    return {
      requeued: taken.requeued.length,
      failed: taken.failed.length,
      cancelled: taken.cancelled.length,
    };
  }

  async position(id: string, now: number): Promise<number | undefined> {
    return (await this.positions([id], now)).get(id);
  }

  async positions(ids: readonly string[], now: number): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.#pool.query<{ id: string; place: number }>(
      `SELECT id, place FROM (
         SELECT id, ROW_NUMBER() OVER (ORDER BY ${this.#rank('$1')}, seq)::int AS place
         FROM jobs WHERE status = 'pending') line
       WHERE id = ANY($2)`,
      [now, ids],
    );
    return new Map(rows.map((r) => [r.id, r.place]));
  }

  async counts(): Promise<JobCounts> {
    const [statuses, models] = await Promise.all([
      this.#pool.query<{ status: JobStatus; n: number }>(
        'SELECT status, COUNT(*)::int AS n FROM jobs GROUP BY status',
      ),
      this.#pool.query<{ model: string; status: 'pending' | 'queued' | 'running'; n: number }>(
        `SELECT model, status, COUNT(*)::int AS n FROM jobs WHERE status IN ${OPEN} GROUP BY model, status`,
      ),
    ]);
    return countsOf(statuses.rows, models.rows);
  }

  async openBreakdown(): Promise<
    { status: JobStatus; model: string; priority: Priority; count: number }[]
  > {
    const { rows } = await this.#pool.query<{
      status: JobStatus;
      model: string;
      priority: number;
      n: number;
    }>(
      `SELECT status, model, priority, COUNT(*)::int AS n FROM jobs WHERE status IN ${OPEN}
       GROUP BY status, model, priority`,
    );
    return breakdownOf(rows);
  }

  async prune(before: number): Promise<number> {
    const { rowCount } = await this.#pool.query(
      `DELETE FROM jobs WHERE status IN ('complete', 'failed', 'cancelled') AND completed_at < $1`,
      [before],
    );
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener?.end().catch(() => {});
    await this.#pool.end();
  }

  /** The effective rank as SQL: priority lifted one level per aging period, never below 0. */
  #rank(now: string): string {
    const aging = this.#options.settings.agingMs;
    if (aging <= 0) return 'priority';
    return `GREATEST(priority - FLOOR((${now}::bigint - submitted_at) / ${aging}.0)::int, 0)`;
  }

  #lift(job: Job, now: number): number {
    const aging = this.#options.settings.agingMs;
    return aging > 0 ? Math.floor(Math.max(0, now - job.submitted_at) / aging) : 0;
  }

  async #change(sql: string, params: unknown[]): Promise<Job | undefined> {
    const { rows } = await this.#pool.query<JobRow>(sql, params);
    const row = rows[0];
    if (!row) return undefined;
    await this.#notify(this.#pool, row.id, row.status);
    return toJob(row);
  }

  async #notify(db: pg.Pool | pg.PoolClient, id: string, status: JobStatus): Promise<void> {
    await db.query('SELECT pg_notify($1, $2)', [CHANNEL, `${this.owner}|${id}|${status}`]);
  }

  async #transaction<T>(work: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    const db = await this.#pool.connect();
    try {
      await db.query('BEGIN');
      const out = await work(db);
      await db.query('COMMIT');
      return out;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }
}

/** A connection URL as logs may show it: the password left out. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured queue.url';
  }
}
