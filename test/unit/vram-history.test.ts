/** The supervisor's hour of VRAM history: one sample per step, the latest in a step wins. */
import { describe, expect, it } from 'vitest';
import { VramHistory } from '../../src/gpu/history.js';
import type { ResourceSnapshot } from '../../src/gpu/snapshot.js';

const GIB = 2 ** 30;
const snapshot = (at: number, modelGib: number): ResourceSnapshot =>
  ({
    at,
    gpus: [{ index: 0, total: 8 * GIB, external: GIB }],
    loaded: modelGib > 0 ? [{ name: 'llama3.2:3b', size_vram: modelGib * GIB }] : [],
    totals: { total: 8 * GIB, used: 0, free: 0 },
  }) as unknown as ResourceSnapshot;

describe('VRAM history', () => {
  it('keeps one sample per step (the latest), per GPU, with what each model holds', () => {
    const history = new VramHistory(10_000, 3_600_000);
    history.record(snapshot(0, 1));
    history.record(snapshot(5_000, 2));
    history.record(snapshot(12_000, 3));
    const samples = history.samples();
    expect(samples.map((s) => s.at)).toEqual([5_000, 12_000]);
    expect(samples[0]?.gpus[0]).toEqual({
      total: 8 * GIB,
      external: GIB,
      models: [{ name: 'llama3.2:3b', bytes: 2 * GIB }],
    });
  });

  it('keeps the last hour only', () => {
    const history = new VramHistory(10_000, 3_600_000);
    for (let t = 0; t <= 2 * 3_600_000; t += 10_000) history.record(snapshot(t, 1));
    const samples = history.samples();
    expect(samples[0]?.at).toBe(3_600_000);
    expect(samples.length).toBe(361);
  });
});
