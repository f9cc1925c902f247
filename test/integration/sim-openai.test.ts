/**
 * Ollama's OpenAI-compatible layer on the simulator, driven by the official `openai` client:
 * the same handlers as /api/chat, /api/generate and /api/embed under OpenAI's shapes, with
 * Ollama's quirks (tool_choice and max_completion_tokens are not read, ids are chatcmpl-N).
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { schemaErrors } from '../helpers/sim-schema.js';

const PARAMETERS = {
  type: 'object',
  properties: {
    location: { type: 'string' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 10 },
  },
  required: ['location'],
};
const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: PARAMETERS } },
];
const PIXEL =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

async function client(version?: string) {
  const sim = await startTestSim(version ? { version } : {});
  return { sim, openai: new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'ollama', maxRetries: 0 }) };
}

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    const e = err as { status: number; error: unknown };
    return { status: e.status, error: e.error };
  }
  throw new Error('expected the request to fail');
}

const notFound = (message: string) => ({
  message,
  type: 'not_found_error',
  param: null,
  code: null,
});
const invalid = (message: string) => ({
  message,
  type: 'invalid_request_error',
  param: null,
  code: null,
});

describe('/v1/chat/completions', () => {
  it('answers with tool calls whose JSON-string arguments fit, finish_reason tool_calls', async () => {
    const { openai } = await client();
    const chat = await openai.chat.completions.create({
      model: 'qwen2.5:7b',
      messages: [{ role: 'user', content: 'Weather in Cairo?' }],
      tools: TOOLS,
      // Ollama does not read tool_choice: the model still calls.
      tool_choice: 'none',
    });
    const choice = chat.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBe('');
    const call = choice?.message
      .tool_calls?.[0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_[a-z0-9]{8}$/);
    expect(call.function.name).toBe('get_weather');
    expect(schemaErrors(PARAMETERS, JSON.parse(call.function.arguments))).toEqual([]);
    expect(chat.id).toMatch(/^chatcmpl-\d{1,3}$/);
    expect(chat.system_fingerprint).toBe('fp_ollama');
  });

  it('streams a tool call in one delta, then a finish chunk with tool_calls', async () => {
    const { openai } = await client();
    const stream = await openai.chat.completions.create({
      model: 'llama3.1:8b',
      messages: [{ role: 'user', content: 'Weather in Hanoi?' }],
      tools: TOOLS,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      index: 0,
      type: 'function',
      function: { name: 'get_weather' },
    });
    expect(schemaErrors(PARAMETERS, JSON.parse(calls[0]?.function?.arguments ?? ''))).toEqual([]);
    expect(chunks.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.slice(1).every((c) => c.choices[0]?.delta.role === undefined)).toBe(true);
  });

  it('after the tool result (by tool_call_id) the model answers in prose', async () => {
    const { openai, sim } = await client();
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'Weather in Cairo?' },
    ];
    const first = await openai.chat.completions.create({
      model: 'qwen2.5:7b',
      messages,
      tools: TOOLS,
    });
    const call = first.choices[0]?.message
      .tool_calls?.[0] as OpenAI.Chat.ChatCompletionMessageToolCall;
    messages.push(first.choices[0]?.message as OpenAI.Chat.ChatCompletionMessageParam);
    messages.push({ role: 'tool', tool_call_id: call.id, content: '{"celsius": 31}' });
    const second = await openai.chat.completions.create({
      model: 'qwen2.5:7b',
      messages,
      tools: TOOLS,
    });
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.tool_calls).toBeUndefined();
    expect(second.choices[0]?.message.content?.length).toBeGreaterThan(0);
    // The request arrived as the client sent it, tool_call_id and all.
    const { requests } = await json(await fetch(`${sim.url}/sim/requests`));
    expect(requests.at(-1).body.messages[2]).toEqual({
      role: 'tool',
      tool_call_id: call.id,
      content: '{"celsius": 31}',
    });
  });

  it('response_format json_schema and json_object give JSON; max_tokens cuts with length', async () => {
    const { openai } = await client();
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string' },
        year: { type: 'integer', minimum: 1900, maximum: 2030 },
      },
      required: ['title', 'year'],
      additionalProperties: false,
    };
    const structured = await openai.chat.completions.create({
      model: 'llama3.2:3b',
      messages: [{ role: 'user', content: 'A film' }],
      response_format: { type: 'json_schema', json_schema: { name: 'film', schema, strict: true } },
    });
    expect(schemaErrors(schema, JSON.parse(structured.choices[0]?.message.content ?? ''))).toEqual(
      [],
    );
    const object = await openai.chat.completions.create({
      model: 'llama3.2:3b',
      messages: [{ role: 'user', content: 'Anything' }],
      response_format: { type: 'json_object' },
    });
    expect(typeof JSON.parse(object.choices[0]?.message.content ?? '')).toBe('object');
    const short = await openai.chat.completions.create({
      model: 'llama3.2:3b',
      messages: [{ role: 'user', content: 'A long story' }],
      max_tokens: 3,
    });
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(3);
    // Ollama reads max_tokens only.
    const unread = await openai.chat.completions.create({
      model: 'llama3.2:3b',
      messages: [{ role: 'user', content: 'A long story' }],
      max_completion_tokens: 3,
    });
    expect(unread.choices[0]?.finish_reason).toBe('stop');
  });

  it('the same request gets the same answer and id; stop ends the text before the stop word', async () => {
    const { openai } = await client();
    const ask = (extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {}) =>
      openai.chat.completions.create({
        model: 'qwen2.5:1.5b',
        messages: [{ role: 'user', content: 'Tell me about rivers' }],
        ...extra,
      });
    const [a, b] = [await ask(), await ask()];
    expect(b.id).toBe(a.id);
    expect(b.choices[0]?.message.content).toBe(a.choices[0]?.message.content);
    const text = a.choices[0]?.message.content ?? '';
    const word = text.split(' ')[3] ?? '';
    const stopped = await ask({ stop: [` ${word}`] });
    expect(stopped.choices[0]?.message.content).toBe(text.slice(0, text.indexOf(` ${word}`)));
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    const seeded = await ask({ seed: 7 });
    expect(seeded.choices[0]?.message.content).not.toBe(text);
    expect((await ask({ seed: 7 })).choices[0]?.message.content).toBe(
      seeded.choices[0]?.message.content,
    );
  });

  it('include_usage adds a last chunk with no choices and the usage, then [DONE]', async () => {
    const { openai, sim } = await client();
    const stream = await openai.chat.completions.create({
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    // A chunk per token, the finish chunk and the usage chunk.
    expect(last?.usage?.completion_tokens).toBe(chunks.length - 2);
    expect(last?.usage?.total_tokens).toBe(
      (last?.usage?.prompt_tokens ?? 0) + (last?.usage?.completion_tokens ?? 0),
    );
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    const raw = await sim.post('/v1/chat/completions', {
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    });
    expect(raw.headers.get('content-type')).toBe('text/event-stream');
    expect((await raw.text()).endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('reasoning_effort turns thinking on and the thinking comes back as `reasoning`', async () => {
    const { openai } = await client('0.33.0');
    const chat = await openai.chat.completions.create({
      model: 'qwen3:8b',
      messages: [{ role: 'user', content: 'Why?' }],
      reasoning_effort: 'high',
    });
    const message = chat.choices[0]?.message as { reasoning?: string; content: string };
    expect(message.reasoning?.length).toBeGreaterThan(0);
    expect(message.content).not.toContain('<think>');
    const off = await openai.chat.completions.create({
      model: 'qwen3:8b',
      messages: [{ role: 'user', content: 'Why?' }],
      reasoning_effort: 'none',
    });
    expect(off.choices[0]?.message).not.toHaveProperty('reasoning');
    const stream = await openai.chat.completions.create({
      model: 'gpt-oss:20b',
      messages: [{ role: 'user', content: 'Why?' }],
      reasoning_effort: 'low',
      stream: true,
    });
    const deltas = [];
    for await (const chunk of stream)
      deltas.push(chunk.choices[0]?.delta as Record<string, unknown>);
    const firstText = deltas.findIndex((d) => typeof d?.content === 'string' && d.content !== '');
    expect(deltas.slice(0, firstText).every((d) => typeof d.reasoning === 'string')).toBe(true);
    expect(
      await failure(
        openai.chat.completions.create({
          model: 'qwen3:8b',
          messages: [{ role: 'user', content: 'Why?' }],
          reasoning_effort: 'extreme' as 'high',
        }),
      ),
    ).toEqual({
      status: 400,
      error: invalid(
        'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")',
      ),
    });
  });

  it('image_url parts with data URLs reach a vision model as images', async () => {
    const { openai } = await client();
    const ask = (content: OpenAI.Chat.ChatCompletionUserMessageParam['content']) =>
      openai.chat.completions.create({ model: 'gemma3:4b', messages: [{ role: 'user', content }] });
    const text = await ask('What is in the picture?');
    const withImage = await ask([
      { type: 'text', text: 'What is in the picture?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PIXEL}` } },
    ]);
    expect(withImage.usage?.prompt_tokens).toBeGreaterThanOrEqual(
      (text.usage?.prompt_tokens ?? 0) + 256,
    );
    expect(withImage.choices[0]?.message.content).not.toBe(text.choices[0]?.message.content);
    expect(
      await failure(
        ask([{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }]),
      ),
    ).toEqual({
      status: 400,
      error: invalid(
        'image URLs are not currently supported, please use base64 encoded data instead',
      ),
    });
    expect(
      await failure(ask([{ type: 'image_url', image_url: { url: 'data:image/gif;base64,R0lG' } }])),
    ).toEqual({ status: 400, error: invalid('invalid image input') });
  });

  it("errors come in OpenAI's shape with Ollama's status and words", async () => {
    const { openai, sim } = await client();
    expect(
      await failure(
        openai.chat.completions.create({
          model: 'no-such:model',
          messages: [{ role: 'user', content: 'x' }],
        }),
      ),
    ).toEqual({ status: 404, error: notFound("model 'no-such:model' not found") });
    expect(
      await failure(
        openai.chat.completions.create({
          model: 'gemma:2b',
          messages: [{ role: 'user', content: 'x' }],
          tools: TOOLS,
        }),
      ),
    ).toEqual({
      status: 400,
      error: invalid('registry.ollama.ai/library/gemma:2b does not support tools'),
    });
    expect(
      await failure(openai.chat.completions.create({ model: 'qwen2.5:0.5b', messages: [] })),
    ).toEqual({ status: 400, error: invalid("[] is too short - 'messages'") });
    const empty = await sim.post('/v1/chat/completions', '');
    expect([empty.status, await empty.json()]).toEqual([400, { error: invalid('EOF') }]);
  });
});

describe('/v1/completions, /v1/embeddings and /v1/models', () => {
  it('completes text, streamed with usage, and refuses a suffix to a model without insert', async () => {
    const { openai } = await client();
    const completion = await openai.completions.create({
      model: 'qwen2.5-coder:1.5b',
      prompt: 'def add(a, b):',
      suffix: '    return c',
    });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    const chunks = [];
    for await (const chunk of await openai.completions.create({
      model: 'qwen2.5:0.5b',
      prompt: 'Once',
      stream: true,
      stream_options: { include_usage: true },
    }))
      chunks.push(chunk);
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(chunks.length - 2);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(
      await failure(openai.completions.create({ model: 'llama3.2:3b', prompt: 'x', suffix: 'y' })),
    ).toEqual({
      status: 400,
      error: invalid('registry.ollama.ai/library/llama3.2:3b does not support insert'),
    });
  });

  it('embeds in base64 (the client default, decoded by it) and in floats, with dimensions', async () => {
    const { openai } = await client();
    const decoded = await openai.embeddings.create({
      model: 'nomic-embed-text',
      input: ['a', 'b'],
    });
    const floats = await openai.embeddings.create({
      model: 'nomic-embed-text',
      input: ['a', 'b'],
      encoding_format: 'float',
    });
    expect(decoded.data.map((d) => d.embedding.length)).toEqual([768, 768]);
    expect(decoded.data[0]?.embedding).toEqual(floats.data[0]?.embedding);
    expect(decoded.usage.prompt_tokens).toBeGreaterThan(0);
    const short = await openai.embeddings.create({
      model: 'nomic-embed-text',
      input: 'a',
      dimensions: 64,
      encoding_format: 'float',
    });
    const vector = short.data[0]?.embedding ?? [];
    expect(vector).toHaveLength(64);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    expect(
      await failure(
        openai.embeddings.create({
          model: 'all-minilm',
          input: 'a',
          encoding_format: 'hex' as 'float',
        }),
      ),
    ).toEqual({
      status: 400,
      error: invalid(
        "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64'].",
      ),
    });
  });

  it('lists models and retrieves one by a name with a colon; a slash never matches the route', async () => {
    const { openai, sim } = await client();
    const ids = [];
    for await (const model of openai.models.list()) ids.push(model);
    expect(ids.map((m) => m.id)).toContain('qwen3:8b');
    expect(ids.every((m) => m.object === 'model' && m.owned_by === 'library')).toBe(true);
    const qwen = await openai.models.retrieve('qwen3:8b');
    expect(qwen).toMatchObject({ id: 'qwen3:8b', object: 'model', owned_by: 'library' });
    expect(qwen.created).toBe(ids.find((m) => m.id === 'qwen3:8b')?.created);
    expect(await failure(openai.models.retrieve('no-such:model'))).toEqual({
      status: 404,
      error: notFound("model 'no-such:model' not found"),
    });
    const slashed = await fetch(`${sim.url}/v1/models/library%2Fqwen3%3A8b`);
    expect([slashed.status, await slashed.text()]).toEqual([404, '404 page not found']);
  });
});

describe('/v1/responses', () => {
  it('answers with reasoning and message items, and function calls for tools', async () => {
    const { openai } = await client('0.33.0');
    const response = await openai.responses.create({
      model: 'qwen3:0.6b',
      instructions: 'Be brief.',
      input: 'Why is the sky blue?',
      reasoning: { effort: 'low' },
    });
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(response.instructions).toBe('Be brief.');
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    );
    const called = await openai.responses.create({
      model: 'qwen3:0.6b',
      input: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [{ type: 'function', name: 'get_weather', parameters: PARAMETERS, strict: false }],
      reasoning: { effort: 'none' },
    });
    const call = called.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' });
    const args = JSON.parse((call as { arguments: string }).arguments);
    expect(schemaErrors(PARAMETERS, args)).toEqual([]);
    const followUp = await openai.responses.create({
      model: 'qwen3:0.6b',
      input: [
        { role: 'user', content: 'Weather in Oslo?' },
        call as OpenAI.Responses.ResponseFunctionToolCall,
        {
          type: 'function_call_output',
          call_id: (call as { call_id: string }).call_id,
          output: '{"celsius": 4}',
        },
      ],
      tools: [{ type: 'function', name: 'get_weather', parameters: PARAMETERS, strict: false }],
      reasoning: { effort: 'none' },
    });
    expect(followUp.output.map((o) => o.type)).toEqual(['message']);
  });

  it('streams the events Ollama emits, in order, with rising sequence numbers', async () => {
    const { openai } = await client('0.33.0');
    const stream = await openai.responses.create({
      model: 'gpt-oss:20b',
      input: 'Plan a picnic',
      reasoning: { effort: 'low' },
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    const types = [...new Set(events.map((e) => e.type))];
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.output_item.done',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    const text = events
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => (e as OpenAI.Responses.ResponseTextDeltaEvent).delta)
      .join('');
    const [reasoning, message] = completed.response.output as [
      OpenAI.Responses.ResponseReasoningItem,
      OpenAI.Responses.ResponseOutputMessage,
    ];
    expect([reasoning.type, message.type]).toEqual(['reasoning', 'message']);
    expect(message.content[0]).toMatchObject({ type: 'output_text', text });
    expect(reasoning.summary[0]?.text.length).toBeGreaterThan(0);
  });
});

describe('GET /sim/requests', () => {
  it('keeps the last 100 bodies as they came, unknown fields and non-JSON text too, newest last', async () => {
    const sim = await startTestSim();
    const odd = {
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hi', x_custom: [1, { deep: true }] }],
      stream: false,
      options: { num_ctx: 2048, mystery: 'kept' },
      vendor_field: { nested: null },
    };
    await sim.post('/api/chat', odd);
    await sim.post('/v1/chat/completions', { ...odd, metadata: { trace: 'abc' } });
    const broken = await sim.post('/api/generate', '{"model": "qwen2.5:0.5b",');
    expect([broken.status, await broken.json()]).toEqual([400, { error: 'unexpected EOF' }]);
    await fetch(`${sim.url}/api/tags`);
    const { requests } = await json(await fetch(`${sim.url}/sim/requests`));
    expect(requests).toEqual([
      { path: '/api/chat', body: odd },
      { path: '/v1/chat/completions', body: { ...odd, metadata: { trace: 'abc' } } },
      { path: '/api/generate', body: '{"model": "qwen2.5:0.5b",' },
    ]);
    for (let i = 0; i < 105; i++) await sim.post('/api/show', { model: 'qwen2.5:0.5b', i });
    const later = (await json(await fetch(`${sim.url}/sim/requests`))).requests;
    expect(later).toHaveLength(100);
    expect(later[0].body.i).toBe(5);
    expect(later.at(-1).body.i).toBe(104);
  });
});
