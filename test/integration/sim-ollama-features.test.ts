/**
 * What real Ollama models do, on the simulator, through the official `ollama` client: tool
 * calls that fit their schemas, structured outputs, thinking, images, and the 400s Ollama
 * answers when a model lacks a capability, each with the words and the version they belong to.
 */
import { Ollama, type Tool } from 'ollama';
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { schemaErrors } from '../helpers/sim-schema.js';

const WEATHER: Tool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'The city' },
        days: { type: 'integer', description: 'How many days ahead' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        hourly: { type: 'boolean' },
        stations: { type: 'array', items: { type: 'string' } },
      },
      required: ['city', 'unit'],
    },
  },
};

const RECIPE = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 3 },
    servings: { type: 'integer', minimum: 1, maximum: 8 },
    vegetarian: { type: 'boolean' },
    ingredients: {
      type: 'array',
      minItems: 2,
      items: {
        type: 'object',
        properties: { item: { type: 'string' }, grams: { type: 'number', minimum: 0 } },
        required: ['item', 'grams'],
      },
    },
    difficulty: { enum: ['easy', 'medium', 'hard'] },
  },
  required: ['name', 'servings', 'ingredients'],
  additionalProperties: false,
};

/** A 1x1 PNG. */
const PIXEL =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

const user = (content: string) => [{ role: 'user', content }];

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const parts: T[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function rejection(promise: Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { status_code: number; error: string };
    return { status: e.status_code, error: e.error };
  }
  throw new Error('expected the request to fail');
}

describe('tool calls', () => {
  it('a tools model answers the user with a call whose arguments fit the schema', async () => {
    const sim = await startTestSim({ version: '0.13.0' });
    const ollama = new Ollama({ host: sim.url });
    const answer = await ollama.chat({
      model: 'llama3.2:3b',
      messages: user('What is the weather in Paris?'),
      tools: [WEATHER],
    });
    expect(answer.message.content).toBe('');
    expect(answer.done_reason).toBe('stop');
    const [call, ...more] = answer.message.tool_calls ?? [];
    expect(more).toEqual([]);
    expect(call?.function.name).toBe('get_weather');
    expect(schemaErrors(WEATHER.function.parameters, call?.function.arguments)).toEqual([]);
    // Since v0.12.10 each call has an id, and its index sits inside `function`.
    expect(call).toMatchObject({ id: expect.stringMatching(/^call_[a-z0-9]{8}$/) });
    expect(call?.function).toMatchObject({ index: 0 });
  });

  it('streamed, the call arrives whole in one chunk before the final one', async () => {
    const sim = await startTestSim({ version: '0.13.0' });
    const ollama = new Ollama({ host: sim.url });
    const parts = await collect(
      await ollama.chat({
        model: 'qwen2.5:0.5b',
        messages: user('Weather in Oslo for three days?'),
        tools: [WEATHER],
        stream: true,
      }),
    );
    const withCalls = parts.filter((p) => (p.message.tool_calls ?? []).length > 0);
    expect(withCalls).toHaveLength(1);
    expect(withCalls[0]?.done).toBe(false);
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'stop' });
    expect(parts.at(-1)?.message.tool_calls).toBeUndefined();
    expect(parts.every((p) => p.message.content === '')).toBe(true);
    const call = withCalls[0]?.message.tool_calls?.[0];
    expect(schemaErrors(WEATHER.function.parameters, call?.function.arguments)).toEqual([]);
  });

  it('before v0.12.10 a call has no id, as Ollama wrote it then', async () => {
    const sim = await startTestSim();
    const body = await json(
      await sim.post('/api/chat', {
        model: 'llama3.1:8b',
        messages: user('weather?'),
        tools: [WEATHER],
        stream: false,
      }),
    );
    expect(Object.keys(body.message.tool_calls[0])).toEqual(['function']);
    expect(Object.keys(body.message.tool_calls[0].function)).toEqual([
      'index',
      'name',
      'arguments',
    ]);
  });

  it("after a tool's result the model answers in prose; history may hold calls and null content", async () => {
    const sim = await startTestSim({ version: '0.13.0' });
    const ollama = new Ollama({ host: sim.url });
    const first = await ollama.chat({
      model: 'mistral:7b',
      messages: user('Weather in Lima?'),
      tools: [WEATHER],
    });
    const messages = [
      { role: 'system', content: 'You are terse.' },
      ...user('Weather in Lima?'),
      first.message,
      { role: 'tool', tool_name: 'get_weather', content: '{"temperature": 19}' },
    ];
    const answer = await ollama.chat({ model: 'mistral:7b', messages, tools: [WEATHER] });
    expect(answer.message.tool_calls).toBeUndefined();
    expect(answer.message.content).toMatch(/^[A-Z][a-z]+( [a-z]+)+$/);
    const raw = await sim.post('/api/chat', {
      model: 'mistral:7b',
      messages: [
        ...user('hi'),
        { role: 'assistant', content: null, tool_calls: first.message.tool_calls },
        { role: 'Tool', content: 'done', tool_name: 'get_weather' },
      ],
      stream: false,
    });
    expect(raw.status).toBe(200);
  });
});

describe('structured outputs', () => {
  it('a schema in `format` gives JSON that parses and fits, on chat and generate', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const chat = await ollama.chat({
      model: 'qwen2.5:1.5b',
      messages: user('A recipe, please'),
      format: RECIPE,
    });
    expect(schemaErrors(RECIPE, JSON.parse(chat.message.content))).toEqual([]);
    const generated = await ollama.generate({
      model: 'llama3.2:1b',
      prompt: 'A recipe, please',
      format: RECIPE,
    });
    expect(schemaErrors(RECIPE, JSON.parse(generated.response ?? ''))).toEqual([]);
  });

  it('streamed, the JSON comes token by token and joins into a value that fits', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const parts = await collect(
      await ollama.generate({
        model: 'tinyllama:1.1b',
        prompt: 'recipe',
        format: RECIPE,
        stream: true,
      }),
    );
    const text = parts.map((p) => p.response).join('');
    expect(parts.length).toBeGreaterThan(10);
    expect(schemaErrors(RECIPE, JSON.parse(text))).toEqual([]);
    const plain = await ollama.chat({ model: 'phi3:mini', messages: user('json'), format: 'json' });
    expect(typeof JSON.parse(plain.message.content)).toBe('object');
  });

  it('a format that is neither "json" nor a schema fails as Ollama does, after the load', async () => {
    const sim = await startTestSim();
    const response = await sim.post('/api/generate', {
      model: 'qwen2.5:0.5b',
      prompt: 'x',
      format: 'yaml',
    });
    expect([response.status, await response.json()]).toEqual([
      500,
      { error: 'invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object' },
    ]);
  });
});

describe('thinking', () => {
  it('think:true relays the thinking before the answer, on chat and generate', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const parts = await collect(
      await ollama.chat({
        model: 'qwen3:0.6b',
        messages: user('Why is the sky blue?'),
        think: true,
        stream: true,
      }),
    );
    const kinds = parts
      .slice(0, -1)
      .map((p) => (p.message.thinking ? 'thinking' : p.message.content ? 'content' : 'empty'));
    const firstContent = kinds.indexOf('content');
    expect(kinds[0]).toBe('thinking');
    expect(firstContent).toBeGreaterThan(0);
    expect(kinds.slice(firstContent).every((k) => k === 'content')).toBe(true);
    expect(kinds.slice(0, firstContent).every((k) => k === 'thinking')).toBe(true);
    const whole = await ollama.chat({
      model: 'qwen3:0.6b',
      messages: user('Why is the sky blue?'),
      think: true,
    });
    expect(whole.message.thinking).toBe(parts.map((p) => p.message.thinking ?? '').join(''));
    expect(whole.message.content).toBe(parts.map((p) => p.message.content).join(''));
    const generated = await ollama.generate({
      model: 'deepseek-r1:1.5b',
      prompt: 'hi',
      think: true,
    });
    expect(generated.thinking?.length).toBeGreaterThan(0);
    expect(generated.response?.length).toBeGreaterThan(0);
  });

  it('v0.12.3 (the default): unasked, a thinking model thinks inside the text between think tags', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const answer = await ollama.chat({ model: 'qwen3:4b', messages: user('hello') });
    expect(answer.message.thinking).toBeUndefined();
    expect(answer.message.content).toMatch(/^<think>\n.+\n<\/think>\n\n\S/s);
    const off = await ollama.chat({ model: 'qwen3:4b', messages: user('hello'), think: false });
    expect(off.message.content).not.toContain('<think>');
  });

  it('from v0.12.4 a thinking model thinks unless told not to', async () => {
    const sim = await startTestSim({ version: '0.12.6' });
    const ollama = new Ollama({ host: sim.url });
    const answer = await ollama.chat({ model: 'qwen3:4b', messages: user('hello') });
    expect(answer.message.thinking?.length).toBeGreaterThan(0);
    expect(answer.message.content).not.toContain('<think>');
  });

  it('levels: gpt-oss thinks longer the higher the level; others take levels from v0.17.7', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const length = async (think: 'low' | 'medium' | 'high') =>
      (await ollama.chat({ model: 'gpt-oss:20b', messages: user('plan a trip'), think })).message
        .thinking?.length ?? 0;
    const [low, medium, high] = [await length('low'), await length('medium'), await length('high')];
    expect(low).toBeLessThan(medium);
    expect(medium).toBeLessThan(high);
    expect(
      await rejection(ollama.chat({ model: 'qwen3:8b', messages: user('x'), think: 'low' })),
    ).toEqual({ status: 400, error: 'think value "low" is not supported for this model' });
    const newer = await startTestSim({ version: '0.17.7' });
    const leveled = await new Ollama({ host: newer.url }).chat({
      model: 'qwen3:8b',
      messages: user('x'),
      think: 'low',
    });
    expect(leveled.message.thinking?.length).toBeGreaterThan(0);
  });
});

describe("capabilities a model lacks: Ollama's 400s, word for word", () => {
  it('tools, insert, thinking, chat and generate', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    expect(
      await rejection(ollama.chat({ model: 'gemma:2b', messages: user('x'), tools: [WEATHER] })),
    ).toEqual({ status: 400, error: 'registry.ollama.ai/library/gemma:2b does not support tools' });
    expect(
      await rejection(
        ollama.generate({ model: 'llama3.2:3b', prompt: 'def f(', suffix: 'return' }),
      ),
    ).toEqual({
      status: 400,
      error: 'registry.ollama.ai/library/llama3.2:3b does not support insert',
    });
    expect(
      await rejection(ollama.chat({ model: 'tinyllama:1.1b', messages: user('x'), think: true })),
    ).toEqual({
      status: 400,
      error: 'registry.ollama.ai/library/tinyllama:1.1b does not support thinking',
    });
    expect(
      await rejection(ollama.chat({ model: 'nomic-embed-text', messages: user('x') })),
    ).toEqual({ status: 400, error: '"nomic-embed-text" does not support chat' });
    expect(await rejection(ollama.generate({ model: 'all-minilm', prompt: 'x' }))).toEqual({
      status: 400,
      error: '"all-minilm" does not support generate',
    });
    const coder = await ollama.generate({
      model: 'qwen2.5-coder:1.5b',
      prompt: 'def f(',
      suffix: 'x',
    });
    expect(coder.done).toBe(true);
  });

  it('from v0.12.5, think on a model without thinking is refused by its name as sent; false passes', async () => {
    const sim = await startTestSim({ version: '0.33.0' });
    const ollama = new Ollama({ host: sim.url });
    expect(
      await rejection(ollama.chat({ model: 'llama3.2:3b', messages: user('x'), think: true })),
    ).toEqual({ status: 400, error: '"llama3.2:3b" does not support thinking' });
    const off = await ollama.chat({ model: 'llama3.2:3b', messages: user('x'), think: false });
    expect(off.message.content.length).toBeGreaterThan(0);
    expect(
      await rejection(
        ollama.chat({ model: 'qwen3:8b', messages: user('x'), think: 'extreme' as 'low' }),
      ),
    ).toEqual({
      status: 400,
      error:
        'invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false)',
    });
  });
});

describe('images', () => {
  it('a vision model sees them; a model without vision answers as if there were none', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const ask = (model: string, images?: string[]) =>
      ollama.chat({ model, messages: [{ role: 'user', content: 'What is this?', images }] });
    const plain = await ask('gemma3:4b');
    const seen = await ask('gemma3:4b', [PIXEL]);
    expect(seen.prompt_eval_count).toBe(plain.prompt_eval_count + 256);
    expect(seen.message.content).not.toBe(plain.message.content);
    const llava = await ask('llava:7b', [PIXEL, PIXEL]);
    expect(llava.prompt_eval_count).toBe((await ask('llava:7b')).prompt_eval_count + 2 * 576);
    const blind = await ask('llama3.2:3b', [PIXEL]);
    expect(blind.message.content).toBe((await ask('llama3.2:3b')).message.content);
    expect(blind.prompt_eval_count).toBe((await ask('llama3.2:3b')).prompt_eval_count);
    const broken = await sim.post('/api/chat', {
      model: 'gemma3:4b',
      messages: [{ role: 'user', content: 'x', images: ['not base64!'] }],
    });
    expect([broken.status, await broken.json()]).toEqual([
      400,
      { error: 'illegal base64 data at input byte 3' },
    ]);
  });
});

describe('models and what they can do', () => {
  it('/api/show gives each model its capabilities; /api/tags adds them from v0.30.0', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const caps = async (model: string) => (await ollama.show({ model })).capabilities;
    expect(await caps('qwen3:8b')).toEqual(['completion', 'tools', 'thinking']);
    expect(await caps('deepseek-r1:7b')).toEqual(['completion', 'thinking']);
    expect(await caps('llava:7b')).toEqual(['completion', 'vision']);
    expect(await caps('qwen2.5-coder:1.5b')).toEqual(['completion', 'tools', 'insert']);
    expect((await ollama.show({ model: 'llava:7b' })).details.families).toEqual(['llama', 'clip']);
    const oldTags = await json(await fetch(`${sim.url}/api/tags`));
    expect(oldTags.models[0].capabilities).toBeUndefined();
    const newer = await startTestSim({ version: '0.30.0' });
    const tags = await json(await fetch(`${newer.url}/api/tags`));
    const qwen3 = tags.models.find((m: { name: string }) => m.name === 'qwen3:0.6b');
    expect(qwen3.capabilities).toEqual(['completion', 'tools', 'thinking']);
    expect(qwen3.details).toMatchObject({ context_length: 40960, embedding_length: 1024 });
  });

  it('installs by default a tools model, a thinking model, a vision model and an embedding model', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const names = (await ollama.list()).models.map((m) => m.name);
    const capabilities = await Promise.all(
      names.map(async (model) => (await ollama.show({ model })).capabilities),
    );
    for (const wanted of ['tools', 'thinking', 'vision', 'embedding', 'insert']) {
      expect(capabilities.some((c) => c.includes(wanted))).toBe(true);
    }
  });
});

describe('timestamps and determinism', () => {
  const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
  const nanos = (stamp: string) => {
    const [whole = '', fraction = ''] = stamp.slice(0, -1).split('.');
    return BigInt(Date.parse(`${whole}Z`)) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
  };

  it('created_at is RFC 3339 with nanoseconds, and never goes back within a stream', async () => {
    const sim = await startTestSim();
    const response = await sim.post('/api/chat', {
      model: 'qwen3:0.6b',
      messages: user('count'),
      think: true,
    });
    const stamps = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).created_at as string);
    expect(stamps.every((s) => STAMP.test(s))).toBe(true);
    expect(stamps.some((s) => /\.\d{7,9}Z$/.test(s))).toBe(true);
    for (let i = 1; i < stamps.length; i++) {
      expect(nanos(stamps[i] as string) >= nanos(stamps[i - 1] as string)).toBe(true);
    }
    const whole = await json(
      await sim.post('/api/generate', { model: 'qwen2.5:0.5b', prompt: 'x', stream: false }),
    );
    expect(whole.created_at).toMatch(STAMP);
  });

  it('the same request gets the same answer; another options.seed another answer', async () => {
    const sim = await startTestSim();
    const ollama = new Ollama({ host: sim.url });
    const ask = (seed?: number) =>
      ollama.chat({
        model: 'qwen3:0.6b',
        messages: user('Tell me a story'),
        think: true,
        tools: [WEATHER],
        ...(seed === undefined ? {} : { options: { seed } }),
      });
    const [a, b] = [await ask(), await ask()];
    expect(a.message).toEqual(b.message);
    expect(a.eval_count).toBe(b.eval_count);
    const seeded = await Promise.all([1, 2, 3].map((seed) => ask(seed)));
    const distinct = new Set(seeded.map((r) => JSON.stringify(r.message)));
    expect(distinct.size).toBeGreaterThan(1);
    expect(JSON.stringify((await ask(2)).message)).toBe(JSON.stringify(seeded[1]?.message));
  });
});
