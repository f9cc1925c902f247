import { describe, expect, it } from 'vitest';
import { decodeGoJson } from '../../src/ollama/go-json.js';

describe("a broken body gets Go's encoding/json words", () => {
  it.each([
    ['{"model": "qwen2.5:0.5b",', 'unexpected EOF'],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', `invalid character '"' after object key:value pair`],
    ['[1 2]', "invalid character '2' after array element"],
    ['[1,]', "invalid character ']' looking for beginning of value"],
    ['nulx', "invalid character 'x' in literal null (expecting 'l')"],
    ['"a\\qb"', "invalid character 'q' in string escape code"],
    ['1.x', "invalid character 'x' after decimal point in numeric literal"],
    ['{"a":"b\nc"}', "invalid character '\\n' in string literal"],
    ["'x'", "invalid character '\\'' looking for beginning of value"],
    ['model=x', "invalid character 'm' looking for beginning of value"],
  ])('%j: %s', (text, error) => {
    expect(decodeGoJson(text)).toEqual({ error });
  });

  it('reads the first value and leaves what follows, as json.Decoder does', () => {
    expect(decodeGoJson('{"model":"x"} and more')).toEqual({ value: { model: 'x' } });
    expect(decodeGoJson(' [1, {"a": null}] ')).toEqual({ value: [1, { a: null }] });
  });
});
