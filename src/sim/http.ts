/**
 * The simulator's HTTP plumbing, shaped like Ollama's gin server: `{"error": "..."}` bodies,
 * NDJSON streams, 405 on a known path with the wrong method, gin's plain-text 404, and a gin
 * access line per request. node:http directly: a test double must control every byte.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OllamaHttpError } from './scheduler.js';
import type { SimLog } from './sim-log.js';

export interface SimRequest {
  method: string;
  path: string;
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

export type Handler = (request: SimRequest, response: ServerResponse) => Promise<void>;

export interface Routes {
  [route: string]: Handler;
}

const MAX_BODY = 64 * 1024 * 1024;

export function createRequestListener(routes: Routes, log: SimLog) {
  const paths = new Set(Object.keys(routes).map((r) => r.slice(r.indexOf(' ') + 1)));
  return async (incoming: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const method = incoming.method ?? 'GET';
    const path = (incoming.url ?? '/').split('?')[0] as string;
    response.once('finish', () => {
      const ip = (incoming.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      log.gin(response.statusCode, Number(process.hrtime.bigint() - started), ip, method, path);
    });
    const abort = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) abort.abort();
    });
    const handler =
      routes[`${method} ${path}`] ?? (method === 'HEAD' ? routes[`GET ${path}`] : undefined);
    try {
      if (!handler) {
        if (paths.has(path)) return sendText(response, 405, '405 method not allowed');
        return sendText(response, 404, '404 page not found');
      }
      const body = method === 'GET' || method === 'HEAD' ? undefined : await readJson(incoming);
      await handler({ method, path, body, signal: abort.signal }, response);
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

async function readJson(incoming: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new OllamaHttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    const bad = text.trim()[0] ?? '';
    throw new OllamaHttpError(400, `invalid character '${bad}' looking for beginning of value`);
  }
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
