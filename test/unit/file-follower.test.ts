/**
 * Following Ollama's log in a file: from the end, across rotation and truncation, and across
 * a restart of the supervisor without a line read twice or missed. Real files, real polling.
 */
import { appendFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFollower } from '../../src/watch/file-follower.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';

async function follow(file: string, positionFile: string) {
  const lines: string[] = [];
  const follower = new FileFollower({
    file,
    positionFile,
    log: captureLogger().log,
    onLine: (line) => lines.push(line.text),
    pollMs: 10,
  });
  const stop = new AbortController();
  const done = follower.run(stop.signal);
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((r) => setTimeout(r, 10));
  };
  await until(() => follower.status().state !== 'starting');
  return {
    lines,
    follower,
    until,
    stop: async () => {
      stop.abort();
      await done;
    },
  };
}

describe('following a log file', () => {
  it('starts at the end, then reads what is added, whole lines only', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'ollama.log');
    await writeFile(file, 'old trouble: CUDA error: out of memory\n');
    const f = await follow(file, path.join(dir, 'pos.json'));
    await appendFile(file, 'line one\nline tw');
    await f.until(() => f.lines.length === 1);
    await appendFile(file, 'o\nline three\n');
    await f.until(() => f.lines.length === 3);
    expect(f.lines).toEqual(['line one', 'line two', 'line three']);
    expect(f.follower.status()).toMatchObject({ state: 'following', lines: 3 });
    await f.stop();
  });

  it('follows rotation (a new file: from its start) and truncation (again from the start)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'ollama.log');
    await writeFile(file, '');
    const f = await follow(file, path.join(dir, 'pos.json'));
    await appendFile(file, 'before rotation\n');
    await f.until(() => f.lines.length === 1);
    await rename(file, `${file}.1`);
    await writeFile(file, 'first of the new file\n');
    await f.until(() => f.lines.length === 2);
    await writeFile(file, 'after truncation\n'); // copytruncate: same file, shorter
    await f.until(() => f.lines.length === 3);
    expect(f.lines).toEqual(['before rotation', 'first of the new file', 'after truncation']);
    await f.stop();
  });

  it('after a restart, resumes where it stopped: nothing twice, nothing missed', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'ollama.log');
    const position = path.join(dir, 'pos.json');
    await writeFile(file, '');
    const first = await follow(file, position);
    await appendFile(file, 'seen by the first run\n');
    await first.until(() => first.lines.length === 1);
    await first.stop();
    // Lines written while the supervisor was down.
    await appendFile(file, 'written while down\n');
    const second = await follow(file, position);
    await second.until(() => second.lines.length === 1);
    await appendFile(file, 'after the restart\n');
    await second.until(() => second.lines.length === 2);
    expect(second.lines).toEqual(['written while down', 'after the restart']);
    await second.stop();
  });

  it('a line cut by a restart is read whole afterwards, multi-byte text too', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'ollama.log');
    const position = path.join(dir, 'pos.json');
    await writeFile(file, '');
    const first = await follow(file, position);
    await appendFile(file, 'CUDA error: out of mém');
    await new Promise((r) => setTimeout(r, 100));
    await first.stop();
    expect(first.lines).toEqual([]);
    await appendFile(file, 'oire\n');
    const second = await follow(file, position);
    await second.until(() => second.lines.length === 1);
    expect(second.lines).toEqual(['CUDA error: out of mémoire']);
    await second.stop();
  });

  it('a missing file is waited for, said once, and read from its start once it appears', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'later.log');
    const f = await follow(file, path.join(dir, 'pos.json'));
    expect(f.follower.status()).toMatchObject({ state: 'waiting' });
    expect(f.follower.status().problem).toContain('does not exist');
    await writeFile(file, 'hello\n');
    await f.until(() => f.follower.status().state === 'following');
    await appendFile(file, 'then this\n');
    await f.until(() => f.lines.length === 2);
    expect(f.lines).toEqual(['hello', 'then this']);
    await f.stop();
  });
});
