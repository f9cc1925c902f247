import { describe, expect, it } from 'vitest';
import { planAnswer } from '../../src/sim/answer.js';
import {
  type CapabilityAsk,
  checkCapabilities,
  fullModelName,
  modelNamespace,
  parseThink,
} from '../../src/sim/capabilities.js';
import { SIM_CATALOGUE } from '../../src/sim/catalogue.js';

const model = (name: string) => {
  const found = SIM_CATALOGUE.find((m) => m.name === name);
  if (!found) throw new Error(`no ${name} in the catalogue`);
  return found;
};

const ask = (over: Partial<CapabilityAsk> = {}): CapabilityAsk => ({
  requested: 'x',
  endpoint: 'chat',
  think: undefined,
  tools: false,
  suffix: false,
  ...over,
});

/** The message a check throws, or 'ok' with what it resolved. */
function outcome(name: string, version: string, over: Partial<CapabilityAsk>) {
  try {
    const t = checkCapabilities(model(name), version, ask({ requested: name, ...over }));
    return t.separate ? `thinks ${t.level}` : t.inline ? 'thinks inline' : 'no thinking';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('the catalogue lists what real /api/show answers list', () => {
  it.each([
    ['llama3.2:3b', ['completion', 'tools']],
    ['llama3.1:8b', ['completion', 'tools']],
    ['qwen2.5:7b', ['completion', 'tools']],
    ['mistral:7b', ['completion', 'tools']],
    ['qwen2.5-coder:1.5b', ['completion', 'tools', 'insert']],
    ['tinyllama:1.1b', ['completion']],
    ['gemma:2b', ['completion']],
    ['phi3:mini', ['completion']],
    ['smollm:360m', ['completion']],
    ['qwen3:8b', ['completion', 'tools', 'thinking']],
    ['deepseek-r1:7b', ['completion', 'thinking']],
    ['gpt-oss:20b', ['completion', 'tools', 'thinking']],
    ['gemma3:4b', ['completion', 'vision']],
    ['llava:7b', ['completion', 'vision']],
    ['nomic-embed-text:latest', ['embedding']],
    ['all-minilm:latest', ['embedding']],
  ])('%s: %j', (name, capabilities) => {
    expect(model(name).capabilities).toEqual(capabilities);
  });
});

describe("Ollama's capability checks, by version", () => {
  it('names the model in full when it lacks tools or insert', () => {
    expect(outcome('gemma:2b', '0.12.3', { tools: true })).toBe(
      'registry.ollama.ai/library/gemma:2b does not support tools',
    );
    expect(outcome('llama3.2:3b', '0.12.3', { endpoint: 'generate', suffix: true })).toBe(
      'registry.ollama.ai/library/llama3.2:3b does not support insert',
    );
    expect(outcome('qwen2.5-coder:1.5b', '0.12.3', { endpoint: 'generate', suffix: true })).toBe(
      'no thinking',
    );
  });

  it('quotes the requested name when the model cannot chat or generate at all', () => {
    expect(outcome('nomic-embed-text:latest', '0.12.3', { tools: true })).toBe(
      '"nomic-embed-text:latest" does not support chat',
    );
    expect(outcome('all-minilm:latest', '0.33.0', { endpoint: 'generate' })).toBe(
      '"all-minilm:latest" does not support generate',
    );
  });

  it('v0.12.3: thinks only when asked, and refuses levels but for gpt-oss', () => {
    expect(outcome('qwen3:8b', '0.12.3', {})).toBe('thinks inline');
    expect(outcome('qwen3:8b', '0.12.3', { think: true })).toBe('thinks medium');
    expect(outcome('qwen3:8b', '0.12.3', { think: false })).toBe('no thinking');
    expect(outcome('qwen3:8b', '0.12.3', { think: 'high' })).toBe(
      'think value "high" is not supported for this model',
    );
    expect(outcome('gpt-oss:20b', '0.12.3', { think: 'high' })).toBe('thinks high');
    expect(outcome('gpt-oss:20b', '0.12.3', { think: false })).toBe('thinks medium');
    expect(outcome('gemma:2b', '0.12.3', { think: true })).toBe(
      'registry.ollama.ai/library/gemma:2b does not support thinking',
    );
    expect(outcome('gemma:2b', '0.12.3', { think: false })).toBe('no thinking');
  });

  it('v0.12.4: thinking by default, and any think on a model without it fails', () => {
    expect(outcome('qwen3:8b', '0.12.4', {})).toBe('thinks medium');
    expect(outcome('gemma:2b', '0.12.4', { think: false })).toBe(
      'registry.ollama.ai/library/gemma:2b does not support thinking',
    );
  });

  it('v0.12.5 on: think:false is fine anywhere, think:true is refused before loading', () => {
    expect(outcome('gemma:2b', '0.12.5', { think: false })).toBe('no thinking');
    expect(outcome('gemma:2b', '0.12.5', { think: true })).toBe(
      '"gemma:2b" does not support thinking',
    );
    expect(outcome('qwen3:8b', '0.13.0', { think: 'low' })).toBe(
      'think value "low" is not supported for this model',
    );
  });

  it('v0.17.7 on: any thinking model takes a level; only gpt-oss acts on it', () => {
    expect(outcome('qwen3:8b', '0.17.7', { think: 'low' })).toBe('thinks medium');
    expect(outcome('gpt-oss:20b', '0.17.7', { think: 'low' })).toBe('thinks low');
    expect(outcome('gpt-oss:20b', '0.33.0', { think: 'max' })).toBe('thinks high');
  });

  it('reads think values as api.ThinkValue does, "max" from v0.22.0', () => {
    expect(parseThink('max', '0.22.0')).toBe('max');
    expect(() => parseThink('max', '0.12.3')).toThrow(
      'invalid think value: "max" (must be "high", "medium", "low", true, or false)',
    );
    expect(() => parseThink('extreme', '0.33.0')).toThrow(
      'invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false)',
    );
    expect(() => parseThink(3, '0.33.0')).toThrow(
      'think must be a boolean or string ("high", "medium", "low", "max", true, or false)',
    );
    expect(parseThink(undefined, '0.12.3')).toBeUndefined();
  });

  it('writes full names and namespaces as model.ParseName does', () => {
    expect(fullModelName('gemma:2b')).toBe('registry.ollama.ai/library/gemma:2b');
    expect(fullModelName('all-minilm')).toBe('registry.ollama.ai/library/all-minilm:latest');
    expect(fullModelName('me/mine:v1')).toBe('registry.ollama.ai/me/mine:v1');
    expect(fullModelName('hf.co/org/repo:Q4_K_M')).toBe('hf.co/org/repo:Q4_K_M');
    expect(modelNamespace('qwen3:8b')).toBe('library');
    expect(modelNamespace('hf.co/org/repo:Q4_K_M')).toBe('org');
  });
});

describe('what a simulated model answers', () => {
  const thinking = { separate: true, inline: false, level: 'medium' } as const;
  const noThinking = { separate: false, inline: false, level: 'medium' } as const;
  const tool = {
    type: 'function',
    function: {
      name: 'add',
      parameters: { type: 'object', properties: { a: { type: 'integer' } } },
    },
  };

  it('thinks first, then writes; num_predict cuts the whole with done_reason length', () => {
    const full = planAnswer({
      seed: 42,
      thinking,
      tools: [],
      format: undefined,
      numPredict: undefined,
    });
    expect(full.thinking.length).toBeGreaterThan(0);
    expect(full.doneReason).toBe('stop');
    const cut = planAnswer({ seed: 42, thinking, tools: [], format: undefined, numPredict: 5 });
    expect(cut.thinking.length + cut.content.length).toBe(5);
    expect(cut.doneReason).toBe('length');
  });

  it('calls a tool with an id of call_ and 8 characters, and writes no text', () => {
    const answer = planAnswer({
      seed: 9,
      thinking: noThinking,
      tools: [tool],
      format: undefined,
      numPredict: undefined,
    });
    expect(answer.content).toEqual([]);
    expect(answer.toolCalls).toHaveLength(1);
    expect(answer.toolCalls[0]?.id).toMatch(/^call_[a-z0-9]{8}$/);
    expect(answer.toolCalls[0]?.function).toMatchObject({ index: 0, name: 'add' });
    expect(answer.toolTokens).toBeGreaterThan(0);
  });

  it('leaves reasoning in the text between think tags when Ollama does not separate it', () => {
    const answer = planAnswer({
      seed: 3,
      thinking: { separate: false, inline: true, level: 'medium' },
      tools: [],
      format: undefined,
      numPredict: undefined,
    });
    const text = answer.content.join('');
    expect(text).toMatch(/^<think>\n[\s\S]+\n<\/think>\n\n\S/);
    expect(answer.thinking).toEqual([]);
  });
});
