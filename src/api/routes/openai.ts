/**
 * OpenAI's API on the supervisor (`/v1/...`), for programs written against an OpenAI base
 * URL: chat and text completions (server-sent events when streamed) and embeddings become
 * jobs like any other; `/v1/models` lists Ollama's models and the ladder aliases. Errors
 * take OpenAI's shape (see the error handler).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Job } from '../../queue/job.js';
import { type Framing, modelOf, respond } from '../job-stream.js';
import { parseBody } from '../validate.js';
import type { CompatRoutes } from './ollama.js';

const sampling = {
  model: z.string().min(1, { message: 'model is required' }),
  stream: z.boolean().default(false),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().optional(),
  top_p: z.number().optional(),
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
};
const part = z.object({ type: z.string(), text: z.string().optional() });
const chatBody = z.object({
  ...sampling,
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
        content: z.union([z.string(), z.array(part)]).nullable(),
      }),
    )
    .min(1, { message: 'messages must hold at least one message' }),
  response_format: z.object({ type: z.string() }).passthrough().optional(),
});
const completionBody = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
});
const embeddingBody = z.object({
  model: sampling.model,
  input: z.union([z.string(), z.array(z.string()).min(1)]),
  encoding_format: z.enum(['float', 'base64']).default('float'),
});

export function openaiRoutes(app: FastifyInstance, compat: CompatRoutes): void {
  app.get('/v1/models', async () => {
    const models = await compat.modelNames();
    const created = Math.floor(Date.now() / 1000);
    return {
      object: 'list',
      data: models.map((id) => ({ id, object: 'model', created, owned_by: 'ollama-fleet' })),
    };
  });

  app.post('/v1/chat/completions', async (request, reply) => {
    const body = parseBody(chatBody, request.body);
    const run = await compat.start(request, {
      model: body.model,
      messages: body.messages.map((m) => ({
        role: m.role === 'developer' ? 'system' : m.role,
        content:
          typeof m.content === 'string'
            ? m.content
            : (m.content ?? []).map((p) => p.text ?? '').join(''),
      })),
      ...options(body),
      ...(body.response_format?.type === 'json_object' ? { format: 'json' } : {}),
    });
    const id = `chatcmpl-${run.id}`;
    return respond(
      reply,
      run,
      body.stream,
      sse({
        chunk: (model, piece, first) => ({
          id,
          object: 'chat.completion.chunk',
          created: seconds(),
          model,
          choices: [
            {
              index: 0,
              delta: first ? { role: 'assistant', content: piece } : { content: piece },
              finish_reason: null,
            },
          ],
        }),
        last: (job) => ({
          id,
          object: 'chat.completion.chunk',
          created: seconds(),
          model: modelOf(job),
          choices: [{ index: 0, delta: {}, finish_reason: finishReason(job) }],
        }),
        whole: (job) => ({
          id,
          object: 'chat.completion',
          created: seconds(),
          model: modelOf(job),
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: (job.result?.message as { content?: string } | undefined)?.content ?? '',
              },
              finish_reason: finishReason(job),
            },
          ],
          usage: usage(job),
        }),
      }),
    );
  });

  app.post('/v1/completions', async (request, reply) => {
    const body = parseBody(completionBody, request.body);
    const prompt = typeof body.prompt === 'string' ? body.prompt : (body.prompt[0] as string);
    const run = await compat.start(request, {
      model: body.model,
      prompt: prompt || ' ',
      ...options(body),
    });
    const id = `cmpl-${run.id}`;
    const choice = (text: string, finish: string | null) => ({
      text,
      index: 0,
      logprobs: null,
      finish_reason: finish,
    });
    return respond(
      reply,
      run,
      body.stream,
      sse({
        chunk: (model, piece) => ({
          id,
          object: 'text_completion',
          created: seconds(),
          model,
          choices: [choice(piece, null)],
        }),
        last: (job) => ({
          id,
          object: 'text_completion',
          created: seconds(),
          model: modelOf(job),
          choices: [choice('', finishReason(job))],
        }),
        whole: (job) => ({
          id,
          object: 'text_completion',
          created: seconds(),
          model: modelOf(job),
          choices: [choice(String(job.result?.response ?? ''), finishReason(job))],
          usage: usage(job),
        }),
      }),
    );
  });

  app.post('/v1/embeddings', async (request, reply) => {
    const body = parseBody(embeddingBody, request.body);
    const run = await compat.start(request, { model: body.model, input: body.input });
    return respond(
      reply,
      run,
      false,
      sse({
        chunk: () => ({}),
        last: () => ({}),
        whole: (job) => {
          const vectors = (job.result?.embeddings as number[][] | undefined) ?? [];
          const tokens = Number(job.result?.prompt_eval_count ?? 0);
          return {
            object: 'list',
            data: vectors.map((v, index) => ({
              object: 'embedding',
              index,
              // The official clients ask for base64 (little-endian float32) by default.
              embedding:
                body.encoding_format === 'base64'
                  ? Buffer.from(new Float32Array(v).buffer).toString('base64')
                  : v,
            })),
            model: modelOf(job),
            usage: { prompt_tokens: tokens, total_tokens: tokens },
          };
        },
      }),
    );
  });
}

function options(body: {
  max_tokens?: number | undefined;
  max_completion_tokens?: number | undefined;
  temperature?: number | undefined;
  top_p?: number | undefined;
  seed?: number | undefined;
  stop?: string | string[] | undefined;
}) {
  const o: Record<string, unknown> = {};
  const limit = body.max_completion_tokens ?? body.max_tokens;
  if (limit !== undefined) o.num_predict = limit;
  if (body.temperature !== undefined) o.temperature = body.temperature;
  if (body.top_p !== undefined) o.top_p = body.top_p;
  if (body.seed !== undefined) o.seed = body.seed;
  if (body.stop !== undefined) o.stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  return Object.keys(o).length > 0 ? { options: o } : {};
}

const seconds = () => Math.floor(Date.now() / 1000);

function finishReason(job: Job): string {
  return job.result?.done_reason === 'length' ? 'length' : 'stop';
}

function usage(job: Job) {
  const prompt = Number(job.result?.prompt_eval_count ?? 0);
  const completion = Number(job.result?.eval_count ?? 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

/** OpenAI's framing: server-sent events ending in `[DONE]`. */
function sse(shapes: {
  chunk: (model: string, piece: string, first: boolean) => Record<string, unknown>;
  last: (job: Job) => Record<string, unknown>;
  whole: (job: Job) => Record<string, unknown>;
}): Framing {
  const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
  return {
    contentType: 'text/event-stream',
    chunk: (model, piece, first) => event(shapes.chunk(model, piece, first)),
    end: (job) =>
      `${event(job.status === 'complete' ? shapes.last(job) : failure(job))}data: [DONE]\n\n`,
    whole: shapes.whole,
    failure,
  };
}

function failure(job: Job) {
  return {
    error: {
      message: job.error?.message ?? `the job ended ${job.status}`,
      type: 'api_error',
      param: null,
      code: job.error?.code ?? null,
    },
  };
}
