/** generate, chat, embed and embeddings, with Ollama's shapes, timings and failures. */
import type { ServerResponse } from 'node:http';
import { parseKeepAlive } from '../ollama/duration.js';
import type { SimModel } from './catalogue.js';
import { bodyObject, ndjson, type Routes, type SimRequest, sendJson } from './http.js';
import {
  completionPlan,
  contextTokens,
  decodeMsPerToken,
  embeddingVector,
  hashText,
  promptMsPerToken,
  promptTokenCount,
  tokenText,
} from './inference.js';
import { modelField } from './routes-models.js';
import { type Lease, OllamaHttpError } from './scheduler.js';
import { goTime } from './slog.js';
import { installedModel, type SimState } from './state.js';

const MS = 1_000_000;

interface Parsed {
  name: string;
  model: SimModel;
  keepAliveMs: number | undefined;
  numCtx: number | undefined;
  numPredict: number | undefined;
  stream: boolean;
}

function parseCommon(
  state: SimState,
  body: Record<string, unknown>,
  notFound: (name: string) => string,
): Parsed {
  const name = modelField(body);
  const model = installedModel(state, name);
  if (!model) throw new OllamaHttpError(404, notFound(name));
  let keepAliveMs: number | undefined;
  if (body.keep_alive !== undefined && body.keep_alive !== null) {
    const parsed = parseKeepAlive(body.keep_alive);
    if ('error' in parsed) throw new OllamaHttpError(400, parsed.error);
    keepAliveMs = parsed.ms;
  }
  const options = (
    typeof body.options === 'object' && body.options !== null ? body.options : {}
  ) as Record<string, unknown>;
  const int = (value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : undefined;
  return {
    name,
    model,
    keepAliveMs,
    numCtx: int(options.num_ctx),
    numPredict: int(options.num_predict),
    stream: body.stream !== false,
  };
}

const notFoundQuoted = (name: string) => `model '${name}' not found`;
const notFoundPull = (name: string) => `model "${name}" not found, try pulling it first`;

export function inferenceRoutes(state: SimState): Routes {
  const now = () => new Date();

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

  /** The shared body of generate and chat: prompt eval, then tokens at the model's pace. */
  async function complete(
    request: SimRequest,
    response: ServerResponse,
    p: Parsed,
    promptText: string,
    templateTokens: number,
    shape: {
      chunk: (token: string) => Record<string, unknown>;
      final: (
        text: string,
        doneReason: string,
        metrics: Record<string, number>,
        seed: number,
        count: number,
      ) => Record<string, unknown>;
    },
  ): Promise<void> {
    const lease = await leaseFor(p, request.signal);
    try {
      const { runner } = lease;
      const seed = hashText(`${p.model.name}\u0000${promptText}`);
      const warmMs = 113 + (seed % 75);
      const loadMs = lease.loadMs > 0 ? lease.loadMs : warmMs;
      const promptCount = promptTokenCount(promptText, templateTokens);
      const promptMs = promptCount * promptMsPerToken(p.model);
      const plan = completionPlan(seed, p.numPredict);
      const perToken = decodeMsPerToken(p.model, runner.sizeVram / runner.estimate, runner.active);
      const pace = pacer(state);
      if (lease.loadMs === 0) await pace(warmMs, request.signal);
      await pace(promptMs, request.signal);
      const write = p.stream ? ndjson(response) : undefined;
      let text = '';
      for (let i = 0; i < plan.count; i++) {
        await pace(perToken, request.signal);
        const token = tokenText(seed, i);
        text += token;
        write?.(shape.chunk(token));
      }
      const metrics = {
        total_duration: Math.round((loadMs + promptMs + plan.count * perToken + 0.4) * MS),
        load_duration: Math.round(loadMs * MS),
        prompt_eval_count: promptCount,
        prompt_eval_duration: Math.round(promptMs * MS),
        eval_count: plan.count,
        eval_duration: Math.round(plan.count * perToken * MS),
      };
      if (write) {
        write(shape.final('', plan.doneReason, metrics, seed, plan.count));
        response.end();
      } else {
        sendJson(response, 200, shape.final(text, plan.doneReason, metrics, seed, plan.count));
      }
    } finally {
      lease.release();
    }
  }

  return {
    'POST /api/generate': async (request, response) => {
      const body = bodyObject(request);
      const p = parseCommon(state, body, notFoundQuoted);
      const prompt = typeof body.prompt === 'string' ? body.prompt : '';
      const images = Array.isArray(body.images) ? body.images : [];
      const empty = prompt === '' && images.length === 0;
      // Ollama answers an unload (`ollama stop`) before it checks what the model can do.
      if (p.model.embedding && !(empty && p.keepAliveMs === 0)) {
        throw new OllamaHttpError(400, `"${p.name}" does not support generate`);
      }
      if (empty) {
        const reason = await loadOrUnload(p, request.signal);
        return sendJson(response, 200, {
          model: p.name,
          created_at: goTime(now()),
          response: '',
          done: true,
          done_reason: reason,
        });
      }
      const system = typeof body.system === 'string' ? body.system : '';
      await complete(request, response, p, `${system}${prompt}`, 10, {
        chunk: (token) => ({
          model: p.name,
          created_at: goTime(now()),
          response: token,
          done: false,
        }),
        final: (text, doneReason, metrics, seed, count) => ({
          model: p.name,
          created_at: goTime(now()),
          response: text,
          done: true,
          done_reason: doneReason,
          ...(body.raw === true ? {} : { context: contextTokens(seed, count + 10) }),
          ...metrics,
        }),
      });
    },

    'POST /api/chat': async (request, response) => {
      const body = bodyObject(request);
      const p = parseCommon(state, body, notFoundQuoted);
      if (p.model.embedding) throw new OllamaHttpError(400, `"${p.name}" does not support chat`);
      const messages = body.messages ?? [];
      if (!Array.isArray(messages)) {
        throw new OllamaHttpError(
          400,
          'json: cannot unmarshal value into Go struct field ChatRequest.messages of type []api.Message',
        );
      }
      if (messages.length === 0) {
        const reason = await loadOrUnload(p, request.signal);
        return sendJson(response, 200, {
          model: p.name,
          created_at: goTime(now()),
          message: { role: 'assistant', content: '' },
          done_reason: reason,
          done: true,
        });
      }
      const text = messages
        .map((m) => (typeof m?.content === 'string' ? m.content : ''))
        .join('\n');
      await complete(request, response, p, text, 8 * messages.length, {
        chunk: (token) => ({
          model: p.name,
          created_at: goTime(now()),
          message: { role: 'assistant', content: token },
          done: false,
        }),
        final: (content, doneReason, metrics) => ({
          model: p.name,
          created_at: goTime(now()),
          message: { role: 'assistant', content },
          done_reason: doneReason,
          done: true,
          ...metrics,
        }),
      });
    },

    'POST /api/embed': async (request, response) => {
      const body = bodyObject(request);
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
          request.signal,
        );
        return sendJson(response, 200, { model: p.name, embeddings: [] });
      }
      const numCtx = Math.min(p.numCtx ?? state.rules.defaultNumCtx, p.model.context_length);
      const counts = inputs.map((text) => promptTokenCount(text, 2));
      if (body.truncate === false && counts.some((c) => c > numCtx)) {
        throw new OllamaHttpError(400, 'the input length exceeds the context length');
      }
      const lease = await leaseFor(p, request.signal);
      try {
        const promptCount = counts.reduce((a, b) => a + b, 0);
        const promptMs = promptCount * promptMsPerToken(p.model) + 8;
        const loadMs = lease.loadMs > 0 ? lease.loadMs : 1;
        await pacer(state)(promptMs, request.signal);
        const dims =
          typeof body.dimensions === 'number' && body.dimensions > 0 ? body.dimensions : undefined;
        sendJson(response, 200, {
          model: p.name,
          embeddings: inputs.map((text) =>
            embeddingVector(p.model, text)
              .slice(0, dims)
              .map((x) => Math.fround(x)),
          ),
          total_duration: Math.round((loadMs + promptMs) * MS),
          load_duration: Math.round(loadMs * MS),
          prompt_eval_count: promptCount,
        });
      } finally {
        lease.release();
      }
    },

    'POST /api/embeddings': async (request, response) => {
      const body = bodyObject(request);
      const p = parseCommon(state, body, notFoundPull);
      const prompt = typeof body.prompt === 'string' ? body.prompt : '';
      if (prompt === '') {
        await loadOrUnload(
          { ...p, keepAliveMs: p.keepAliveMs === 0 ? undefined : p.keepAliveMs },
          request.signal,
        );
        return sendJson(response, 200, { embedding: [] });
      }
      const lease = await leaseFor(p, request.signal);
      try {
        await pacer(state)(
          promptTokenCount(prompt, 2) * promptMsPerToken(p.model) + 8,
          request.signal,
        );
        sendJson(response, 200, { embedding: embeddingVector(p.model, prompt) });
      } finally {
        lease.release();
      }
    },
  };
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
