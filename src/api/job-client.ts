/**
 * A small client for the job API, used by `fleet submit` and `fleet jobs` (and anything else
 * that talks to a supervisor over HTTP). Errors come back as the FleetError the server sent.
 */
import { type ErrorCode, Errors, FleetError } from '../errors.js';

export interface JobClientOptions {
  url: string;
  token: string | undefined;
}

export class JobClient {
  readonly url: string;
  readonly #token: string | undefined;

  constructor(options: JobClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
  }

  /** The answer as JSON; `T` is what the caller knows the route returns. */
  async call<T = unknown>(
    route: string,
    init: {
      method?: string;
      body?: unknown;
      signal?: AbortSignal;
      headers?: Record<string, string>;
    } = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${route}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: {
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
          ...init.headers,
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (err) {
      throw new FleetError(
        Errors.FLEET_ERR_SUPERVISOR,
        `no supervisor answers at ${this.url} (${(err as Error).message}); start one with fleet serve, or pass --url`,
        {
          cause: err,
        },
      );
    }
    const body = await response.json().catch(() => undefined);
    if (response.ok) return body as T;
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (error?.code && error.code in Errors && error.message) {
      // Refused for want of the right token: say where a token comes from.
      const hint =
        response.status === 401
          ? '; pass --token, set FLEET_API_TOKEN, or put api.token in the fleet.yaml given by --config'
          : '';
      throw new FleetError(Errors[error.code as ErrorCode], `${error.message}${hint}`);
    }
    throw new FleetError(Errors.FLEET_ERR_SUPERVISOR, `${route} answered ${response.status}`);
  }
}
