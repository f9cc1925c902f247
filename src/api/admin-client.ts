/**
 * The CLI's side of the admin API: when a supervisor for the same state file answers, ladder
 * changes go through it so the running daemon acts on them at once.
 */
import { type ErrorCode, Errors, FleetError } from '../errors.js';
import type { ChangeResult, FleetControl, FleetStatus, LadderAction } from '../fleet/control.js';
import { SERVICE_NAME } from './routes/health.js';

export interface SupervisorTarget {
  host: string;
  port: number;
  token: string | undefined;
  /** How long to wait for a supervisor before working on the state file directly. */
  timeoutMs: number;
}

/** A wildcard bind address is reached on loopback. */
export function supervisorUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/**
 * The supervisor's control, or undefined when none answers, when what answers is not an
 * ollama-fleet supervisor, or when it keeps another state file than `stateFile`.
 */
export async function connectSupervisor(
  target: SupervisorTarget,
  stateFile: string,
): Promise<FleetControl | undefined> {
  const base = supervisorUrl(target.host, target.port);
  let response: Response;
  try {
    response = await fetch(`${base}/api/fleet`, {
      headers: authHeaders(target.token),
      signal: AbortSignal.timeout(target.timeoutMs),
    });
  } catch {
    return undefined;
  }
  const body = await response.json().catch(() => undefined);
  if (response.status === 401 && isErrorBody(body)) {
    throw new FleetError(
      Errors.FLEET_ERR_UNAUTHORIZED,
      `the supervisor at ${base} refused the request (${body.error.message}); set api.token in fleet.yaml or FLEET_API_TOKEN`,
    );
  }
  if (!isFleetBody(body) || body.state_file !== stateFile) return undefined;
  return remoteControl(base, target);
}

function remoteControl(base: string, target: SupervisorTarget): FleetControl {
  const call = async <T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}${route}`, {
        method,
        headers: {
          ...authHeaders(target.token),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new FleetError(
        Errors.FLEET_ERR_SUPERVISOR,
        `the supervisor at ${base} stopped answering`,
        {
          cause: err,
        },
      );
    }
    const answer = await response.json().catch(() => undefined);
    if (response.ok) return answer as T;
    if (isErrorBody(answer) && answer.error.code in Errors) {
      // The supervisor's refusal is ours too: same code, same exit status.
      throw new FleetError(Errors[answer.error.code as ErrorCode], answer.error.message);
    }
    throw new FleetError(
      Errors.FLEET_ERR_SUPERVISOR,
      `the supervisor at ${base} answered ${response.status} to ${method} ${route}`,
    );
  };
  return {
    via: base,
    status: () => call<FleetStatus>('GET', '/api/fleet'),
    change: (ladder: string | undefined, action: LadderAction) => {
      const { action: verb, ...body } = action;
      const name = encodeURIComponent(ladder ?? '');
      return call<ChangeResult>('POST', `/api/fleet/${name}/${verb}`, body);
    },
  };
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

function isErrorBody(body: unknown): body is { error: { code: string; message: string } } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}

function isFleetBody(body: unknown): body is { service: string; state_file: string } {
  const b = body as { service?: unknown; state_file?: unknown } | undefined;
  return b?.service === SERVICE_NAME && typeof b.state_file === 'string';
}
