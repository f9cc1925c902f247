/**
 * What a simulated model answers, decided from a seed (a hash of the model and the prompt):
 * its thinking, its text, JSON under `format`, or a tool call whose arguments fit the tool's
 * schema. Pure; routes-inference.ts paces and streams the tokens.
 */
import type { Thinking } from './capabilities.js';
import type { SimModel } from './catalogue.js';
import { hashText, random, tokenText } from './inference.js';
import { valueForSchema } from './json-schema-values.js';

/** A tool call as Ollama's api.ToolCall holds it. */
export interface ToolCall {
  id: string;
  function: { index: number; name: string; arguments: Record<string, unknown> };
}

export interface Answer {
  thinking: string[];
  content: string[];
  /** Sent as one chunk once its tokens are generated (Ollama's tool parser buffers them). */
  toolCalls: ToolCall[];
  /** Tokens the model spent writing the tool calls. */
  toolTokens: number;
  doneReason: 'stop' | 'length';
}

export interface AnswerAsk {
  seed: number;
  thinking: Thinking;
  /** A tool to call, when the model has tools and the turn calls for one. */
  tools: readonly unknown[];
  format: 'json' | Record<string, unknown> | undefined;
  numPredict: number | undefined;
  /** options.stop: the text ends before the first of these it would write. */
  stop?: readonly string[];
}

const THINK_WORDS = (
  'okay the user is asking something so first I should work out what they need ' +
  'then check the details step by step and make sure the reply stays short and clear'
).split(' ');

/** How many thinking tokens each level spends (only harmony models act on the level). */
const THINK_BASE = { low: 8, medium: 20, high: 48, max: 64 } as const;

/** A JSON value for `format: "json"`: any JSON will do, models usually write an object. */
const ANY_JSON = {
  type: 'object',
  properties: {
    answer: { type: 'string' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
  },
};

export function planAnswer(ask: AnswerAsk): Answer {
  const { seed } = ask;
  const thinking = thinkingTokens(seed, ask.thinking);
  let content: string[];
  let toolCalls: ToolCall[] = [];
  let toolText = '';
  const tool = ask.tools.length > 0 ? ask.tools[seed % ask.tools.length] : undefined;
  if (tool !== undefined) {
    toolCalls = [callFor(tool, seed, 0)];
    toolText = JSON.stringify({
      name: toolCalls[0]?.function.name,
      arguments: toolCalls[0]?.function.arguments,
    });
    content = [];
  } else if (ask.format !== undefined) {
    const schema = ask.format === 'json' ? ANY_JSON : ask.format;
    content = splitTokens(JSON.stringify(valueForSchema(schema, random(seed ^ 0x5eed))));
  } else {
    content = Array.from({ length: 16 + (seed % 112) }, (_, i) => tokenText(seed, i));
  }
  if (tool === undefined && ask.stop?.length) content = cutAtStop(content, ask.stop);
  if (ask.thinking.inline && thinking.length > 0) {
    // Older Ollama leaves an unasked thinking model's reasoning in the text, tags and all.
    content = ['<think>', '\n', ...thinking, '\n', '</think>', '\n\n', ...content];
    thinking.length = 0;
  }
  const toolTokens = splitTokens(toolText);
  const total = thinking.length + content.length + toolTokens.length;
  const limit = ask.numPredict;
  if (limit === undefined || limit < 0 || limit >= total) {
    return { thinking, content, toolCalls, toolTokens: toolTokens.length, doneReason: 'stop' };
  }
  // num_predict cuts the answer where it is; a cut tool call is left as the text it was.
  const keptThinking = thinking.slice(0, limit);
  const left = limit - keptThinking.length;
  const cutContent = [...content, ...toolTokens].slice(0, left);
  return {
    thinking: keptThinking,
    content: cutContent,
    toolCalls: [],
    toolTokens: 0,
    doneReason: 'length',
  };
}

/** The tokens up to the first stop sequence, the last one trimmed where the stop begins. */
function cutAtStop(tokens: string[], stops: readonly string[]): string[] {
  const text = tokens.join('');
  const at = Math.min(
    ...stops.filter((s) => s !== '').map((s) => (text.includes(s) ? text.indexOf(s) : Infinity)),
  );
  if (!Number.isFinite(at)) return tokens;
  const kept: string[] = [];
  let length = 0;
  for (const token of tokens) {
    if (length + token.length > at) {
      if (at > length) kept.push(token.slice(0, at - length));
      break;
    }
    kept.push(token);
    length += token.length;
  }
  return kept;
}

function thinkingTokens(seed: number, thinking: Thinking): string[] {
  if (!thinking.separate && !thinking.inline) return [];
  const base = THINK_BASE[thinking.level];
  const count = base + (seed % base);
  return Array.from({ length: count }, (_, i) => {
    const word = THINK_WORDS[(seed + i * 5) % THINK_WORDS.length] as string;
    return i === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`;
  });
}

/** One call of a tool from the request (`{"type":"function","function":{...}}`). */
function callFor(tool: unknown, seed: number, index: number): ToolCall {
  const fn = (tool as { function?: { name?: unknown; parameters?: unknown } }).function ?? {};
  const name = typeof fn.name === 'string' ? fn.name : '';
  const next = random(seed ^ hashText(name));
  const args = fn.parameters === undefined ? {} : valueForSchema(fn.parameters, next);
  return {
    id: toolCallId(next),
    function: {
      index,
      name,
      arguments: isObject(args) ? args : {},
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `call_` and 8 of [a-z0-9], as Ollama makes them (from the seed here, not at random). */
function toolCallId(next: () => number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `call_${Array.from({ length: 8 }, () => letters[Math.floor(next() * 36)]).join('')}`;
}

/** Word-, number- and punctuation-sized pieces whose concatenation is the text. */
export function splitTokens(text: string): string[] {
  return text.match(/ ?[A-Za-z]+|\d{1,3}|\s+|[^A-Za-z\d\s]/g) ?? [];
}

/** Image tokens a vision model's prompt takes per image (gemma3's 256, CLIP's 576). */
export function imageTokens(model: SimModel): number {
  return model.family === 'gemma3' ? 256 : 576;
}
