/**
 * Taking jobs back on the shared queue, inside the caller's transaction: from a supervisor
 * that died (its leases ran out; its waiting callers' supervisor is gone), or, at start, this
 * supervisor's own jobs from before its restart. Returns the ids each way, so the store can
 * announce them.
 */
import type pg from 'pg';
import { OPEN_STATUSES as OPEN } from './job-row.js';

export interface TakenBack {
  requeued: string[];
  failed: string[];
  cancelled: string[];
}

export interface RecoveryCounts {
  requeued: number;
  failed: number;
  cancelled: number;
}

const error = (code: string, message: string) => JSON.stringify({ code, message });

async function ids(db: pg.PoolClient, sql: string, params: unknown[]): Promise<string[]> {
  return (await db.query<{ id: string }>(sql, params)).rows.map((r) => r.id);
}

/**
 * Claims whose lease ran out: cancelled when a caller waited on the dead supervisor, failed
 * when out of attempts, else back in line (the attempt counted); and attached jobs still
 * waiting whose supervisor is no longer seen alive, cancelled.
 */
export async function takeBackExpired(
  db: pg.PoolClient,
  now: number,
  owner: string,
  leaseMs: number,
): Promise<TakenBack> {
  const expired = `status = 'running' AND lease_until < $1::bigint`;
  const gone = error(
    'FLEET_ERR_JOB_CANCELLED',
    'the supervisor its caller waited on stopped; nobody can receive the answer',
  );
  const cancelled = await ids(
    db,
    `UPDATE jobs SET status = 'cancelled', error = $2, completed_at = $1, lease_until = NULL
     WHERE ${expired} AND attached RETURNING id`,
    [now, gone],
  );
  const failed = await ids(
    db,
    `UPDATE jobs SET status = 'failed', error = $2, completed_at = $1, lease_until = NULL
     WHERE ${expired} AND attempts >= max_attempts RETURNING id`,
    [
      now,
      error(
        'FLEET_ERR_JOB_ATTEMPTS',
        'the supervisor running this job stopped, and it has no attempts left',
      ),
    ],
  );
  const requeued = await ids(
    db,
    `UPDATE jobs SET status = 'pending', error = $2, started_at = NULL, resolved_model = NULL,
       backend = NULL, owner = NULL, lease_until = NULL, claim_token = NULL
     WHERE ${expired} RETURNING id`,
    [
      now,
      error(
        'FLEET_ERR_LEASE_EXPIRED',
        'the supervisor running this job stopped renewing its lease; it runs again',
      ),
    ],
  );
  const orphaned = await ids(
    db,
    `UPDATE jobs SET status = 'cancelled', error = $2, completed_at = $1
     WHERE status = 'pending' AND attached AND home <> $3 AND NOT EXISTS (
       SELECT 1 FROM supervisors s WHERE s.id = jobs.home AND s.seen_at >= $1::bigint - $4::bigint)
     RETURNING id`,
    [now, gone, owner, leaseMs],
  );
  return { requeued, failed, cancelled: [...cancelled, ...orphaned] };
}

/** At start: this supervisor's own jobs, attached ones cancelled (their callers are gone). */
export async function takeBackOwn(
  db: pg.PoolClient,
  now: number,
  owner: string,
): Promise<TakenBack> {
  const cancelled = await ids(
    db,
    `UPDATE jobs SET status = 'cancelled', error = $3, completed_at = $1, lease_until = NULL
     WHERE status IN ${OPEN} AND (owner = $2 OR home = $2) AND attached RETURNING id`,
    [
      now,
      owner,
      error(
        'FLEET_ERR_JOB_CANCELLED',
        'the supervisor restarted while its caller waited; nobody can receive the answer',
      ),
    ],
  );
  const failed = await ids(
    db,
    `UPDATE jobs SET status = 'failed', error = $3, completed_at = $1, lease_until = NULL
     WHERE status IN ('running', 'queued') AND owner = $2 AND attempts >= max_attempts RETURNING id`,
    [
      now,
      owner,
      error(
        'FLEET_ERR_JOB_ATTEMPTS',
        'the supervisor stopped while this job ran, and it has no attempts left',
      ),
    ],
  );
  const requeued = await ids(
    db,
    `UPDATE jobs SET status = 'pending', started_at = NULL, resolved_model = NULL, backend = NULL,
       owner = NULL, lease_until = NULL, claim_token = NULL
     WHERE status IN ('running', 'queued') AND owner = $1 RETURNING id`,
    [owner],
  );
  return { requeued, failed, cancelled };
}
