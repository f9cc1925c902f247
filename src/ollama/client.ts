/**
 * The HTTP client to Ollama: the one file that speaks undici. Every call takes a timeout
 * and an optional AbortSignal; answers are validated against schemas.ts.
 */
import { request } from 'undici';
import type { z } from 'zod';
import { Errors, FleetError } from '../errors.js';
import {
  errorBodySchema,
  type TagsResponse,
  tagsResponseSchema,
  versionResponseSchema,
} from './schemas.js';

export interface OllamaClientOptions {
  url: string;
  /** Milliseconds for a quick call (version, tags). */
  timeout: number;
}

export class OllamaClient {
  readonly url: string;
  readonly #timeout: number;

  constructor(options: OllamaClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#timeout = options.timeout;
  }

  async version(signal?: AbortSignal): Promise<string> {
    return (await this.#get('/api/version', versionResponseSchema, signal)).version;
  }

  async tags(signal?: AbortSignal): Promise<TagsResponse> {
    return this.#get('/api/tags', tagsResponseSchema, signal);
  }

  async #get<T>(route: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.#timeout);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const target = `${this.url}${route}`;
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(target, { method: 'GET', signal: combined });
    } catch (err) {
      const why = timeout.aborted
        ? `no answer within ${this.#timeout} ms`
        : describeNetworkError(err);
      throw new FleetError(
        Errors.FLEET_ERR_OLLAMA_UNREACHABLE,
        `Ollama at ${this.url} is unreachable: ${why}`,
        {
          cause: err,
        },
      );
    }
    const text = await response.body.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new FleetError(
        Errors.FLEET_ERR_OLLAMA_RESPONSE,
        `GET ${target} answered ${response.statusCode} with a body that is not JSON: ${text.slice(0, 120)}`,
      );
    }
    if (response.statusCode >= 400) {
      const error = errorBodySchema.safeParse(body);
      throw new FleetError(
        Errors.FLEET_ERR_OLLAMA_RESPONSE,
        `GET ${target} answered ${response.statusCode}: ${error.success ? error.data.error : text.slice(0, 120)}`,
      );
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new FleetError(
        Errors.FLEET_ERR_OLLAMA_RESPONSE,
        `GET ${target} answered in an unexpected shape: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
      );
    }
    return parsed.data;
  }
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}
