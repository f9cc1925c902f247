/**
 * Every error a user or a program may see carries a stable `code` from this catalogue, an HTTP
 * status for the API and an exit code for the CLI (0 done, 1 refused or failed, 2 usage or
 * config). Keys equal their codes; a test pins that.
 */

export interface ErrorSpec {
  readonly code: string;
  readonly status: number;
  readonly exitCode: 1 | 2;
}

function spec<C extends string>(code: C, status: number, exitCode: 1 | 2) {
  return { code, status, exitCode } as const;
}

export const Errors = {
  FLEET_ERR_USAGE: spec('FLEET_ERR_USAGE', 400, 2),
  FLEET_ERR_CONFIG_NOT_FOUND: spec('FLEET_ERR_CONFIG_NOT_FOUND', 500, 2),
  FLEET_ERR_CONFIG_SYNTAX: spec('FLEET_ERR_CONFIG_SYNTAX', 500, 2),
  FLEET_ERR_CONFIG_INVALID: spec('FLEET_ERR_CONFIG_INVALID', 500, 2),
  FLEET_ERR_VALIDATION: spec('FLEET_ERR_VALIDATION', 400, 2),
  FLEET_ERR_NOT_FOUND: spec('FLEET_ERR_NOT_FOUND', 404, 2),
  FLEET_ERR_METHOD_NOT_ALLOWED: spec('FLEET_ERR_METHOD_NOT_ALLOWED', 405, 2),
  FLEET_ERR_UNAUTHORIZED: spec('FLEET_ERR_UNAUTHORIZED', 401, 2),
  FLEET_ERR_FORBIDDEN: spec('FLEET_ERR_FORBIDDEN', 403, 2),
  FLEET_ERR_UNKNOWN_LADDER: spec('FLEET_ERR_UNKNOWN_LADDER', 404, 2),
  FLEET_ERR_MODEL_NOT_ON_LADDER: spec('FLEET_ERR_MODEL_NOT_ON_LADDER', 400, 2),
  FLEET_ERR_LADDER_AT_BOTTOM: spec('FLEET_ERR_LADDER_AT_BOTTOM', 409, 1),
  FLEET_ERR_LADDER_HELD: spec('FLEET_ERR_LADDER_HELD', 409, 1),
  FLEET_ERR_LADDER_AT_TOP: spec('FLEET_ERR_LADDER_AT_TOP', 409, 1),
  FLEET_ERR_UNKNOWN_MODEL: spec('FLEET_ERR_UNKNOWN_MODEL', 400, 2),
  FLEET_ERR_MODEL_TOO_LARGE: spec('FLEET_ERR_MODEL_TOO_LARGE', 400, 1),
  FLEET_ERR_NO_BACKEND: spec('FLEET_ERR_NO_BACKEND', 400, 1),
  FLEET_ERR_QUEUE_FULL: spec('FLEET_ERR_QUEUE_FULL', 429, 1),
  FLEET_ERR_JOB_NOT_FOUND: spec('FLEET_ERR_JOB_NOT_FOUND', 404, 1),
  FLEET_ERR_JOB_FINISHED: spec('FLEET_ERR_JOB_FINISHED', 409, 1),
  FLEET_ERR_JOB_ATTEMPTS: spec('FLEET_ERR_JOB_ATTEMPTS', 500, 1),
  FLEET_ERR_JOB_CANCELLED: spec('FLEET_ERR_JOB_CANCELLED', 499, 1),
  FLEET_ERR_SHUTTING_DOWN: spec('FLEET_ERR_SHUTTING_DOWN', 503, 1),
  FLEET_ERR_BUSY: spec('FLEET_ERR_BUSY', 503, 1),
  FLEET_ERR_STORAGE: spec('FLEET_ERR_STORAGE', 503, 1),
  FLEET_ERR_STATE_LOCKED: spec('FLEET_ERR_STATE_LOCKED', 503, 1),
  FLEET_ERR_STATE_IO: spec('FLEET_ERR_STATE_IO', 500, 1),
  FLEET_ERR_LISTEN: spec('FLEET_ERR_LISTEN', 500, 1),
  FLEET_ERR_UNSAFE: spec('FLEET_ERR_UNSAFE', 500, 2),
  FLEET_ERR_WORKER_CONFIG: spec('FLEET_ERR_WORKER_CONFIG', 500, 1),
  FLEET_ERR_SUPERVISOR: spec('FLEET_ERR_SUPERVISOR', 502, 1),
  FLEET_ERR_OLLAMA_UNREACHABLE: spec('FLEET_ERR_OLLAMA_UNREACHABLE', 502, 1),
  FLEET_ERR_OLLAMA_RESPONSE: spec('FLEET_ERR_OLLAMA_RESPONSE', 502, 1),
  FLEET_ERR_INTERNAL: spec('FLEET_ERR_INTERNAL', 500, 1),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof Errors;

export class FleetError extends Error {
  override readonly name = 'FleetError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: 1 | 2;
  /** Structured facts for programs (the key path of a bad config key, the ladder, ...). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    which: (typeof Errors)[ErrorCode],
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = which.code;
    this.status = which.status;
    this.exitCode = which.exitCode;
    this.details = options.details;
  }

  /** The body the HTTP API answers with. */
  toJSON(): { error: { code: string; message: string; details?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: { ...this.details } } : {}),
      },
    };
  }
}

export function isFleetError(value: unknown): value is FleetError {
  return value instanceof FleetError;
}

/** Anything thrown becomes an Error; a FleetError passes through unchanged. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}

/** Wraps a foreign error so it carries one of our codes, keeping the original as `cause`. */
export function wrapError(
  which: (typeof Errors)[ErrorCode],
  message: string,
  cause: unknown,
): FleetError {
  if (isFleetError(cause)) return cause;
  const reason = coerceError(cause).message;
  return new FleetError(which, `${message}: ${reason}`, { cause });
}
