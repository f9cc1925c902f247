/**
 * The relay hands Ollama's answer on frame by frame, byte for byte, however the network cut
 * it, and sums it up for the job.
 */
import { describe, expect, it } from 'vitest';
import { relayAnswer } from '../../src/engine/relay.js';
import { OllamaCallError } from '../../src/ollama/client.js';

/** The text cut into pieces of `size` bytes, as a socket might deliver it. */
async function* pieces(text: string, size: number): AsyncIterable<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const live = new AbortController().signal;

function sink() {
  const chunks: string[] = [];
  const tokens: string[] = [];
  return {
    chunks,
    tokens,
    sink: { chunk: (d: string) => chunks.push(d), token: (t: string) => tokens.push(t) },
  };
}

const chatLines = [
  {
    model: 'm',
    created_at: 't1',
    message: { role: 'assistant', content: '', thinking: 'hmm' },
    done: false,
  },
  { model: 'm', created_at: 't2', message: { role: 'assistant', content: 'Hé ' }, done: false },
  {
    model: 'm',
    created_at: 't3',
    message: {
      role: 'assistant',
      content: '',
      tool_calls: [{ function: { name: 'f', arguments: { x: 1 } } }],
    },
    done: false,
  },
  { model: 'm', created_at: 't4', message: { role: 'assistant', content: 'là' }, done: false },
  {
    model: 'm',
    created_at: 't5',
    message: { role: 'assistant', content: '' },
    done_reason: 'stop',
    done: true,
    eval_count: 3,
  },
];
const ndjson = chatLines.map((l) => `${JSON.stringify(l)}\n`).join('');

describe('relaying an answer', () => {
  it('hands on each NDJSON line as it came, whatever the cut (multi-byte text too)', async () => {
    for (const size of [1, 2, 7, 64, 10_000]) {
      const out = sink();
      const result = await relayAnswer(
        { contentType: 'application/x-ndjson', body: pieces(ndjson, size) },
        '/api/chat',
        live,
        out.sink,
      );
      expect(out.chunks.join('')).toBe(ndjson);
      expect(out.chunks).toHaveLength(chatLines.length);
      expect(out.tokens.join('')).toBe('Hé là');
      expect(result).toEqual({
        model: 'm',
        created_at: 't5',
        message: {
          role: 'assistant',
          content: 'Hé là',
          thinking: 'hmm',
          tool_calls: [{ function: { name: 'f', arguments: { x: 1 } } }],
        },
        done_reason: 'stop',
        done: true,
        eval_count: 3,
      });
    }
  });

  it('sums up a generate stream: the text and the thinking joined, the final fields kept', async () => {
    const lines = [
      { response: '', thinking: 'a', done: false },
      { response: 'x', done: false },
      { response: 'y', done: false },
      { response: '', done: true, context: [1, 2], total_duration: 9 },
    ];
    const result = await relayAnswer(
      {
        contentType: 'application/x-ndjson',
        body: pieces(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), 5),
      },
      '/api/generate',
      live,
      sink().sink,
    );
    expect(result).toEqual({
      response: 'xy',
      thinking: 'a',
      done: true,
      context: [1, 2],
      total_duration: 9,
    });
  });

  it('hands on server-sent events whole, [DONE] included, and keeps the last event', async () => {
    const events = [
      {
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { role: 'assistant', content: 'he' } }],
      },
      { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'y' } }] },
      { object: 'chat.completion.chunk', choices: [], usage: { total_tokens: 5 } },
    ];
    const text = `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`;
    const out = sink();
    const result = await relayAnswer(
      { contentType: 'text/event-stream', body: pieces(text, 3) },
      '/v1/chat/completions',
      live,
      out.sink,
    );
    expect(out.chunks.join('')).toBe(text);
    expect(out.chunks).toHaveLength(4);
    expect(out.tokens).toEqual(['he', 'y']);
    expect(result).toEqual({ text: 'hey', last: events[2] });
  });

  it('takes the Responses API text deltas as tokens', async () => {
    const text =
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"ok"}\n\n' +
      'event: response.completed\ndata: {"type":"response.completed","response":{}}\n\n';
    const out = sink();
    await relayAnswer(
      { contentType: 'text/event-stream', body: pieces(text, 11) },
      '/v1/responses',
      live,
      out.sink,
    );
    expect(out.chunks.join('')).toBe(text);
    expect(out.tokens).toEqual(['ok']);
  });

  it('ends with an OllamaCallError at an error line, without handing the line on', async () => {
    const text = `${JSON.stringify({ response: 'a', done: false })}\n${JSON.stringify({ error: 'CUDA error: out of memory' })}\n`;
    const out = sink();
    const failed = relayAnswer(
      { contentType: 'application/x-ndjson', body: pieces(text, 4) },
      '/api/generate',
      live,
      out.sink,
    );
    await expect(failed).rejects.toBeInstanceOf(OllamaCallError);
    await expect(failed).rejects.toMatchObject({ ollamaError: 'CUDA error: out of memory' });
    expect(out.chunks).toHaveLength(1);
  });

  it('hands on a whole body as its bytes, and keeps it parsed', async () => {
    const body = '{"model":"m","embeddings":[[0.5,-1.25e-7]],"total_duration":12}';
    const out = sink();
    const result = await relayAnswer(
      { contentType: 'application/json; charset=utf-8', body: pieces(body, 9) },
      '/api/embed',
      live,
      out.sink,
    );
    expect(out.chunks).toEqual([body]);
    expect(result).toEqual(JSON.parse(body));
  });

  it('fails a stream that ends without its last frame, as a cut-off answer', async () => {
    const cut = ndjson.split('\n').slice(0, 3).join('\n');
    await expect(
      relayAnswer(
        { contentType: 'application/x-ndjson', body: pieces(cut, 8) },
        '/api/chat',
        live,
        sink().sink,
      ),
    ).rejects.toMatchObject({
      httpStatus: 500,
      ollamaError: 'the answer ended before its last chunk',
    });
    const noDone =
      'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":""}}]}\n\n';
    await expect(
      relayAnswer(
        { contentType: 'text/event-stream', body: pieces(noDone, 8) },
        '/v1/chat/completions',
        live,
        sink().sink,
      ),
    ).rejects.toBeInstanceOf(OllamaCallError);
  });

  it('tells a connection that broke mid-answer (Ollama away) from a silence past the timeout', async () => {
    async function* breaks(code: string): AsyncIterable<Buffer> {
      yield Buffer.from(`${JSON.stringify(chatLines[0])}\n`);
      throw Object.assign(new Error('socket'), { code });
    }
    const read = (code: string) =>
      relayAnswer(
        { contentType: 'application/x-ndjson', body: breaks(code) },
        '/api/chat',
        live,
        sink().sink,
      );
    await expect(read('UND_ERR_SOCKET')).rejects.toMatchObject({ httpStatus: 0 });
    await expect(read('UND_ERR_BODY_TIMEOUT')).rejects.toMatchObject({ httpStatus: 504 });
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      relayAnswer(
        { contentType: 'application/x-ndjson', body: breaks('UND_ERR_ABORTED') },
        '/api/chat',
        aborted.signal,
        sink().sink,
      ),
    ).rejects.not.toBeInstanceOf(OllamaCallError);
  });
});
