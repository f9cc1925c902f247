/**
 * The simulator's answers against the responses recorded in shared/contracts (copied to
 * test/fixtures/ollama): the same keys, in the same order, with the same JSON types.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ollama } from 'ollama';
import { describe, expect, it } from 'vitest';
import { json, ROOT } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/ollama', `${name}.json`), 'utf8'));

/** Keys in order, with the JSON type of each value (recursively; a list by its first item). */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? ['empty'] : [shape(value[0])];
  if (value === null) return 'null';
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, shape(v)]));
  }
  return typeof value;
}

/** The fixture's shape, with the fields real servers add that an old docs example lacks. */
function expected(name: string, additions: Record<string, unknown> = {}, order?: string[]) {
  const base = {
    ...(shape(fixture(name)) as Record<string, unknown>),
    ...(shape(additions) as Record<string, unknown>),
  };
  if (!order) return base;
  return Object.fromEntries(order.map((k) => [k, base[k]]));
}

/** Field order of real final chunks: done_reason after done for generate, before it for chat. */
const METRICS = [
  'total_duration',
  'load_duration',
  'prompt_eval_count',
  'prompt_eval_duration',
  'eval_count',
  'eval_duration',
];
const GENERATE_FINAL = [
  'model',
  'created_at',
  'response',
  'done',
  'done_reason',
  'context',
  ...METRICS,
];
const CHAT_FINAL = ['model', 'created_at', 'message', 'done_reason', 'done', ...METRICS];

/** Same keys in the same order, same types: compared as text so that order counts. */
function expectShape(actual: unknown, wanted: unknown): void {
  expect(JSON.stringify(shape(actual), null, 1)).toBe(JSON.stringify(wanted, null, 1));
}

const ndjsonLines = async (response: Response) =>
  (await response.text())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('simulator responses match the contract field by field', () => {
  it('GET /api/version', async () => {
    const sim = await startTestSim();
    expectShape(await json(await fetch(`${sim.url}/api/version`)), shape(fixture('version-01')));
  });

  it('GET /api/tags', async () => {
    const sim = await startTestSim();
    const body = await json(await fetch(`${sim.url}/api/tags`));
    expectShape(body, shape(fixture('tags-01')));
    expect(body.models.map((m: { name: string }) => m.name)).toContain('all-minilm:latest');
  });

  it('POST /api/generate, stream false (context and done_reason as real servers send)', async () => {
    const sim = await startTestSim();
    const response = await sim.post('/api/generate', {
      model: 'qwen2.5:0.5b',
      prompt: 'Why is the sky blue?',
      stream: false,
    });
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expectShape(await json(response), expected('generate-02', {}, GENERATE_FINAL));
  });

  it('POST /api/generate, streamed: first chunk and final chunk', async () => {
    const sim = await startTestSim();
    const response = await sim.post('/api/generate', {
      model: 'qwen2.5:0.5b',
      prompt: 'Why is the sky blue?',
    });
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = await ndjsonLines(response);
    expectShape(lines[0], shape(fixture('generate-stream-first-01')));
    expectShape(
      lines.at(-1),
      expected('generate-stream-final-01', { done_reason: 'stop' }, GENERATE_FINAL),
    );
    expect(lines.slice(0, -1).every((l) => l.done === false)).toBe(true);
    expect(lines.slice(0, -1).length).toBe(lines.at(-1)?.eval_count);
  });

  it('load-only and unload generate calls', async () => {
    const sim = await startTestSim();
    const load = await json(await sim.post('/api/generate', { model: 'qwen2.5:0.5b' }));
    expectShape(load, expected('generate-load-02', { done_reason: 'load' }));
    expect(load.done_reason).toBe('load');
    const unload = await json(
      await sim.post('/api/generate', { model: 'qwen2.5:0.5b', keep_alive: 0 }),
    );
    expectShape(unload, shape(fixture('generate-unload-01')));
    expect(unload.done_reason).toBe('unload');
  });

  it('POST /api/chat, stream false, streamed, load and unload', async () => {
    const sim = await startTestSim();
    const messages = [{ role: 'user', content: 'why is the sky blue?' }];
    const whole = await json(
      await sim.post('/api/chat', { model: 'qwen2.5:0.5b', messages, stream: false }),
    );
    expectShape(whole, expected('chat-01', { done_reason: 'stop' }, CHAT_FINAL));
    const lines = await ndjsonLines(
      await sim.post('/api/chat', { model: 'qwen2.5:0.5b', messages }),
    );
    // Real servers leave out empty images (omitempty); the docs example shows them as null.
    const { images: _images, ...message } = fixture('chat-stream-first-01').message as Record<
      string,
      unknown
    >;
    expectShape(lines[0], shape({ ...fixture('chat-stream-first-01'), message }));
    expectShape(lines.at(-1), shape(fixture('chat-stream-final-03')));
    expectShape(
      await json(await sim.post('/api/chat', { model: 'qwen2.5:0.5b', messages: [] })),
      shape(fixture('chat-load-01')),
    );
    expectShape(
      await json(
        await sim.post('/api/chat', { model: 'qwen2.5:0.5b', messages: [], keep_alive: 0 }),
      ),
      shape(fixture('chat-unload-01')),
    );
  });

  it('POST /api/embed and the legacy /api/embeddings', async () => {
    const sim = await startTestSim();
    const one = await json(
      await sim.post('/api/embed', { model: 'all-minilm', input: 'why is the sky blue?' }),
    );
    expectShape(one, shape(fixture('embed-01')));
    expect(one.embeddings[0]).toHaveLength(384);
    const two = await json(
      await sim.post('/api/embed', { model: 'all-minilm', input: ['a', 'b'] }),
    );
    expect(two.embeddings).toHaveLength(2);
    expect(two.embeddings[0]).not.toEqual(two.embeddings[1]);
    const again = await json(await sim.post('/api/embed', { model: 'all-minilm', input: ['a'] }));
    expect(again.embeddings[0]).toEqual(two.embeddings[0]);
    const legacy = await json(
      await sim.post('/api/embeddings', { model: 'nomic-embed-text', prompt: 'x' }),
    );
    expectShape(legacy, shape(fixture('embeddings-01')));
    expect(legacy.embedding).toHaveLength(768);
    expect(await json(await sim.post('/api/embed', { model: 'all-minilm' }))).toEqual({
      model: 'all-minilm',
      embeddings: [],
    });
    expect(
      await json(await sim.post('/api/embeddings', { model: 'all-minilm', prompt: '' })),
    ).toEqual({ embedding: [] });
  });

  it('GET /api/ps lists loaded models with size_vram, expires_at and context_length', async () => {
    const sim = await startTestSim();
    await sim.post('/api/generate', { model: 'qwen2.5:0.5b' });
    const body = await json(await fetch(`${sim.url}/api/ps`));
    const order = [
      'name',
      'model',
      'size',
      'digest',
      'details',
      'expires_at',
      'size_vram',
      'context_length',
    ];
    const docs = shape(fixture('ps-03')) as { models: [Record<string, unknown>] };
    const item = Object.fromEntries(
      order.map((k) => [k, k === 'name' ? 'string' : docs.models[0][k]]),
    );
    expectShape(body, { models: [item] });
    expect(body.models[0].size_vram).toBe(body.models[0].size);
  });

  it('POST /api/show answers with details, model_info and capabilities', async () => {
    const sim = await startTestSim();
    const body = await json(await sim.post('/api/show', { model: 'llama3.2:3b' }));
    expectShape(body.details, shape(fixture('show-02').details));
    expect(body.model_info['general.architecture']).toBe('llama');
    expect(body.model_info['llama.context_length']).toBe(131072);
    expect(body.capabilities).toEqual(['completion', 'tools']);
    expect(typeof body.modified_at).toBe('string');
  });

  it('errors have Ollama statuses and bodies', async () => {
    const sim = await startTestSim();
    const cases: [string, unknown, number, string][] = [
      [
        '/api/generate',
        { model: 'no-such:model', prompt: 'x' },
        404,
        "model 'no-such:model' not found",
      ],
      [
        '/api/chat',
        { model: 'no-such:model', messages: [] },
        404,
        "model 'no-such:model' not found",
      ],
      ['/api/show', { model: 'no-such:model' }, 404, "model 'no-such:model' not found"],
      [
        '/api/embed',
        { model: 'no-such:model', input: 'x' },
        404,
        'model "no-such:model" not found, try pulling it first',
      ],
      [
        '/api/embeddings',
        { model: 'nope', prompt: 'x' },
        404,
        'model "nope" not found, try pulling it first',
      ],
      [
        '/api/generate',
        { model: 'all-minilm', prompt: 'x' },
        400,
        '"all-minilm" does not support generate',
      ],
      ['/api/generate', { prompt: 'x' }, 400, 'model is required'],
      ['/api/show', {}, 400, 'model is required'],
      ['/api/generate', { model: 'bad name!', prompt: 'x' }, 400, 'invalid model name'],
      [
        '/api/generate',
        { model: 'qwen2.5:0.5b', prompt: 'x', keep_alive: '300' },
        400,
        'time: missing unit in duration "300"',
      ],
      ['/api/embed', { model: 'all-minilm', input: 5 }, 400, 'invalid input type'],
      ['/api/generate', '', 400, 'missing request body'],
    ];
    for (const [route, body, status, error] of cases) {
      const response = await sim.post(route, body);
      expect({ route, status: response.status, body: await response.json() }).toEqual({
        route,
        status,
        body: { error },
      });
    }
    const deleted = await fetch(`${sim.url}/api/delete`, {
      method: 'DELETE',
      body: JSON.stringify({ model: 'nope' }),
    });
    expect(deleted.status).toBe(404);
    const wrongMethod = await fetch(`${sim.url}/api/generate`);
    expect(wrongMethod.status).toBe(405);
    const unknown = await fetch(`${sim.url}/api/nothing`);
    expect([unknown.status, await unknown.text()]).toEqual([404, '404 page not found']);
  });

  it('pull streams progress and installs; an unknown name fails as Ollama does; delete removes', async () => {
    const sim = await startTestSim({ installed: ['qwen2.5:0.5b'] });
    const lines = await ndjsonLines(await sim.post('/api/pull', { model: 'tinyllama:1.1b' }));
    expect(lines[0]).toEqual({ status: 'pulling manifest' });
    expect(
      lines.some((l) => String(l.status).startsWith('pulling ') && typeof l.completed === 'number'),
    ).toBe(true);
    expect(lines.slice(-3).map((l) => l.status)).toEqual([
      'verifying sha256 digest',
      'writing manifest',
      'success',
    ]);
    const names = (await json(await fetch(`${sim.url}/api/tags`))).models.map(
      (m: { name: string }) => m.name,
    );
    expect(names).toContain('tinyllama:1.1b');
    const unknown = await ndjsonLines(await sim.post('/api/pull', { model: 'no-such:model' }));
    expect(unknown).toEqual([
      { status: 'pulling manifest' },
      { error: 'pull model manifest: file does not exist' },
    ]);
    const quiet = await sim.post('/api/pull', { model: 'no-such:model', stream: false });
    expect([quiet.status, await quiet.json()]).toEqual([
      500,
      { error: 'pull model manifest: file does not exist' },
    ]);
    const deleted = await fetch(`${sim.url}/api/delete`, {
      method: 'DELETE',
      body: JSON.stringify({ model: 'tinyllama:1.1b' }),
    });
    expect([deleted.status, await deleted.text()]).toEqual([200, '']);
  });

  it('the official ollama client lists, pulls, generates, chats, embeds and reads ps', async () => {
    const sim = await startTestSim({ installed: ['qwen2.5:0.5b', 'all-minilm'] });
    const ollama = new Ollama({ host: sim.url });
    expect((await ollama.list()).models.map((m) => m.name).sort()).toEqual([
      'all-minilm:latest',
      'qwen2.5:0.5b',
    ]);
    const pulled = await ollama.pull({ model: 'tinyllama:1.1b' });
    expect(pulled.status).toBe('success');
    const generated = await ollama.generate({ model: 'tinyllama:1.1b', prompt: 'hi' });
    expect(generated.done).toBe(true);
    expect(generated.eval_count).toBeGreaterThan(0);
    let chunks = 0;
    let text = '';
    for await (const part of await ollama.chat({
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })) {
      chunks++;
      text += part.message.content;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text.length).toBeGreaterThan(0);
    const embedded = await ollama.embed({ model: 'all-minilm', input: ['a', 'b'] });
    expect(embedded.embeddings.map((e) => e.length)).toEqual([384, 384]);
    const ps = await ollama.ps();
    expect(ps.models.map((m) => m.name).sort()).toEqual([
      'all-minilm:latest',
      'qwen2.5:0.5b',
      'tinyllama:1.1b',
    ]);
    await expect(ollama.generate({ model: 'no-such:model', prompt: 'x' })).rejects.toMatchObject({
      status_code: 404,
      error: "model 'no-such:model' not found",
    });
  });
});
