/**
 * The HTTP client to Ollama: the one file that speaks undici. Every call takes a timeout
 * and an optional AbortSignal; answers are validated against schemas.ts.
 */
import { request } from 'undici';
import type { z } from 'zod';
import { Errors, FleetError } from '../errors.js';
import {
  errorBodySchema,
  type PsResponse,
  psResponseSchema,
  type TagsResponse,
  tagsResponseSchema,
  versionResponseSchema,
} from './schemas.js';

/**
 * A failed call to Ollama, with what a caller needs to decide: the HTTP status (0 when no
 * answer came) and Ollama's own error text.
 */
export class OllamaCallError extends FleetError {
  constructor(
    readonly httpStatus: number,
    readonly ollamaError: string,
    message: string,
    cause?: unknown,
    /** Ollama's error answer as it came, when it answered with a status of 400 or more. */
    readonly response?: { body: string; contentType: string },
  ) {
    super(
      httpStatus === 0 ? Errors.FLEET_ERR_OLLAMA_UNREACHABLE : Errors.FLEET_ERR_OLLAMA_RESPONSE,
      message,
      {
        cause,
        details: { http_status: httpStatus, ollama_error: ollamaError },
      },
    );
  }

  get unreachable(): boolean {
    return this.httpStatus === 0;
  }

  /**
   * A call that broke on the way: Ollama went silent past a timeout (504, counted against
   * the job like any failure), or could not be reached or dropped the connection (0: Ollama
   * is away, the job waits).
   */
  static fromNetwork(err: unknown, what: string): OllamaCallError {
    const code = networkCode(err);
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      const words = 'Ollama did not answer in time';
      return new OllamaCallError(504, words, `${what}: ${words} (${code})`, err);
    }
    return new OllamaCallError(0, '', `${what}: ${describeNetworkError(err)}`, err);
  }
}

export interface InferOptions {
  signal?: AbortSignal;
  /**
   * Longest wait for the answer to begin: a model load happens before it, and for an answer
   * that is not streamed, the whole generation too.
   */
  firstByteTimeoutMs: number;
  /** Longest silence between chunks. */
  idleTimeoutMs: number;
}

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

  async ps(signal?: AbortSignal): Promise<PsResponse> {
    return this.#get('/api/ps', psResponseSchema, signal);
  }

  /**
   * Sends a request on to Ollama as it came (the compatible routes' pass-through: tags, show,
   * pull, ...) and gives back its status, content type and body stream.
   */
  async forward(
    method: 'GET' | 'POST' | 'DELETE' | 'HEAD',
    route: string,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ status: number; contentType: string; body: NodeJS.ReadableStream }> {
    try {
      const response = await request(`${this.url}${route}`, {
        method,
        ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
        ...(signal ? { signal } : {}),
      });
      const type = response.headers['content-type'];
      return {
        status: response.statusCode,
        contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/json; charset=utf-8',
        body: response.body,
      };
    } catch (err) {
      throw new FleetError(
        Errors.FLEET_ERR_OLLAMA_UNREACHABLE,
        `Ollama at ${this.url} is unreachable: ${describeNetworkError(err)}`,
        { cause: err },
      );
    }
  }

  /**
   * POSTs a caller's request to a path (`/api/chat`, `/v1/responses`, ...) as it is and gives
   * back Ollama's answer unread: status, content type and body. An answer of 400 or more is
   * an OllamaCallError that keeps Ollama's body as it came.
   */
  async send(
    route: string,
    body: Record<string, unknown>,
    options: InferOptions,
  ): Promise<{ status: number; contentType: string; body: AsyncIterable<Buffer> }> {
    const response = await this.#post(route, body, options);
    const type = response.headers['content-type'];
    return {
      status: response.statusCode,
      contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/json; charset=utf-8',
      body: response.body,
    };
  }

  /** POSTs a JSON body and returns the JSON answer (/api/embed, /api/show, loads and unloads). */
  async call(
    route: string,
    body: Record<string, unknown>,
    options: InferOptions,
  ): Promise<Record<string, unknown>> {
    const response = await this.#post(route, body, options);
    const text = await response.body.text();
    return JSON.parse(text) as Record<string, unknown>;
  }

  async #post(route: string, body: Record<string, unknown>, options: InferOptions) {
    const target = `${this.url}${route}`;
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        headersTimeout: options.firstByteTimeoutMs,
        bodyTimeout: options.idleTimeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw OllamaCallError.fromNetwork(err, `POST ${target}`);
    }
    if (response.statusCode >= 400) {
      const text = await response.body.text();
      const error = errorText(text);
      const type = response.headers['content-type'];
      throw new OllamaCallError(
        response.statusCode,
        error,
        `POST ${route} answered ${response.statusCode}: ${error}`,
        undefined,
        {
          body: text,
          contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/json; charset=utf-8',
        },
      );
    }
    return response;
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

/**
 * The words of an error body: Ollama's `{"error": "..."}`, or its OpenAI layer's
 * `{"error": {"message": "..."}}`; anything else, the start of the text.
 */
export function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    const plain = errorBodySchema.safeParse(parsed);
    if (plain.success) return plain.data.error;
    const nested = parsed.error as { message?: unknown } | undefined;
    if (typeof nested?.message === 'string') return nested.message;
  } catch {}
  return body.slice(0, 300);
}

/** An error of the connection itself (undici's `UND_ERR_*`, `ECONNRESET`, ...), not of our code. */
export function isNetworkError(err: unknown): boolean {
  return !(err instanceof FleetError) && networkCode(err) !== undefined;
}

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code;
}

function describeNetworkError(err: unknown): string {
  return networkCode(err) ?? (err as { message?: string }).message ?? String(err);
}
