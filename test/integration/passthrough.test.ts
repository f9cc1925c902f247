/**
 * The compatible routes are a pass-through: what a caller sends reaches Ollama as sent (only
 * the model resolved), and what Ollama answers reaches the caller unchanged, in both dialects.
 * Driven with the official `ollama` and `openai` clients against `fleet sim`, whose
 * `GET /sim/requests` shows exactly what the supervisor forwarded.
 */
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim, type TestSim } from '../helpers/sim.js';
import { startTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

async function received(sim: TestSim, path: string): Promise<Received[]> {
  const answer = await json(await fetch(`${sim.url}/sim/requests`));
  return (answer.requests as Received[]).filter((r) => r.path === path);
}

async function lastReceived(sim: TestSim, path: string): Promise<Record<string, unknown>> {
  const all = await received(sim, path);
  const last = all.at(-1);
  if (!last) throw new Error(`the simulator received no ${path}`);
  return last.body;
}

/** The simulator's installed models that have every one of these capabilities. */
async function modelWith(sim: TestSim, ...wanted: string[]): Promise<string> {
  const tags = (await json(await fetch(`${sim.url}/api/tags`))).models as { name: string }[];
  for (const { name } of tags) {
    const show = await json(await sim.post('/api/show', { model: name }));
    const capabilities = (show.capabilities ?? []) as string[];
    if (wanted.every((c) => capabilities.includes(c))) return name;
  }
  throw new Error(`no installed model has ${wanted.join(', ')}`);
}

/** The fields that differ between two runs of the same request: when it ran, how long. */
const TIMING = new Set([
  'created_at',
  'created',
  'total_duration',
  'load_duration',
  'prompt_eval_duration',
  'eval_duration',
  'id',
]);

function withoutTiming(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTiming);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !TIMING.has(k))
      .map(([k, v]) => [k, withoutTiming(v)]),
  );
}

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer' },
      },
      required: ['city', 'unit', 'days'],
    },
  },
};
const person = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
};
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

async function fleetWithSim(): Promise<{ sim: TestSim; fleet: TestSupervisor }> {
  const sim = await startTestSim({ vramMib: 24_576 });
  const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
  return { sim, fleet };
}

describe('the compatible routes pass requests and answers through', () => {
  it('every field a caller sends reaches Ollama unchanged, unknown ones too; only an alias is resolved', async () => {
    const { sim, fleet } = await fleetWithSim();
    const model = await modelWith(sim, 'completion', 'tools');
    const body = {
      model,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'weather in Paris?', images: [PNG] },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }],
        },
        { role: 'tool', tool_name: 'get_weather', content: '{"temp":21}' },
      ],
      tools: [weather],
      options: { temperature: 0.2, num_ctx: 4096, seed: 7, stop: ['\n\n'] },
      keep_alive: '10m',
      stream: false,
      logprobs: false,
      a_field_from_next_year: { nested: [1, 'two', null, { deep: true }] },
    };
    const answer = await fleet.call('/api/chat', { body });
    expect(answer.status).toBe(200);
    expect(await lastReceived(sim, '/api/chat')).toEqual(body);

    // Through an alias, with no keep_alive: the model is the rung, the keep-alive the fleet's.
    const { keep_alive: _k, ...rest } = body;
    await fleet.call('/api/chat', { body: { ...rest, model: 'fleet' } });
    const resolved = await lastReceived(sim, '/api/chat');
    expect(resolved).toEqual({ ...rest, model: 'llama3.2:3b', keep_alive: '5m' });

    // The fleet's own API takes Ollama's fields the same way.
    const submitted = await fleet.call('/api/submit', {
      body: {
        model,
        messages: body.messages,
        tools: [weather],
        think: false,
        format: person,
        options: { num_ctx: 2048 },
        priority: 'high',
        metadata: { batch: 1 },
      },
    });
    expect(submitted.status).toBe(202);
    const id = (await json(submitted)).job_id;
    expect((await json(await fleet.call(`/api/job/${id}?wait=30`))).status).toBe('complete');
    const fromSubmit = await lastReceived(sim, '/api/chat');
    expect(fromSubmit).toMatchObject({
      model,
      messages: body.messages,
      tools: [weather],
      think: false,
      format: person,
      options: { num_ctx: 2048 },
    });
    expect(fromSubmit).not.toHaveProperty('priority');
    expect(fromSubmit).not.toHaveProperty('metadata');

    // OpenAI's dialect goes to Ollama's own OpenAI endpoint as sent.
    const openaiBody = {
      model,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [weather],
      tool_choice: 'auto',
      max_completion_tokens: 64,
      seed: 3,
      stream_options: { include_usage: true },
      an_unknown_field: ['kept'],
    };
    await fleet.call('/v1/chat/completions', { body: openaiBody });
    expect(await lastReceived(sim, '/v1/chat/completions')).toEqual(openaiBody);
  });

  it("every field of Ollama's answer reaches the caller, whole or chunk by chunk", async () => {
    const { sim, fleet } = await fleetWithSim();
    const model = await modelWith(sim, 'completion', 'thinking');
    const request = {
      model,
      messages: [{ role: 'user', content: 'what is 2+2?' }],
      think: true,
      keep_alive: '5m',
    };
    const viaFleet = await json(
      await fleet.call('/api/chat', { body: { ...request, stream: false } }),
    );
    const direct = await json(await sim.post('/api/chat', { ...request, stream: false }));
    expect(Object.keys(viaFleet)).toEqual(Object.keys(direct));
    expect(withoutTiming(viaFleet)).toEqual(withoutTiming(direct));
    expect(viaFleet.message.thinking.length).toBeGreaterThan(0);

    const lines = async (response: Response) =>
      (await response.text())
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const streamedFleet = await fleet.call('/api/chat', { body: { ...request, stream: true } });
    expect(streamedFleet.headers.get('content-type')).toContain('application/x-ndjson');
    expect(streamedFleet.headers.get('x-fleet-job')).toMatch(/^[0-9a-f-]{36}$/);
    const fleetChunks = await lines(streamedFleet);
    const directChunks = await lines(await sim.post('/api/chat', { ...request, stream: true }));
    expect(fleetChunks.map(withoutTiming)).toEqual(directChunks.map(withoutTiming));
    // Ollama's timestamps: nanosecond digits, never going back within one answer.
    const stamps = fleetChunks.map((c) => c.created_at as string);
    for (const stamp of stamps)
      expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    const asNs = (s: string) => {
      const [whole, fraction = ''] = s.slice(0, -1).split('.');
      return BigInt(Date.parse(`${whole}Z`)) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
    };
    for (let i = 1; i < stamps.length; i++)
      expect(asNs(stamps[i] as string) >= asNs(stamps[i - 1] as string)).toBe(true);
  });

  it('tools, structured output, thinking and images work through the official ollama client', async () => {
    const { sim, fleet } = await fleetWithSim();
    const ollama = new Ollama({ host: fleet.url });
    const toolModel = await modelWith(sim, 'completion', 'tools');
    const thinkModel = await modelWith(sim, 'thinking');
    const visionModel = await modelWith(sim, 'vision');

    const called = await ollama.chat({
      model: toolModel,
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [weather],
    });
    const call = called.message.tool_calls?.[0];
    expect(call?.function.name).toBe('get_weather');
    expect(typeof call?.function.arguments.city).toBe('string');
    expect(['celsius', 'fahrenheit']).toContain(call?.function.arguments.unit);
    expect(Number.isInteger(call?.function.arguments.days)).toBe(true);

    let streamedCall = false;
    for await (const part of await ollama.chat({
      model: toolModel,
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [weather],
      stream: true,
    }))
      if (part.message.tool_calls?.length) streamedCall = true;
    expect(streamedCall).toBe(true);

    const afterTool = await ollama.chat({
      model: toolModel,
      tools: [weather],
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: '', tool_calls: called.message.tool_calls ?? [] },
        { role: 'tool', tool_name: 'get_weather', content: '{"temp":21}' },
      ],
    });
    expect(afterTool.message.content.length).toBeGreaterThan(0);
    expect(afterTool.message.tool_calls ?? []).toHaveLength(0);

    const structured = await ollama.chat({
      model: toolModel,
      messages: [{ role: 'user', content: 'who?' }],
      format: person,
    });
    const who = JSON.parse(structured.message.content);
    expect(typeof who.name).toBe('string');
    expect(Number.isInteger(who.age)).toBe(true);
    const generated = await ollama.generate({ model: toolModel, prompt: 'json', format: 'json' });
    expect(() => JSON.parse(generated.response ?? '')).not.toThrow();

    const thought = await ollama.chat({
      model: thinkModel,
      messages: [{ role: 'user', content: '2+2?' }],
      think: true,
    });
    expect(thought.message.thinking?.length).toBeGreaterThan(0);
    const levelled = await ollama.chat({
      model: thinkModel,
      messages: [{ role: 'user', content: '2+2?' }],
      think: 'high',
    });
    expect(levelled.message.thinking?.length).toBeGreaterThan(0);
    expect((await lastReceived(sim, '/api/chat')).think).toBe('high');

    const seen = await ollama.chat({
      model: visionModel,
      messages: [{ role: 'user', content: 'what is it?', images: [PNG] }],
    });
    expect(seen.done).toBe(true);
    const sent = (await lastReceived(sim, '/api/chat')).messages as { images?: string[] }[];
    expect(sent[0]?.images).toEqual([PNG]);

    const embedModel = await modelWith(sim, 'embedding');
    const embedded = await ollama.embed({ model: embedModel, input: 'x', dimensions: 64 });
    expect(embedded.embeddings[0]).toHaveLength(64);
  });

  it('tools, json_schema, usage, images, Responses and model lookup work through the official openai client', async () => {
    const { sim, fleet } = await fleetWithSim();
    const openai = new OpenAI({ baseURL: `${fleet.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const toolModel = await modelWith(sim, 'completion', 'tools');
    const visionModel = await modelWith(sim, 'vision');
    const embedModel = await modelWith(sim, 'embedding');

    const called = await openai.chat.completions.create({
      model: toolModel,
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [weather],
    });
    const choice = called.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const toolCall = choice?.message.tool_calls?.[0] as
      | { id: string; function: { name: string; arguments: string } }
      | undefined;
    expect(toolCall?.function.name).toBe('get_weather');
    expect(typeof JSON.parse(toolCall?.function.arguments ?? '{}').city).toBe('string');

    const structured = await openai.chat.completions.create({
      model: toolModel,
      messages: [{ role: 'user', content: 'who?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema: person } },
    });
    const who = JSON.parse(structured.choices[0]?.message.content ?? '');
    expect(Number.isInteger(who.age)).toBe(true);

    let usage: OpenAI.CompletionUsage | undefined;
    let text = '';
    for await (const chunk of await openai.chat.completions.create({
      model: toolModel,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    })) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBeGreaterThan(0);

    const seen = await openai.chat.completions.create({
      model: visionModel,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
          ],
        },
      ],
    });
    expect(seen.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(JSON.stringify(await lastReceived(sim, '/v1/chat/completions'))).toContain(PNG);

    const response = await openai.responses.create({ model: toolModel, input: 'hi' });
    expect(response.output_text.length).toBeGreaterThan(0);
    let streamedResponse = '';
    for await (const event of await openai.responses.create({
      model: toolModel,
      input: 'hi',
      stream: true,
    }))
      if (event.type === 'response.output_text.delta') streamedResponse += event.delta;
    expect(streamedResponse).toBe(response.output_text);

    expect((await openai.models.retrieve(toolModel)).id).toBe(toolModel);
    expect((await openai.models.retrieve('fleet')).id).toBe('fleet');
    const listed = (await openai.models.list()).data.map((m) => m.id);
    expect(listed).toEqual(expect.arrayContaining([toolModel, 'fleet', 'fleet:main']));

    // The official client asks for base64 and decodes it: the vector arrives whole.
    const vectors = await openai.embeddings.create({ model: embedModel, input: ['a', 'b'] });
    expect(vectors.data).toHaveLength(2);
    const direct = await json(await sim.post('/api/embed', { model: embedModel, input: 'a' }));
    expect(vectors.data[0]?.embedding).toHaveLength(direct.embeddings[0].length);
  });

  it("Ollama's refusals keep their status and words, fail the job once, and are never retried", async () => {
    const { sim, fleet } = await fleetWithSim();
    const embedModel = await modelWith(sim, 'embedding');
    const plainModel = 'tinyllama:1.1b';
    const ollama = new Ollama({ host: fleet.url });
    const openai = new OpenAI({ baseURL: `${fleet.url}/v1`, apiKey: 'unused', maxRetries: 0 });

    const chatOnEmbed = await fleet.call('/api/chat', {
      body: { model: embedModel, messages: [{ role: 'user', content: 'x' }], stream: false },
    });
    expect(chatOnEmbed.status).toBe(400);
    const direct = await sim.post('/api/chat', {
      model: embedModel,
      messages: [{ role: 'user', content: 'x' }],
      stream: false,
    });
    expect(await chatOnEmbed.text()).toBe(await direct.text());

    // Streamed, the refusal comes before the first chunk: the real status, not 200.
    await expect(
      (async () => {
        for await (const _ of await ollama.chat({
          model: plainModel,
          messages: [{ role: 'user', content: 'x' }],
          tools: [weather],
          stream: true,
        }));
      })(),
    ).rejects.toMatchObject({
      status_code: 400,
      error: expect.stringContaining('does not support tools'),
    });
    const badKeepAlive = await fleet.call('/api/generate', {
      body: { model: plainModel, prompt: 'x', keep_alive: '300' },
    });
    expect(badKeepAlive.status).toBe(400);
    expect((await json(badKeepAlive)).error).toContain('missing unit');

    // The OpenAI dialect: Ollama's OpenAI layer words it, and a 4xx is not retried.
    await expect(
      openai.chat.completions.create({
        model: plainModel,
        messages: [{ role: 'user', content: 'x' }],
        tools: [weather],
      }),
    ).rejects.toMatchObject({ status: 400 });

    const jobs = (await json(await fleet.call('/api/jobs'))).jobs as {
      status: string;
      attempts: number;
      error?: { status?: number };
    }[];
    expect(jobs.filter((j) => j.status === 'failed')).toHaveLength(4);
    for (const job of jobs) {
      expect(job.attempts).toBe(1);
      expect(job.error?.status).toBe(400);
    }

    // The fleet's own refusals, in each route's own words.
    const unknownChat = await fleet.call('/api/chat', {
      body: { model: 'nope:1b', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(unknownChat.status).toBe(404);
    expect(await json(unknownChat)).toEqual({ error: "model 'nope:1b' not found" });
    const unknownEmbed = await fleet.call('/api/embed', { body: { model: 'nope:1b', input: 'x' } });
    expect(unknownEmbed.status).toBe(404);
    expect(await json(unknownEmbed)).toEqual({
      error: 'model "nope:1b" not found, try pulling it first',
    });
    const unknownOpenai = await fleet.call('/v1/chat/completions', {
      body: { model: 'nope:1b', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(unknownOpenai.status).toBe(404);
    expect(await json(unknownOpenai)).toEqual({
      error: {
        message: "model 'nope:1b' not found",
        type: 'not_found_error',
        param: null,
        code: null,
      },
    });
    const wrongMethod = await fetch(`${fleet.url}/api/chat`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(await wrongMethod.text()).toBe('405 method not allowed');
    const noRoute = await fetch(`${fleet.url}/api/nothing-here`, { method: 'POST' });
    expect(noRoute.status).toBe(404);
    expect(await noRoute.text()).toBe('404 page not found');
    const broken = await fetch(`${fleet.url}/api/generate`, { method: 'POST', body: 'x{' });
    expect(broken.status).toBe(400);
    expect(await json(broken)).toEqual({
      error: "invalid character 'x' looking for beginning of value",
    });
    // No model: generate looks the empty name up, chat says it is required (as Ollama does).
    const noModel = await fleet.call('/api/generate', { body: { prompt: 'x' } });
    expect(noModel.status).toBe(404);
    expect(await json(noModel)).toEqual({ error: "model '' not found" });
    const noChatModel = await fleet.call('/api/chat', { body: { messages: [] } });
    expect(noChatModel.status).toBe(400);
    expect(await json(noChatModel)).toEqual({ error: 'model is required' });
    const arrayBody = await fleet.call('/api/chat', { body: [1] });
    expect(await json(arrayBody)).toEqual({
      error: 'json: cannot unmarshal array into Go value of type api.ChatRequest',
    });
  });

  it('an empty embed loads the model, and keep_alive 0 unloads it once no job needs it', async () => {
    const { sim, fleet } = await fleetWithSim();
    const embedModel = await modelWith(sim, 'embedding');
    const loaded = async () =>
      ((await json(await fetch(`${sim.url}/api/ps`))).models as { name: string }[]).map(
        (m) => m.name,
      );
    const preload = await fleet.call('/api/embed', { body: { model: embedModel } });
    expect(preload.status).toBe(200);
    expect(await json(preload)).toMatchObject({ model: embedModel, embeddings: [] });
    expect(await loaded()).toContain(embedModel);

    const stop = await fleet.call('/api/generate', { body: { model: embedModel, keep_alive: 0 } });
    expect(stop.status).toBe(200);
    expect(await json(stop)).toMatchObject({
      model: embedModel,
      done: true,
      done_reason: 'unload',
    });
    // The scheduler lets it go on its next pass: wait for it, as `ollama ps` would show.
    while ((await loaded()).includes(embedModel)) await new Promise((r) => setTimeout(r, 50));
  });

  it('an OOM before the answer began runs the same request again; once it began, the stream ends with an error', async () => {
    const { sim, fleet } = await fleetWithSim();
    const model = 'qwen2.5:0.5b';
    const body = {
      model,
      messages: [{ role: 'user', content: 'tell me a story' }],
      options: { seed: 11 },
      keep_alive: '5m',
      stream: false,
    };
    // Not streamed: the runner breaks before any of the answer is sent; the job runs again.
    await sim.post('/sim/fault', { kind: 'midstream', model, count: 1, after: 2 });
    const whole = await fleet.call('/api/chat', { body });
    expect(whole.status).toBe(200);
    expect((await json(whole)).done).toBe(true);
    const sent = (await received(sim, '/api/chat')).filter((r) => r.body.model === model);
    expect(sent).toHaveLength(2);
    expect(sent[1]?.body).toEqual(sent[0]?.body);
    expect(sent[0]?.body).toEqual(body);

    // Streamed: two chunks reached the caller, then the runner broke. A second run cannot
    // continue those chunks, so the stream ends with an error line, as Ollama's does.
    await sim.post('/sim/fault', { kind: 'midstream', model, count: 1, after: 2 });
    const streamed = await fleet.call('/api/chat', { body: { ...body, stream: true } });
    expect(streamed.status).toBe(200);
    const lines = (await streamed.text())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines.slice(0, 2).every((l) => l.done === false)).toBe(true);
    expect(String(lines[2]?.error)).toContain('out of memory');
    const id = streamed.headers.get('x-fleet-job');
    const job = await json(await fleet.call(`/api/job/${id}`));
    expect(job.status).toBe('failed');
    expect(job.error.message).toContain('broke off');
  });
});
