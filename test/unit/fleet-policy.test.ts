/** Fleet policy, decided with plain values: incident targets, telemetry, health; and the serial effects queue. */
import { describe, expect, it } from 'vitest';
import { SerialEffects } from '../../src/fleet/effects.js';
import { initialLadderState, type LadderState } from '../../src/fleet/ladder.js';
import { healthProblems, incidentLadders, telemetryIncidents } from '../../src/fleet/policy.js';
import { captureLogger } from '../helpers/log.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const GIB = 2 ** 30;
const main = initialLadderState('main', ['llama3.2:3b', 'phi3:mini'], T0);
const embed = initialLadderState('embed', ['nomic-embed-text', 'all-minilm'], T0);
const onRung = (state: LadderState, index: number): LadderState => ({
  ...state,
  current_model_index: index,
});

describe('fleet policy', () => {
  it('counts an incident on the ladders whose rung is its model, else on the first', () => {
    expect(incidentLadders([main, embed], 'nomic-embed-text:latest').map((l) => l.name)).toEqual([
      'embed',
    ]);
    expect(incidentLadders([main, embed], 'qwen2.5:7b').map((l) => l.name)).toEqual(['main']);
    expect(incidentLadders([main, embed], undefined).map((l) => l.name)).toEqual(['main']);
  });

  it('says when a rung no longer fits beside other processes, once per period, on watched ladders only', () => {
    const input = {
      at: T0,
      usable: 3 * GIB,
      ladders: [main, onRung(embed, 0)],
      watched: new Set(['main']),
      estimate: (m: string) => (m.startsWith('llama3.2') ? 3.5 * GIB : 0.5 * GIB),
      lastNoted: new Map<string, number>(),
      everyMs: 60_000,
      weight: 0.25,
    };
    const found = telemetryIncidents(input);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      ladder: 'main',
      incident: { kind: 'telemetry_no_fit', severity: 'soft', weight: 0.25, at: T0 },
    });
    expect(found[0]?.incident.evidence).toContain('3584 MiB');
    // Noted a moment ago: not again within the period; it fits once room returns.
    expect(telemetryIncidents({ ...input, lastNoted: new Map([['main', T0 - 1_000]]) })).toEqual(
      [],
    );
    expect(telemetryIncidents({ ...input, usable: 4 * GIB })).toEqual([]);
  });

  it('words what keeps the supervisor from being fully well', () => {
    const one = (ollama: unknown, watch: unknown) => [{ name: 'default', ollama, watch }] as never;
    expect(healthProblems({ backends: one({ reachable: true }, { state: 'following' }) })).toEqual(
      [],
    );
    expect(
      healthProblems({
        backends: one(
          { reachable: false, error: 'ECONNREFUSED' },
          { state: 'unavailable', problem: 'no Docker socket' },
        ),
        security: 'open to the network',
      }),
    ).toEqual([
      'security: open to the network',
      'Ollama: ECONNREFUSED',
      'log watcher: no Docker socket',
    ]);
  });

  it('names the backend when several stand behind the supervisor; one without a log has no watcher to miss', () => {
    expect(
      healthProblems({
        backends: [
          { name: 'a', ollama: { reachable: false, error: 'ECONNREFUSED' }, watch: undefined },
          { name: 'b', ollama: { reachable: true }, watch: { state: 'retrying', problem: 'gone' } },
        ],
      }),
    ).toEqual(['backend a: Ollama: ECONNREFUSED', 'backend b: log watcher: gone']);
  });
});

describe('serial effects', () => {
  it('runs effects one after another, in order, and a failure does not stop the next', async () => {
    const capture = captureLogger();
    const failed: string[] = [];
    const effects = new SerialEffects(capture.log, (name) => failed.push(name));
    const order: string[] = [];
    let release: () => void = () => {};
    effects.enqueue('first', async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      order.push('first');
    });
    effects.enqueue('second', async () => {
      order.push('second');
      throw new Error('worker config is read-only');
    });
    effects.enqueue('third', async () => {
      order.push('third');
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]); // the second waits for the first
    release();
    await effects.idle();
    expect(order).toEqual(['first', 'second', 'third']);
    expect(failed).toEqual(['second']);
  });

  it('close() aborts the running effect, drops later ones, and can be called twice', async () => {
    const effects = new SerialEffects(captureLogger().log);
    let sawAbort = false;
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    effects.enqueue('long pull', async (signal) => {
      started();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      sawAbort = signal.aborted;
    });
    let ranAfter = false;
    effects.enqueue('later', async () => {
      ranAfter = true;
    });
    await running;
    await Promise.all([effects.close(), effects.close()]);
    expect(sawAbort).toBe(true);
    expect(ranAfter).toBe(false);
    effects.enqueue('after close', async () => {
      ranAfter = true;
    });
    await effects.idle();
    expect(ranAfter).toBe(false);
  });
});
