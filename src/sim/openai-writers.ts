/**
 * Ollama's answers rewritten into OpenAI's, as middleware/openai.go's writers and
 * openai/openai.go's converters do: chat completions (and their SSE chunks), completions,
 * embeddings (float or base64), and the error shape. The Responses API is in
 * openai-responses.ts. Each writer is an AnswerSink wrapped around the HTTP response.
 */
import type { ServerResponse } from 'node:http';
import type { AnswerSink } from './http.js';

type Body = Record<string, unknown>;

export interface OpenAIError {
  error: { message: string; type: string; param: null; code: null };
}

/** openai.NewError: the type follows the status. */
export function openaiError(status: number, message: string): OpenAIError {
  const type =
    status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error';
  return { error: { message, type, param: null, code: null } };
}

/** A JSON answer as Go's json.Encoder writes it (with a newline). */
export function sendEncoded(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** An SSE stream of `data: {...}` events. */
function sse(response: ServerResponse) {
  return (data: unknown) => {
    if (!response.headersSent) response.writeHead(200, { 'content-type': 'text/event-stream' });
    if (!response.writableEnded) {
      response.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    }
  };
}

/** Unix seconds of an Ollama `created_at` (RFC 3339 with up to 9 fraction digits). */
export function unixSeconds(createdAt: unknown): number {
  const text = typeof createdAt === 'string' ? createdAt : '';
  const ms = Date.parse(`${text.slice(0, 19)}Z`);
  return Number.isNaN(ms) ? Math.floor(Date.now() / 1000) : Math.floor(ms / 1000);
}

interface OllamaToolCall {
  id?: string;
  function: { index?: number; name: string; arguments: unknown };
}

/** openai.ToToolCalls: arguments become a JSON string, the index comes out of `function`. */
export function toOpenAIToolCalls(calls: unknown): Body[] {
  if (!Array.isArray(calls)) return [];
  return (calls as OllamaToolCall[]).map((call) => ({
    id: call.id ?? '',
    index: call.function.index ?? 0,
    type: 'function',
    function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments) },
  }));
}

function usageOf(r: Body) {
  const prompt = typeof r.prompt_eval_count === 'number' ? r.prompt_eval_count : 0;
  const completion = typeof r.eval_count === 'number' ? r.eval_count : 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

export interface StreamOptions {
  include_usage?: unknown;
}

/** Something an OpenAI writer does once a stream has begun and the handler fails. */
export interface OpenAISink extends AnswerSink {
  /** What Ollama's writer makes of `{"error": ...}` once 200 is sent. */
  failMidStream(): void;
}

/**
 * /v1/chat/completions (ChatWriter). Streamed: one chunk per Ollama chunk (thinking and
 * text split in two), the metrics trailer left out, then a finish chunk with an empty delta,
 * the usage chunk if asked, and `[DONE]`. Every chunk carries the first chunk's `created`.
 */
export function chatCompletionWriter(
  response: ServerResponse,
  id: string,
  stream: boolean,
  streamOptions: StreamOptions | undefined,
): OpenAISink {
  const send = sse(response);
  let created: number | undefined;
  let firstSent = false;
  let toolCallSent = false;
  const base = (r: Body) => {
    created ??= unixSeconds(r.created_at);
    return {
      id,
      object: 'chat.completion.chunk',
      created,
      model: r.model,
      system_fingerprint: 'fp_ollama',
    };
  };
  const chunkOf = (r: Body, delta: Body) => ({
    ...base(r),
    choices: [{ index: 0, delta, finish_reason: null }],
  });
  const streamed = (r: Body) => {
    const message = (r.message ?? {}) as Body;
    const content = typeof message.content === 'string' ? message.content : '';
    const thinking = typeof message.thinking === 'string' ? message.thinking : '';
    const toolCalls = toOpenAIToolCalls(message.tool_calls);
    const trailer = r.done === true && firstSent && !content && !thinking && !toolCalls.length;
    if (!trailer) {
      const role = firstSent ? {} : { role: 'assistant' };
      const calls = toolCalls.length ? { tool_calls: toolCalls } : {};
      if (thinking && (content || toolCalls.length)) {
        send(chunkOf(r, { ...role, reasoning: thinking }));
        send(chunkOf(r, { content, ...calls }));
      } else {
        send(
          chunkOf(r, { ...role, content, ...(thinking ? { reasoning: thinking } : {}), ...calls }),
        );
      }
      firstSent = true;
      if (toolCalls.length) toolCallSent = true;
    }
    if (r.done === true) {
      let reason = typeof r.done_reason === 'string' && r.done_reason ? r.done_reason : 'stop';
      if (reason === 'stop' && toolCallSent) reason = 'tool_calls';
      const finish = { ...base(r), choices: [{ index: 0, delta: {}, finish_reason: reason }] };
      send(finish);
      if (streamOptions?.include_usage === true) {
        send({ ...finish, choices: [], usage: usageOf(r) });
      }
      send('[DONE]');
    }
  };
  return {
    chunk: streamed,
    whole(r) {
      if (stream) {
        streamed(r);
        response.end();
        return;
      }
      const message = (r.message ?? {}) as Body;
      const toolCalls = toOpenAIToolCalls(message.tool_calls);
      let reason: string | null =
        typeof r.done_reason === 'string' && r.done_reason ? r.done_reason : null;
      if (reason === 'stop' && toolCalls.length) reason = 'tool_calls';
      sendEncoded(response, 200, {
        id,
        object: 'chat.completion',
        created: unixSeconds(r.created_at),
        model: r.model,
        system_fingerprint: 'fp_ollama',
        choices: [
          {
            index: 0,
            message: {
              role: message.role ?? '',
              content: message.content ?? '',
              ...(message.thinking ? { reasoning: message.thinking } : {}),
              ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
            },
            finish_reason: reason,
          },
        ],
        usage: usageOf(r),
      });
    },
    end: () => response.end(),
    failMidStream() {
      // The error line decodes as an empty ChatResponse: one empty chunk, no finish, no [DONE].
      send(chunkOf({ model: '' }, { ...(firstSent ? {} : { role: 'assistant' }), content: '' }));
      response.end();
    },
  };
}

/**
 * /v1/completions (CompleteWriter). Streamed: a chunk per Ollama chunk with the
 * finish_reason on the last; with include_usage every chunk has a zero usage and a usage
 * chunk follows; then `[DONE]`.
 */
export function completionWriter(
  response: ServerResponse,
  id: string,
  stream: boolean,
  streamOptions: StreamOptions | undefined,
): OpenAISink {
  const send = sse(response);
  const includeUsage = streamOptions?.include_usage === true;
  const choice = (r: Body) => ({
    text: typeof r.response === 'string' ? r.response : '',
    index: 0,
    finish_reason: typeof r.done_reason === 'string' && r.done_reason ? r.done_reason : null,
  });
  const streamed = (r: Body) => {
    const chunk = {
      id,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      choices: [choice(r)],
      model: r.model,
      system_fingerprint: 'fp_ollama',
      ...(includeUsage
        ? { usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } }
        : {}),
    };
    send(chunk);
    if (r.done === true) {
      if (includeUsage) send({ ...chunk, choices: [], usage: usageOf(r) });
      send('[DONE]');
    }
  };
  return {
    chunk: streamed,
    whole(r) {
      if (stream) {
        streamed(r);
        response.end();
        return;
      }
      sendEncoded(response, 200, {
        id,
        object: 'text_completion',
        created: unixSeconds(r.created_at),
        model: r.model,
        system_fingerprint: 'fp_ollama',
        choices: [choice(r)],
        usage: usageOf(r),
      });
    },
    end: () => response.end(),
    failMidStream() {
      streamed({ model: '' });
      response.end();
    },
  };
}

/** /v1/embeddings (EmbedWriter, openai.ToEmbeddingList). */
export function embeddingWriter(
  response: ServerResponse,
  model: unknown,
  encoding: 'float' | 'base64',
): OpenAISink {
  return {
    chunk: () => {},
    whole(r) {
      const vectors = r.embeddings as number[][] | undefined;
      const usage = {
        prompt_tokens: r.prompt_eval_count ?? 0,
        total_tokens: r.prompt_eval_count ?? 0,
      };
      if (!Array.isArray(vectors)) {
        return sendEncoded(response, 200, { object: '', data: null, model: '', usage });
      }
      const data = vectors.map((vector, index) => ({
        object: 'embedding',
        embedding: encoding === 'base64' ? float32Base64(vector) : vector,
        index,
      }));
      sendEncoded(response, 200, {
        object: 'list',
        data: data.length > 0 ? data : null,
        model,
        usage,
      });
    },
    end: () => response.end(),
    failMidStream: () => response.end(),
  };
}

/** float32 little-endian bytes, standard base64: what the openai client decodes. */
export function float32Base64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => {
    bytes.writeFloatLE(x, i * 4);
  });
  return bytes.toString('base64');
}
