/**
 * The shared queue's schema on PostgreSQL: versioned migrations, run at start under an
 * advisory lock (two supervisors starting at once migrate once), and a database newer than
 * this code is refused rather than written by code that does not know its columns.
 */
import type { Pool, PoolClient } from 'pg';
import { Errors, FleetError } from '../errors.js';

/** Each entry brings the schema from its index to the next version. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    resolved_model TEXT,
    backend TEXT,
    kind TEXT NOT NULL,
    endpoint TEXT,
    request TEXT NOT NULL,
    attached BOOLEAN NOT NULL DEFAULT FALSE,
    priority INTEGER NOT NULL,
    metadata TEXT,
    client TEXT,
    idempotency_key TEXT UNIQUE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    result TEXT,
    error TEXT,
    submitted_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    -- The supervisor whose caller waits on a connection for an attached job: only it claims it.
    home TEXT,
    -- The supervisor running the job, until when its claim holds, and the claim's token.
    owner TEXT,
    lease_until BIGINT,
    claim_token TEXT
  );
  CREATE INDEX jobs_waiting ON jobs (status, model, priority, seq);
  CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
  CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
  -- Every supervisor on the queue, and when it was last alive (its heartbeat).
  CREATE TABLE supervisors (
    id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL,
    info TEXT NOT NULL DEFAULT '{}'
  );`,
];

/** The advisory lock key migrations run under (any fixed number; "flee" in ASCII). */
const MIGRATION_LOCK = 0x666c6565;

export async function migrate(pool: Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      return await migrateLocked(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

async function migrateLocked(client: PoolClient): Promise<number> {
  await client.query('CREATE TABLE IF NOT EXISTS fleet_schema (version INTEGER NOT NULL)');
  const { rows } = await client.query<{ version: number }>('SELECT version FROM fleet_schema');
  const version = rows[0]?.version ?? 0;
  if (version > POSTGRES_MIGRATIONS.length) {
    throw new FleetError(
      Errors.FLEET_ERR_CONFIG_INVALID,
      `the job database is at schema version ${version}, newer than this ollama-fleet knows (${POSTGRES_MIGRATIONS.length}): upgrade this supervisor rather than let it write there`,
    );
  }
  for (let v = version; v < POSTGRES_MIGRATIONS.length; v++) {
    await client.query('BEGIN');
    try {
      await client.query(POSTGRES_MIGRATIONS[v] as string);
      if (v === 0 && rows.length === 0) await client.query('INSERT INTO fleet_schema VALUES (1)');
      else await client.query('UPDATE fleet_schema SET version = $1', [v + 1]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  }
  return POSTGRES_MIGRATIONS.length;
}
