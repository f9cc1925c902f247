/**
 * Disk faults of the job store become one clear 503 naming the file, readiness says so, and
 * the first write that succeeds again clears it. The inner store here is a stand-in whose
 * writes fail as better-sqlite3's do on a full disk (no disk can be filled safely in a test).
 */
import { describe, expect, it } from 'vitest';
import { guardDisk } from '../../src/queue/disk-guard.js';
import type { JobStore } from '../../src/queue/store.js';
import { captureLogger } from '../helpers/log.js';
import { job } from '../queue/conformance.js';

function flakyDisk() {
  let full = true;
  const unused = async () => undefined;
  const store = {
    get: unused,
    list: unused,
    demand: unused,
    claim: unused,
    complete: unused,
    fail: unused,
    requeue: unused,
    cancel: unused,
    recover: unused,
    position: unused,
    positions: unused,
    openBreakdown: unused,
    prune: unused,
    close: unused,
    async submit() {
      if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return [];
    },
    async counts() {
      throw Object.assign(new Error('no such table'), { code: 'SQLITE_ERROR' });
    },
  } as unknown as JobStore;
  return { store, free: () => (full = false) };
}

describe('the disk guard', () => {
  it('turns a full disk into a 503 that names the file, and recovers on the next good write', async () => {
    const disk = flakyDisk();
    const guarded = guardDisk(disk.store, '/srv/state/jobs.db', captureLogger().log);
    expect(guarded.health()).toEqual({ ok: true });
    const refused = guarded.submit([job('m:1')], 1, 10);
    await expect(refused).rejects.toMatchObject({ code: 'FLEET_ERR_STORAGE', status: 503 });
    await expect(refused).rejects.toThrow(/\/srv\/state\/jobs\.db.*disk is full \(SQLITE_FULL\)/);
    expect(guarded.health()).toMatchObject({
      ok: false,
      problem: expect.stringContaining('disk is full'),
    });
    disk.free();
    await guarded.submit([job('m:1')], 2, 10);
    expect(guarded.health()).toEqual({ ok: true });
  });

  it('leaves other errors as they are', async () => {
    const guarded = guardDisk(flakyDisk().store, 'jobs.db', captureLogger().log);
    await expect(guarded.counts()).rejects.toMatchObject({ code: 'SQLITE_ERROR' });
    expect(guarded.health()).toEqual({ ok: true });
  });
});
