/**
 * OpenAI's API on the supervisor (`/v1/...`), for programs written against an OpenAI base
 * URL. Ollama speaks this dialect itself, so the supervisor does not translate it: chat and
 * text completions, embeddings and the Responses API become jobs that run on the same path
 * on Ollama with only the model resolved, and answer with Ollama's own answer (tools,
 * structured output, reasoning, images, usage in streams: whatever Ollama does). The model
 * list passes through with the ladder aliases added. The fleet's own errors take OpenAI's
 * shape, as Ollama's OpenAI layer words them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Errors, FleetError } from '../../errors.js';
import type { JobKind } from '../../queue/job.js';
import type { Dialect } from '../job-stream.js';
import { respond } from '../job-stream.js';
import {
  type CompatRoutes,
  NOT_FOUND,
  ollamaBody,
  pass,
  requireModel,
  signalOf,
  text,
} from './ollama.js';

/** OpenAI's error type for a status, as Ollama's OpenAI layer chooses it. */
function errorType(status: number): string {
  if (status === 400) return 'invalid_request_error';
  if (status === 404) return 'not_found_error';
  return 'api_error';
}

export function openaiError(status: number, message: string, code: string | null = null) {
  return { error: { message, type: errorType(status), param: null, code } };
}

/** OpenAI's framing of the fleet's own errors, and the event that ends a broken stream. */
export const OPENAI_DIALECT: Dialect = {
  error: (status, message, code) => openaiError(status, message, ollamaLike(code) ? null : code),
  streamError: (message) => `data: ${JSON.stringify(openaiError(500, message))}\n\n`,
};

/**
 * Errors Ollama itself would have answered (or did) carry no code, as Ollama's do; the
 * fleet's own conditions (queue full, shutting down, a model too large) keep theirs.
 */
const OLLAMA_LIKE = new Set([
  'FLEET_ERR_UNKNOWN_MODEL',
  'FLEET_ERR_VALIDATION',
  'FLEET_ERR_OLLAMA_RESPONSE',
  'FLEET_ERR_OLLAMA_UNREACHABLE',
]);

function ollamaLike(code: string): boolean {
  return OLLAMA_LIKE.has(code);
}

const INFERENCE: readonly [string, JobKind, (name: string) => string][] = [
  ['/v1/chat/completions', 'chat', NOT_FOUND.quoted],
  ['/v1/completions', 'generate', NOT_FOUND.quoted],
  ['/v1/responses', 'chat', NOT_FOUND.quoted],
  ['/v1/embeddings', 'embed', NOT_FOUND.pull],
];

export function openaiRoutes(app: FastifyInstance, compat: CompatRoutes): void {
  for (const [endpoint, kind, notFound] of INFERENCE) {
    app.post(endpoint, async (request, reply) => {
      const body = ollamaBody(request.body, endpoint);
      requireModel(body, endpoint);
      const run = await compat.start(request, { endpoint, kind, body, notFound });
      return respond(reply, run, OPENAI_DIALECT);
    });
  }

  // Ollama's list, with each ladder's aliases beside the model they stand for now.
  app.get('/v1/models', async (_request, reply) => {
    const answer = await compat.ollama.forward('GET', '/v1/models', undefined, signalOf(reply));
    if (answer.status !== 200) return pass(reply, answer);
    const list = JSON.parse(await text(answer.body)) as { data?: Record<string, unknown>[] };
    const data = list.data ?? [];
    for (const { alias, model } of await compat.aliases()) {
      const entry = data.find((m) => m.id === model);
      if (entry) data.push({ ...entry, id: alias });
    }
    return { ...list, data };
  });

  // One model; an alias answers as itself, with what its rung's entry says.
  app.get('/v1/models/*', async (request: FastifyRequest<{ Params: { '*': string } }>, reply) => {
    const raw = request.params['*'];
    let named: string;
    try {
      named = decodeURIComponent(raw);
    } catch {
      throw new FleetError(Errors.FLEET_ERR_UNKNOWN_MODEL, NOT_FOUND.quoted(raw));
    }
    const model = await compat.resolve(named);
    if (model === undefined) {
      throw new FleetError(Errors.FLEET_ERR_UNKNOWN_MODEL, NOT_FOUND.quoted(named));
    }
    const answer = await compat.ollama.forward(
      'GET',
      `/v1/models/${encodeURIComponent(model)}`,
      undefined,
      signalOf(reply),
    );
    if (answer.status !== 200 || model === named) return pass(reply, answer);
    const entry = JSON.parse(await text(answer.body)) as Record<string, unknown>;
    return { ...entry, id: named };
  });
}
