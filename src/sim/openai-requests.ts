/**
 * Ollama's OpenAI-compatible requests turned into its own, as openai/openai.go and
 * openai/responses.go do: /v1/chat/completions and /v1/responses become an /api/chat body,
 * /v1/completions an /api/generate body, /v1/embeddings an /api/embed body. Fields Ollama
 * does not read (max_completion_tokens, tool_choice, n, user, ...) are dropped, as there.
 * Pure; a refused request throws MiddlewareError with Ollama's words.
 */
import { OllamaHttpError } from './scheduler.js';

/** A 400 from the middleware, before any handler runs (gin's JSON, with a charset). */
export class MiddlewareError extends OllamaHttpError {
  constructor(message: string) {
    super(400, message);
  }
}

type Body = Record<string, unknown>;

/** Go's %T of a value decoded into `any`. */
function goTypeOf(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (typeof value === 'number') return 'float64';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value)) return '[]interface {}';
  return 'map[string]interface {}';
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

const GO_KIND: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  bool: (v) => typeof v === 'boolean',
  int: (v) => typeof v === 'number' && Number.isInteger(v),
  float64: (v) => typeof v === 'number',
  object: (v) => typeof v === 'object' && !Array.isArray(v),
  array: (v) => Array.isArray(v),
};

/** Checks fields as encoding/json binds them into Ollama's request struct. */
function bind(body: unknown, struct: string, fields: Record<string, [string, string]>): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MiddlewareError(
      `json: cannot unmarshal ${jsonKind(body)} into Go value of type openai.${struct}`,
    );
  }
  const b = body as Body;
  for (const [field, [kind, goType]] of Object.entries(fields)) {
    const value = b[field];
    if (value === undefined || value === null) continue;
    if (!GO_KIND[kind]?.(value)) {
      // A number that does not fit an int is named with its digits ("number 1.5").
      const what = typeof value === 'number' ? `number ${value}` : jsonKind(value);
      throw new MiddlewareError(
        `json: cannot unmarshal ${kind === 'int' ? what : jsonKind(value)} into Go struct field ${struct}.${field} of type ${goType}`,
      );
    }
  }
  return b;
}

/** The body, or what gin's ShouldBindJSON says of a missing or broken one. */
export function requestBody(body: unknown, bodyError: OllamaHttpError | undefined): unknown {
  if (bodyError) throw new MiddlewareError(bodyError.message);
  if (body === undefined) throw new MiddlewareError('EOF');
  return body;
}

/** openai.thinkFromReasoningEffort: OpenAI's efforts onto Ollama's think values. */
function thinkFromEffort(effort: unknown): boolean | string | undefined {
  switch (effort) {
    case undefined:
    case null:
    case '':
      return undefined;
    case 'none':
      return false;
    case 'minimal':
      return 'low';
    case 'low':
    case 'medium':
    case 'high':
    case 'max':
      return effort;
    case 'xhigh':
    case 'ultra':
      return 'max';
    default:
      throw new MiddlewareError(
        `invalid reasoning value: ${JSON.stringify(effort)} (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")`,
      );
  }
}

/** decodeImageURL: base64 data URLs only, as base64 for Ollama's `images`. */
export function imageFromUrl(url: string): string {
  if (url.startsWith('http://') || url.startsWith('https://')) {
    throw new MiddlewareError(
      'image URLs are not currently supported, please use base64 encoded data instead',
    );
  }
  const prefix = [
    'data:;base64,',
    ...['jpeg', 'jpg', 'png', 'webp'].map((t) => `data:image/${t};base64,`),
  ].find((p) => url.startsWith(p));
  const data = prefix === undefined ? undefined : url.slice(prefix.length);
  if (data === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    throw new MiddlewareError('invalid image input');
  }
  return data;
}

/** Assistant tool calls from OpenAI's shape (arguments as a JSON string) into Ollama's. */
function toolCallsFromOpenAI(calls: unknown): Body[] | undefined {
  if (!Array.isArray(calls)) return undefined;
  return calls.map((call) => {
    const c = (call ?? {}) as Body;
    const fn = (c.function ?? {}) as Body;
    let args: unknown;
    try {
      args = JSON.parse(typeof fn.arguments === 'string' ? fn.arguments : '');
    } catch {
      throw new MiddlewareError('invalid tool call arguments');
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new MiddlewareError('invalid tool call arguments');
    }
    return {
      ...(typeof c.id === 'string' && c.id ? { id: c.id } : {}),
      function: { index: 0, name: typeof fn.name === 'string' ? fn.name : '', arguments: args },
    };
  });
}

/** Ollama's chat options from OpenAI's sampling fields (temperature and top_p default to 1). */
function samplingOptions(b: Body, stopStrict: boolean): Body {
  const options: Body = {};
  if (typeof b.stop === 'string') options.stop = [b.stop];
  else if (Array.isArray(b.stop)) {
    const bad = b.stop.find((s) => typeof s !== 'string');
    if (stopStrict && bad !== undefined) {
      throw new MiddlewareError(`invalid type for 'stop' field: ${goTypeOf(bad)}`);
    }
    options.stop = b.stop.filter((s) => typeof s === 'string');
  }
  if (typeof b.max_tokens === 'number') options.num_predict = b.max_tokens;
  options.temperature = typeof b.temperature === 'number' ? b.temperature : 1.0;
  if (typeof b.seed === 'number') options.seed = b.seed;
  return options;
}

/** POST /v1/chat/completions → POST /api/chat (openai.FromChatRequest). */
export function chatFromOpenAI(body: unknown): Body {
  const b = bind(body, 'ChatCompletionRequest', {
    model: ['string', 'string'],
    messages: ['array', '[]openai.Message'],
    stream: ['bool', 'bool'],
    max_tokens: ['int', 'int'],
    seed: ['int', 'int'],
    temperature: ['float64', 'float64'],
    top_p: ['float64', 'float64'],
    tools: ['array', '[]api.Tool'],
  });
  const openaiMessages = (b.messages ?? []) as unknown[];
  if (openaiMessages.length === 0) throw new MiddlewareError("[] is too short - 'messages'");
  const messages: Body[] = [];
  openaiMessages.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new MiddlewareError(
        `json: cannot unmarshal ${jsonKind(raw)} into Go struct field ChatCompletionRequest.messages of type openai.Message`,
      );
    }
    const msg = raw as Body;
    const role = typeof msg.role === 'string' ? msg.role : '';
    let toolName = '';
    if (role.toLowerCase() === 'tool') {
      toolName = typeof msg.name === 'string' ? msg.name : '';
      if (!toolName && typeof msg.tool_call_id === 'string' && msg.tool_call_id) {
        toolName = toolNameFor(openaiMessages.slice(0, i + 1), msg.tool_call_id);
      }
    }
    const thinking = typeof msg.reasoning === 'string' ? msg.reasoning : '';
    const toolCallId = typeof msg.tool_call_id === 'string' ? msg.tool_call_id : '';
    // What travels beside the content: reasoning, calls, and which call a result answers.
    const extras = () => ({
      ...(thinking ? { thinking } : {}),
      ...(msg.tool_calls ? { tool_calls: toolCallsFromOpenAI(msg.tool_calls) } : {}),
      ...(toolName ? { tool_name: toolName } : {}),
      ...(toolCallId ? { tool_call_id: toolCallId } : {}),
    });
    const content = msg.content;
    if (typeof content === 'string') {
      messages.push({ role, content, ...extras() });
    } else if (Array.isArray(content)) {
      // Each part becomes a message of its own with the same role.
      for (const part of content) {
        const p = (part ?? {}) as Body;
        if (p.type === 'text') {
          if (typeof p.text !== 'string') throw new MiddlewareError('invalid message format');
          messages.push({ role, content: p.text });
        } else if (p.type === 'image_url') {
          const url =
            typeof p.image_url === 'string' ? p.image_url : ((p.image_url ?? {}) as Body).url;
          if (typeof url !== 'string') throw new MiddlewareError('invalid message format');
          messages.push({ role, content: '', images: [imageFromUrl(url)] });
        } else if (p.type === 'input_audio') {
          const audio = p.input_audio;
          if (typeof audio !== 'object' || audio === null) {
            throw new MiddlewareError('invalid input_audio format');
          }
          const data = (audio as Body).data;
          if (typeof data !== 'string') {
            throw new MiddlewareError('invalid input_audio format: missing data');
          }
          messages.push({ role, content: '', images: [data] });
        } else {
          throw new MiddlewareError('invalid message format');
        }
      }
      const last = messages.at(-1);
      if (last && Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0) {
        Object.assign(last, extras());
      }
    } else {
      // Content may be left out only beside tool calls.
      if (msg.tool_calls === undefined || msg.tool_calls === null) {
        throw new MiddlewareError(`invalid message content type: ${goTypeOf(content)}`);
      }
      const { tool_name: _name, ...rest } = extras();
      messages.push({ role, content: '', ...rest });
    }
  });

  const options = samplingOptions(b, false);
  for (const key of ['frequency_penalty', 'presence_penalty'] as const) {
    if (typeof b[key] === 'number') options[key] = b[key];
  }
  options.top_p = typeof b.top_p === 'number' ? b.top_p : 1.0;

  let format: unknown;
  const responseFormat = b.response_format as Body | undefined | null;
  if (responseFormat && typeof responseFormat === 'object') {
    const type = String(responseFormat.type ?? '')
      .trim()
      .toLowerCase();
    if (type === 'json_object') format = 'json';
    else if (type === 'json_schema') {
      format = ((responseFormat.json_schema ?? {}) as Body).schema;
    }
  }
  const reasoning = b.reasoning as Body | undefined | null;
  const think = thinkFromEffort(
    reasoning && typeof reasoning === 'object' ? reasoning.effort : b.reasoning_effort,
  );
  return {
    model: b.model ?? '',
    messages,
    ...(format !== undefined && format !== null ? { format } : {}),
    options,
    stream: b.stream === true,
    ...(Array.isArray(b.tools) && b.tools.length > 0 ? { tools: b.tools } : {}),
    ...(think !== undefined ? { think } : {}),
    ...(typeof b.top_logprobs === 'number' ? { top_logprobs: b.top_logprobs } : {}),
  };
}

/** The name of the function a `tool_call_id` answers: the last earlier call with that id. */
function toolNameFor(messages: unknown[], id: string): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const calls = (messages[i] as Body)?.tool_calls;
    if (!Array.isArray(calls)) continue;
    for (const call of calls) {
      const c = (call ?? {}) as Body;
      if (c.id === id) return String(((c.function ?? {}) as Body).name ?? '');
    }
  }
  return '';
}

/** POST /v1/completions → POST /api/generate (openai.FromCompleteRequest). */
export function generateFromOpenAI(body: unknown): Body {
  const b = bind(body, 'CompletionRequest', {
    model: ['string', 'string'],
    prompt: ['string', 'string'],
    stream: ['bool', 'bool'],
    max_tokens: ['int', 'int'],
    seed: ['int', 'int'],
    suffix: ['string', 'string'],
    temperature: ['float64', 'float32'],
  });
  const options = samplingOptions(b, true);
  options.frequency_penalty = typeof b.frequency_penalty === 'number' ? b.frequency_penalty : 0;
  options.presence_penalty = typeof b.presence_penalty === 'number' ? b.presence_penalty : 0;
  options.top_p = typeof b.top_p === 'number' && b.top_p !== 0 ? b.top_p : 1.0;
  return {
    model: b.model ?? '',
    prompt: b.prompt ?? '',
    options,
    stream: b.stream === true,
    ...(typeof b.suffix === 'string' && b.suffix ? { suffix: b.suffix } : {}),
  };
}

/** POST /v1/embeddings → POST /api/embed, with the encoding the answer wants. */
export function embedFromOpenAI(body: unknown): { embed: Body; encoding: 'float' | 'base64' } {
  const b = bind(body, 'EmbedRequest', {
    model: ['string', 'string'],
    dimensions: ['int', 'int'],
    encoding_format: ['string', 'string'],
  });
  const format = typeof b.encoding_format === 'string' ? b.encoding_format : '';
  const lower = format.toLowerCase();
  if (format !== '' && lower !== 'float' && lower !== 'base64') {
    throw new MiddlewareError(
      `Invalid value for 'encoding_format' = ${format}. Supported values: ['float', 'base64'].`,
    );
  }
  let input = b.input;
  if (input === '') input = [''];
  if (input === undefined || input === null || (Array.isArray(input) && input.length === 0)) {
    throw new MiddlewareError('invalid input');
  }
  return {
    embed: {
      model: b.model ?? '',
      input,
      ...(typeof b.dimensions === 'number' && b.dimensions > 0 ? { dimensions: b.dimensions } : {}),
    },
    encoding: lower === 'base64' ? 'base64' : 'float',
  };
}

/** POST /v1/responses → POST /api/chat (openai.FromResponsesRequest). */
export function chatFromResponses(body: unknown): Body {
  const b = bind(body, 'ResponsesRequest', {
    model: ['string', 'string'],
    instructions: ['string', 'string'],
    max_output_tokens: ['int', 'int'],
    stream: ['bool', 'bool'],
    tools: ['array', '[]openai.ResponsesTool'],
  });
  const messages: Body[] = [];
  if (typeof b.instructions === 'string' && b.instructions) {
    messages.push({ role: 'system', content: b.instructions });
  }
  const input = b.input;
  if (typeof input === 'string') {
    if (input) messages.push({ role: 'user', content: input });
  } else if (Array.isArray(input)) {
    let pendingThinking = '';
    input.forEach((raw, i) => {
      const item = (raw ?? {}) as Body;
      const type = item.type === undefined && typeof item.role === 'string' ? 'message' : item.type;
      const fail = (why: string) => new MiddlewareError(`input[${i}]: ${why}`);
      if (type === 'reasoning') {
        pendingThinking = typeof item.encrypted_content === 'string' ? item.encrypted_content : '';
      } else if (type === 'message') {
        const { content, images } = responsesContent(item.content, (why) => fail(why));
        const msg: Body = { role: item.role ?? '', content, ...(images.length ? { images } : {}) };
        if (msg.role === 'assistant' && pendingThinking) {
          msg.thinking = pendingThinking;
          pendingThinking = '';
        }
        messages.push(msg);
      } else if (type === 'function_call') {
        let args: unknown = {};
        if (typeof item.arguments === 'string' && item.arguments !== '') {
          try {
            args = JSON.parse(item.arguments);
          } catch (err) {
            throw new MiddlewareError(
              `failed to parse function call arguments: ${(err as Error).message}`,
            );
          }
        }
        const call = {
          id: item.call_id ?? '',
          function: { index: 0, name: item.name ?? '', arguments: args },
        };
        const last = messages.at(-1);
        if (last?.role === 'assistant') {
          last.tool_calls = [...((last.tool_calls as unknown[]) ?? []), call];
        } else {
          messages.push({ role: 'assistant', content: '', tool_calls: [call] });
        }
        if (pendingThinking) {
          (messages.at(-1) as Body).thinking = pendingThinking;
          pendingThinking = '';
        }
      } else if (type === 'function_call_output') {
        const output = item.output;
        const { content, images } =
          typeof output === 'string' || output === undefined
            ? { content: output ?? '', images: [] as string[] }
            : responsesContent(output, (why) => fail(`output${why.slice('content'.length)}`));
        messages.push({
          role: 'tool',
          content,
          ...(images.length ? { images } : {}),
          ...(item.call_id ? { tool_call_id: item.call_id } : {}),
        });
      } else if (type === 'web_search_call') {
        // History metadata only: the next assistant message carries what the search found.
      } else if (type === undefined || type === '') {
        throw fail("input item missing required 'type' field");
      } else {
        throw fail(`unknown input item type: ${JSON.stringify(type)}`);
      }
    });
    if (pendingThinking)
      messages.push({ role: 'assistant', content: '', thinking: pendingThinking });
  } else if (input !== undefined && input !== null) {
    throw new MiddlewareError(
      `input must be a string or array: json: cannot unmarshal ${jsonKind(input)} into Go value of type []json.RawMessage`,
    );
  }

  const options: Body = { temperature: typeof b.temperature === 'number' ? b.temperature : 1.0 };
  if (typeof b.top_p === 'number') options.top_p = b.top_p;
  if (typeof b.max_output_tokens === 'number') options.num_predict = b.max_output_tokens;
  const reasoning = (b.reasoning ?? {}) as Body;
  const think = thinkFromEffort(reasoning.effort);
  const tools = (Array.isArray(b.tools) ? b.tools : []).flatMap((t) => responsesTools(t as Body));
  const format = ((b.text ?? {}) as Body).format as Body | undefined;
  return {
    model: b.model ?? '',
    messages,
    options,
    ...(tools.length > 0 ? { tools } : {}),
    ...(format?.type === 'json_schema' && format.schema ? { format: format.schema } : {}),
    ...(think !== undefined ? { think } : {}),
    stream: b.stream === true,
  };
}

/** Responses content parts: text joined, input_image data URLs as images. */
function responsesContent(
  content: unknown,
  fail: (why: string) => Error,
): { content: string; images: string[] } {
  if (content === undefined || content === null) return { content: '', images: [] };
  if (typeof content === 'string') return { content, images: [] };
  if (!Array.isArray(content)) throw fail('content must be a string or array');
  let text = '';
  const images: string[] = [];
  content.forEach((raw, j) => {
    const part = (raw ?? {}) as Body;
    if (part.type === 'input_text' || part.type === 'output_text') {
      text += typeof part.text === 'string' ? part.text : '';
    } else if (part.type === 'input_image') {
      if (typeof part.image_url === 'string' && part.image_url) {
        images.push(imageFromUrl(part.image_url));
      }
    } else if (part.type === 'input_file') {
      throw new MiddlewareError('file inputs are not currently supported');
    } else {
      throw fail(`content[${j}]: unknown content type: ${String(part.type ?? '')}`);
    }
  });
  return { content: text, images };
}

/** A Responses tool (flat) as a chat tool; a namespace's members get its name as a prefix. */
function responsesTools(tool: Body): Body[] {
  if (tool.type === 'namespace') {
    const prefix = typeof tool.name === 'string' && tool.name ? `${tool.name}.` : '';
    return (Array.isArray(tool.tools) ? tool.tools : []).flatMap((member) =>
      responsesTools(member as Body).map((t) => {
        const fn = t.function as Body;
        const name = String(fn.name);
        return { ...t, function: { ...fn, name: name.startsWith(prefix) ? name : prefix + name } };
      }),
    );
  }
  return [
    {
      type: tool.type,
      function: {
        name: tool.name ?? '',
        description: typeof tool.description === 'string' ? tool.description : '',
        parameters: tool.parameters ?? {},
      },
    },
  ];
}
