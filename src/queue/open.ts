/**
 * The job store the supervisor runs on: the embedded SQLite file in state_dir, or, with
 * `queue.url`, a PostgreSQL queue shared with other supervisors (one per GPU host). For the
 * shared queue this also keeps the supervisor's claims alive (heartbeats), takes back the jobs
 * of supervisors that died, and hears what the others did (so long-polls here see a job that
 * ran there, and a cancel there stops a job running here).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FleetConfig } from '../config/load.js';
import { writeFileAtomic } from '../files/atomic.js';
import type { Logger } from '../log.js';
import { guardDisk } from './disk-guard.js';
import type { JobEvent, JobEvents } from './events.js';
import { PostgresJobStore } from './postgres-store.js';
import { SqliteJobStore } from './sqlite-store.js';
import type { JobStore } from './store.js';

export type FleetStore = JobStore & {
  /** Where the jobs are, for the log. */
  readonly where: string;
  /** The last fault, until the store works again. */
  health(): { ok: true } | { ok: false; problem: string };
};

/** This supervisor's name on a shared queue, kept in state_dir so a restart is the same one. */
export async function supervisorId(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'supervisor-id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (id !== '') return id;
  } catch {
    // First start: made below.
  }
  const id = `${os.hostname()}-${randomBytes(4).toString('hex')}`;
  await mkdir(stateDir, { recursive: true });
  await writeFileAtomic(file, `${id}\n`);
  return id;
}

export async function openStore(
  config: FleetConfig,
  owner: string,
  log: Logger,
): Promise<{ store: FleetStore; shared: PostgresJobStore | undefined }> {
  const settings = { agingMs: config.queue.aging, maxAttempts: config.queue.max_attempts };
  if (config.queue.url === undefined) {
    const sqlite = new SqliteJobStore({ stateDir: config.state_dir, settings, log });
    return {
      store: Object.assign(guardDisk(sqlite, sqlite.file, log), { where: sqlite.file }),
      shared: undefined,
    };
  }
  const shared = await PostgresJobStore.open({
    url: config.queue.url,
    settings,
    owner,
    leaseMs: config.queue.lease,
    log,
  });
  return { store: shared, shared };
}

/**
 * Until the signal aborts: a heartbeat every third of a lease (this supervisor's row and the
 * leases of its running jobs), expired claims taken back, and the other supervisors' changes
 * relayed to this one's followers.
 */
export async function runSharedQueue(options: {
  shared: PostgresJobStore;
  events: JobEvents;
  leaseMs: number;
  now: () => number;
  signal: AbortSignal;
  log: Logger;
  /** What this supervisor says of itself to the others (its URL, its backends). */
  info: () => Record<string, unknown>;
  /** Stops the request of a job running here that another supervisor cancelled or failed. */
  stopRunning: (id: string) => void;
  /** How many other supervisors are alive, after each heartbeat. */
  onPeers?: (count: number) => void;
}): Promise<void> {
  const { shared, events, log, signal, now } = options;
  await shared.watch(async ({ id, status }) => {
    try {
      const job = await shared.get(id);
      if (!job) return;
      let event: JobEvent | undefined;
      if (status === 'running') event = { type: 'running', job };
      else if (status === 'complete' || status === 'failed' || status === 'cancelled')
        event = { type: status, job };
      else if (status === 'pending' && job.attempts > 0) event = { type: 'requeued', job };
      if (event) events.relay(id, event);
      else events.changed(); // new work submitted elsewhere: the dispatcher looks again
      if (status === 'cancelled' || status === 'failed') options.stopRunning(id);
    } catch (err) {
      log.warn({ err, job: id }, 'could not read a job another supervisor changed');
    }
  });
  const every = Math.max(500, Math.floor(options.leaseMs / 3));
  while (!signal.aborted) {
    try {
      await shared.heartbeat(now(), options.info());
      const alive = await shared.supervisors(now());
      options.onPeers?.(alive.filter((s) => s.id !== shared.owner).length);
      const taken = await shared.reclaimExpired(now());
      if (taken.requeued + taken.failed + taken.cancelled > 0)
        log.warn(taken, 'took back the jobs of a supervisor whose lease ran out');
      shared.noteProblem(undefined);
    } catch (err) {
      shared.noteProblem(`the shared queue does not answer: ${(err as Error).message}`);
      log.error({ err }, 'heartbeat to the shared queue failed');
    }
    await sleep(every, undefined, { signal }).catch(() => {});
  }
}
