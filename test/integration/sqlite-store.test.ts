import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../src/queue/sqlite-store.js';
import type { JobStore, StoreSettings } from '../../src/queue/store.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';
import { describeJobStore, job } from '../queue/conformance.js';

const opened: JobStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function openSqlite(settings: StoreSettings, stateDir?: string) {
  const store = new SqliteJobStore({
    stateDir: stateDir ?? (await tempDir()),
    settings,
    log: captureLogger().log,
  });
  opened.push(store);
  return store;
}

describeJobStore('SQLite', (settings) => openSqlite(settings));

describe('SqliteJobStore on disk', () => {
  const settings = { agingMs: 60_000, maxAttempts: 3 };

  it('keeps jobs across a close and a reopen of the file', async () => {
    const dir = await tempDir();
    const first = await openSqlite(settings, dir);
    const [saved] = await first.submit([job('qwen2.5:0.5b', 'high')], 1, 100);
    await first.close();
    const second = await openSqlite(settings, dir);
    expect(await second.get(saved?.id as string)).toEqual(saved);
    expect(await readdir(dir)).toContain('jobs.db');
  });

  it('keeps a corrupt database aside instead of writing over it', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'jobs.db'),
      'this is not a database, but someone may want it back',
    );
    const capture = captureLogger();
    const store = new SqliteJobStore({ stateDir: dir, settings, log: capture.log });
    opened.push(store);
    expect((await store.counts()).total).toBe(0);
    expect((await readdir(dir)).some((f) => f.startsWith('jobs.db.corrupt-'))).toBe(true);
    expect(
      capture.lines().some((l) => l.level === 50 && String(l.msg).includes('is corrupt')),
    ).toBe(true);
  });
});
