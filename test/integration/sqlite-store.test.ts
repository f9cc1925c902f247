import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
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

  it('takes up a jobs.db made before jobs kept their path on Ollama and their caller', async () => {
    const dir = await tempDir();
    // The first release's table, with one pending chat job in it.
    const old = new Database(path.join(dir, 'jobs.db'));
    old.exec(`CREATE TABLE jobs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, model TEXT NOT NULL,
      resolved_model TEXT, kind TEXT NOT NULL, request TEXT NOT NULL, priority INTEGER NOT NULL,
      metadata TEXT, client TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      max_attempts INTEGER NOT NULL, result TEXT, error TEXT, submitted_at INTEGER NOT NULL,
      started_at INTEGER, completed_at INTEGER)`);
    old
      .prepare(
        `INSERT INTO jobs (id, model, kind, request, priority, status, max_attempts, submitted_at)
         VALUES ('old-1', 'qwen2.5:0.5b', 'chat', '{"messages":[{"role":"user","content":"hi"}]}', 1, 'pending', 3, 1)`,
      )
      .run();
    old.close();
    const store = await openSqlite(settings, dir);
    expect(await store.get('old-1')).toMatchObject({
      kind: 'chat',
      endpoint: '/api/chat',
      attached: false,
      request: { messages: [{ role: 'user', content: 'hi' }] },
      status: 'pending',
    });
    expect(await store.recover(2)).toEqual({ requeued: 0, failed: 0, cancelled: 0 });
    const [fresh] = await store.submit([{ ...job('m:1'), attached: true }], 3, 100);
    expect(fresh).toMatchObject({ attached: true, endpoint: '/api/generate' });
  });

  it('keeps its schema version in the file, and refuses a file a newer ollama-fleet wrote', async () => {
    const dir = await tempDir();
    const store = await openSqlite(settings, dir);
    await store.submit([job('m:1')], 1, 100);
    await store.close();
    const file = path.join(dir, 'jobs.db');
    const look = new Database(file);
    expect(look.pragma('user_version', { simple: true })).toBe(1);
    look.pragma('user_version = 7');
    look.close();
    await expect(openSqlite(settings, dir)).rejects.toThrow(
      /jobs\.db is at schema version 7, newer than this ollama-fleet knows \(1\)/,
    );
    // Refused, not rewritten: the newer code's file is as it left it.
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(7);
    expect((after.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n).toBe(1);
    after.close();
  });

  it('finds corrupt pages at start-up, keeps the file aside with its journal, and starts empty', async () => {
    const dir = await tempDir();
    const first = await openSqlite(settings, dir);
    await first.submit(
      Array.from({ length: 300 }, (_, i) => job('m:1', 'normal', `prompt ${i} ${'x'.repeat(400)}`)),
      1,
      1000,
    );
    await first.close();
    const file = path.join(dir, 'jobs.db');
    const bytes = await readFile(file);
    // Garbage over pages in the middle, as a failing disk leaves them; the header stays.
    const middle = Math.floor(bytes.length / 2);
    for (let i = 0; i < 8192 && middle + i < bytes.length; i++) bytes[middle + i] = (i * 131) % 256;
    await writeFile(file, bytes);
    const capture = captureLogger();
    const second = new SqliteJobStore({ stateDir: dir, settings, log: capture.log });
    opened.push(second);
    expect((await second.counts()).total).toBe(0);
    // The file kept aside (its journal, if any, beside it as <name>-wal and <name>-shm).
    const aside = (await readdir(dir)).filter(
      (f) => f.startsWith('jobs.db.corrupt-') && !/-(wal|shm)$/.test(f),
    );
    expect(aside).toHaveLength(1);
    expect(await readFile(path.join(dir, aside[0] as string))).toEqual(bytes);
    expect(capture.lines().some((l) => String(l.msg).includes('quick_check'))).toBe(true);
    await second.submit([job('m:1')], 2, 100);
  });
});
