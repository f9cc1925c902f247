import { describe, expect, it } from 'vitest';
import { applyLadderEvent, initialLadderState } from '../../src/fleet/ladder.js';
import { decodeStateFile, encodeStateFile } from '../../src/fleet/state-file.js';

const MODELS = ['llama3.2:3b', 'phi3:mini', 'tinyllama:1.1b', 'qwen2.5:0.5b'];
const DEFAULT = { name: 'main', models: MODELS };
const T0 = Date.parse('2026-11-25T12:00:00.250Z');
const POLICY = { after_incidents: 3, window: 600_000, cooldown: 300_000 };

describe('fleet-state.json', () => {
  it('keeps the fields users of the existing tool read at the top level', () => {
    const state = applyLadderEvent(
      initialLadderState('main', MODELS, T0),
      { type: 'downgrade', source: 'cli' },
      POLICY,
      T0,
    ).state;
    const file = JSON.parse(encodeStateFile([state], T0 + 500));
    expect(file).toMatchObject({
      current_model_index: 1,
      vram_error_count: 0,
      current_model: 'phi3:mini',
      timestamp: (T0 + 500) / 1000,
      ladder: 'main',
    });
    expect(typeof file.timestamp).toBe('number');
    expect(file.ladders.main.history[0]).toMatchObject({
      from: 'llama3.2:3b',
      to: 'phi3:mini',
      source: 'cli',
    });
  });

  it('reads back what it wrote, every ladder included', () => {
    const main = applyLadderEvent(
      initialLadderState('main', MODELS, T0),
      {
        type: 'incident',
        incident: { at: T0, kind: 'cuda_oom', severity: 'hard', weight: 1, evidence: 'x' },
      },
      POLICY,
      T0,
    ).state;
    const embed = initialLadderState('embed', ['nomic-embed-text', 'all-minilm'], T0);
    const decoded = decodeStateFile(encodeStateFile([main, embed], T0), DEFAULT);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.ladders.get('main')).toEqual(main);
    expect(decoded.ladders.get('embed')).toEqual(embed);
  });

  it("imports the existing tool's four-field file into the default ladder", () => {
    const legacy = JSON.stringify({
      current_model_index: 2,
      vram_error_count: 1,
      current_model: 'tinyllama:1.1b',
      timestamp: 1764000000.5,
    });
    const decoded = decodeStateFile(legacy, DEFAULT);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.ladders.get('main')?.current_model_index).toBe(2);
    expect(decoded.note).toContain('imported the legacy state file');
  });

  it.each([
    ['truncated JSON', '{"current_model_index": 1, "oops', /not valid JSON/],
    ['a list', '[1,2]', /neither/],
    [
      'a model that does not match its index',
      JSON.stringify({
        format: 1,
        current_model_index: 0,
        vram_error_count: 0,
        current_model: 'llama3.2:3b',
        timestamp: 1,
        ladder: 'main',
        ladders: {
          main: {
            models: MODELS,
            current_model_index: 1,
            current_model: 'llama3.2:3b',
            vram_error_count: 0,
            incidents: [],
            cooldown_until: null,
            history: [],
            updated_at: '2026-11-25T12:00:00.000Z',
          },
        },
      }),
      /current_model does not match/,
    ],
  ])('reports %s as corrupt, with the reason', (_name, text, reason) => {
    const decoded = decodeStateFile(text, DEFAULT);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(reason);
  });
});
