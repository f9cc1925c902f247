import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DemandGroup,
  type LoadedState,
  type PlanInput,
  plan,
} from '../../src/scheduler/planner.js';

const MIB = 2 ** 20;
const GIB = 2 ** 30;
const NOW = 1_000_000;
const SIZES: Record<string, number> = {
  'big:1': 6 * GIB,
  'mid:1': 3 * GIB,
  'small:1': 1 * GIB,
  'tiny:1': 512 * MIB,
  'huge:1': 30 * GIB,
};

function demand(model: string, rank = 1, oldest = NOW - 1000, pending = 5): DemandGroup {
  return { model, submitted: [model], pending, rank, oldest };
}

function input(over: Partial<PlanInput>): PlanInput {
  return {
    demand: [],
    loaded: [],
    capacity: { total: 8 * GIB, external: 0 },
    estimate: (m) => SIZES[m],
    marginBytes: 1 * GIB,
    maxConcurrentPerModel: 4,
    maxWaitMs: 60_000,
    busy: false,
    now: NOW,
    ...over,
  };
}

const loaded = (model: string, running = 0): LoadedState => ({
  model,
  bytes: SIZES[model] as number,
  running,
});

describe('the VRAM planner', () => {
  it('loads the most urgent waiting model when it fits', () => {
    const p = plan(input({ demand: [demand('small:1', 1), demand('mid:1', 0)] }));
    expect(p.load).toBe('mid:1');
    expect(p.unload).toEqual([]);
  });

  it('unloads the idle model whose work ranks lowest, then the one with less waiting, even past 100,000 pending', () => {
    // big (6 GiB) wants room on the 8 GiB card: one of mid and small must go.
    const idle = [loaded('mid:1'), loaded('small:1')];
    const p = plan(
      input({
        demand: [
          demand('big:1', 0),
          demand('mid:1', 2, NOW - 1000, 150_000),
          demand('small:1', 1, NOW - 1000, 3),
        ],
        loaded: idle,
      }),
    );
    // mid's 150,000 low jobs still rank below small's 3 normal ones: mid goes.
    expect(p.unload).toEqual(['mid:1']);
    const same = plan(
      input({
        demand: [
          demand('big:1', 0),
          demand('mid:1', 1, NOW - 1000, 2),
          demand('small:1', 1, NOW - 1000, 9),
        ],
        loaded: idle,
      }),
    );
    // Same rank: the one with less waiting goes.
    expect(same.unload).toEqual(['mid:1']);
  });

  it('high work preempts a busy model in its way when every job running there may be preempted', () => {
    // mid (3 GiB) runs two low jobs; big (6 GiB, high) cannot fit beside it on 8 GiB.
    const busy = { ...loaded('mid:1', 2), preemptible: 2 };
    const p = plan(input({ demand: [demand('big:1', 0), demand('mid:1', 2)], loaded: [busy] }));
    expect(p.preempt).toEqual(['mid:1']);
    expect(p.preemptFor).toBe('big:1');
    expect(p.draining).toEqual(['mid:1']);
    // Never an unload of a model whose jobs still run: that comes once they are back in line.
    expect(p.unload).toEqual([]);
    // One job there may not be preempted (normal, or bytes sent): it drains instead.
    const mixed = plan(
      input({ demand: [demand('big:1', 0)], loaded: [{ ...loaded('mid:1', 2), preemptible: 1 }] }),
    );
    expect(mixed.preempt).toEqual([]);
    expect(mixed.draining).toEqual(['mid:1']);
    // Normal work waits for the drain; it preempts nothing.
    const normal = plan(
      input({ demand: [demand('big:1', 1), demand('mid:1', 2)], loaded: [busy] }),
    );
    expect(normal.preempt).toEqual([]);
    // Preempting would not make room (another busy model stays): nothing is preempted.
    const stuck = plan(
      input({
        demand: [demand('big:1', 0), demand('small:1', 0)],
        loaded: [busy, { ...loaded('small:1', 1), preemptible: 0 }],
        capacity: { total: 7.5 * GIB, external: 0 },
      }),
    );
    expect(stuck.preempt).toEqual([]);
  });

  it('never loads more models than Ollama holds at once: an idle one goes first', () => {
    const three = [loaded('tiny:1'), { ...loaded('small:1'), running: 1 }, loaded('mid:1', 1)];
    const p = plan(
      input({
        demand: [demand('tiny:1', 2), demand('small:1'), demand('mid:1'), demand('big:1', 0)],
        loaded: [...three.slice(0, 2), { model: 'huge-free:1', bytes: 0, running: 0 }],
        capacity: { total: 80 * GIB, external: 0, maxModels: 3 },
        estimate: (m) => SIZES[m] ?? 256 * MIB,
      }),
    );
    // 80 GiB has room for big, but Ollama holds three models: the idle one without work goes.
    expect(p.load).toBeUndefined();
    expect(p.unload).toEqual(['huge-free:1']);
    const roomy = plan(
      input({
        demand: [demand('big:1', 0)],
        loaded: [loaded('tiny:1')],
        capacity: { total: 80 * GIB, external: 0, maxModels: 3 },
      }),
    );
    expect(roomy.load).toBe('big:1');
  });

  it('keeps a loaded model and loads another beside it when both fit with the margin', () => {
    const p = plan(
      input({ demand: [demand('small:1'), demand('mid:1')], loaded: [loaded('mid:1', 2)] }),
    );
    expect(p.load).toBe('small:1');
    expect(p.dispatch).toEqual([{ model: 'mid:1', count: 2 }]);
  });

  it('never plans a load that does not fit beside others, counting the margin and other processes', () => {
    // 8 GiB card, 3 GiB held, 2 GiB by another process: 3 GiB left, 3 GiB + 1 GiB margin needed.
    const p = plan(
      input({
        demand: [demand('mid:1', 0)],
        loaded: [loaded('small:1', 1), loaded('tiny:1', 1)],
        capacity: { total: 8 * GIB, external: 3.5 * GIB },
      }),
    );
    expect(p.load).toBeUndefined();
  });

  it('never unloads a model with jobs running on it', () => {
    const p = plan(input({ demand: [demand('big:1', 0)], loaded: [loaded('mid:1', 3)] }));
    expect(p.unload).toEqual([]);
    expect(p.load).toBeUndefined();
  });

  it('unloads idle models without demand first to make room', () => {
    const p = plan(
      input({
        demand: [demand('big:1', 0), demand('tiny:1', 2)],
        loaded: [loaded('mid:1'), loaded('tiny:1')],
      }),
    );
    expect(p.unload[0]).toBe('mid:1');
    expect(p.load).toBeUndefined();
  });

  it('a model alone on the card needs no margin: Ollama offloads what does not fit', () => {
    const p = plan(
      input({ demand: [demand('big:1')], capacity: { total: 6.5 * GIB, external: 1 * GIB } }),
    );
    expect(p.load).toBe('big:1');
  });

  it('serves the loaded model while it has demand, rather than swap for an equal one', () => {
    const p = plan(
      input({
        demand: [demand('mid:1', 1, NOW - 5000), demand('big:1', 1, NOW - 9000)],
        loaded: [loaded('mid:1', 4)],
      }),
    );
    expect(p.load).toBeUndefined();
    expect(p.draining).toEqual([]);
  });

  it('drains the loaded model for better-ranked work that cannot fit beside it', () => {
    const p = plan(
      input({ demand: [demand('mid:1', 1), demand('big:1', 0)], loaded: [loaded('mid:1', 2)] }),
    );
    expect(p.draining).toEqual(['mid:1']);
    expect(p.dispatch).toEqual([]);
  });

  it('bounds the wait: after maxWaitMs another model gets its turn even at equal rank', () => {
    const p = plan(
      input({
        demand: [demand('mid:1', 0, NOW - 1000), demand('big:1', 0, NOW - 120_000)],
        loaded: [loaded('mid:1', 2)],
      }),
    );
    expect(p.draining).toEqual(['mid:1']);
  });

  it('fails the jobs of a model larger than the whole card', () => {
    const p = plan(input({ demand: [demand('huge:1', 0)] }));
    expect(p.impossible).toEqual([
      {
        model: 'huge:1',
        reason: expect.stringContaining('needs about 30720 MiB of VRAM and the GPU has 8192 MiB'),
      },
    ]);
    expect(p.load).toBeUndefined();
  });

  it('without a known card size, runs one model at a time', () => {
    const p = plan(
      input({
        demand: [demand('tiny:1')],
        loaded: [loaded('small:1', 1)],
        capacity: { total: undefined, external: 0 },
      }),
    );
    expect(p.load).toBeUndefined();
    const idle = plan(
      input({
        demand: [demand('tiny:1')],
        loaded: [loaded('small:1', 0)],
        capacity: { total: undefined, external: 0 },
      }),
    );
    expect(idle.unload).toEqual(['small:1']);
  });

  it('sends no job to a model whose keep-alive is running out: it renews it with a load first', () => {
    const p = plan(
      input({ demand: [demand('small:1')], loaded: [{ ...loaded('small:1'), expiring: true }] }),
    );
    expect(p.dispatch).toEqual([]);
    expect(p.load).toBe('small:1');
  });

  it('plans nothing new while a load or unload is under way, but keeps dispatching', () => {
    const p = plan(
      input({
        demand: [demand('tiny:1'), demand('small:1')],
        loaded: [loaded('small:1', 1)],
        busy: true,
      }),
    );
    expect(p.load).toBeUndefined();
    expect(p.dispatch).toEqual([{ model: 'small:1', count: 3 }]);
  });
});

interface Scenario {
  demand: { model: string; rank: number; age: number; pending: number }[];
  loaded: { model: string; running: number }[];
  totalGib: number;
  externalGib: number;
}

describe('planner invariants (property)', () => {
  const models = Object.keys(SIZES).filter((m) => m !== 'huge:1');
  const scenario = fc.record({
    demand: fc.uniqueArray(
      fc.record({
        model: fc.constantFrom(...models),
        rank: fc.integer({ min: 0, max: 2 }),
        age: fc.integer({ min: 0, max: 200_000 }),
        pending: fc.integer({ min: 1, max: 30 }),
      }),
      { selector: (d) => d.model, maxLength: 4 },
    ),
    loaded: fc.uniqueArray(
      fc.record({ model: fc.constantFrom(...models), running: fc.integer({ min: 0, max: 4 }) }),
      {
        selector: (l) => l.model,
        maxLength: 3,
      },
    ),
    totalGib: fc.integer({ min: 7, max: 24 }),
    externalGib: fc.integer({ min: 0, max: 4 }),
  });

  const build = (s: Scenario) => {
    // Only states that fit the card are reachable: what is loaded already fits.
    const held = s.loaded.reduce((sum, l) => sum + (SIZES[l.model] as number), 0);
    const total = Math.max(s.totalGib * GIB, held + s.externalGib * GIB);
    return input({
      demand: s.demand.map((d) => demand(d.model, d.rank, NOW - d.age, d.pending)),
      loaded: s.loaded.map((l) => loaded(l.model, l.running)),
      capacity: { total, external: s.externalGib * GIB },
    });
  };

  it('never exceeds VRAM beside other models and never unloads a busy one', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const i = build(s);
        const p = plan(i);
        for (const model of p.unload)
          expect(i.loaded.find((l) => l.model === model)?.running ?? 0).toBe(0);
        if (p.load) {
          const staying = i.loaded.filter((l) => !p.unload.includes(l.model));
          if (staying.length > 0) {
            const held = staying.reduce((sum, l) => sum + l.bytes, 0);
            const need = SIZES[p.load] as number;
            expect(need + i.marginBytes + held + i.capacity.external).toBeLessThanOrEqual(
              i.capacity.total as number,
            );
          }
        }
        for (const d of p.dispatch) {
          const l = i.loaded.find((x) => x.model === d.model);
          expect(l).toBeDefined();
          expect(d.count + (l?.running ?? 0)).toBeLessThanOrEqual(i.maxConcurrentPerModel);
        }
      }),
    );
  });

  it('every job is eventually served: running the plans to their end serves all demand', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        let state = build(s);
        const left = new Map(state.demand.map((d) => [d.model, d.pending]));
        for (let step = 0; step < 200 && [...left.values()].some((n) => n > 0); step++) {
          const p = plan({
            ...state,
            demand: state.demand
              .filter((d) => (left.get(d.model) ?? 0) > 0)
              .map((d) => ({ ...d, pending: left.get(d.model) as number })),
            now: state.now + step * 1000,
          });
          let loadedNow = state.loaded
            .filter((l) => !p.unload.includes(l.model))
            .map((l) => ({ ...l, running: 0 }));
          // Running jobs finish; dispatched jobs run and finish within the step.
          for (const d of p.dispatch)
            left.set(d.model, Math.max(0, (left.get(d.model) ?? 0) - d.count));
          if (p.load) loadedNow = [...loadedNow, loaded(p.load)];
          state = { ...state, loaded: loadedNow, now: state.now + 1000 };
        }
        expect([...left.values()].every((n) => n === 0)).toBe(true);
      }),
    );
  });
});
