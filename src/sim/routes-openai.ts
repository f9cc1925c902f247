/**
 * Ollama's OpenAI-compatible routes on the simulator: each translates the request into
 * Ollama's own (openai-requests.ts), runs the same handler as /api/chat, /api/generate or
 * /api/embed, and writes the answer in OpenAI's shape (openai-writers.ts,
 * openai-responses.ts), as Ollama's middleware does around its handlers.
 */
import type { ServerResponse } from 'node:http';
import { modelNamespace } from './capabilities.js';
import type { Routes, SimRequest } from './http.js';
import { hashText, random } from './inference.js';
import {
  chatFromOpenAI,
  chatFromResponses,
  embedFromOpenAI,
  generateFromOpenAI,
  MiddlewareError,
  requestBody,
} from './openai-requests.js';
import { responsesWriter } from './openai-responses.js';
import {
  chatCompletionWriter,
  completionWriter,
  embeddingWriter,
  type OpenAISink,
  openaiError,
  type StreamOptions,
  sendEncoded,
} from './openai-writers.js';
import { inferenceHandlers } from './routes-inference.js';
import { OllamaHttpError } from './scheduler.js';
import { installedModel, type SimState } from './state.js';

type Body = Record<string, unknown>;

/**
 * Runs one /v1 request: middleware refusals are gin's JSON 400; a handler's error keeps its
 * status in OpenAI's error shape; once a stream has begun, the writer decides.
 */
async function answer(
  response: ServerResponse,
  run: (use: (sink: OpenAISink) => OpenAISink) => Promise<void>,
): Promise<void> {
  let sink: OpenAISink | undefined;
  try {
    await run((s) => {
      sink = s;
      return s;
    });
  } catch (err) {
    const status = err instanceof OllamaHttpError ? err.status : 500;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof MiddlewareError) {
      const text = JSON.stringify(openaiError(status, message));
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      response.end(text);
    } else if (!response.headersSent) {
      sendEncoded(response, status, openaiError(status, message));
    } else if (!response.writableEnded && !response.destroyed) {
      sink?.failMidStream();
    }
  }
}

/** Ollama draws these ids at random; here they come from the request, so runs repeat. */
function seedOf(body: unknown): number {
  return hashText(JSON.stringify(body) ?? '');
}

export function openaiRoutes(state: SimState): Routes {
  const handlers = inferenceHandlers(state);

  const installedList = () =>
    [...state.installed.values()].sort(
      (a, b) =>
        b.modifiedAt.getTime() - a.modifiedAt.getTime() || a.model.name.localeCompare(b.model.name),
    );

  return {
    'POST /v1/chat/completions': (request: SimRequest, response) =>
      answer(response, async (use) => {
        const raw = requestBody(request.body, request.bodyError);
        const chat = chatFromOpenAI(raw);
        const b = raw as Body;
        const sink = use(
          chatCompletionWriter(
            response,
            `chatcmpl-${seedOf(raw) % 999}`,
            chat.stream === true,
            b.stream_options as StreamOptions | undefined,
          ),
        );
        await handlers.chat(chat, request.signal, sink, { openai: true });
      }),

    'POST /v1/completions': (request, response) =>
      answer(response, async (use) => {
        const raw = requestBody(request.body, request.bodyError);
        const generate = generateFromOpenAI(raw);
        const sink = use(
          completionWriter(
            response,
            `cmpl-${seedOf(raw) % 999}`,
            generate.stream === true,
            (raw as Body).stream_options as StreamOptions | undefined,
          ),
        );
        await handlers.generate(generate, request.signal, sink, { openai: true });
      }),

    'POST /v1/embeddings': (request, response) =>
      answer(response, async (use) => {
        const raw = requestBody(request.body, request.bodyError);
        const { embed, encoding } = embedFromOpenAI(raw);
        const sink = use(embeddingWriter(response, embed.model, encoding));
        await handlers.embed(embed, request.signal, sink, { openai: true });
      }),

    'POST /v1/responses': (request, response) =>
      answer(response, async (use) => {
        const raw = requestBody(request.body, request.bodyError);
        const chat = chatFromResponses(raw);
        const b = raw as Body;
        const next = random(seedOf(raw));
        const ids = {
          response: `resp_${Math.floor(next() * 999999)}`,
          message: `msg_${Math.floor(next() * 999999)}`,
          next,
        };
        const sink = use(
          responsesWriter(response, ids, chat.stream === true, {
            model: b.model,
            instructions: b.instructions,
            truncation: b.truncation,
            tools: b.tools,
            text: b.text,
            reasoning: b.reasoning,
            temperature: b.temperature,
            top_p: b.top_p,
            max_output_tokens: b.max_output_tokens,
            background: b.background,
          }),
        );
        await handlers.chat(chat, request.signal, sink, { openai: true });
      }),

    'GET /v1/models': (_request, response) =>
      answer(response, async () => {
        const data = installedList().map(({ model, modifiedAt }) => ({
          id: model.name,
          object: 'model',
          created: Math.floor(modifiedAt.getTime() / 1000),
          owned_by: modelNamespace(model.name),
        }));
        // An empty Go slice that was never appended to is written as null.
        sendEncoded(response, 200, { object: 'list', data: data.length > 0 ? data : null });
      }),

    'GET /v1/models/:model': (request, response) =>
      answer(response, async () => {
        // gin's `:model` is one path segment, so a name with a slash never gets here.
        const name = request.params.model ?? '';
        const model = installedModel(state, name);
        if (!model) throw new OllamaHttpError(404, `model '${name}' not found`);
        const modifiedAt = state.installed.get(model.name)?.modifiedAt ?? new Date();
        sendEncoded(response, 200, {
          id: name,
          object: 'model',
          created: Math.floor(modifiedAt.getTime() / 1000),
          owned_by: modelNamespace(name),
        });
      }),
  };
}
