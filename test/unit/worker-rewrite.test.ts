import { describe, expect, it } from 'vitest';
import { rewriteText } from '../../src/workers/rewrite.js';

const file = (format: 'json' | 'yaml' | 'env' | 'regex', extra: Record<string, string> = {}) => ({
  path: '/x',
  format,
  ...extra,
});

describe('rewriting a worker config, every other byte kept', () => {
  it('a JSON key, nested or not', () => {
    const text =
      '{\n  "model": "llama3.2:3b",\n  "llm": { "model" : "llama3.2:3b", "temperature": 0.2 },\n  "note": "keep   me"\n}\n';
    expect(rewriteText(text, file('json', { key: 'model' }), 'phi3:mini')).toBe(
      text.replace('"model": "llama3.2:3b"', '"model": "phi3:mini"'),
    );
    expect(rewriteText(text, file('json', { key: 'llm.model' }), 'phi3:mini')).toBe(
      text.replace('"model" : "llama3.2:3b"', '"model" : "phi3:mini"'),
    );
  });

  it('a YAML key, comments and all', () => {
    const text =
      '# worker settings\nllm:\n  model: llama3.2:3b   # the ladder rewrites this\n  temperature: 0.2\n';
    expect(rewriteText(text, file('yaml', { key: 'llm.model' }), 'phi3:mini')).toBe(
      '# worker settings\nllm:\n  model: "phi3:mini"   # the ladder rewrites this\n  temperature: 0.2\n',
    );
  });

  it('an env-file variable, quoted or not, and added when missing', () => {
    expect(
      rewriteText('A=1\nMODEL="llama3.2:3b"\nB=2\n', file('env', { key: 'MODEL' }), 'phi3:mini'),
    ).toBe('A=1\nMODEL="phi3:mini"\nB=2\n');
    expect(
      rewriteText(
        'export MODEL=llama3.2:3b # the model\n',
        file('env', { key: 'MODEL' }),
        'phi3:mini',
      ),
    ).toBe('export MODEL=phi3:mini # the model\n');
    expect(rewriteText('A=1', file('env', { key: 'MODEL' }), 'phi3:mini')).toBe(
      'A=1\nMODEL=phi3:mini\n',
    );
  });

  it('a regex replacement in a Python module', () => {
    const text =
      'import os\nMODEL_NAME = "llama3.2:3b"  # set by ollama-fleet\nprint(MODEL_NAME)\n';
    const rule = file('regex', {
      pattern: 'MODEL_NAME = "[^"]*"',
      replacement: 'MODEL_NAME = "{model}"',
    });
    expect(rewriteText(text, rule, 'phi3:mini')).toBe(text.replace('"llama3.2:3b"', '"phi3:mini"'));
  });

  it('says what is wrong when there is nothing to rewrite', () => {
    expect(() => rewriteText('{"other": 1}', file('json', { key: 'model' }), 'x')).toThrow(
      /no value at model to rewrite/,
    );
    expect(() =>
      rewriteText('nothing', file('regex', { pattern: 'MODEL', replacement: 'x' }), 'x'),
    ).toThrow(/matches nothing/);
  });
});
