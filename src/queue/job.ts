/** A job and its life: what a client submits, what the store keeps, what the API shows. */

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const JOB_KINDS = ['generate', 'chat', 'embed'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATUSES = [
  'pending',
  'queued',
  'running',
  'complete',
  'failed',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses a job never leaves. */
export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['complete', 'failed', 'cancelled']);

/**
 * What the job asks Ollama for: the request body as the caller sent it, every field (unknown
 * ones too), so a job that runs again sends exactly the same request. Only `model` is
 * replaced when it runs (an alias becomes its rung).
 */
export type JobRequest = Record<string, unknown>;

/** Where on Ollama each kind of job goes when the caller named no path (`POST /api/submit`). */
export const KIND_ENDPOINTS: Record<JobKind, string> = {
  generate: '/api/generate',
  chat: '/api/chat',
  embed: '/api/embed',
};

export interface NewJob {
  /** A concrete model, or a ladder alias (`fleet`, `fleet:<ladder>`). */
  model: string;
  kind: JobKind;
  /** The path on Ollama the request is sent to: `/api/chat`, `/v1/chat/completions`, ... */
  endpoint: string;
  request: JobRequest;
  /**
   * A caller waits on an open connection for the answer (the compatible routes). Nobody else
   * can receive it, so when the caller is gone the job is cancelled, not run.
   */
  attached: boolean;
  priority: Priority;
  metadata: Record<string, unknown> | null;
  /** Who submitted it (the token's name, or the client address). */
  client: string | null;
  /**
   * The caller's key for this submit (`Idempotency-Key`): a submit that repeats it while
   * the first job is kept gets that job back instead of a second one.
   */
  idempotency_key?: string | null;
}

export interface JobError {
  code: string;
  message: string;
  /** The HTTP status Ollama answered, when the failure is Ollama's answer. */
  status?: number;
  /** Ollama's error answer as it came, relayed to a caller that waits on the line. */
  body?: string;
  content_type?: string;
}

export interface Job extends NewJob {
  id: string;
  status: JobStatus;
  /** The concrete model it ran on, once dispatched. */
  resolved_model: string | null;
  /** The Ollama backend it runs or ran on (its name in fleet.yaml), once dispatched. */
  backend: string | null;
  attempts: number;
  /** Ollama's answer: the text, message or embeddings, and its timing fields. */
  result: Record<string, unknown> | null;
  error: JobError | null;
  /** Epoch milliseconds. */
  submitted_at: number;
  started_at: number | null;
  completed_at: number | null;
}

export const PRIORITY_RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

/**
 * A job's place in line: its priority rank, lifted one level per `agingMs` of waiting, so a
 * low job waits at most `agingMs` before it is served like a normal one. Lower goes first.
 */
export function effectiveRank(
  priority: Priority,
  submittedAt: number,
  now: number,
  agingMs: number,
): number {
  const lift = agingMs > 0 ? Math.floor(Math.max(0, now - submittedAt) / agingMs) : 0;
  return Math.max(0, PRIORITY_RANK[priority] - lift);
}

/** `fleet` is the first ladder's current rung; `fleet:<ladder>` another ladder's. */
export function ladderOfAlias(model: string): { ladder: string | undefined } | undefined {
  if (model === 'fleet') return { ladder: undefined };
  if (model.startsWith('fleet:')) return { ladder: model.slice('fleet:'.length) };
  return undefined;
}
