/**
 * What an Ollama failure means for the job that met it. Pure: an error in, a verdict out.
 * Ollama's own list of out-of-memory texts (llm/status.go) decides "oom".
 */
import { OllamaCallError } from '../ollama/client.js';

export type FailureKind =
  /** VRAM ran out: not the job's fault; run it again and tell the ladder policy. */
  | 'oom'
  /** The runner died for another reason: run it again, counting the attempt. */
  | 'crash'
  /** No answer: Ollama is down or restarting; the job waits, its attempt given back. */
  | 'unreachable'
  /** Ollama refused the request itself (unknown model, bad option): retrying will not help. */
  | 'rejected'
  /** Anything else: run it again, counting the attempt. */
  | 'other';

const OOM_TEXTS = [
  'out of memory',
  'cudamalloc failed',
  'failed to allocate',
  'unable to allocate',
  'not enough memory',
  'insufficient memory',
  'memory layout cannot be allocated',
  'out-of-memory',
  'requires more system memory',
];

const CRASH_TEXTS = [
  'process has terminated',
  'runner has unexpectedly stopped',
  'no longer running',
  'timed out waiting for',
];

export function classifyFailure(error: unknown): FailureKind {
  if (!(error instanceof OllamaCallError)) return 'other';
  if (error.unreachable) return 'unreachable';
  const text = error.ollamaError.toLowerCase();
  if (OOM_TEXTS.some((t) => text.includes(t))) return 'oom';
  if (CRASH_TEXTS.some((t) => text.includes(t))) return 'crash';
  if (error.httpStatus === 503) return 'unreachable';
  if (error.httpStatus >= 400 && error.httpStatus < 500) return 'rejected';
  return 'other';
}
