/**
 * The simulator's HTTP plumbing, shaped like Ollama's gin server: `{"error": "..."}` bodies,
 * NDJSON streams, 405 on a known path with the wrong method, gin's plain-text 404, and a gin
 * access line per request. node:http directly: a test double must control every byte.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeGoJson } from '../ollama/go-json.js';
import { OllamaHttpError } from './scheduler.js';
import type { SimLog } from './sim-log.js';

export interface SimRequest {
  method: string;
  /** Percent-decoded, as Go's URL.Path that gin routes on. */
  path: string;
  /** The parsed JSON body; undefined when there was none (or it was not JSON). */
  body: unknown;
  /**
   * Why the body is not JSON. Only /v1 routes see it (they answer in OpenAI's error shape);
   * for the others the listener answers Ollama's 400 before the handler runs.
   */
  bodyError?: OllamaHttpError;
  /** `:name` segments of a route such as `GET /v1/models/:model`. */
  params: Record<string, string>;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

export type Handler = (request: SimRequest, response: ServerResponse) => Promise<void>;

export interface Routes {
  [route: string]: Handler;
}

const MAX_BODY = 64 * 1024 * 1024;

/** Called with every request body received (parsed JSON, else the raw text), for /sim/requests. */
export type BodyRecorder = (path: string, body: unknown) => void;

export function createRequestListener(routes: Routes, log: SimLog, record?: BodyRecorder) {
  const table = routeTable(routes);
  return async (incoming: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const method = incoming.method ?? 'GET';
    const path = decodePath((incoming.url ?? '/').split('?')[0] as string);
    response.once('finish', () => {
      const ip = (incoming.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      log.gin(response.statusCode, Number(process.hrtime.bigint() - started), ip, method, path);
    });
    const abort = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) abort.abort();
    });
    try {
      const found =
        table.find(method, path) ?? (method === 'HEAD' ? table.find('GET', path) : undefined);
      if (!found) {
        if (table.knows(path)) return sendText(response, 405, '405 method not allowed');
        return sendText(response, 404, '404 page not found');
      }
      let body: unknown;
      let bodyError: OllamaHttpError | undefined;
      if (method !== 'GET' && method !== 'HEAD') {
        const text = await readText(incoming);
        if (text.trim() !== '') {
          const decoded = decodeGoJson(text);
          if ('value' in decoded) body = decoded.value;
          else bodyError = new OllamaHttpError(400, decoded.error);
          // Recorded exactly as received: the JSON, or the text when it is not JSON.
          if (!path.startsWith('/sim/')) record?.(path, isJson(text) ? body : text);
        }
      }
      if (bodyError && !path.startsWith('/v1/')) throw bodyError;
      await found.handler(
        { method, path, body, bodyError, params: found.params, signal: abort.signal },
        response,
      );
    } catch (err) {
      const status = err instanceof OllamaHttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (response.headersSent) {
        // Streaming had begun: the error is the stream's last line, the status stays 200.
        if (!response.writableEnded) response.end(`${JSON.stringify({ error: message })}\n`);
      } else {
        sendJson(response, status, { error: message });
      }
    }
  };
}

/** Exact routes, and routes with `:param` segments that match one path segment each (gin). */
function routeTable(routes: Routes) {
  const entries = Object.entries(routes).map(([key, handler]) => {
    const space = key.indexOf(' ');
    return { method: key.slice(0, space), segments: key.slice(space + 1).split('/'), handler };
  });
  const match = (segments: string[], path: string): Record<string, string> | undefined => {
    const parts = path.split('/');
    if (parts.length !== segments.length) return undefined;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const want = segments[i] as string;
      const part = parts[i] as string;
      if (want.startsWith(':') && part !== '') params[want.slice(1)] = part;
      else if (want !== part) return undefined;
    }
    return params;
  };
  return {
    find(method: string, path: string) {
      for (const entry of entries) {
        if (entry.method !== method) continue;
        const params = match(entry.segments, path);
        if (params) return { handler: entry.handler, params };
      }
      return undefined;
    },
    knows: (path: string) => entries.some((e) => match(e.segments, path) !== undefined),
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

async function readText(incoming: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new OllamaHttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** Opens an NDJSON stream; each write is one line. */
export function ndjson(response: ServerResponse): (line: unknown) => void {
  response.writeHead(200, { 'content-type': 'application/x-ndjson' });
  return (line) => {
    if (!response.writableEnded) response.write(`${JSON.stringify(line)}\n`);
  };
}

/** The request body as an object (Ollama ignores unknown fields); 400 "missing request body". */
export function bodyObject(request: SimRequest): Record<string, unknown> {
  if (request.body === undefined) throw new OllamaHttpError(400, 'missing request body');
  if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
    throw new OllamaHttpError(
      400,
      'json: cannot unmarshal value into Go value of type api.Request',
    );
  }
  return request.body as Record<string, unknown>;
}

/**
 * Where an inference handler's answer goes: Ollama's own wire format here, or a translation of
 * it for the /v1 routes, as Ollama's OpenAI middleware wraps gin's writer. Handlers throw
 * before the first chunk for a status error.
 */
export interface AnswerSink {
  /** One chunk of a stream; the first commits status 200. */
  chunk(body: Record<string, unknown>): void;
  /** The one answer of a request that does not stream. */
  whole(body: Record<string, unknown>): void;
  /** Ends a stream. */
  end(): void;
}

/** Ollama's own format: NDJSON lines, or one JSON object. */
export function ollamaSink(response: ServerResponse): AnswerSink {
  let write: ((line: unknown) => void) | undefined;
  return {
    chunk(body) {
      write ??= ndjson(response);
      write(body);
    },
    whole: (body) => sendJson(response, 200, body),
    end: () => response.end(),
  };
}
