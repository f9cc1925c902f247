/**
 * Follows Ollama's log in the systemd journal (`ollama.service`, as Ollama's Linux installer
 * sets it up): `journalctl -u UNIT -f -o json`, one JSON entry a line. It keeps the journal's
 * cursor in the state folder and resumes after it, so a restart of the supervisor (or of
 * journalctl) neither misses a line nor reads one twice; the first run starts at the end.
 * journalctl missing or failing is said in its status and retried with backoff; it never
 * throws.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { writeFileAtomic } from '../files/atomic.js';
import type { Logger } from '../log.js';
import type { LogLine } from './demux.js';
import type { FollowerStatus } from './follower.js';

export interface JournaldFollowerOptions {
  unit: string;
  onLine: (line: LogLine) => void;
  log: Logger;
  /** Where it keeps the journal's cursor between runs. */
  cursorFile: string;
  /** The journalctl to run (a test gives its own). */
  command?: string;
}

const MAX_BACKOFF_MS = 10_000;
/** The cursor is written at most this often while lines stream (and when the stream ends). */
const SAVE_EVERY_MS = 1_000;

export class JournaldFollower {
  #status: FollowerStatus = { state: 'starting', lines: 0 };
  #cursor: string | undefined;
  #savedAt = 0;
  #saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: JournaldFollowerOptions) {}

  status(): FollowerStatus {
    return { ...this.#status };
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#cursor = await this.#savedCursor();
    let backoff = 250;
    while (!signal.aborted) {
      const why = await this.#follow(signal);
      await this.#saveCursor();
      if (signal.aborted) break;
      this.#problem(why);
      try {
        await sleep(backoff, undefined, { signal });
      } catch {
        break;
      }
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
    this.#status = { ...this.#status, state: 'stopped' };
  }

  /** Runs journalctl until it ends; returns why it ended. */
  async #follow(signal: AbortSignal): Promise<string> {
    const { unit } = this.options;
    // --all: without it journalctl gives long messages (over 4 KiB) as null.
    const args = ['-u', unit, '-f', '-o', 'json', '--all', '--no-pager'];
    // After the last entry read; the first run starts at the end (old trouble is history).
    args.push(...(this.#cursor ? ['--after-cursor', this.#cursor] : ['-n', '0']));
    const child = execa(this.options.command ?? 'journalctl', args, {
      cancelSignal: signal,
      reject: false,
      buffer: false,
      stdin: 'ignore',
      stderr: 'pipe',
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-500);
    });
    child.once('spawn', () => this.#following());
    try {
      for await (const line of child.iterable({ from: 'stdout' })) this.#take(String(line));
      const result = await child;
      return result.failed
        ? `journalctl for ${unit} ended: ${result.shortMessage ?? ''} ${stderr}`.trim()
        : `journalctl for ${unit} ended`;
    } catch (err) {
      return `cannot run journalctl for ${unit}: ${(err as Error).message}`;
    }
  }

  #take(text: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof entry.__CURSOR === 'string') this.#cursor = entry.__CURSOR;
    // journald gives MESSAGE as a string, or as an array of bytes when it is not UTF-8.
    const message = Array.isArray(entry.MESSAGE)
      ? Buffer.from(entry.MESSAGE as number[]).toString('utf8')
      : entry.MESSAGE;
    if (typeof message !== 'string' || message === '') return;
    // When it was written (microseconds since the epoch), not when it is read: entries
    // read after a restart keep their own time, so old trouble is not counted as new.
    const micros = Number(entry.__REALTIME_TIMESTAMP);
    const ts = Number.isFinite(micros) && micros > 0 ? new Date(micros / 1000).toISOString() : '';
    for (const line of message.split('\n')) {
      if (line === '') continue;
      this.#status = { ...this.#status, lines: this.#status.lines + 1 };
      this.options.onLine({ stream: 'stderr', ts, text: line });
    }
    if (Date.now() - this.#savedAt > SAVE_EVERY_MS) void this.#saveCursor();
  }

  #following(): void {
    if (this.#status.state === 'following') return;
    this.options.log.info(
      { unit: this.options.unit },
      `following ${this.options.unit} in the journal`,
    );
    this.#status = { state: 'following', lines: this.#status.lines };
  }

  #problem(problem: string): void {
    if (this.#status.problem !== problem)
      this.options.log.warn({ unit: this.options.unit }, problem);
    this.#status = { state: 'unavailable', problem, lines: this.#status.lines };
  }

  async #savedCursor(): Promise<string | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.options.cursorFile, 'utf8')) as {
        unit?: string;
        cursor?: string;
      };
      if (saved.unit === this.options.unit && typeof saved.cursor === 'string') return saved.cursor;
    } catch {}
    return undefined;
  }

  /**
   * Keeps the cursor, one write after the other (an older cursor never lands last); a failure
   * only means a restart may read a few entries again.
   */
  #saveCursor(): Promise<void> {
    this.#savedAt = Date.now();
    this.#saving = this.#saving.then(async () => {
      if (this.#cursor === undefined) return;
      const content = `${JSON.stringify({ unit: this.options.unit, cursor: this.#cursor })}\n`;
      await writeFileAtomic(this.options.cursorFile, content).catch((err: Error) =>
        this.options.log.warn({ err }, 'could not keep the journal cursor'),
      );
    });
    return this.#saving;
  }
}
