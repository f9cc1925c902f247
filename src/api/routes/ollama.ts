/**
 * Ollama's own API on the supervisor, so a program that speaks Ollama gains the queue, the
 * scheduler and the ladder by changing OLLAMA_HOST alone. A pass-through, not a second
 * Ollama: inference (generate, chat, embed, embeddings) becomes a job that keeps the request
 * as the caller sent it, runs on the same path on Ollama with only the model resolved (a
 * ladder alias, `fleet` or `fleet:<ladder>`, becomes its rung), and answers with Ollama's own
 * answer, every field and every frame. The fleet reads only what it schedules by: the model,
 * `keep_alive` 0 (let the model go once no job needs it) and its own X-Fleet-Priority header.
 * Listing passes through; pulling, deleting, copying and creating models pass through with
 * the API token, or with none on loopback (as Ollama allows them there).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OllamaFront } from '../../backends/backends.js';
import { Errors, FleetError } from '../../errors.js';
import { isZeroKeepAlive } from '../../ollama/duration.js';
import { ollamaTime } from '../../ollama/time.js';
import { type JobKind, PRIORITIES, type Priority } from '../../queue/job.js';
import { type Dialect, type JobRun, type JobRunDeps, respond, runJob } from '../job-stream.js';
import { refuseUnknownModel, type SubmitContext } from '../submit-body.js';
import { refuseNewWork } from './jobs.js';

export interface OllamaRoutesOptions {
  deps: JobRunDeps;
  context: (request: FastifyRequest) => SubmitContext;
  ollama: OllamaFront;
  /** The concrete model for a name: itself, or an alias's current rung. */
  resolve: (model: string) => Promise<string | undefined>;
  /** A caller's `keep_alive: 0` with nothing to run: let the model go once no job needs it. */
  unloadWhenIdle: (model: string) => void;
  ladders: readonly string[];
  tokenConfigured: boolean;
  /** The API listens on loopback only. */
  loopbackOnly: boolean;
  closing: () => boolean;
}

/** The paths answered in Ollama's dialect (errors as `{"error": "..."}`). */
export const OLLAMA_PATHS = new Set([
  '/',
  '/api/generate',
  '/api/chat',
  '/api/embed',
  '/api/embeddings',
  '/api/tags',
  '/api/ps',
  '/api/show',
  '/api/version',
  '/api/pull',
  '/api/delete',
  '/api/copy',
  '/api/create',
]);

/** Ollama's words for a model it does not have (shared/contracts/ollama.md §1.2). */
export const NOT_FOUND = {
  quoted: (name: string) => `model '${name}' not found`,
  pull: (name: string) => `model "${name}" not found, try pulling it first`,
};

/** Ollama's framing of the fleet's own errors: `{"error": "..."}`, and a last NDJSON line. */
export const OLLAMA_DIALECT: Dialect = {
  error: (_status, message) => ({ error: message }),
  streamError: (message) => `${JSON.stringify({ error: message })}\n`,
};

/** One caller's request as a job: where it goes on Ollama and what it is. */
export interface CompatCall {
  endpoint: string;
  kind: JobKind;
  body: Record<string, unknown>;
  /** The words for a model nobody knows, as the route's own Ollama says them. */
  notFound: (name: string) => string;
}

/** What the Ollama and OpenAI dialects share: a caller's job, and the model list. */
export interface CompatRoutes {
  start(request: FastifyRequest, call: CompatCall): Promise<JobRun>;
  /** Resolves an alias to its rung now; a concrete name is itself. */
  resolve(model: string): Promise<string | undefined>;
  /** The ladder aliases and the installed model each stands for now. */
  aliases(): Promise<{ alias: string; model: string }[]>;
  ollama: OllamaFront;
}

export function compatRoutes(options: OllamaRoutesOptions): CompatRoutes {
  return {
    ollama: options.ollama,
    resolve: options.resolve,
    async start(request, call) {
      refuseNewWork(options.closing);
      const context = options.context(request);
      const model = call.body.model as string;
      await refuseUnknownModel(model, context, () => call.notFound(model));
      return runJob(options.deps, {
        model,
        kind: call.kind,
        endpoint: call.endpoint,
        request: call.body,
        attached: true,
        priority: priorityOf(request),
        metadata: null,
        client: context.client,
      });
    },
    async aliases() {
      const out: { alias: string; model: string }[] = [];
      for (const alias of ['fleet', ...options.ladders.map((l) => `fleet:${l}`)]) {
        const model = await options.resolve(alias);
        if (model !== undefined) out.push({ alias, model });
      }
      return out;
    },
  };
}

export function ollamaRoutes(app: FastifyInstance, options: OllamaRoutesOptions): CompatRoutes {
  const { ollama } = options;
  const compat = compatRoutes(options);

  app.get('/', async (_request, reply) => reply.type('text/plain').send('Ollama is running'));

  app.get('/api/version', async (_request, reply) =>
    pass(reply, await ollama.forward('GET', '/api/version', undefined, signalOf(reply))),
  );
  app.get('/api/ps', async (_request, reply) =>
    pass(reply, await ollama.forward('GET', '/api/ps', undefined, signalOf(reply))),
  );

  // Ollama's list, with each ladder's aliases beside the model they stand for now.
  app.get('/api/tags', async (_request, reply) => {
    const answer = await ollama.forward('GET', '/api/tags', undefined, signalOf(reply));
    if (answer.status !== 200) return pass(reply, answer);
    const list = JSON.parse(await text(answer.body)) as { models?: Record<string, unknown>[] };
    const models = list.models ?? [];
    for (const { alias, model } of await compat.aliases()) {
      const entry = models.find((m) => m.name === model || m.model === model);
      if (entry) models.push({ ...entry, name: alias, model: alias });
    }
    return { ...list, models };
  });

  app.post('/api/show', async (request, reply) => {
    const body = ollamaBody(request.body, '/api/show');
    const named = body.model ?? body.name;
    const resolved =
      typeof named === 'string' ? ((await options.resolve(named)) ?? named) : undefined;
    const forwarded = resolved === undefined ? body : { ...body, model: resolved };
    return pass(
      reply,
      await ollama.forward('POST', '/api/show', JSON.stringify(forwarded), signalOf(reply)),
    );
  });

  for (const [method, route] of [
    ['POST', '/api/pull'],
    ['DELETE', '/api/delete'],
    ['POST', '/api/copy'],
    ['POST', '/api/create'],
  ] as const) {
    app.route({
      method,
      url: route,
      handler: async (request, reply) => {
        // Behind a token, or on loopback as Ollama itself allows them; never open to a network.
        if (!options.tokenConfigured && !options.loopbackOnly) {
          throw new FleetError(
            Errors.FLEET_ERR_FORBIDDEN,
            `${route} changes Ollama's models: set api.token on the supervisor and send it to allow this`,
          );
        }
        return pass(
          reply,
          await ollama.forward(method, route, JSON.stringify(request.body ?? {}), signalOf(reply)),
        );
      },
    });
  }

  const inference = (endpoint: string, kind: JobKind, notFound: (name: string) => string) =>
    app.post(endpoint, async (request, reply) => {
      const body = ollamaBody(request.body, endpoint);
      requireModel(body, endpoint);
      if (isUnload(endpoint, body)) return unload(request, body, endpoint === '/api/chat');
      const run = await compat.start(request, { endpoint, kind, body, notFound });
      return respond(reply, run, OLLAMA_DIALECT);
    });
  inference('/api/generate', 'generate', NOT_FOUND.quoted);
  inference('/api/chat', 'chat', NOT_FOUND.quoted);
  inference('/api/embed', 'embed', NOT_FOUND.pull);
  inference('/api/embeddings', 'embed', NOT_FOUND.pull);

  /**
   * `ollama stop`: an empty request with keep_alive 0. Ollama answers at once and lets the
   * model go when idle; here the scheduler lets it go once no queued or running job needs it.
   */
  async function unload(
    request: FastifyRequest,
    body: Record<string, unknown> & { model: string },
    chat: boolean,
  ) {
    await refuseUnknownModel(body.model, options.context(request), () =>
      NOT_FOUND.quoted(body.model),
    );
    const model = (await options.resolve(body.model)) ?? body.model;
    options.unloadWhenIdle(model);
    return {
      model,
      created_at: ollamaTime(),
      ...(chat ? { message: { role: 'assistant', content: '' } } : { response: '' }),
      done: true,
      done_reason: 'unload',
    };
  }
  return compat;
}

/** An empty generate or chat with keep_alive 0: what `ollama stop` sends. */
function isUnload(endpoint: string, body: Record<string, unknown>): boolean {
  if (body.keep_alive === undefined || !isZeroKeepAlive(body.keep_alive)) return false;
  if (endpoint === '/api/generate') {
    return (
      (body.prompt === undefined || body.prompt === '') &&
      !(Array.isArray(body.images) && body.images.length > 0)
    );
  }
  if (endpoint === '/api/chat') return !Array.isArray(body.messages) || body.messages.length === 0;
  return false;
}

/** The Go type each path decodes its body into, named in Go's decoding errors. */
const GO_TYPES: Record<string, string> = {
  '/api/generate': 'api.GenerateRequest',
  '/api/chat': 'api.ChatRequest',
  '/api/embed': 'api.EmbedRequest',
  '/api/embeddings': 'api.EmbeddingRequest',
  '/api/show': 'api.ShowRequest',
  '/v1/chat/completions': 'openai.ChatCompletionRequest',
  '/v1/completions': 'openai.CompletionRequest',
  '/v1/embeddings': 'openai.EmbedRequest',
  '/v1/responses': 'openai.ResponsesRequest',
};

/**
 * A body as Ollama takes it: a JSON object (`null` decodes to an empty one, as in Go);
 * anything else is Ollama's 400 in Go's words. `/v1/` says an empty body as Go's decoder
 * does (`EOF`), Ollama's own paths as Ollama does.
 */
export function ollamaBody(raw: unknown, path: string): Record<string, unknown> {
  if (raw === undefined) {
    const words = path.startsWith('/v1/') ? 'EOF' : 'missing request body';
    throw new FleetError(Errors.FLEET_ERR_VALIDATION, words);
  }
  if (raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    const kind = Array.isArray(raw) ? 'array' : typeof raw === 'boolean' ? 'bool' : typeof raw;
    throw new FleetError(
      Errors.FLEET_ERR_VALIDATION,
      `json: cannot unmarshal ${kind} into Go value of type ${GO_TYPES[path] ?? 'api.Request'}`,
    );
  }
  return raw as Record<string, unknown>;
}

/**
 * The one thing the fleet cannot schedule without, checked as Ollama checks it: generate
 * (and OpenAI's completions, which become one) looks an empty name up and does not find
 * it; the other routes say the model is required.
 */
export function requireModel(
  body: Record<string, unknown>,
  path: string,
): asserts body is Record<string, unknown> & { model: string } {
  if (typeof body.model === 'string' && body.model !== '') return;
  if (path === '/api/generate' || path === '/v1/completions') {
    throw new FleetError(Errors.FLEET_ERR_UNKNOWN_MODEL, NOT_FOUND.quoted(''));
  }
  throw new FleetError(Errors.FLEET_ERR_VALIDATION, 'model is required');
}

function priorityOf(request: FastifyRequest): Priority {
  const header = request.headers['x-fleet-priority'];
  if (header === undefined) return 'normal';
  const value = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase();
  if (!PRIORITIES.includes(value as Priority)) {
    throw new FleetError(
      Errors.FLEET_ERR_VALIDATION,
      `X-Fleet-Priority: expected one of ${PRIORITIES.join(', ')}, found "${value}"`,
    );
  }
  return value as Priority;
}

export async function pass(
  reply: FastifyReply,
  answer: { status: number; contentType: string; body: NodeJS.ReadableStream },
) {
  return reply.status(answer.status).type(answer.contentType).send(answer.body);
}

export async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

/** Aborted when the caller goes away (the response closes first). */
export function signalOf(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => controller.abort());
  return controller.signal;
}
