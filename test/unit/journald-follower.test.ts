/**
 * Following Ollama's log in the systemd journal, through a stand-in journalctl (a script that
 * serves journal JSON entries with cursors from a file; no journal runs in a test): from the
 * end, new entries as they come, and after a restart from the saved cursor, nothing twice.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournaldFollower } from '../../src/watch/journald-follower.js';
import { ROOT } from '../helpers/cli.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';

const FAKE = path.join(ROOT, 'test/fixtures/fake-journalctl.mjs');
let counter = 0;
const entry = (message: string) =>
  `${JSON.stringify({ __CURSOR: `s=fake;i=${++counter}`, _SYSTEMD_UNIT: 'ollama.service', MESSAGE: message })}\n`;

async function follow(journal: string, cursorFile: string, command = FAKE) {
  const lines: string[] = [];
  const follower = new JournaldFollower({
    unit: 'ollama.service',
    cursorFile,
    command,
    log: captureLogger().log,
    onLine: (line) => lines.push(line.text),
  });
  process.env.FAKE_JOURNAL = journal;
  const stop = new AbortController();
  const done = follower.run(stop.signal);
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((r) => setTimeout(r, 10));
  };
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

describe('following the journal', () => {
  it('starts at the end, reads new entries, and resumes after its cursor when restarted', async () => {
    const dir = await tempDir();
    const journal = path.join(dir, 'journal.jsonl');
    const cursor = path.join(dir, 'cursor.json');
    await writeFile(journal, entry('before the start: CUDA error: out of memory'));
    const first = await follow(journal, cursor);
    // journalctl -n 0 starts at the end it sees once it runs: probe until it reads.
    while (!first.lines.includes('probe')) {
      await appendFile(journal, entry('probe'));
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 100));
    first.lines.length = 0;
    await appendFile(journal, entry('one') + entry('two'));
    await first.until(() => first.lines.length === 2);
    await first.stop();
    expect(first.lines).toEqual(['one', 'two']);

    await appendFile(journal, entry('while the supervisor was down'));
    const second = await follow(journal, cursor);
    await second.until(() => second.lines.length === 1);
    await appendFile(journal, entry('after the restart'));
    await second.until(() => second.lines.length === 2);
    await second.stop();
    expect(second.lines).toEqual(['while the supervisor was down', 'after the restart']);
  });

  it('journalctl missing is a status with the reason, retried, never a throw', async () => {
    const dir = await tempDir();
    const f = await follow(path.join(dir, 'j'), path.join(dir, 'c'), '/nonexistent/journalctl');
    await f.until(() => f.follower.status().state === 'unavailable');
    expect(f.follower.status().problem).toContain('journalctl');
    await f.stop();
  });
});
