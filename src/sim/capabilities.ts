/**
 * What a model can do and what Ollama answers when a request asks for more: the checks of
 * server/routes.go (GenerateHandler, ChatHandler) and server/images.go (CheckCapabilities),
 * with the wording and the version each rule belongs to. Pure: a model, a version and the
 * request's fields in; the resolved thinking setting out, or an OllamaHttpError thrown.
 */
import { compareVersions } from '../ollama/duration.js';
import type { SimModel } from './catalogue.js';
import { OllamaHttpError } from './scheduler.js';

export type Capability = 'completion' | 'tools' | 'insert' | 'vision' | 'thinking' | 'embedding';

export type ThinkLevel = 'low' | 'medium' | 'high' | 'max';

/** The `think` field as Ollama's api.ThinkValue holds it: a boolean or a level. */
export type ThinkValue = boolean | ThinkLevel;

/** How the model should think for this request. */
export interface Thinking {
  /** Thinking goes to `thinking` (or `message.thinking`). */
  separate: boolean;
  /** The model still thinks but Ollama leaves it in the content between <think> tags. */
  inline: boolean;
  /** The level the model acts on (only harmony models change with it). */
  level: ThinkLevel;
}

export const NO_THINKING: Thinking = { separate: false, inline: false, level: 'medium' };

export function hasCapability(model: SimModel, capability: Capability): boolean {
  return model.capabilities.includes(capability);
}

/** gpt-oss speaks OpenAI's harmony format: it always reasons, at the level it is given. */
export function isHarmony(model: SimModel): boolean {
  return model.family === 'gptoss';
}

/**
 * `registry.ollama.ai/library/gemma:2b`: the full name (model.ParseName(...).String()) that
 * CheckCapabilities puts in front of "does not support".
 */
export function fullModelName(name: string): string {
  const [path = '', tag = 'latest'] = splitTag(name);
  const parts = path.split('/');
  const host = parts.length >= 3 ? parts[0] : 'registry.ollama.ai';
  const namespace = parts.length >= 2 ? parts[parts.length - 2] : 'library';
  return `${host}/${namespace}/${parts[parts.length - 1]}:${tag}`;
}

/** The namespace of a name (`library` unless the name says otherwise): /v1's `owned_by`. */
export function modelNamespace(name: string): string {
  return fullModelName(name).split('/')[1] ?? 'library';
}

function splitTag(name: string): [string, string | undefined] {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? [name.slice(0, colon), name.slice(colon + 1)] : [name, undefined];
}

/**
 * Parses `think` as api.ThinkValue.UnmarshalJSON does: a boolean, or one of the levels
 * ("max" from v0.22.0 on). Anything else is Ollama's 400 with its wording of that version.
 */
export function parseThink(value: unknown, version: string): ThinkValue | undefined {
  if (value === undefined || value === null) return undefined;
  const withMax = compareVersions(version, '0.22.0') >= 0;
  const levels = withMax ? ['high', 'medium', 'low', 'max'] : ['high', 'medium', 'low'];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (levels.includes(value)) return value as ThinkLevel;
    throw new OllamaHttpError(
      400,
      `invalid think value: ${goQuote(value)} (must be ${levels.map((l) => `"${l}"`).join(', ')}, true, or false)`,
    );
  }
  throw new OllamaHttpError(
    400,
    withMax
      ? 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'
      : 'think must be a boolean or string ("high", "medium", "low")',
  );
}

export interface CapabilityAsk {
  /** The model name as the request wrote it (Ollama quotes it with %q). */
  requested: string;
  endpoint: 'chat' | 'generate';
  think: ThinkValue | undefined;
  tools: boolean;
  suffix: boolean;
}

/**
 * The capability checks of chat and generate, in Ollama's order, for the version emulated.
 *
 * - v0.12.5 and later: a thinking model thinks unless told `think: false`; `think` on a model
 *   without thinking is `"x" does not support thinking` unless it is false.
 * - v0.12.4: the same default, but any `think` (false too) on such a model fails in
 *   CheckCapabilities with the full name.
 * - v0.12.3 and earlier: thinking only when asked; `think: true` on such a model fails in
 *   CheckCapabilities; a thinking model left unasked thinks inside <think> tags in the content.
 * - Before v0.17.7 a level ("low", ...) is refused for every model but harmony ones with
 *   `think value "low" is not supported for this model`.
 */
export function checkCapabilities(model: SimModel, version: string, ask: CapabilityAsk): Thinking {
  const at = (v: string) => compareVersions(version, v) >= 0;
  const canThink = hasCapability(model, 'thinking');
  const wanted: Capability[] = ['completion'];
  if (ask.tools) wanted.push('tools');
  if (ask.suffix) wanted.push('insert');

  let think = ask.think;
  if (at('0.12.5')) {
    if (canThink) {
      wanted.push('thinking');
      think ??= true;
    } else if (think !== undefined && think !== false) {
      throw new OllamaHttpError(400, `${goQuote(ask.requested)} does not support thinking`);
    }
  } else if (at('0.12.4')) {
    if (think !== undefined || canThink) wanted.push('thinking');
    if (canThink) think ??= true;
  } else if (think !== undefined && think !== false) {
    wanted.push('thinking');
  }
  const level = typeof think === 'string' ? think : undefined;
  const levelRefused = !at('0.17.7') && level !== undefined && !isHarmony(model);
  const refuseLevel = () => {
    if (levelRefused) {
      throw new OllamaHttpError(
        400,
        `think value ${goQuote(level)} is not supported for this model`,
      );
    }
  };
  // generate checked the level before scheduling the model, chat only after it.
  if (ask.endpoint === 'generate') refuseLevel();
  const missing = wanted.filter((c) => !hasCapability(model, c));
  if (missing.includes('completion')) {
    throw new OllamaHttpError(400, `${goQuote(ask.requested)} does not support ${ask.endpoint}`);
  }
  if (missing.length > 0) {
    // errors.Join puts each missing capability on its own line.
    throw new OllamaHttpError(
      400,
      `${fullModelName(ask.requested)} does not support ${missing.join('\n')}`,
    );
  }
  refuseLevel();

  if (!canThink) return NO_THINKING;
  if (isHarmony(model)) {
    // Harmony models reason whatever they are told, at low, medium (a bare `true`) or high;
    // Ollama maps "max" to high for them.
    const acted: ThinkLevel = level === 'max' ? 'high' : (level ?? 'medium');
    return { separate: true, inline: false, level: acted };
  }
  // Other templates take the level as "think" and nothing more.
  if (think === undefined) return { separate: false, inline: true, level: 'medium' };
  return { separate: think !== false, inline: false, level: 'medium' };
}

/** Go's %q for plain strings: JSON's escaping is the same for what names and levels hold. */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}
