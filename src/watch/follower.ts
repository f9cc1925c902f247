/**
 * Follows the Ollama container's stdout and stderr through the Docker Engine API. When the
 * container restarts, is recreated or the stream drops, it finds the container again, waits
 * for it to run (Docker's events, with a polling fallback) and re-attaches from the last
 * timestamp it saw, so no line is missed and none is delivered twice. Docker missing or the
 * container absent: it says so in its status, retries with backoff, and never throws.
 */
import type { Logger } from '../log.js';
import { compareTimestamps, LogDemuxer, type LogLine, sinceParameter } from './demux.js';
import type { ContainerTarget, DockerClient } from './docker.js';

export type FollowerState = 'starting' | 'following' | 'waiting' | 'unavailable' | 'stopped';

export interface FollowerStatus {
  state: FollowerState;
  container?: string;
  /** Why it is not following, in words. */
  problem?: string;
  lines: number;
}

export interface FollowerOptions {
  docker: DockerClient;
  target: ContainerTarget;
  onLine: (line: LogLine) => void;
  log: Logger;
  /** The first attach reads lines from this time on (ISO); later ones resume where it was. */
  startAt: string;
}

const MAX_BACKOFF_MS = 10_000;
const POLL_MS = 500;

export class LogFollower {
  #status: FollowerStatus = { state: 'starting', lines: 0 };
  /**
   * Per stream (the daemon stamps each stream's lines in order, but stdout and stderr may
   * interleave out of order): the last timestamp delivered, and the lines delivered at
   * exactly that time, since `since` is inclusive and they come again.
   */
  readonly #last: Record<'stdout' | 'stderr', { ts: string; texts: Set<string> } | undefined> = {
    stdout: undefined,
    stderr: undefined,
  };
  #containerId: string | undefined;

  constructor(private readonly options: FollowerOptions) {}

  status(): FollowerStatus {
    return { ...this.#status };
  }

  async run(signal: AbortSignal): Promise<void> {
    let backoff = 250;
    while (!signal.aborted) {
      try {
        const info = await this.options.docker.find(this.options.target);
        if (!info) {
          this.#set({ state: 'waiting', problem: `no container ${describe(this.options.target)}` });
          await sleep(backoff, signal);
          backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
          continue;
        }
        if (this.#containerId !== undefined && info.id !== this.#containerId) {
          // Recreated: a new log begins; read it from its start.
          this.options.log.info(
            { container: info.name, id: info.id.slice(0, 12) },
            'the Ollama container was recreated',
          );
          this.#last.stdout = undefined;
          this.#last.stderr = undefined;
        }
        const firstAttach = this.#containerId === undefined;
        this.#containerId = info.id;
        if (!info.running) {
          this.#set({
            state: 'waiting',
            container: info.name,
            problem: `container ${info.name} is not running`,
          });
          await this.#waitForStart(info.id, signal);
          continue;
        }
        const resume = this.#resumeFrom();
        const since =
          resume !== undefined
            ? sinceParameter(resume)
            : firstAttach
              ? sinceParameter(this.options.startAt)
              : undefined;
        const stream = await this.options.docker.logs(info.id, {
          ...(since ? { since } : {}),
          signal,
        });
        this.#set({ state: 'following', container: info.name });
        this.options.log.info(
          { container: info.name, since },
          'following the Ollama container logs',
        );
        backoff = 250;
        const demux = new LogDemuxer(info.tty);
        for await (const chunk of stream) {
          const out = demux.push(chunk as Buffer);
          for (const line of out.lines) this.#deliver(line);
          for (const error of out.errors)
            this.options.log.warn({ error }, 'the Docker daemon reported a log error');
        }
        for (const line of demux.end()) this.#deliver(line);
        // The stream ended: the container stopped or restarted. Look again.
      } catch (err) {
        if (signal.aborted) break;
        const problem = describeError(err);
        this.#set({ state: 'unavailable', problem });
        this.options.log.warn(
          { problem, retry_ms: backoff },
          'cannot follow the Ollama container logs',
        );
        await sleep(backoff, signal);
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
    this.#set({ state: 'stopped' });
  }

  #deliver(line: LogLine): void {
    if (line.ts !== '') {
      const last = this.#last[line.stream];
      const order = last ? compareTimestamps(line.ts, last.ts) : 1;
      if (order < 0 || (order === 0 && last?.texts.has(line.text))) return;
      if (order > 0 || !last)
        this.#last[line.stream] = { ts: line.ts, texts: new Set([line.text]) };
      else last.texts.add(line.text);
    }
    this.#status.lines += 1;
    this.options.onLine(line);
  }

  /** The earliest of the streams' last timestamps: both resume, repeats are dropped. */
  #resumeFrom(): string | undefined {
    const times = [this.#last.stdout?.ts, this.#last.stderr?.ts].filter(
      (t): t is string => t !== undefined,
    );
    return times.sort(compareTimestamps)[0];
  }

  /** Until the container runs again: Docker's events when they come, a poll otherwise. */
  async #waitForStart(id: string, signal: AbortSignal): Promise<void> {
    const local = new AbortController();
    const stop = () => local.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      const events = await this.options.docker
        .events({ container: [id], event: ['start'] }, local.signal)
        .catch(() => undefined);
      const started = events
        ? (async () => {
            for await (const _chunk of events) return;
          })().catch(() => {})
        : new Promise<void>(() => {});
      for (;;) {
        const raced = await Promise.race([
          started.then(() => 'event' as const),
          sleep(POLL_MS, local.signal).then(() => 'poll' as const),
        ]);
        if (raced === 'event' || signal.aborted) return;
        const info = await this.options.docker.inspect(id);
        if (!info || info.running) return;
      }
    } finally {
      local.abort();
      signal.removeEventListener('abort', stop);
    }
  }

  #set(status: Omit<FollowerStatus, 'lines'>): void {
    this.#status = { ...status, lines: this.#status.lines };
  }
}

function describe(target: ContainerTarget): string {
  return typeof target === 'string' ? `named ${target}` : `labelled ${target.label}`;
}

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; statusCode?: number };
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')
    return `the Docker socket does not answer (${e.code}); is the socket mounted?`;
  if (e.code === 'EACCES') return 'no permission on the Docker socket';
  return e.message ?? String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
