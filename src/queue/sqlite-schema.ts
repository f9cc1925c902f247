/**
 * The job database file: its schema (versioned migrations in `PRAGMA user_version`; a file
 * newer than this code is refused), and how it is opened: checked read-only first, a damaged
 * one kept aside with its journal and an empty one started, never written over. The store's
 * queries are in sqlite-store.ts.
 */
import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Errors, FleetError } from '../errors.js';
import { keepAsideSync } from '../files/atomic.js';
import type { Logger } from '../log.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  resolved_model TEXT,
  backend TEXT,
  kind TEXT NOT NULL,
  endpoint TEXT,
  request TEXT NOT NULL,
  attached INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL,
  metadata TEXT,
  client TEXT,
  idempotency_key TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  result TEXT,
  error TEXT,
  submitted_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (status, model, priority, seq);
CREATE INDEX IF NOT EXISTS jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_rank ON jobs (status, priority, submitted_at, seq);
`;

/**
 * Opens the job database, checked page by page (`PRAGMA quick_check`) so corruption is seen
 * at start-up, not as failing submits later. A database that cannot be read is never written
 * over: it is kept aside (with its journal) for whoever wants the jobs back, and an empty one
 * is started, so the supervisor serves again at once.
 */
export function openJobDatabase(file: string, log: Logger): Database.Database {
  const problem = existsSync(file) ? checkDatabase(file) : undefined;
  if (problem === undefined) return prepare(new Database(file));
  // Kept with its journal under names SQLite pairs again (`X-wal` beside `X`), so whoever
  // opens the kept file gets the jobs its journal held.
  const at = new Date();
  const aside = keepAsideSync(file, at);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(`${file}${suffix}`)) renameSync(`${file}${suffix}`, `${aside}${suffix}`);
  }
  log.error(
    { file, aside, problem },
    `job database ${file} is corrupt (${problem}); kept it as ${aside} and started an empty one`,
  );
  return prepare(new Database(file));
}

/**
 * What is wrong with an existing database file, or undefined: checked read-only and before
 * anything writes to it (no schema change, no checkpoint into a damaged file).
 */
function checkDatabase(file: string): string | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const check = db.pragma('quick_check', { simple: true });
    return check === 'ok' ? undefined : `quick_check: ${String(check).slice(0, 200)}`;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code !== 'SQLITE_NOTADB' && !code.startsWith('SQLITE_CORRUPT')) throw err;
    return (err as Error).message;
  } finally {
    db?.close();
  }
}

/**
 * Each entry brings a file from its index to the next schema version (`PRAGMA user_version`).
 * The first makes the schema as of the release that began counting, for a new file and for
 * one made before versions were kept alike.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) => {
    db.exec(SCHEMA);
    addMissingColumns(db);
  },
];

function prepare(db: Database.Database): Database.Database {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    // Written by a newer ollama-fleet: its columns mean things this code does not know.
    db.close();
    throw new FleetError(
      Errors.FLEET_ERR_STORAGE,
      `${db.name} is at schema version ${version}, newer than this ollama-fleet knows (${MIGRATIONS.length}): upgrade ollama-fleet rather than let it write there`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      MIGRATIONS[v]?.(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/** Columns added since the first release, added to a file made before them. */
const LATER_COLUMNS: Record<string, string> = {
  endpoint: 'endpoint TEXT',
  attached: 'attached INTEGER NOT NULL DEFAULT 0',
  idempotency_key: 'idempotency_key TEXT',
  backend: 'backend TEXT',
};

function addMissingColumns(db: Database.Database): void {
  const have = new Set(
    (db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[]).map((c) => c.name),
  );
  db.transaction(() => {
    for (const [name, definition] of Object.entries(LATER_COLUMNS)) {
      if (!have.has(name)) db.exec(`ALTER TABLE jobs ADD COLUMN ${definition}`);
    }
    db.exec(
      'CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL',
    );
  })();
}
