import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyLadderEvent,
  currentModel,
  HISTORY_LIMIT,
  type Incident,
  incidentWeight,
  initialLadderState,
  type LadderEvent,
  type LadderState,
  reconcileLadder,
} from '../../src/fleet/ladder.js';

const MODELS = ['llama3.2:3b', 'phi3:mini', 'tinyllama:1.1b', 'qwen2.5:0.5b'];
const POLICY = { after_incidents: 3, window: 600_000, cooldown: 300_000 };
const T0 = Date.parse('2026-11-25T12:00:00Z');

const fresh = () => initialLadderState('main', MODELS, T0);
const oom = (at: number, weight = 1): LadderEvent => ({
  type: 'incident',
  incident: {
    at,
    kind: 'cuda_oom',
    severity: 'hard',
    weight,
    evidence: 'CUDA error: out of memory',
  },
});
const step = (state: LadderState, event: LadderEvent, now: number) =>
  applyLadderEvent(state, event, POLICY, now);

describe('ladder transitions', () => {
  it('starts at the top rung', () => {
    expect(currentModel(fresh())).toBe('llama3.2:3b');
  });

  it('downgrade steps one rung smaller and records who did it and why', () => {
    const out = step(fresh(), { type: 'downgrade', source: 'cli', reason: 'testing' }, T0 + 1);
    expect(currentModel(out.state)).toBe('phi3:mini');
    expect(out.transition).toMatchObject({
      from: 'llama3.2:3b',
      to: 'phi3:mini',
      from_index: 0,
      to_index: 1,
      reason: 'testing',
      source: 'cli',
      at: T0 + 1,
    });
    expect(out.state.history).toHaveLength(1);
  });

  it('refuses to step down at the bottom, saying why', () => {
    let state = fresh();
    for (let i = 0; i < 3; i++) state = step(state, { type: 'downgrade', source: 'cli' }, T0).state;
    expect(currentModel(state)).toBe('qwen2.5:0.5b');
    expect(() => step(state, { type: 'downgrade', source: 'cli' }, T0)).toThrow(
      expect.objectContaining({ code: 'FLEET_ERR_LADDER_AT_BOTTOM', exitCode: 1 }),
    );
  });

  it('upgrade steps one rung larger, and refuses at the top', () => {
    const down = step(fresh(), { type: 'downgrade', source: 'cli' }, T0).state;
    const up = step(down, { type: 'upgrade', source: 'api' }, T0 + 5);
    expect(currentModel(up.state)).toBe('llama3.2:3b');
    expect(up.transition?.source).toBe('api');
    expect(() => step(up.state, { type: 'upgrade', source: 'cli' }, T0)).toThrow(
      expect.objectContaining({ code: 'FLEET_ERR_LADDER_AT_TOP' }),
    );
  });

  it('reset returns to the top from any rung', () => {
    let state = fresh();
    for (let i = 0; i < 3; i++) state = step(state, { type: 'downgrade', source: 'cli' }, T0).state;
    const out = step(state, { type: 'reset', source: 'schedule' }, T0 + 10);
    expect(currentModel(out.state)).toBe('llama3.2:3b');
    expect(out.transition).toMatchObject({
      from: 'qwen2.5:0.5b',
      to: 'llama3.2:3b',
      source: 'schedule',
    });
  });

  it('reset at the top makes no transition but clears the incident count', () => {
    const counted = step(fresh(), oom(T0), T0).state;
    expect(counted.incidents).toHaveLength(1);
    const out = step(counted, { type: 'reset', source: 'cli' }, T0 + 1);
    expect(out.transition).toBeNull();
    expect(out.state.incidents).toHaveLength(0);
  });

  it('set moves to a named rung, and refuses a model that is not on the ladder', () => {
    const out = step(fresh(), { type: 'set', model: 'tinyllama:1.1b', source: 'cli' }, T0);
    expect(out.state.current_model_index).toBe(2);
    expect(() => step(fresh(), { type: 'set', model: 'gemma:2b', source: 'cli' }, T0)).toThrow(
      expect.objectContaining({ code: 'FLEET_ERR_MODEL_NOT_ON_LADDER', exitCode: 2 }),
    );
  });

  it('set to the current model is a no-op', () => {
    const out = step(fresh(), { type: 'set', model: 'llama3.2:3b', source: 'cli' }, T0);
    expect(out.transition).toBeNull();
    expect(out.state.history).toHaveLength(0);
  });

  it('keeps only the latest transitions in the history', () => {
    let state = fresh();
    for (let i = 0; i < HISTORY_LIMIT + 20; i++) {
      const type = state.current_model_index === 0 ? 'downgrade' : 'upgrade';
      state = step(state, { type, source: 'cli' }, T0 + i).state;
    }
    expect(state.history).toHaveLength(HISTORY_LIMIT);
    expect(state.history.at(-1)?.at).toBe(T0 + HISTORY_LIMIT + 19);
  });
});

describe('one event is one incident, whichever sources saw it', () => {
  const merging = { ...POLICY, merge_within: 2_000 };
  const seen = (state: LadderState, at: number, severity: 'hard' | 'soft', kind: string) =>
    applyLadderEvent(
      state,
      {
        type: 'incident',
        incident: { at, kind, severity, weight: severity === 'hard' ? 1 : 0.25 },
      },
      merging,
      at,
    );

  it('the log line and the failed job of one OOM count once; three OOMs step down', () => {
    let state = fresh();
    for (let episode = 0; episode < 3; episode++) {
      const at = T0 + episode * 10_000;
      state = seen(state, at, 'hard', 'cuda_oom').state;
      const again = seen(state, at + 400, 'hard', 'ollama_oom');
      expect(again.message).toContain('not counted');
      state = again.state;
      if (episode < 2) expect(incidentWeight(state)).toBe(episode + 1);
    }
    expect(currentModel(state)).toBe('phi3:mini');
  });

  it('a soft sign then a hard failure of the same event count as one hard incident', () => {
    let state = seen(fresh(), T0, 'soft', 'vram_not_recovered').state;
    state = seen(state, T0 + 1_500, 'hard', 'cuda_oom').state;
    expect(state.incidents).toHaveLength(1);
    expect(state.incidents[0]).toMatchObject({ severity: 'hard', kind: 'cuda_oom', at: T0 });
    expect(incidentWeight(state)).toBe(1);
    // Further apart than merge_within: a new event.
    state = seen(state, T0 + 5_000, 'hard', 'cuda_oom').state;
    expect(incidentWeight(state)).toBe(2);
  });
});

describe('incidents read late', () => {
  it('does not count an incident older than the window (a log replayed after a restart)', () => {
    const late = step(fresh(), oom(T0 - 11 * 60_000), T0);
    expect(late.state.incidents).toHaveLength(0);
    expect(late.message).toContain('older than');
  });
});

describe('incidents and policy', () => {
  it('downgrades after 3 incidents within the window', () => {
    let state = fresh();
    state = step(state, oom(T0), T0).state;
    state = step(state, oom(T0 + 60_000), T0 + 60_000).state;
    expect(state.current_model_index).toBe(0);
    const out = step(state, oom(T0 + 120_000), T0 + 120_000);
    expect(currentModel(out.state)).toBe('phi3:mini');
    expect(out.transition?.source).toBe('policy');
    expect(out.transition?.reason).toContain('3 VRAM incidents (cuda_oom)');
    // The evidence stays with the step, after the count is cleared.
    expect(out.transition?.incidents?.map((i) => i.at)).toEqual([T0, T0 + 60_000, T0 + 120_000]);
    expect(out.state.incidents).toHaveLength(0);
  });

  it('a transition resets the count and starts a cooldown', () => {
    let state = fresh();
    for (let i = 0; i < 3; i++) state = step(state, oom(T0 + i), T0 + i).state;
    expect(state.incidents).toHaveLength(0);
    expect(state.cooldown_until).toBe(T0 + 2 + POLICY.cooldown);
  });

  it('does not count incidents that fall out of the window', () => {
    let state = fresh();
    state = step(state, oom(T0), T0).state;
    state = step(state, oom(T0 + 1000), T0 + 1000).state;
    // Eleven minutes later the first two are older than the ten-minute window.
    const later = T0 + 11 * 60_000;
    const out = step(state, oom(later), later);
    expect(out.transition).toBeNull();
    expect(out.state.incidents).toHaveLength(1);
  });

  it('ignores incidents during the cooldown, so one burst makes one step', () => {
    let state = fresh();
    for (let i = 0; i < 6; i++) state = step(state, oom(T0 + i * 10), T0 + i * 10).state;
    expect(currentModel(state)).toBe('phi3:mini');
    expect(state.incidents).toHaveLength(0);
    // After the cooldown, incidents count again.
    const after = T0 + POLICY.cooldown + 1000;
    const out = step(state, oom(after), after);
    expect(out.state.incidents).toHaveLength(1);
    expect(out.state.cooldown_until).toBeNull();
  });

  it('a manual change starts a cooldown too', () => {
    const down = step(fresh(), { type: 'downgrade', source: 'cli' }, T0).state;
    const out = step(down, oom(T0 + 1000), T0 + 1000);
    expect(out.state.incidents).toHaveLength(0);
    expect(out.message).toContain('cooling down');
  });

  it('weighs soft incidents less than hard ones', () => {
    let state = fresh();
    const soft = (at: number): LadderEvent => ({
      type: 'incident',
      incident: { at, kind: 'vram_not_recovered', severity: 'soft', weight: 0.25 },
    });
    for (let i = 0; i < 11; i++) state = step(state, soft(T0 + i), T0 + i).state;
    expect(state.current_model_index).toBe(0);
    expect(step(state, soft(T0 + 11), T0 + 11).state.current_model_index).toBe(1);
  });

  it('at the bottom, incidents are counted but nothing moves', () => {
    let state = fresh();
    for (let i = 0; i < 3; i++) state = step(state, { type: 'downgrade', source: 'cli' }, T0).state;
    const after = T0 + POLICY.cooldown + 1;
    for (let i = 0; i < 3; i++) state = step(state, oom(after + i), after + i).state;
    expect(currentModel(state)).toBe('qwen2.5:0.5b');
    expect(state.incidents).toHaveLength(3);
  });
});

describe('stepping up on probation', () => {
  const down = () => {
    let state = fresh();
    state = step(state, { type: 'downgrade', source: 'policy' }, T0).state;
    return state;
  };

  it('hard trouble soon after a step up goes straight back down, cooldown or not, and holds the schedule', () => {
    const up = step(
      down(),
      { type: 'upgrade', source: 'schedule' },
      T0 + POLICY.cooldown + 1,
    ).state;
    expect(currentModel(up)).toBe('llama3.2:3b');
    const at = T0 + POLICY.cooldown + 60_000;
    const out = step(up, oom(at), at);
    expect(currentModel(out.state)).toBe('phi3:mini');
    expect(out.transition).toMatchObject({
      source: 'policy',
      from: 'llama3.2:3b',
      to: 'phi3:mini',
    });
    expect(out.transition?.reason).toContain('soon after stepping up');
    expect(out.state.upgrade_hold).toEqual({
      until: at + POLICY.window * 6,
      backoff_ms: POLICY.window * 6,
    });
    expect(() => step(out.state, { type: 'upgrade', source: 'schedule' }, at + 1000)).toThrow(
      expect.objectContaining({ code: 'FLEET_ERR_LADDER_HELD' }),
    );
    // An operator may still step up by hand.
    expect(currentModel(step(out.state, { type: 'upgrade', source: 'cli' }, at + 1000).state)).toBe(
      'llama3.2:3b',
    );
  });

  it('backs off twice as long after each failed step up', () => {
    let state = step(down(), { type: 'upgrade', source: 'schedule' }, T0 + 1).state;
    state = step(state, oom(T0 + 2), T0 + 2).state;
    const firstHold = state.upgrade_hold?.backoff_ms as number;
    const later = (state.upgrade_hold?.until as number) + 1;
    state = step(state, { type: 'upgrade', source: 'schedule' }, later).state;
    state = step(state, oom(later + 1), later + 1).state;
    expect(state.upgrade_hold?.backoff_ms).toBe(firstHold * 2);
  });

  it('a step up that passes its window stays, and clears the backoff', () => {
    let state = step(down(), { type: 'upgrade', source: 'schedule' }, T0 + 1).state;
    state = step(state, oom(T0 + 2), T0 + 2).state;
    const later = (state.upgrade_hold?.until as number) + 1;
    state = step(state, { type: 'upgrade', source: 'schedule' }, later).state;
    const calm = later + POLICY.window + POLICY.cooldown + 1;
    const out = step(state, oom(calm), calm);
    expect(currentModel(out.state)).toBe('llama3.2:3b');
    expect(out.state.incidents).toHaveLength(1);
    expect(out.state.upgrade_hold).toBeNull();
  });

  it('soft trouble during probation is counted as usual', () => {
    const up = step(down(), { type: 'upgrade', source: 'schedule' }, T0 + 1).state;
    const soft: LadderEvent = {
      type: 'incident',
      incident: { at: T0 + 2, kind: 'vram_not_recovered', severity: 'soft', weight: 0.25 },
    };
    expect(step(up, soft, T0 + 2).transition).toBeNull();
  });
});

describe('a ladder changed in fleet.yaml', () => {
  const at = (index: number) => ({ ...fresh(), current_model_index: index });

  it('an unchanged ladder keeps its state', () => {
    const saved = at(2);
    expect(reconcileLadder(saved, MODELS, T0).state).toBe(saved);
  });

  it('keeps the saved model when it moved to another rung', () => {
    const { state, note } = reconcileLadder(at(1), ['gemma:2b', ...MODELS], T0);
    expect(currentModel(state)).toBe('phi3:mini');
    expect(state.current_model_index).toBe(2);
    expect(note).toContain('stays on phi3:mini');
  });

  it('when the saved model is gone, picks the nearest smaller rung that remains', () => {
    const { state, note } = reconcileLadder(
      at(1),
      ['llama3.2:3b', 'tinyllama:1.1b', 'qwen2.5:0.5b'],
      T0,
    );
    expect(currentModel(state)).toBe('tinyllama:1.1b');
    expect(note).toContain('phi3:mini is no longer on ladder main');
    expect(state.history.at(-1)).toMatchObject({
      source: 'config',
      from: 'phi3:mini',
      to: 'tinyllama:1.1b',
    });
  });

  it('looks up the ladder when nothing smaller remains', () => {
    const { state } = reconcileLadder(at(3), ['llama3.2:3b', 'phi3:mini'], T0);
    expect(currentModel(state)).toBe('phi3:mini');
  });

  it('with no model in common, keeps the rung number within the new ladder', () => {
    const { state } = reconcileLadder(at(3), ['gemma:2b', 'smollm:360m'], T0);
    expect(currentModel(state)).toBe('smollm:360m');
  });
});

describe('ladder invariants (property)', () => {
  const event = fc.oneof(
    fc
      .constantFrom<LadderEvent['type']>('downgrade', 'upgrade', 'reset')
      .map((type) => ({ type, source: 'cli' }) as LadderEvent),
    fc
      .constantFrom(...MODELS, 'not-a-rung:1b')
      .map((model) => ({ type: 'set', model, source: 'api' }) as LadderEvent),
    fc.double({ min: 0, max: 1, noNaN: true }).map(
      (weight) =>
        ({
          type: 'incident',
          incident: { at: 0, kind: 'x', severity: 'hard', weight } as Incident,
        }) as LadderEvent,
    ),
  );

  it('the current rung is always on the ladder and history only records real moves', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(event, fc.integer({ min: 0, max: 400_000 })), { maxLength: 60 }),
        (steps) => {
          let state = fresh();
          let now = T0;
          for (const [e, gap] of steps) {
            now += gap;
            const stamped =
              e.type === 'incident' ? { ...e, incident: { ...e.incident, at: now } } : e;
            try {
              const out = step(state, stamped, now);
              if (out.transition) expect(out.transition.from).not.toBe(out.transition.to);
              state = out.state;
              expect(state.incidents.every((i) => i.at > now - POLICY.window)).toBe(true);
            } catch (err) {
              expect((err as { code: string }).code).toMatch(
                /^FLEET_ERR_(LADDER_AT_|MODEL_NOT_ON)/,
              );
            }
            expect(state.current_model_index).toBeGreaterThanOrEqual(0);
            expect(state.current_model_index).toBeLessThan(MODELS.length);
          }
        },
      ),
    );
  });
});
