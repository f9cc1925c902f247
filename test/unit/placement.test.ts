import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BackendView, place } from '../../src/backends/placement.js';
import { type DemandGroup, plan } from '../../src/scheduler/planner.js';

const GiB = 2 ** 30;
const SIZES: Record<string, number> = {
  'tiny:1': 0.4 * GiB,
  'small:1': 1.1 * GiB,
  'mid:1': 2.6 * GiB,
  'big:1': 5.2 * GiB,
  'large:1': 9 * GiB,
  'huge:1': 30 * GiB,
};
const MODELS = Object.keys(SIZES);
const estimate = (model: string) => SIZES[model];
const NOW = 1_000_000;

function group(model: string, pending = 1, rank = 1, oldest = NOW - 1000): DemandGroup {
  return { model, submitted: [model], pending, rank, oldest };
}

function backend(
  name: string,
  gib: number | undefined,
  extra: Partial<BackendView> = {},
): BackendView {
  return {
    name,
    healthy: true,
    capacity: { total: gib === undefined ? undefined : gib * GiB, external: 0 },
    loaded: [],
    allows: undefined,
    parallel: 4,
    marginBytes: 0.5 * GiB,
    ...extra,
  };
}

const input = (demand: DemandGroup[], backends: BackendView[]) => ({
  demand,
  backends,
  estimate,
  maxConcurrentPerModel: 4,
  maxWaitMs: 300_000,
  now: NOW,
});

const on = (result: ReturnType<typeof place>, name: string) =>
  [...(result.assigned.get(name) ?? [])].sort();

describe('placement over several backends', () => {
  it('models that do not fit one card go to both, each where the most room is left', () => {
    const result = place(
      input(
        ['big:1', 'mid:1', 'small:1', 'tiny:1'].map((m) => group(m)),
        [backend('a', 8), backend('b', 8)],
      ),
    );
    // big fills most of a; the rest go where more room is left: b.
    expect(on(result, 'a')).toEqual(['big:1']);
    expect(on(result, 'b')).toEqual(['mid:1', 'small:1', 'tiny:1']);
    expect(result.impossible).toEqual([]);
  });

  it('a model a backend holds stays there: no second load while its jobs can start', () => {
    const b = backend('b', 24, {
      loaded: [{ model: 'mid:1', bytes: SIZES['mid:1'] as number, running: 1 }],
    });
    const result = place(input([group('mid:1', 2)], [backend('a', 24), b]));
    expect(on(result, 'a')).toEqual([]);
    expect(on(result, 'b')).toEqual(['mid:1']);
  });

  it('a hot model spreads to another backend with room when more wait than its holders can start', () => {
    const b = backend('b', 24, {
      loaded: [{ model: 'mid:1', bytes: SIZES['mid:1'] as number, running: 4 }],
    });
    const result = place(input([group('mid:1', 30)], [backend('a', 24), b]));
    expect(on(result, 'a')).toEqual(['mid:1']);
    expect(on(result, 'b')).toEqual(['mid:1']);
  });

  it('an allow-list keeps a model to the backends that list it', () => {
    const result = place(
      input(
        [group('tiny:1')],
        [backend('a', 24), backend('b', 8, { allows: new Set(['tiny:1']) })],
      ),
    );
    // b is smaller, yet a's list allows everything: tiny goes where most room is left...
    expect(on(result, 'a')).toEqual(['tiny:1']);
    const only = place(
      input([group('mid:1')], [backend('a', 24, { allows: new Set(['tiny:1']) }), backend('b', 8)]),
    );
    // ...and a model a's list leaves out goes to b only.
    expect(on(only, 'a')).toEqual([]);
    expect(on(only, 'b')).toEqual(['mid:1']);
  });

  it('prefers the backends known to have the model installed', () => {
    const result = place(
      input(
        [group('mid:1')],
        [
          backend('a', 24, { installed: new Set(['tiny:1']) }),
          backend('b', 8, { installed: new Set(['mid:1', 'tiny:1']) }),
        ],
      ),
    );
    // a has more room, but only b has the model: a would answer "model not found".
    expect(on(result, 'a')).toEqual([]);
    expect(on(result, 'b')).toEqual(['mid:1']);
    // Nobody known to have it: any backend may be asked (it may be pulled meanwhile).
    const unknown = place(input([group('small:1')], [backend('a', 24), backend('b', 8)]));
    expect(on(unknown, 'a')).toEqual(['small:1']);
  });

  it('a model no list allows, or larger than every card, fails with the reason', () => {
    const result = place(
      input(
        [group('huge:1'), group('large:1')],
        [
          backend('a', 8, { allows: new Set(['tiny:1', 'huge:1']) }),
          backend('b', 8, { allows: new Set(['tiny:1', 'huge:1']) }),
        ],
      ),
    );
    expect(result.impossible).toEqual([
      {
        model: 'huge:1',
        code: 'FLEET_ERR_MODEL_TOO_LARGE',
        reason:
          'huge:1 needs about 30720 MiB of VRAM and the largest GPU of the backends that may run it has 8192 MiB in all',
      },
      {
        model: 'large:1',
        code: 'FLEET_ERR_NO_BACKEND',
        reason: "no backend may run large:1: it is on none of the backends' models lists (a, b)",
      },
    ]);
  });

  it('a backend that is down gets nothing; its models wait when no other backend can take them', () => {
    const a = backend('a', 8, { healthy: false });
    const result = place(input([group('big:1'), group('large:1')], [a, backend('b', 24)]));
    expect(on(result, 'a')).toEqual([]);
    expect(on(result, 'b')).toEqual(['big:1', 'large:1']);
    const waiting = place(input([group('big:1')], [a]));
    expect(on(waiting, 'a')).toEqual([]);
    expect(waiting.impossible).toEqual([]);
  });

  it('with a single backend, every model that fits its card is placed on it', () => {
    const only = backend('default', 8, {
      loaded: [{ model: 'big:1', bytes: SIZES['big:1'] as number, running: 2 }],
    });
    const result = place(
      input(
        ['big:1', 'mid:1', 'small:1'].map((m) => group(m)),
        [only],
      ),
    );
    expect(on(result, 'default')).toEqual(['big:1', 'mid:1', 'small:1']);
  });
});

describe('placement properties', () => {
  const backendArb = (name: string) =>
    fc.record({
      name: fc.constant(name),
      healthy: fc.boolean(),
      total: fc.option(fc.integer({ min: 2, max: 40 }), { nil: undefined, freq: 8 }),
      external: fc.integer({ min: 0, max: 1024 }),
      margin: fc.integer({ min: 0, max: 1024 }),
      loaded: fc.uniqueArray(fc.record({ model: fc.constantFrom(...MODELS), running: fc.nat(5) }), {
        selector: (l) => l.model,
        maxLength: 3,
      }),
      allows: fc.option(fc.uniqueArray(fc.constantFrom(...MODELS), { minLength: 1 }), {
        nil: undefined,
      }),
    });
  const scenario = fc.record({
    backends: fc
      .integer({ min: 1, max: 4 })
      .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => backendArb(`b${i}`)))),
    demand: fc.uniqueArray(
      fc.record({
        model: fc.constantFrom(...MODELS),
        pending: fc.integer({ min: 1, max: 40 }),
        rank: fc.integer({ min: 0, max: 2 }),
        age: fc.nat(600_000),
      }),
      { selector: (d) => d.model, minLength: 1 },
    ),
  });

  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
  function build(s: Scenario) {
    const views: BackendView[] = s.backends.map((b) => {
      const total = b.total === undefined ? undefined : b.total * GiB;
      // A backend only holds what its card can: models are loaded by its own planner.
      let room = total ?? Number.POSITIVE_INFINITY;
      const loaded = b.loaded.filter((l) => {
        const bytes = SIZES[l.model] as number;
        if (bytes > room) return false;
        room -= bytes;
        return true;
      });
      return {
        name: b.name,
        healthy: b.healthy,
        capacity: { total, external: Math.min(b.external * 2 ** 20, total ?? 0) },
        loaded: loaded.map((l) => ({
          model: l.model,
          bytes: SIZES[l.model] as number,
          running: l.running,
        })),
        allows: b.allows ? new Set(b.allows) : undefined,
        parallel: 4,
        marginBytes: b.margin * 2 ** 20,
      };
    });
    const demand = s.demand.map((d) => group(d.model, d.pending, d.rank, NOW - d.age));
    return { views, demand, result: place(input(demand, views)) };
  }

  it('never plans a load over any card: each backend planning its share stays within it', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { views, demand, result } = build(s);
        for (const view of views) {
          const share = demand.filter((d) => result.assigned.get(view.name)?.has(d.model));
          const decided = plan({
            demand: share,
            loaded: view.loaded,
            capacity: view.capacity,
            estimate,
            marginBytes: view.marginBytes,
            maxConcurrentPerModel: 4,
            maxWaitMs: 300_000,
            busy: false,
            now: NOW,
          });
          // Placement never hands a backend a model its card cannot hold.
          expect(decided.impossible).toEqual([]);
          if (decided.load === undefined || view.capacity.total === undefined) continue;
          const staying = view.loaded.filter((l) => !decided.unload.includes(l.model));
          const need = SIZES[decided.load] as number;
          const held = staying.reduce((sum, l) => sum + l.bytes, 0);
          if (staying.length === 0) expect(need).toBeLessThanOrEqual(view.capacity.total);
          else
            expect(need + view.marginBytes + held + view.capacity.external).toBeLessThanOrEqual(
              view.capacity.total,
            );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('serves all demand: each model is placed on a healthy backend that may run it, fails with a reason, or waits for one that is down', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { views, demand, result } = build(s);
        for (const d of demand) {
          const may = views.filter((v) => !v.allows || v.allows.has(d.model));
          const fits = may.filter(
            (v) => v.capacity.total === undefined || (SIZES[d.model] as number) <= v.capacity.total,
          );
          const placedOn = views.filter((v) => result.assigned.get(v.name)?.has(d.model));
          const failed = result.impossible.find((i) => i.model === d.model);
          for (const v of placedOn) {
            expect(v.healthy).toBe(true);
            expect(fits).toContain(v);
          }
          if (fits.length === 0) expect(failed).toBeDefined();
          else if (fits.some((v) => v.healthy)) expect(placedOn.length).toBeGreaterThan(0);
          else expect(placedOn).toEqual([]);
          if (failed) expect(placedOn).toEqual([]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reuses a held model: every healthy backend holding it keeps it, and no other loads it while its holders can start its jobs', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { views, demand, result } = build(s);
        for (const d of demand) {
          const holders = views.filter(
            (v) =>
              v.healthy &&
              (!v.allows || v.allows.has(d.model)) &&
              v.loaded.some((l) => l.model === d.model),
          );
          if (holders.length === 0) continue;
          for (const v of holders) expect(result.assigned.get(v.name)?.has(d.model)).toBe(true);
          const slots = holders.reduce(
            (sum, v) =>
              sum + Math.max(0, 4 - (v.loaded.find((l) => l.model === d.model)?.running ?? 0)),
            0,
          );
          const others = views.filter(
            (v) => !holders.includes(v) && result.assigned.get(v.name)?.has(d.model),
          );
          if (d.pending <= slots) expect(others).toEqual([]);
          else expect(others.length).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });
});
