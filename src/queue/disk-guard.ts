/**
 * The job store as the rest of the supervisor sees it: any store, whose disk faults (full,
 * I/O errors, read-only, corrupt pages) become one clear 503 that names the file and the
 * cause, instead of "internal error". The guard remembers the last fault, so readiness says
 * what is wrong, and forgets it at the next write that succeeds: when space returns, the
 * supervisor recovers by itself.
 */
import { Errors, FleetError } from '../errors.js';
import type { Logger } from '../log.js';
import type { JobStore } from './store.js';

const DISK_FAULTS: Record<string, string> = {
  SQLITE_FULL: 'the disk is full',
  SQLITE_IOERR: 'the disk failed to read or write',
  SQLITE_READONLY: 'the file or its folder is read-only',
  SQLITE_CANTOPEN: 'the file cannot be opened',
  SQLITE_CORRUPT: 'the file has corrupt pages',
  SQLITE_NOTADB: 'the file is not a database',
};

/** What a disk fault is, in words; undefined for any other error. */
export function diskFault(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const base = Object.keys(DISK_FAULTS).find((k) => code === k || code.startsWith(`${k}_`));
  return base ? `${DISK_FAULTS[base]} (${code})` : undefined;
}

export type GuardedStore = JobStore & {
  /** The last disk fault, until a write succeeds again. */
  health(): { ok: true } | { ok: false; problem: string };
};

export function guardDisk(inner: JobStore, file: string, log: Logger): GuardedStore {
  let problem: string | undefined;
  const guard =
    <A extends unknown[], R>(write: boolean, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        const result = await call(...args);
        if (write && problem !== undefined) {
          log.info({ file }, `the job database can be written again: ${file}`);
          problem = undefined;
        }
        return result;
      } catch (err) {
        const fault = diskFault(err);
        if (fault === undefined) throw err;
        const words = `the job database ${file} cannot be used: ${fault}; jobs already queued are kept, new work waits until it is fixed`;
        if (problem !== words) log.error({ err, file }, words);
        problem = words;
        throw new FleetError(Errors.FLEET_ERR_STORAGE, words, { cause: err });
      }
    };
  return {
    submit: guard(true, inner.submit.bind(inner)),
    get: guard(false, inner.get.bind(inner)),
    list: guard(false, inner.list.bind(inner)),
    demand: guard(false, inner.demand.bind(inner)),
    claim: guard(true, inner.claim.bind(inner)),
    complete: guard(true, inner.complete.bind(inner)),
    fail: guard(true, inner.fail.bind(inner)),
    requeue: guard(true, inner.requeue.bind(inner)),
    cancel: guard(true, inner.cancel.bind(inner)),
    recover: guard(true, inner.recover.bind(inner)),
    position: guard(false, inner.position.bind(inner)),
    positions: guard(false, inner.positions.bind(inner)),
    counts: guard(false, inner.counts.bind(inner)),
    openBreakdown: guard(false, inner.openBreakdown.bind(inner)),
    prune: guard(true, inner.prune.bind(inner)),
    close: () => inner.close(),
    health: () => (problem === undefined ? { ok: true } : { ok: false, problem }),
  };
}
