/**
 * OpenAI's API on the supervisor, driven by the official `openai` npm client with only its
 * base URL changed, against `fleet sim`.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';

describe('the OpenAI-compatible routes', () => {
  it('chat and text completions, streamed and not, embeddings and the model list', async () => {
    const sim = await startTestSim({ vramMib: 24_576 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const client = new OpenAI({ baseURL: `${fleet.url}/v1`, apiKey: 'unused', maxRetries: 0 });

    const chat = await client.chat.completions.create({
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(chat.object).toBe('chat.completion');
    expect(chat.model).toBe('qwen2.5:0.5b');
    const text = chat.choices[0]?.message.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    expect(chat.choices[0]?.finish_reason).toBe('stop');
    expect(chat.usage?.completion_tokens).toBeGreaterThan(0);

    let streamed = '';
    let finish: string | null | undefined;
    const stream = await client.chat.completions.create({
      model: 'qwen2.5:0.5b',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    });
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(streamed).toBe(text);
    expect(finish).toBe('stop');

    const completion = await client.completions.create({
      model: 'qwen2.5:0.5b',
      prompt: 'Once upon a time',
      max_tokens: 5,
    });
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(5);
    let completionStreamed = '';
    for await (const chunk of await client.completions.create({
      model: 'qwen2.5:0.5b',
      prompt: 'Once upon a time',
      max_tokens: 5,
      stream: true,
    }))
      completionStreamed += chunk.choices[0]?.text ?? '';
    expect(completionStreamed).toBe(completion.choices[0]?.text);

    // The client asks for base64 by default and decodes it.
    const embeddings = await client.embeddings.create({
      model: 'nomic-embed-text',
      input: ['one', 'two'],
    });
    expect(embeddings.data).toHaveLength(2);
    const direct = (await (
      await fetch(`${sim.url}/api/embed`, {
        method: 'POST',
        body: JSON.stringify({ model: 'nomic-embed-text', input: 'one' }),
      })
    ).json()) as { embeddings: number[][] };
    expect(embeddings.data[0]?.embedding[0]).toBeCloseTo(direct.embeddings[0]?.[0] as number, 5);

    const models = (await client.models.list()).data.map((m) => m.id);
    expect(models).toEqual(expect.arrayContaining(['qwen2.5:0.5b', 'fleet', 'fleet:main']));
  });

  it("follows the ladder through an alias, and refuses in OpenAI's shape", async () => {
    const sim = await startTestSim({ vramMib: 24_576 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const client = new OpenAI({ baseURL: `${fleet.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const ask = () =>
      client.chat.completions.create({
        model: 'fleet',
        messages: [{ role: 'user', content: 'hi' }],
      });
    expect((await ask()).model).toBe('llama3.2:3b');
    await fleet.call('/api/fleet/main/downgrade', { body: {} });
    expect((await ask()).model).toBe('phi3:mini');

    const error = await client.chat.completions
      .create({ model: 'no-such-model:1b', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    // As Ollama's OpenAI layer answers it: its words, type not_found_error, no code.
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).message).toContain(
      "model 'no-such-model:1b' not found",
    );
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).type).toBe('not_found_error');
  });
});
