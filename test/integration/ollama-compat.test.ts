/**
 * Ollama's API on the supervisor, driven by the official `ollama` npm client with only its
 * host changed, against `fleet sim`: every answer must look like Ollama's, while the work
 * goes through the queue.
 */
import { Ollama } from 'ollama';
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';

describe('the Ollama-compatible routes', () => {
  it('generate, chat and embed, streamed and not, answer as Ollama does and run as jobs', async () => {
    const sim = await startTestSim({ vramMib: 24_576 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const client = new Ollama({ host: fleet.url });
    const direct = new Ollama({ host: sim.url });

    const viaFleet = await client.generate({
      model: 'qwen2.5:0.5b',
      prompt: 'Why is the sky blue?',
    });
    const straight = await direct.generate({
      model: 'qwen2.5:0.5b',
      prompt: 'Why is the sky blue?',
    });
    expect(viaFleet.response).toBe(straight.response);
    expect(viaFleet.model).toBe('qwen2.5:0.5b');
    expect(viaFleet.done).toBe(true);
    expect(Object.keys(viaFleet)).toEqual(Object.keys(straight));

    let streamed = '';
    let last: Record<string, unknown> = {};
    for await (const part of await client.generate({
      model: 'qwen2.5:0.5b',
      prompt: 'Why is the sky blue?',
      stream: true,
    })) {
      streamed += part.response;
      last = part as unknown as Record<string, unknown>;
    }
    expect(streamed).toBe(straight.response);
    expect(last).toMatchObject({ done: true, done_reason: 'stop', model: 'qwen2.5:0.5b' });

    const chat = await client.chat({
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(chat.message.role).toBe('assistant');
    expect(chat.message.content.length).toBeGreaterThan(0);
    let chatStreamed = '';
    for await (const part of await client.chat({
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    }))
      chatStreamed += part.message.content;
    expect(chatStreamed).toBe(chat.message.content);

    const embed = await client.embed({ model: 'nomic-embed-text', input: ['one', 'two'] });
    expect(embed.embeddings).toHaveLength(2);
    expect(embed.model).toBe('nomic-embed-text');
    // The legacy route runs as itself on Ollama (float64 vectors), not as /api/embed.
    const legacy = await client.embeddings({ model: 'nomic-embed-text', prompt: 'one' });
    expect(legacy.embedding).toEqual(
      (await direct.embeddings({ model: 'nomic-embed-text', prompt: 'one' })).embedding,
    );

    // Each of those was a job in the queue.
    const jobs = await json(await fleet.call('/api/jobs?limit=50'));
    expect(jobs.jobs.filter((j: { status: string }) => j.status === 'complete')).toHaveLength(6);

    expect((await client.list()).models.map((m) => m.name)).toEqual(
      expect.arrayContaining(['qwen2.5:0.5b', 'fleet', 'fleet:main']),
    );
    expect((await client.ps()).models.map((m) => m.name)).toContain('qwen2.5:0.5b');
    expect((await client.show({ model: 'qwen2.5:0.5b' })).details.family).toBe('qwen2');
    expect((await client.version()).version).toBe((await direct.version()).version);
    expect(await (await fetch(`${fleet.url}/`)).text()).toBe('Ollama is running');
    // Ollama reads the body as JSON whatever the content type says (curl -d, bare fetch).
    const bare = await fetch(`${fleet.url}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'qwen2.5:0.5b',
        prompt: 'Why is the sky blue?',
        stream: false,
      }),
    });
    expect((await json(bare)).response).toBe(straight.response);
  });

  it('resolves a ladder alias to the current rung, and follows the ladder when it moves', async () => {
    const sim = await startTestSim({ vramMib: 24_576 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const client = new Ollama({ host: fleet.url });
    const first = await client.generate({ model: 'fleet', prompt: 'which model are you?' });
    expect(first.model).toBe('llama3.2:3b');
    expect((await fleet.call('/api/fleet/main/downgrade', { body: {} })).status).toBe(200);
    const second = await client.chat({
      model: 'fleet:main',
      messages: [{ role: 'user', content: 'and now?' }],
    });
    expect(second.model).toBe('phi3:mini');
  });

  it("refuses in Ollama's words: an unknown model, a bad priority; passes model management through on loopback", async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const unknown = await fleet.call('/api/generate', {
      body: { model: 'no-such-model:1b', prompt: 'x' },
    });
    expect(unknown.status).toBe(404);
    expect(typeof (await json(unknown)).error).toBe('string');
    const badPriority = await fetch(`${fleet.url}/api/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fleet-priority': 'urgent' },
      body: JSON.stringify({ model: 'qwen2.5:0.5b', prompt: 'x' }),
    });
    expect(badPriority.status).toBe(400);
    expect((await json(badPriority)).error).toContain('X-Fleet-Priority');
    // On loopback with no token, Ollama's model routes pass through, as Ollama allows them.
    const pull = await fleet.call('/api/pull', { body: { model: 'gemma:2b', stream: false } });
    expect(pull.status).toBe(200);
    expect(await json(pull)).toEqual({ status: 'success' });
    // A load request is a job like any other: the scheduler makes room, then Ollama loads it
    // and answers for itself.
    const load = await json(await fleet.call('/api/generate', { body: { model: 'gemma:2b' } }));
    expect(load).toMatchObject({ model: 'gemma:2b', done: true, done_reason: 'load' });
    expect(load.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    const [job] = (await json(await fleet.call('/api/jobs'))).jobs;
    expect(job).toMatchObject({ model: 'gemma:2b', status: 'complete' });
    expect(
      ((await json(await fetch(`${sim.url}/api/ps`))).models as { name: string }[]).map(
        (m) => m.name,
      ),
    ).toContain('gemma:2b');
  });

  it('a caller leaving mid-stream cancels its job; 200 streaming callers at once are all served', async () => {
    const sim = await startTestSim({ vramMib: 24_576, timeScale: 0.2 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const controller = new AbortController();
    const response = await fetch(`${fleet.url}/api/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama3.2:3b', prompt: 'a long story, please' }),
      signal: controller.signal,
    });
    const id = response.headers.get('x-fleet-job') as string;
    expect(id).toBeTruthy();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the first token has arrived: the job is running
    controller.abort();
    await expect
      .poll(async () => (await json(await fleet.call(`/api/job/${id}`))).status, {
        timeout: 20_000,
      })
      .toBe('cancelled');

    const client = new Ollama({ host: fleet.url });
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        let text = '';
        for await (const part of await client.generate({
          model: 'qwen2.5:0.5b',
          prompt: `caller ${i}`,
          stream: true,
        }))
          text += part.response;
        return text;
      }),
    );
    expect(answers.filter((t) => t.length > 0)).toHaveLength(200);
    const stats = await json(await fleet.call('/api/stats'));
    expect(stats.queue.by_status).toMatchObject({ running: 0, pending: 0, failed: 0 });
  }, 120_000);
});
