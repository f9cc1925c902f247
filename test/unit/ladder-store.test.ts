import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LadderConfig } from '../../src/config/schema.js';
import { LadderStore } from '../../src/fleet/ladder-store.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';

const POLICY = { after_incidents: 3, window: 600_000, cooldown: 300_000, on_telemetry: false };
const MAIN: LadderConfig = {
  name: 'main',
  models: ['llama3.2:3b', 'phi3:mini', 'tinyllama:1.1b', 'qwen2.5:0.5b'],
  downgrade: POLICY,
};
const EMBED: LadderConfig = {
  name: 'embed',
  models: ['nomic-embed-text', 'all-minilm'],
  downgrade: POLICY,
};

async function store(ladders: LadderConfig[] = [MAIN, EMBED], stateDir?: string) {
  const dir = stateDir ?? (await tempDir());
  const capture = captureLogger();
  let clock = Date.parse('2026-11-25T12:00:00Z');
  const s = new LadderStore({ stateDir: dir, ladders, log: capture.log, now: () => clock });
  return { store: s, dir, logs: capture.lines, tick: (ms: number) => (clock += ms) };
}

const readState = async (dir: string) =>
  JSON.parse(await readFile(path.join(dir, 'fleet-state.json'), 'utf8'));

describe('LadderStore', () => {
  it('with no state file, every ladder starts at its top and nothing is written', async () => {
    const { store: s, dir } = await store();
    const snapshot = await s.read();
    expect(snapshot.ladders.map((l) => l.current_model_index)).toEqual([0, 0]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('persists a transition atomically, leaving no temp file behind', async () => {
    const { store: s, dir } = await store();
    await s.apply('embed', { type: 'downgrade', source: 'cli' });
    const file = await readState(dir);
    expect(file.ladders.embed.current_model).toBe('all-minilm');
    // The top level speaks for the default (first) ladder, untouched here.
    expect(file.current_model).toBe('llama3.2:3b');
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('defaults to the first ladder and refuses an unknown one', async () => {
    const { store: s } = await store();
    const out = await s.apply(undefined, { type: 'downgrade', source: 'cli' });
    expect(out.state.name).toBe('main');
    await expect(s.apply('nope', { type: 'downgrade', source: 'cli' })).rejects.toMatchObject({
      code: 'FLEET_ERR_UNKNOWN_LADDER',
      message: expect.stringContaining('fleet.yaml has: main, embed'),
    });
  });

  it('loses no update when many changes race', async () => {
    const { store: s, dir } = await store([
      { ...MAIN, models: [...MAIN.models, 'smollm:360m', 'all-minilm'] },
    ]);
    await Promise.all(
      Array.from({ length: 5 }, () => s.apply('main', { type: 'downgrade', source: 'cli' })),
    );
    const file = await readState(dir);
    expect(file.current_model_index).toBe(5);
    expect(file.ladders.main.history).toHaveLength(5);
  });

  it('counts incidents across calls and steps down on the third', async () => {
    const { store: s, dir, tick } = await store();
    const incident = (at: number) =>
      ({
        type: 'incident',
        incident: { at, kind: 'cuda_oom', severity: 'hard', weight: 1 },
      }) as const;
    await s.apply('main', incident(tick(0)));
    await s.apply('main', incident(tick(1000)));
    expect((await readState(dir)).vram_error_count).toBe(2);
    const out = await s.apply('main', incident(tick(1000)));
    expect(out.transition?.source).toBe('policy');
    expect(await readState(dir)).toMatchObject({ current_model: 'phi3:mini', vram_error_count: 0 });
  });

  it('keeps a corrupt state file aside, reports it, and starts at the top', async () => {
    const { store: s, dir, logs } = await store();
    await writeFile(path.join(dir, 'fleet-state.json'), '{"current_model_index": 1, "oops');
    const snapshot = await s.read();
    expect(snapshot.ladders[0]?.current_model_index).toBe(0);
    expect(snapshot.notes[0]).toMatch(
      /was corrupt \(not valid JSON.*kept it as .*fleet-state\.json\.corrupt-/,
    );
    const files = await readdir(dir);
    const aside = files.find((f) => f.startsWith('fleet-state.json.corrupt-'));
    expect(aside).toBeDefined();
    expect(await readFile(path.join(dir, aside as string), 'utf8')).toBe(
      '{"current_model_index": 1, "oops',
    );
    const warning = logs().find((l) => l.level === 40);
    expect(warning).toMatchObject({
      aside: path.join(dir, aside as string),
      file: path.join(dir, 'fleet-state.json'),
    });
  });

  it('a ladder removed from fleet.yaml keeps its saved state in the file', async () => {
    const { store: first, dir } = await store();
    await first.apply('embed', { type: 'downgrade', source: 'cli' });
    const { store: second } = await store([MAIN], dir);
    await second.apply('main', { type: 'downgrade', source: 'cli' });
    const file = await readState(dir);
    expect(Object.keys(file.ladders)).toEqual(['main', 'embed']);
    expect(file.ladders.embed.current_model).toBe('all-minilm');
  });

  it('moves to the nearest rung when fleet.yaml dropped the saved model, and says so', async () => {
    const { store: first, dir } = await store([MAIN]);
    await first.apply('main', { type: 'downgrade', source: 'cli' });
    const changed = { ...MAIN, models: ['llama3.2:3b', 'tinyllama:1.1b', 'qwen2.5:0.5b'] };
    const { store: second, logs } = await store([changed], dir);
    const synced = await second.sync();
    expect(synced.ladders[0]?.current_model_index).toBe(1);
    expect(synced.notes[0]).toContain('phi3:mini is no longer on ladder main');
    expect(logs().some((l) => String(l.msg).includes('nearest rung'))).toBe(true);
    expect((await readState(dir)).current_model).toBe('tinyllama:1.1b');
  });

  it('reports a state dir it cannot create', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'file'), '');
    const { store: s } = await store([MAIN], path.join(dir, 'file', 'state'));
    await expect(s.apply('main', { type: 'downgrade', source: 'cli' })).rejects.toMatchObject({
      code: 'FLEET_ERR_STATE_IO',
      message: expect.stringContaining('cannot create the state dir'),
    });
  });
});
