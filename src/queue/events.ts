/**
 * In-process notifications about jobs: SSE streams and long-polls listen per job; the engine
 * listens for "something changed" to wake up. The store stays the truth; these only say
 * when to look again.
 */
import type { Job } from './job.js';

export type JobEvent =
  | { type: 'queued'; job: Job; position: number | undefined }
  | { type: 'position'; position: number }
  | { type: 'running'; job: Job }
  | { type: 'token'; text: string }
  /** Ollama's status and content type for the job's answer (callers on the line only). */
  | { type: 'head'; status: number; contentType: string }
  /** One frame of Ollama's answer as its bytes (callers on the line only). */
  | { type: 'chunk'; data: string }
  | { type: 'requeued'; job: Job }
  | { type: 'complete' | 'failed' | 'cancelled'; job: Job };

type Listener = (event: JobEvent) => void;

/** The pieces of an answer on its way: many per job, and no change of the job's state. */
const STREAMED: ReadonlySet<JobEvent['type']> = new Set(['token', 'head', 'chunk']);

export class JobEvents {
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #wakers = new Set<() => void>();
  readonly #taps = new Set<(id: string, event: JobEvent) => void>();
  readonly #closers = new Set<() => void>();

  publish(id: string, event: JobEvent): void {
    for (const listener of this.#listeners.get(id) ?? []) listener(event);
    if (STREAMED.has(event.type)) return;
    for (const tap of this.#taps) tap(id, event);
    if (event.type !== 'position') this.changed();
  }

  /**
   * A change another supervisor made (a shared queue): its followers here hear it and the
   * dispatcher looks again, but it is not counted here (taps) a second time.
   */
  relay(id: string, event: JobEvent): void {
    for (const listener of this.#listeners.get(id) ?? []) listener(event);
    this.changed();
  }

  subscribe(id: string, listener: Listener): () => void {
    let set = this.#listeners.get(id);
    if (!set) {
      set = new Set();
      this.#listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(id);
    };
  }

  /** Every job's events but the pieces of its answer (metrics count them). */
  tap(listener: (id: string, event: JobEvent) => void): () => void {
    this.#taps.add(listener);
    return () => this.#taps.delete(listener);
  }

  /** Whether someone listens to this job's events now. */
  isWatched(id: string): boolean {
    return this.#listeners.has(id);
  }

  /** Ids with at least one listener (to send position updates only where someone looks). */
  watched(): string[] {
    return [...this.#listeners.keys()];
  }

  /** Tells the engine that work may have changed (a submit, a cancel, a job ending). */
  changed(): void {
    for (const wake of this.#wakers) wake();
  }

  onChange(wake: () => void): () => void {
    this.#wakers.add(wake);
    return () => this.#wakers.delete(wake);
  }

  /** Long-polls and event streams register here to end when the supervisor shuts down. */
  onClose(close: () => void): () => void {
    this.#closers.add(close);
    return () => this.#closers.delete(close);
  }

  closeAll(): void {
    for (const close of [...this.#closers]) close();
  }
}
