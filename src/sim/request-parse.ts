/**
 * Reading an inference request as Ollama does: the model and its options, images, `format`,
 * `top_logprobs`, with Ollama's status and words for what it refuses. Pure but for the
 * installed models it looks the model up in.
 */
import { parseKeepAlive } from '../ollama/duration.js';
import { goQuote } from './capabilities.js';
import type { SimModel } from './catalogue.js';
import { modelField } from './routes-models.js';
import { OllamaHttpError } from './scheduler.js';
import { installedModel, type SimState } from './state.js';

export interface Parsed {
  name: string;
  model: SimModel;
  keepAliveMs: number | undefined;
  numCtx: number | undefined;
  numPredict: number | undefined;
  /** options.seed: the same seed gives the same answer, another seed another one. */
  seed: number | undefined;
  stop: string[];
  stream: boolean;
}

export function parseCommon(
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
    seed: int(options.seed),
    stop: Array.isArray(options.stop) ? options.stop.filter((s) => typeof s === 'string') : [],
    stream: body.stream !== false,
  };
}

export const notFoundQuoted = (name: string) => `model '${name}' not found`;
export const notFoundPull = (name: string) => `model "${name}" not found, try pulling it first`;

/** The JSON kind Go's encoding/json names in "cannot unmarshal X into ...". */
function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

export function unmarshalError(value: unknown, field: string, goType: string): OllamaHttpError {
  return new OllamaHttpError(
    400,
    `json: cannot unmarshal ${jsonKind(value)} into Go struct field ${field} of type ${goType}`,
  );
}

/** `images` as api.ImageData ([]byte): base64 strings, or Go's decode error. */
export function decodeImages(value: unknown, field: string): Buffer[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw unmarshalError(value, field, '[]api.ImageData');
  return value.map((image) => {
    if (typeof image !== 'string') throw unmarshalError(image, field, 'api.ImageData');
    const bad = badBase64At(image);
    if (bad >= 0) throw new OllamaHttpError(400, `illegal base64 data at input byte ${bad}`);
    return Buffer.from(image, 'base64');
  });
}

/** Where Go's base64.StdEncoding would stop, or -1 when the text decodes. */
function badBase64At(text: string): number {
  const body = text.replace(/[\r\n]/g, '');
  const invalid = body.search(/[^A-Za-z0-9+/=]/);
  if (invalid >= 0) return invalid;
  const padding = body.indexOf('=');
  if (padding >= 0 && !/^={1,2}$/.test(body.slice(padding))) return padding;
  if (body.length % 4 !== 0) return body.length - (body.length % 4);
  return -1;
}

export type Format = 'json' | Record<string, unknown> | undefined;

/** `format` as Ollama takes it: nothing, "json", or a schema object; else why not. */
export function parseFormat(value: unknown): { format: Format; error?: OllamaHttpError } {
  if (value === undefined || value === null || value === '') return { format: undefined };
  if (value === 'json') return { format: 'json' };
  if (typeof value === 'object' && !Array.isArray(value)) {
    return { format: value as Record<string, unknown> };
  }
  // llm/server.go refuses it once the model is loaded, quoting the raw JSON with %q.
  const raw = goQuote(JSON.stringify(value));
  return {
    format: undefined,
    error: new OllamaHttpError(
      500,
      `invalid format: ${raw}; expected "json" or a valid JSON Schema object`,
    ),
  };
}

export function checkTopLogprobs(body: Record<string, unknown>): void {
  const top = body.top_logprobs;
  if (typeof top === 'number' && (top < 0 || top > 20)) {
    throw new OllamaHttpError(400, 'top_logprobs must be between 0 and 20');
  }
}
