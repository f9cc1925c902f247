/**
 * /v1/responses answers, as Ollama's ResponsesWriter and openai/responses.go write them: one
 * response object when not streamed; streamed, the SSE events `response.created`, ...,
 * `response.completed` with a sequence number each. Ollama builds the streamed events as Go
 * maps, so their keys come out sorted; the plain response is a struct in declared order.
 */
import type { ServerResponse } from 'node:http';
import { type OpenAISink, sendEncoded, toOpenAIToolCalls, unixSeconds } from './openai-writers.js';

type Body = Record<string, unknown>;

/** The request fields the response echoes back. */
export interface ResponsesEcho {
  model: unknown;
  instructions: unknown;
  truncation: unknown;
  tools: unknown;
  text: unknown;
  reasoning: unknown;
  temperature: unknown;
  top_p: unknown;
  max_output_tokens: unknown;
  background: unknown;
}

export interface ResponsesIds {
  response: string;
  message: string;
  /** Seeded numbers for the ids Ollama draws at random while streaming. */
  next(): number;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);

/** Go's json.Marshal of a map: keys sorted, at every level that is a map. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted((value as Body)[k])]),
  );
}

function usage(r: Body) {
  const input = num(r.prompt_eval_count, 0);
  const output = num(r.eval_count, 0);
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  };
}

function messageItem(id: string, status: string, text: string) {
  return {
    id,
    type: 'message',
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

function echoedTools(echo: ResponsesEcho): Body[] {
  return (Array.isArray(echo.tools) ? echo.tools : []).map((t: Body) => ({
    type: t.type ?? '',
    name: t.name ?? '',
    description: t.description ?? null,
    strict: t.strict ?? null,
    parameters: t.parameters ?? null,
  }));
}

function textFormat(echo: ResponsesEcho): Body {
  const format = ((echo.text ?? {}) as Body).format as Body | undefined;
  if (!format || typeof format !== 'object') return { type: 'text' };
  return {
    type: format.type ?? '',
    ...(format.name ? { name: format.name } : {}),
    ...(format.schema ? { schema: format.schema } : {}),
    ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}),
  };
}

function reasoningEcho(echo: ResponsesEcho): Body | null {
  const r = (echo.reasoning ?? {}) as Body;
  if (!str(r.effort) && !str(r.summary)) return null;
  return { effort: str(r.effort) || null, summary: str(r.summary) || null };
}

/** The response object, with the fields in the order of openai.ResponsesResponse. */
function responseObject(
  echo: ResponsesEcho,
  id: string,
  createdAt: number,
  fields: { completedAt: number | null; status: string; output: unknown[]; usage: unknown },
) {
  const reasoning = reasoningEcho(echo);
  return {
    id,
    object: 'response',
    created_at: createdAt,
    completed_at: fields.completedAt,
    status: fields.status,
    incomplete_details: null,
    model: echo.model,
    previous_response_id: null,
    instructions: str(echo.instructions) || null,
    output: fields.output,
    error: null,
    tools: echoedTools(echo),
    tool_choice: 'auto',
    truncation: str(echo.truncation) || 'disabled',
    parallel_tool_calls: true,
    text: { format: textFormat(echo) },
    top_p: num(echo.top_p, 1),
    presence_penalty: 0,
    frequency_penalty: 0,
    top_logprobs: 0,
    temperature: num(echo.temperature, 1),
    reasoning: reasoning && {
      ...(reasoning.effort ? { effort: reasoning.effort } : {}),
      ...(reasoning.summary ? { summary: reasoning.summary } : {}),
    },
    usage: fields.usage,
    max_output_tokens: typeof echo.max_output_tokens === 'number' ? echo.max_output_tokens : null,
    max_tool_calls: null,
    store: false,
    background: echo.background === true,
    service_tier: 'default',
    metadata: {},
    safety_identifier: null,
    prompt_cache_key: null,
  };
}

export function responsesWriter(
  response: ServerResponse,
  ids: ResponsesIds,
  stream: boolean,
  echo: ResponsesEcho,
): OpenAISink {
  const now = () => Math.floor(Date.now() / 1000);
  let sequence = 0;
  let first = true;
  let outputIndex = 0;
  const itemId = ids.message;
  let textStarted = false;
  let text = '';
  let toolCallsSent = false;
  let reasoningId = '';
  let thinking = '';
  const completed: unknown[] = [];

  const event = (type: string, data: Body) => {
    if (!response.headersSent) {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
    }
    const payload = sorted({ ...data, type, sequence_number: sequence++ });
    response.write(`event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`);
  };
  // Streamed response objects are maps: the same fields (reasoning with both keys), sorted.
  const streamedResponse = (status: string, output: unknown[], use: unknown) => ({
    ...responseObject(echo, ids.response, now(), { completedAt: null, status, output, usage: use }),
    reasoning: reasoningEcho(echo),
  });

  const finishReasoning = () => {
    if (!reasoningId) return;
    const item = {
      id: reasoningId,
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: thinking }],
      encrypted_content: thinking,
    };
    completed.push(item);
    event('response.reasoning_summary_text.done', {
      item_id: reasoningId,
      output_index: outputIndex,
      summary_index: 0,
      text: thinking,
    });
    event('response.output_item.done', { output_index: outputIndex, item });
    reasoningId = '';
    thinking = '';
    outputIndex++;
  };

  const process = (r: Body) => {
    const message = (r.message ?? {}) as Body;
    const calls = toOpenAIToolCalls(message.tool_calls);
    if (first) {
      first = false;
      event('response.created', { response: streamedResponse('in_progress', [], null) });
      event('response.in_progress', { response: streamedResponse('in_progress', [], null) });
    }
    const think = str(message.thinking);
    if (think) {
      if (!reasoningId) {
        reasoningId = `rs_${Math.floor(ids.next() * 999999)}`;
        event('response.output_item.added', {
          output_index: outputIndex,
          item: { id: reasoningId, type: 'reasoning', summary: [] },
        });
      }
      thinking += think;
      event('response.reasoning_summary_text.delta', {
        item_id: reasoningId,
        output_index: outputIndex,
        summary_index: 0,
        delta: think,
      });
    }
    if (calls.length > 0) {
      finishReasoning();
      const fcBase = Math.floor(ids.next() * 999999);
      calls.forEach((call, i) => {
        const fn = call.function as Body;
        const id = `fc_${fcBase}_${i}`;
        const item = {
          id,
          type: 'function_call',
          status: 'completed',
          call_id: call.id,
          name: fn.name,
          arguments: fn.arguments,
        };
        completed.push(item);
        const index = outputIndex + i;
        event('response.output_item.added', {
          output_index: index,
          item: { ...item, status: 'in_progress', arguments: '' },
        });
        event('response.function_call_arguments.delta', {
          item_id: id,
          output_index: index,
          delta: fn.arguments,
        });
        event('response.function_call_arguments.done', {
          item_id: id,
          output_index: index,
          arguments: fn.arguments,
        });
        event('response.output_item.done', { output_index: index, item });
      });
      outputIndex += calls.length;
      toolCallsSent = true;
    }
    const content = str(message.content);
    if (calls.length === 0 && !toolCallsSent && content) {
      finishReasoning();
      if (!textStarted) {
        textStarted = true;
        event('response.output_item.added', {
          output_index: outputIndex,
          item: {
            id: itemId,
            type: 'message',
            status: 'in_progress',
            role: 'assistant',
            content: [],
          },
        });
        event('response.content_part.added', {
          item_id: itemId,
          output_index: outputIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        });
      }
      text += content;
      event('response.output_text.delta', {
        item_id: itemId,
        output_index: outputIndex,
        content_index: 0,
        delta: content,
        logprobs: [],
      });
    }
    if (r.done === true) {
      finishReasoning();
      const output = [...completed];
      if (!toolCallsSent && textStarted) {
        const part = { type: 'output_text', text, annotations: [], logprobs: [] };
        event('response.output_text.done', {
          item_id: itemId,
          output_index: outputIndex,
          content_index: 0,
          text,
          logprobs: [],
        });
        event('response.content_part.done', {
          item_id: itemId,
          output_index: outputIndex,
          content_index: 0,
          part,
        });
        event('response.output_item.done', {
          output_index: outputIndex,
          item: messageItem(itemId, 'completed', text),
        });
      }
      if (textStarted) output.push(messageItem(itemId, 'completed', text));
      const done = { ...streamedResponse('completed', output, usage(r)), completed_at: now() };
      event('response.completed', { response: done });
    }
  };

  return {
    chunk: process,
    whole(r) {
      if (stream) {
        process(r);
        response.end();
        return;
      }
      const message = (r.message ?? {}) as Body;
      const output: unknown[] = [];
      const think = str(message.thinking);
      if (think) {
        output.push({
          id: `rs_${ids.response}`,
          type: 'reasoning',
          summary: [{ type: 'summary_text', text: think }],
          encrypted_content: think,
        });
      }
      const calls = toOpenAIToolCalls(message.tool_calls);
      if (calls.length > 0) {
        calls.forEach((call, i) => {
          const fn = call.function as Body;
          output.push({
            id: `fc_${ids.response}_${i}`,
            type: 'function_call',
            status: 'completed',
            call_id: call.id,
            name: fn.name,
            arguments: fn.arguments,
          });
        });
      } else {
        output.push(messageItem(ids.message, 'completed', str(message.content)));
      }
      sendEncoded(
        response,
        200,
        responseObject(echo, ids.response, unixSeconds(r.created_at), {
          completedAt: now(),
          status: 'completed',
          output,
          usage: usage(r),
        }),
      );
    },
    end: () => response.end(),
    // Process() makes nothing of an empty chunk once the stream has begun.
    failMidStream: () => response.end(),
  };
}
