/**
 * A job as a database row holds it (JSON as text, priority as its rank, times as epoch ms),
 * and the one way back to a `Job`. Both stores use it: SQLite keeps `attached` as 0/1,
 * PostgreSQL as a boolean.
 */
import {
  JOB_STATUSES,
  type Job,
  type JobStatus,
  KIND_ENDPOINTS,
  PRIORITIES,
  type Priority,
} from './job.js';
import type { JobCounts } from './store.js';

export interface JobRow {
  seq: number;
  id: string;
  model: string;
  resolved_model: string | null;
  backend: string | null;
  kind: Job['kind'];
  endpoint: string | null;
  request: string;
  attached: number | boolean;
  priority: number;
  metadata: string | null;
  client: string | null;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  result: string | null;
  error: string | null;
  submitted_at: number;
  started_at: number | null;
  completed_at: number | null;
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    model: row.model,
    resolved_model: row.resolved_model,
    backend: row.backend,
    kind: row.kind,
    // Rows from before jobs kept their path: the kind's own path on Ollama.
    endpoint: row.endpoint ?? KIND_ENDPOINTS[row.kind],
    request: JSON.parse(row.request),
    attached: row.attached === true || row.attached === 1,
    priority: PRIORITIES[row.priority] ?? 'normal',
    metadata: row.metadata === null ? null : JSON.parse(row.metadata),
    client: row.client,
    status: row.status,
    attempts: row.attempts,
    result: row.result === null ? null : JSON.parse(row.result),
    error: row.error === null ? null : JSON.parse(row.error),
    submitted_at: row.submitted_at,
    started_at: row.started_at,
    completed_at: row.completed_at,
  };
}

/** Jobs not yet final, as both stores' SQL says it. */
export const OPEN_STATUSES = "('pending', 'queued', 'running')";

/** The counts of `JobStore.counts`, from jobs per status and open jobs per model and status. */
export function countsOf(
  byStatusRows: readonly { status: JobStatus; n: number }[],
  byModelRows: readonly { model: string; status: 'pending' | 'queued' | 'running'; n: number }[],
): JobCounts {
  const byStatus = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
  let total = 0;
  for (const row of byStatusRows) {
    byStatus[row.status] = row.n;
    total += row.n;
  }
  const byModel: JobCounts['by_model'] = {};
  for (const row of byModelRows) {
    const entry = byModel[row.model] ?? { pending: 0, queued: 0, running: 0 };
    entry[row.status] = row.n;
    byModel[row.model] = entry;
  }
  return { total, by_status: byStatus, by_model: byModel };
}

/** `JobStore.openBreakdown` from rows of status, model, priority rank and count. */
export function breakdownOf(
  rows: readonly { status: JobStatus; model: string; priority: number; n: number }[],
): { status: JobStatus; model: string; priority: Priority; count: number }[] {
  return rows.map((r) => ({
    status: r.status,
    model: r.model,
    priority: PRIORITIES[r.priority] ?? 'normal',
    count: r.n,
  }));
}
