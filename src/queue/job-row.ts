/**
 * A job as a database row holds it (JSON as text, priority as its rank, times as epoch ms),
 * and the one way back to a `Job`. Both stores use it: SQLite keeps `attached` as 0/1,
 * PostgreSQL as a boolean.
 */
import { type Job, type JobStatus, KIND_ENDPOINTS, PRIORITIES } from './job.js';

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
