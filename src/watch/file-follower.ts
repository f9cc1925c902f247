/**
 * Follows Ollama's log in a file, for Ollama run without Docker (`ollama serve 2>>ollama.log`,
 * a systemd unit writing to a file). It starts at the end, reads what is added, follows the
 * file across rotation (a new file at the path: read from its start) and truncation (read
 * again from the start), and keeps its place (inode and offset) in the state folder, so after
 * a restart it resumes where it was: no line is missed and none is counted twice. A missing
 * file is said once in its status and waited for; it never throws.
 */
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../files/atomic.js';
import type { Logger } from '../log.js';
import type { LogLine } from './demux.js';
import type { FollowerStatus } from './follower.js';

export interface FileFollowerOptions {
  file: string;
  onLine: (line: LogLine) => void;
  log: Logger;
  /** Where it keeps its place between runs (a JSON file in the state folder). */
  positionFile: string;
  pollMs?: number;
}

interface Position {
  file: string;
  ino: number;
  offset: number;
}

/** The most read in one go, so a huge backlog is taken in steps. */
const CHUNK = 1024 * 1024;

/** The place is written at most this often (an fsync each time). */
const SAVE_EVERY_MS = 2_000;

export class FileFollower {
  #status: FollowerStatus = { state: 'starting', lines: 0 };
  #position: Position | undefined;
  /** The start of a line not yet ended, and the decoder of a character cut between reads. */
  #partial = '';
  #decoder = new StringDecoder('utf8');
  #savedAt = 0;

  constructor(private readonly options: FileFollowerOptions) {}

  status(): FollowerStatus {
    return { ...this.#status };
  }

  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 250;
    this.#position = await this.#savedPosition();
    while (!signal.aborted) {
      try {
        await this.#readMore();
      } catch (err) {
        this.#problem(`cannot read ${this.options.file}: ${(err as Error).message}`);
      }
      try {
        await sleep(pollMs, undefined, { signal });
      } catch {
        break;
      }
    }
    await this.#savePosition();
    this.#status = { ...this.#status, state: 'stopped' };
  }

  async #readMore(): Promise<void> {
    const { file } = this.options;
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.#problem(`${file} does not exist (yet): waiting for Ollama to write it`);
      // Whatever the file holds once it appears is new: it will be read from its start.
      this.#position ??= { file, ino: -1, offset: 0 };
      return;
    }
    const known = this.#position;
    let offset: number;
    if (!known)
      offset = info.size; // the first run starts at the end: old trouble is history
    else if (known.ino !== info.ino)
      offset = 0; // rotated: a new file, read from its start
    else if (info.size < known.offset)
      offset = 0; // truncated: read again from the start
    else offset = known.offset;
    if (!known || known.ino !== info.ino || offset !== known.offset) {
      this.#partial = '';
      this.#decoder = new StringDecoder('utf8');
    }
    if (this.#status.state !== 'following') {
      this.options.log.info({ file }, `following Ollama's log in ${file}`);
      this.#status = { state: 'following', lines: this.#status.lines };
    }
    let moved = !known || known.ino !== info.ino || offset !== known.offset;
    if (info.size > offset) {
      const handle = await open(file, 'r');
      try {
        while (offset < info.size) {
          const buffer = Buffer.alloc(Math.min(CHUNK, info.size - offset));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          this.#take(this.#decoder.write(buffer.subarray(0, bytesRead)));
          moved = true;
        }
      } finally {
        await handle.close();
      }
    }
    this.#position = { file, ino: Number(info.ino), offset };
    if (moved && Date.now() - this.#savedAt >= SAVE_EVERY_MS) await this.#savePosition();
  }

  #take(text: string): void {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.replace(/\r$/, '');
      if (line === '') continue;
      this.#status = { ...this.#status, lines: this.#status.lines + 1 };
      this.options.onLine({ stream: 'stderr', ts: '', text: line });
    }
  }

  #problem(problem: string): void {
    if (this.#status.problem !== problem)
      this.options.log.warn({ file: this.options.file }, problem);
    this.#status = { state: 'waiting', problem, lines: this.#status.lines };
  }

  /** Where the last run stopped, if it followed the same file. */
  async #savedPosition(): Promise<Position | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.options.positionFile, 'utf8')) as Position;
      if (
        saved.file === path.resolve(this.options.file) &&
        Number.isInteger(saved.ino) &&
        Number.isInteger(saved.offset)
      )
        return { ...saved, file: this.options.file };
    } catch {}
    return undefined;
  }

  async #savePosition(): Promise<void> {
    const at = this.#position;
    if (!at) return;
    this.#savedAt = Date.now();
    // The place of the first byte not yet delivered: a line cut by the read is read again
    // whole after a restart, not as a tail of its own.
    const pending = Buffer.byteLength(this.#partial);
    const saved = { ...at, offset: at.offset - pending, file: path.resolve(at.file) };
    await writeFileAtomic(this.options.positionFile, `${JSON.stringify(saved)}\n`).catch((err) =>
      this.options.log.warn(
        { err },
        'could not keep the log position; a restart may read lines again',
      ),
    );
  }
}
