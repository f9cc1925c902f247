/**
 * generate, chat, embed and embeddings, with Ollama's shapes, timings and failures. The
 * handlers answer through an AnswerSink so that the /v1 routes (routes-openai.ts) can run the
 * same code under a translating writer, as Ollama's OpenAI middleware does.
 */
import type { ServerResponse } from 'node:http';
import { compareVersions } from '../ollama/duration.js';
import { ollamaTime } from '../ollama/time.js';
import { type Answer, imageTokens, planAnswer, type ToolCall } from './answer.js';
import { checkCapabilities, hasCapability, parseThink, type Thinking } from './capabilities.js';
import { type AnswerSink, bodyObject, ollamaSink, type Routes, type SimRequest } from './http.js';
import {
  contextTokens,
  decodeMsPerToken,
  embeddingVector,
  hashText,
  promptMsPerToken,
  promptTokenCount,
} from './inference.js';
import {
  checkTopLogprobs,
  decodeImages,
  type Format,
  notFoundPull,
  notFoundQuoted,
  type Parsed,
  parseCommon,
  parseFormat,
  unmarshalError,
} from './request-parse.js';
import { type Lease, OllamaHttpError } from './scheduler.js';
import type { SimState } from './state.js';

const MS = 1_000_000;
/** What Ollama sends when the runner fails mid-answer (here: out of memory). */
const MIDSTREAM_OOM = 'an error was encountered while running the model: CUDA error: out of memory';

/** Who reads the answer: Ollama's clients, or the /v1 middleware (which needs tool call ids). */
export interface HandlerOptions {
  openai?: boolean;
}

export type InferenceHandler = (
  body: Record<string, unknown>,
  signal: AbortSignal,
  sink: AnswerSink,
  options?: HandlerOptions,
) => Promise<void>;

/** The request's model and prompt, and what they make the model say. */
interface Turn {
  promptText: string;
  promptCount: number;
  seed: number;
  answer: Answer;
}

interface TurnAsk {
  p: Parsed;
  promptText: string;
  templateTokens: number;
  images: Buffer[];
  thinking: Thinking;
  /** Tools the model may call this turn (none once a tool has answered). */
  tools: readonly unknown[];
  format: Format;
}

function turnFor({
  p,
  promptText,
  templateTokens,
  images,
  thinking,
  tools,
  format,
}: TurnAsk): Turn {
  // Only a vision model sees images; Ollama's runner drops them for the others.
  const seen = hasCapability(p.model, 'vision') ? images : [];
  let seedText = `${p.model.name}\u0000${promptText}`;
  for (const image of seen) seedText += `\u0000image:${hashText(image.toString('base64'))}`;
  if (p.seed !== undefined) seedText += `\u0000seed:${p.seed}`;
  const seed = hashText(seedText);
  const toolsText = tools.length > 0 ? JSON.stringify(tools) : '';
  const promptCount =
    promptTokenCount(promptText + toolsText, templateTokens) + seen.length * imageTokens(p.model);
  const answer = planAnswer({
    seed,
    thinking,
    tools,
    format,
    numPredict: p.numPredict,
    stop: p.stop,
  });
  return { promptText, promptCount, seed, answer };
}

/** What one streamed piece or the whole answer holds. */
interface Said {
  content: string;
  thinking: string;
  toolCalls: ToolCall[];
}

interface Shape {
  chunk(said: Said): Record<string, unknown>;
  final(said: Said, doneReason: string, metrics: Record<string, number>): Record<string, unknown>;
}

export function inferenceRoutes(state: SimState): Routes {
  const handlers = inferenceHandlers(state);
  const route =
    (handler: InferenceHandler) => async (request: SimRequest, response: ServerResponse) =>
      handler(bodyObject(request), request.signal, ollamaSink(response));
  return {
    'POST /api/generate': route(handlers.generate),
    'POST /api/chat': route(handlers.chat),
    'POST /api/embed': route(handlers.embed),
    'POST /api/embeddings': route(handlers.embeddings),
  };
}

export function inferenceHandlers(state: SimState) {
  const version = state.options.version;
  const withToolCallIds = compareVersions(version, '0.12.10') >= 0;

  /** Loads without generating (`done_reason: load`) or expires (`keep_alive: 0`, `unload`). */
  async function loadOrUnload(p: Parsed, signal: AbortSignal): Promise<'load' | 'unload'> {
    if (p.keepAliveMs === 0) {
      state.scheduler.expire(p.model);
      return 'unload';
    }
    const lease = await state.scheduler.acquire(
      p.model,
      { numCtx: p.numCtx, keepAliveMs: p.keepAliveMs },
      signal,
    );
    lease.release();
    return 'load';
  }

  async function leaseFor(p: Parsed, signal: AbortSignal): Promise<Lease> {
    const lease = await state.scheduler.acquire(
      p.model,
      { numCtx: p.numCtx, keepAliveMs: p.keepAliveMs },
      signal,
    );
    const runner = lease.runner;
    if (state.faults.take('oom', p.model.name)) {
      const error = state.scheduler.runtimeOom(runner);
      lease.release();
      throw error;
    }
    return lease;
  }

  /**
   * The shared body of generate and chat: prompt eval, then thinking, text or a tool call
   * at the model's pace. Streamed, each token is a chunk (a tool call is one chunk, once its
   * tokens are written); not streamed, the pieces are joined as Ollama does.
   */
  async function complete(
    signal: AbortSignal,
    sink: AnswerSink,
    p: Parsed,
    turn: Turn,
    formatError: OllamaHttpError | undefined,
    shape: Shape,
  ): Promise<void> {
    const lease = await leaseFor(p, signal);
    try {
      if (formatError) throw formatError;
      const { runner } = lease;
      const { seed, answer } = turn;
      const warmMs = 113 + (seed % 75);
      const loadMs = lease.loadMs > 0 ? lease.loadMs : warmMs;
      const promptMs = turn.promptCount * promptMsPerToken(p.model);
      const perToken = decodeMsPerToken(p.model, runner.sizeVram / runner.estimate, runner.active);
      const pace = pacer(state);
      if (lease.loadMs === 0) await pace(warmMs, signal);
      await pace(promptMs, signal);
      const said: Said = { content: '', thinking: '', toolCalls: [] };
      const breaks = state.faults.take('midstream', p.model.name);
      let left = breaks ? (breaks.after ?? 3) : Number.POSITIVE_INFINITY;
      const emit = (piece: Partial<Said>) => {
        if (left-- <= 0) throw new OllamaHttpError(500, MIDSTREAM_OOM);
        if (p.stream)
          sink.chunk(shape.chunk({ content: '', thinking: '', toolCalls: [], ...piece }));
      };
      for (const token of answer.thinking) {
        await pace(perToken, signal);
        said.thinking += token;
        emit({ thinking: token });
      }
      for (const token of answer.content) {
        await pace(perToken, signal);
        said.content += token;
        emit({ content: token });
      }
      if (answer.toolCalls.length > 0) {
        await pace(answer.toolTokens * perToken, signal);
        said.toolCalls = answer.toolCalls;
        emit({ toolCalls: answer.toolCalls });
      }
      const count = answer.thinking.length + answer.content.length + answer.toolTokens;
      const metrics = {
        total_duration: Math.round((loadMs + promptMs + count * perToken + 0.4) * MS),
        load_duration: Math.round(loadMs * MS),
        prompt_eval_count: turn.promptCount,
        prompt_eval_duration: Math.round(promptMs * MS),
        eval_count: count,
        eval_duration: Math.round(count * perToken * MS),
      };
      if (p.stream) {
        sink.chunk(
          shape.final({ content: '', thinking: '', toolCalls: [] }, answer.doneReason, metrics),
        );
        sink.end();
      } else {
        sink.whole(shape.final(said, answer.doneReason, metrics));
      }
    } finally {
      lease.release();
    }
  }

  /** api.ToolCall as this version writes it (the `id` came with v0.12.10). */
  const toolCallsOut = (calls: ToolCall[], options: HandlerOptions | undefined) =>
    withToolCallIds || options?.openai ? calls : calls.map(({ id: _id, ...call }) => call);

  const generate: InferenceHandler = async (body, signal, sink) => {
    const think = parseThink(body.think, version);
    checkTopLogprobs(body);
    const p = parseCommon(state, body, notFoundQuoted);
    const prompt = typeof body.prompt === 'string' ? body.prompt : '';
    const images = decodeImages(body.images, 'GenerateRequest.images');
    const empty = prompt === '' && images.length === 0;
    // Ollama answers an unload (`ollama stop`) before it checks what the model can do.
    if (empty && p.keepAliveMs === 0) {
      state.scheduler.expire(p.model);
      return sink.whole(loadAnswer(p.name, 'unload'));
    }
    const hasText = (v: unknown) => typeof v === 'string' && v !== '';
    const context = Array.isArray(body.context) && body.context.length > 0;
    if (body.raw === true && (hasText(body.template) || hasText(body.system) || context)) {
      throw new OllamaHttpError(400, 'raw mode does not support template, system, or context');
    }
    const thinking = checkCapabilities(p.model, version, {
      requested: p.name,
      endpoint: 'generate',
      think,
      tools: false,
      suffix: hasText(body.suffix),
    });
    if (empty) {
      const reason = await loadOrUnload(p, signal);
      return sink.whole(loadAnswer(p.name, reason));
    }
    const { format, error } = parseFormat(body.format);
    const system = typeof body.system === 'string' ? body.system : '';
    const suffix = typeof body.suffix === 'string' ? body.suffix : '';
    const turn = turnFor({
      p,
      promptText: `${system}${prompt}${suffix}`,
      templateTokens: 10,
      images,
      thinking,
      tools: [],
      format,
    });
    await complete(signal, sink, p, turn, error, {
      chunk: (said) => ({
        model: p.name,
        created_at: ollamaTime(),
        response: said.content,
        ...(said.thinking ? { thinking: said.thinking } : {}),
        done: false,
      }),
      final: (said, doneReason, metrics) => ({
        model: p.name,
        created_at: ollamaTime(),
        response: said.content,
        ...(said.thinking ? { thinking: said.thinking } : {}),
        done: true,
        done_reason: doneReason,
        ...(body.raw === true
          ? {}
          : { context: contextTokens(turn.seed, (metrics.eval_count ?? 0) + 10) }),
        ...metrics,
      }),
    });
  };

  const chat: InferenceHandler = async (body, signal, sink, options) => {
    const think = parseThink(body.think, version);
    const messages = body.messages ?? [];
    if (!Array.isArray(messages)) {
      throw unmarshalError(messages, 'ChatRequest.messages', '[]api.Message');
    }
    const tools = body.tools ?? [];
    if (!Array.isArray(tools)) throw unmarshalError(tools, 'ChatRequest.tools', 'api.Tools');
    const images: Buffer[] = [];
    const texts: string[] = [];
    let lastRole = '';
    for (const message of messages) {
      if (typeof message !== 'object' || message === null || Array.isArray(message)) {
        throw unmarshalError(message, 'ChatRequest.messages', 'api.Message');
      }
      const m = message as Record<string, unknown>;
      if (m.content !== undefined && m.content !== null && typeof m.content !== 'string') {
        throw unmarshalError(m.content, 'Message.messages.content', 'string');
      }
      if (m.role !== undefined && m.role !== null && typeof m.role !== 'string') {
        throw unmarshalError(m.role, 'Message.messages.role', 'string');
      }
      images.push(...decodeImages(m.images, 'Message.messages.images'));
      texts.push(typeof m.content === 'string' ? m.content : '');
      // Ollama lower-cases roles and takes any name (system, user, assistant, tool, ...).
      lastRole = typeof m.role === 'string' ? m.role.toLowerCase() : '';
    }
    checkTopLogprobs(body);
    const p = parseCommon(state, body, notFoundQuoted);
    if (messages.length === 0 && p.keepAliveMs === 0) {
      state.scheduler.expire(p.model);
      return sink.whole(chatLoadAnswer(p.name, 'unload'));
    }
    const thinking = checkCapabilities(p.model, version, {
      requested: p.name,
      endpoint: 'chat',
      think,
      tools: tools.length > 0,
      suffix: false,
    });
    if (messages.length === 0) {
      const reason = await loadOrUnload(p, signal);
      return sink.whole(chatLoadAnswer(p.name, reason));
    }
    const { format, error } = parseFormat(body.format);
    const turn = turnFor({
      p,
      promptText: texts.join('\n'),
      templateTokens: 8 * messages.length,
      images,
      thinking,
      // The simulated model calls a tool when the user has just spoken; after a tool's
      // result (role "tool") it answers in prose.
      tools: lastRole === 'user' ? tools : [],
      format,
    });
    const message = (said: Said) => ({
      role: 'assistant',
      content: said.content,
      ...(said.thinking ? { thinking: said.thinking } : {}),
      ...(said.toolCalls.length > 0 ? { tool_calls: toolCallsOut(said.toolCalls, options) } : {}),
    });
    await complete(signal, sink, p, turn, error, {
      chunk: (said) => ({
        model: p.name,
        created_at: ollamaTime(),
        message: message(said),
        done: false,
      }),
      final: (said, doneReason, metrics) => ({
        model: p.name,
        created_at: ollamaTime(),
        message: message(said),
        done_reason: doneReason,
        done: true,
        ...metrics,
      }),
    });
  };

  const embed: InferenceHandler = async (body, signal, sink) => {
    const p = parseCommon(state, body, notFoundPull);
    const input = body.input;
    let inputs: string[];
    if (input === undefined || input === null || input === '') inputs = [];
    else if (typeof input === 'string') inputs = [input];
    else if (Array.isArray(input) && input.every((i) => typeof i === 'string'))
      inputs = input as string[];
    else throw new OllamaHttpError(400, 'invalid input type');
    if (inputs.length === 0) {
      await loadOrUnload(
        { ...p, keepAliveMs: p.keepAliveMs === 0 ? undefined : p.keepAliveMs },
        signal,
      );
      return sink.whole({ model: p.name, embeddings: [] });
    }
    const numCtx = Math.min(p.numCtx ?? state.rules.defaultNumCtx, p.model.context_length);
    const counts = inputs.map((text) => promptTokenCount(text, 2));
    if (body.truncate === false && counts.some((c) => c > numCtx)) {
      throw new OllamaHttpError(400, 'the input length exceeds the context length');
    }
    const lease = await leaseFor(p, signal);
    try {
      const promptCount = counts.reduce((a, b) => a + b, 0);
      const promptMs = promptCount * promptMsPerToken(p.model) + 8;
      const loadMs = lease.loadMs > 0 ? lease.loadMs : 1;
      await pacer(state)(promptMs, signal);
      const dims =
        typeof body.dimensions === 'number' && body.dimensions > 0 ? body.dimensions : undefined;
      sink.whole({
        model: p.name,
        embeddings: inputs.map((text) => shorten(embeddingVector(p.model, text), dims)),
        total_duration: Math.round((loadMs + promptMs) * MS),
        load_duration: Math.round(loadMs * MS),
        prompt_eval_count: promptCount,
      });
    } finally {
      lease.release();
    }
  };

  const embeddings: InferenceHandler = async (body, signal, sink) => {
    const p = parseCommon(state, body, notFoundPull);
    const prompt = typeof body.prompt === 'string' ? body.prompt : '';
    if (prompt === '') {
      await loadOrUnload(
        { ...p, keepAliveMs: p.keepAliveMs === 0 ? undefined : p.keepAliveMs },
        signal,
      );
      return sink.whole({ embedding: [] });
    }
    const lease = await leaseFor(p, signal);
    try {
      await pacer(state)(promptTokenCount(prompt, 2) * promptMsPerToken(p.model) + 8, signal);
      sink.whole({ embedding: embeddingVector(p.model, prompt) });
    } finally {
      lease.release();
    }
  };

  return { generate, chat, embed, embeddings };
}

function loadAnswer(model: string, reason: 'load' | 'unload') {
  return { model, created_at: ollamaTime(), response: '', done: true, done_reason: reason };
}

function chatLoadAnswer(model: string, reason: 'load' | 'unload') {
  return {
    model,
    created_at: ollamaTime(),
    message: { role: 'assistant', content: '' },
    done_reason: reason,
    done: true,
  };
}

/** `dimensions`: the first n values, normalized again to unit length; float32 as Ollama's. */
function shorten(vector: number[], dims: number | undefined): number[] {
  const kept = dims !== undefined && dims < vector.length ? vector.slice(0, dims) : vector;
  const norm = dims !== undefined ? Math.sqrt(kept.reduce((sum, x) => sum + x * x, 0)) || 1 : 1;
  return kept.map((x) => Math.fround(x / norm));
}

/**
 * Sleeps simulated time in many small steps without paying a timer per step: the debt is
 * kept and slept off once it is worth a timer.
 */
function pacer(state: SimState): (simMs: number, signal: AbortSignal) => Promise<void> {
  let owed = 0;
  return async (simMs, signal) => {
    owed += simMs;
    if (owed * state.options.timeScale >= 2) {
      const sleep = owed;
      owed = 0;
      await state.clock.sleep(sleep, signal);
    }
  };
}
