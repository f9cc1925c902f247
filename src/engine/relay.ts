/**
 * Reads Ollama's answer to a job and hands it on unchanged, a frame at a time: NDJSON lines
 * (Ollama's streams), server-sent events (its OpenAI layer's streams) or one whole body. The
 * bytes of each frame go to the caller as they came; the text in them goes to the job's
 * followers as tokens; the job keeps one object that sums the answer up.
 *
 * An error frame in the middle of a stream (`{"error": ...}`) ends the answer as a failure,
 * as Ollama means it; it is not handed on, the caller's route words the end itself.
 */
import { isNetworkError, OllamaCallError } from '../ollama/client.js';
import { framingOf } from '../ollama/framing.js';

export interface RelaySink {
  /** One frame as the bytes to write (a line with its newline, an event with its blank line). */
  chunk(data: string): void;
  /** The text a frame adds to the answer, for followers of the job. */
  token(text: string): void;
}

/** Relays the body and returns what the job keeps as its result. */
export async function relayAnswer(
  answer: { contentType: string; body: AsyncIterable<Buffer> },
  route: string,
  signal: AbortSignal,
  sink: RelaySink,
): Promise<Record<string, unknown>> {
  try {
    return await relay(answer, route, sink);
  } catch (err) {
    if (signal.aborted || !isNetworkError(err)) throw err;
    // The connection broke or went silent while the answer came.
    throw OllamaCallError.fromNetwork(err, `${route}: the answer broke off`);
  }
}

async function relay(
  answer: { contentType: string; body: AsyncIterable<Buffer> },
  route: string,
  sink: RelaySink,
): Promise<Record<string, unknown>> {
  const framing = framingOf(answer.contentType);
  if (framing === 'whole') {
    const chunks: Buffer[] = [];
    for await (const chunk of answer.body) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    sink.chunk(text);
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
      return { answer: parsed };
    } catch {
      return { text };
    }
  }
  const summary = framing === 'ndjson' ? new NdjsonSummary() : new SseSummary();
  const separator = framing === 'ndjson' ? '\n' : '\n\n';
  let buffered = '';
  // A character may be cut between two network chunks: decode across them.
  const decoder = new TextDecoder();
  const take = (frame: string) => {
    const error = summary.add(frame);
    if (error !== undefined) {
      throw new OllamaCallError(500, error, `${route} failed mid-stream: ${error}`);
    }
    sink.chunk(frame);
    const text = summary.lastText;
    if (text) sink.token(text);
  };
  for await (const chunk of answer.body) {
    buffered += decoder.decode(chunk, { stream: true }).replace(/\r\n/g, '\n');
    let end = buffered.indexOf(separator);
    while (end >= 0) {
      const frame = buffered.slice(0, end + separator.length);
      buffered = buffered.slice(end + separator.length);
      if (frame.trim() !== '') take(frame);
      end = buffered.indexOf(separator);
    }
  }
  buffered += decoder.decode();
  if (buffered.trim() !== '') take(framing === 'ndjson' ? `${buffered}\n` : `${buffered}\n\n`);
  // Ollama ends a stream that broke without its last frame (its OpenAI layer says no more).
  if (!summary.ended) {
    const words = 'the answer ended before its last chunk';
    throw new OllamaCallError(500, words, `${route}: ${words}`);
  }
  return summary.result();
}

/** Sums up Ollama's NDJSON: the final chunk, with the text, thinking and tool calls joined. */
class NdjsonSummary {
  lastText = '';
  get ended(): boolean {
    return this.#final !== undefined;
  }
  #final: Record<string, unknown> | undefined;
  #response = '';
  #thinking = '';
  #content = '';
  #messageThinking = '';
  #toolCalls: unknown[] = [];
  #role: unknown;
  #chat = false;

  /** Takes one line; returns the error text when the line is an error. */
  add(line: string): string | undefined {
    let chunk: Record<string, unknown>;
    try {
      chunk = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.lastText = '';
      return undefined;
    }
    if (typeof chunk.error === 'string') return chunk.error;
    this.lastText = '';
    if (typeof chunk.response === 'string') {
      this.#response += chunk.response;
      this.lastText = chunk.response;
    }
    if (typeof chunk.thinking === 'string') this.#thinking += chunk.thinking;
    const message = chunk.message as Record<string, unknown> | undefined;
    if (message && typeof message === 'object') {
      this.#chat = true;
      this.#role ??= message.role;
      if (typeof message.content === 'string') {
        this.#content += message.content;
        this.lastText = message.content;
      }
      if (typeof message.thinking === 'string') this.#messageThinking += message.thinking;
      if (Array.isArray(message.tool_calls)) this.#toolCalls.push(...message.tool_calls);
    }
    if (chunk.done === true) this.#final = chunk;
    return undefined;
  }

  result(): Record<string, unknown> {
    const final = this.#final ?? {};
    if (this.#chat) {
      const message: Record<string, unknown> = {
        ...((final.message as Record<string, unknown> | undefined) ?? {}),
        role: this.#role ?? 'assistant',
        content: this.#content,
      };
      if (this.#messageThinking) message.thinking = this.#messageThinking;
      if (this.#toolCalls.length > 0) message.tool_calls = this.#toolCalls;
      return { ...final, message };
    }
    return {
      ...final,
      response: this.#response,
      ...(this.#thinking ? { thinking: this.#thinking } : {}),
    };
  }
}

/** The events that end a Responses API stream (it sends no `[DONE]`). */
const RESPONSE_ENDS = new Set(['response.completed', 'response.failed', 'response.incomplete']);

/**
 * Sums up an OpenAI-style event stream: the text it carried (chat deltas, completion text,
 * Responses API text deltas) and its last event (where usage and the finish are).
 */
class SseSummary {
  lastText = '';
  /** `[DONE]` came, or the Responses API's last event. */
  ended = false;
  #text = '';
  #last: unknown;

  add(event: string): string | undefined {
    this.lastText = '';
    const data = event
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '[DONE]') this.ended = true;
    if (data === '' || data === '[DONE]') return undefined;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    if (value.error !== undefined && value.object === undefined && value.type === undefined) {
      const error = value.error as { message?: unknown } | string;
      return typeof error === 'string' ? error : String(error.message ?? JSON.stringify(error));
    }
    this.#last = value;
    if (RESPONSE_ENDS.has(String(value.type))) this.ended = true;
    const choice = (value.choices as Record<string, unknown>[] | undefined)?.[0];
    const delta = choice?.delta as { content?: unknown } | undefined;
    const piece =
      typeof delta?.content === 'string'
        ? delta.content
        : typeof choice?.text === 'string'
          ? choice.text
          : value.type === 'response.output_text.delta' && typeof value.delta === 'string'
            ? value.delta
            : '';
    this.#text += piece;
    this.lastText = piece;
    return undefined;
  }

  result(): Record<string, unknown> {
    return { text: this.#text, last: this.#last ?? null };
  }
}
