/**
 * Ollama's own API on the supervisor, so a program that speaks Ollama gains the queue, the
 * scheduler and the ladder by changing OLLAMA_HOST alone. Inference (generate, chat, embed)
 * becomes a job and streams back as Ollama would; the model may be a ladder alias (`fleet`,
 * `fleet:<ladder>`) and answers name the model that ran. Loads and unloads are the
 * scheduler's to decide: such requests are answered and not acted on. Listing passes through;
 * pulling, deleting, copying and creating models pass through only with the API token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Errors, FleetError } from '../../errors.js';
import type { OllamaClient } from '../../ollama/client.js';
import { type Job, PRIORITIES, type Priority } from '../../queue/job.js';
import {
  type Framing,
  type JobRun,
  type JobRunDeps,
  modelOf,
  respond,
  runJob,
} from '../job-stream.js';
import { type SubmitContext, toNewJob } from '../submit-body.js';
import { parseBody } from '../validate.js';
import { refuseNewWork } from './jobs.js';

export interface OllamaRoutesOptions {
  deps: JobRunDeps;
  context: (request: FastifyRequest) => SubmitContext;
  ollama: OllamaClient;
  /** The concrete model for a name: itself, or an alias's current rung. */
  resolve: (model: string) => Promise<string | undefined>;
  ladders: readonly string[];
  tokenConfigured: boolean;
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

const common = {
  model: z.string().min(1, { message: 'model is required' }),
  format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  stream: z.boolean().default(true),
  think: z.boolean().optional(),
};
// Ollama ignores fields it does not know; so do these (`z.object`, not strict).
const generateBody = z.object({
  ...common,
  prompt: z.string().optional(),
  images: z.array(z.string()).optional(),
  system: z.string().optional(),
});
const chatBody = z.object({
  ...common,
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'user', 'assistant', 'tool']),
        content: z.string(),
        images: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
const embedBody = z.object({
  model: common.model,
  input: z.union([z.string(), z.array(z.string())]),
  options: common.options,
  keep_alive: common.keep_alive,
});
const legacyEmbedBody = z.object({
  model: common.model,
  prompt: z.string(),
  options: common.options,
  keep_alive: common.keep_alive,
});

/** What the Ollama and OpenAI dialects share: starting a caller's job, and the model list. */
export interface CompatRoutes {
  start(request: FastifyRequest, fields: Record<string, unknown>): Promise<JobRun>;
  /** Ollama's models, then the ladder aliases that stand for one of them now. */
  modelNames(): Promise<string[]>;
  tags(signal?: AbortSignal): Promise<{ models?: Record<string, unknown>[] }>;
}

export function compatRoutes(options: OllamaRoutesOptions): CompatRoutes {
  const tags = async (signal?: AbortSignal) => {
    const answer = await options.ollama.forward('GET', '/api/tags', undefined, signal);
    const list = JSON.parse(await text(answer.body)) as { models?: Record<string, unknown>[] };
    const aliases: Record<string, unknown>[] = [];
    for (const alias of ['fleet', ...options.ladders.map((l) => `fleet:${l}`)]) {
      const model = await options.resolve(alias);
      const entry = list.models?.find((m) => m.name === model || m.model === model);
      if (entry) aliases.push({ ...entry, name: alias, model: alias });
    }
    return { ...list, models: [...(list.models ?? []), ...aliases] };
  };
  return {
    async start(request, fields) {
      refuseNewWork(options.closing);
      const newJob = await toNewJob(
        { ...fields, priority: priorityOf(request) },
        options.context(request),
      );
      return runJob(options.deps, newJob);
    },
    tags,
    async modelNames() {
      return ((await tags()).models ?? []).map((m) => String(m.name));
    },
  };
}

export function ollamaRoutes(app: FastifyInstance, options: OllamaRoutesOptions): CompatRoutes {
  const { ollama } = options;
  const compat = compatRoutes(options);
  const start = compat.start;

  app.get('/', async (_request, reply) => reply.type('text/plain').send('Ollama is running'));

  app.get('/api/version', async (_request, reply) =>
    pass(reply, await ollama.forward('GET', '/api/version', undefined, signalOf(reply))),
  );
  app.get('/api/ps', async (_request, reply) =>
    pass(reply, await ollama.forward('GET', '/api/ps', undefined, signalOf(reply))),
  );

  // Ollama's list, with each ladder's aliases beside the model they stand for now.
  app.get('/api/tags', async (_request, reply) => compat.tags(signalOf(reply)));

  app.post('/api/show', async (request, reply) => {
    const body = parseBody(z.object({ model: common.model }).passthrough(), request.body);
    const model = (await options.resolve(body.model)) ?? body.model;
    return pass(
      reply,
      await ollama.forward(
        'POST',
        '/api/show',
        JSON.stringify({ ...body, model }),
        signalOf(reply),
      ),
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
        if (!options.tokenConfigured) {
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

  app.post('/api/generate', async (request, reply) => {
    const body = parseBody(generateBody, request.body);
    if (!body.prompt && !body.images?.length) return loadOrUnload(body);
    const run = await start(request, {
      model: body.model,
      prompt: body.prompt || ' ',
      ...pick(body, ['images', 'system', 'format', 'options', 'keep_alive', 'think']),
    });
    return respond(
      reply,
      run,
      body.stream,
      ndjson({
        chunk: (model, piece) => ({ model, created_at: now(), response: piece, done: false }),
        final: (result, model, streamed) => ({
          ...result,
          model,
          ...(streamed ? { response: '' } : {}),
        }),
      }),
    );
  });

  app.post('/api/chat', async (request, reply) => {
    const body = parseBody(chatBody, request.body);
    if (!body.messages?.length) return loadOrUnload(body, 'message');
    const run = await start(request, {
      model: body.model,
      messages: body.messages,
      ...pick(body, ['format', 'options', 'keep_alive', 'think']),
    });
    return respond(
      reply,
      run,
      body.stream,
      ndjson({
        chunk: (model, piece) => ({
          model,
          created_at: now(),
          message: { role: 'assistant', content: piece },
          done: false,
        }),
        final: (result, model, streamed) => ({
          ...result,
          model,
          ...(streamed ? { message: { role: 'assistant', content: '' } } : {}),
        }),
      }),
    );
  });

  // /api/embed, and the older /api/embeddings: one prompt in, one vector out.
  const embedRoute = (
    route: string,
    read: (raw: unknown) => { model: string; input: string | string[] } & Record<string, unknown>,
    final: (result: Record<string, unknown>, model: string) => Record<string, unknown>,
  ) =>
    app.post(route, async (request, reply) => {
      const body = read(request.body);
      const run = await start(request, {
        model: body.model,
        input: body.input,
        ...pick(body, ['options', 'keep_alive']),
      });
      return respond(reply, run, false, ndjson({ chunk: () => ({}), final }));
    });
  embedRoute(
    '/api/embed',
    (raw) => parseBody(embedBody, raw),
    (result, model) => ({ ...result, model }),
  );
  embedRoute(
    '/api/embeddings',
    (raw) => {
      const body = parseBody(legacyEmbedBody, raw);
      return { ...body, input: body.prompt || ' ' };
    },
    (result) => ({ embedding: (result.embeddings as number[][] | undefined)?.[0] ?? [] }),
  );

  /** A load (or, with keep_alive 0, an unload) request: the scheduler decides those. */
  async function loadOrUnload(
    body: { model: string; keep_alive?: string | number | undefined },
    field = 'response',
  ) {
    const model = (await options.resolve(body.model)) ?? body.model;
    const unload = body.keep_alive === 0 || body.keep_alive === '0' || body.keep_alive === '0s';
    return {
      model,
      created_at: now(),
      ...(field === 'message' ? { message: { role: 'assistant', content: '' } } : { response: '' }),
      done: true,
      done_reason: unload ? 'unload' : 'load',
    };
  }
  return compat;
}

/** Ollama's framing: NDJSON lines; the final line carries Ollama's own timing fields. */
function ndjson(shapes: {
  chunk: (model: string, piece: string) => Record<string, unknown>;
  final: (
    result: Record<string, unknown>,
    model: string,
    streamed: boolean,
  ) => Record<string, unknown>;
}): Framing {
  const line = (value: unknown) => `${JSON.stringify(value)}\n`;
  const failure = (job: Job) => ({ error: job.error?.message ?? `job ${job.status}` });
  return {
    contentType: 'application/x-ndjson',
    chunk: (model, piece) => line(shapes.chunk(model, piece)),
    end: (job) =>
      line(
        job.status === 'complete'
          ? shapes.final(job.result ?? {}, modelOf(job), true)
          : failure(job),
      ),
    whole: (job) => shapes.final(job.result ?? {}, modelOf(job), false),
    failure,
  };
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

function pick<T extends Record<string, unknown>>(body: T, keys: readonly (keyof T & string)[]) {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (body[key] !== undefined) out[key] = body[key];
  return out;
}

async function pass(
  reply: FastifyReply,
  answer: { status: number; contentType: string; body: NodeJS.ReadableStream },
) {
  return reply.status(answer.status).type(answer.contentType).send(answer.body);
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

/** Aborted when the caller goes away (the response closes first). */
function signalOf(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => controller.abort());
  return controller.signal;
}

const now = () => new Date().toISOString();
