import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFleet } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { tempDir } from '../helpers/temp.js';

describe('fleet detect', () => {
  it('flags the lines of a saved log, one JSON object per line, with incidents collapsed', async () => {
    // A real log: the simulator's own lines for an eviction with lagging VRAM, then an OOM.
    const sim = await startTestSim({ vramMib: 4096 });
    const load = (model: string) => sim.post('/api/generate', { model, keep_alive: -1 });
    await load('gemma:2b');
    await sim.post('/sim/fault', { kind: 'no_recover', seconds: 30, count: 1 });
    await load('llama3.2:3b');
    await sim.post('/sim/fault', { kind: 'footprint', model: 'phi3:mini', factor: 2 });
    await load('phi3:mini');
    await sim.lines(/llama runner terminated/);
    const file = path.join(await tempDir(), 'ollama.log');
    await writeFile(file, `${sim.stderr.join('\n')}\n`);
    const result = await runFleet([
      'detect',
      file,
      '--json',
      '--config',
      path.join(process.cwd(), 'fleet.yaml'),
    ]);
    expect(result.code).toBe(0);
    const flagged = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Ollama's own evictions (it had to make room) are soft too, and so are its slow unloads.
    const soft = flagged.filter((f) => f.severity === 'soft' && f.kind === 'vram_not_recovered');
    expect(soft).toHaveLength(3);
    expect(new Set(soft.map((f) => f.incident)).size).toBe(1);
    const hard = flagged.filter((f) => f.severity === 'hard');
    expect(hard.map((f) => f.kind)).toEqual(['cuda_oom', 'alloc_failed']);
    expect(new Set(hard.map((f) => f.incident)).size).toBe(1);
    for (const f of flagged)
      expect(Object.keys(f)).toEqual(['line', 'kind', 'severity', 'incident']);
    expect(sim.stderr[(hard[0]?.line as number) - 1]).toContain('cudaMalloc failed: out of memory');
    const text = await runFleet([
      'detect',
      file,
      '--config',
      path.join(process.cwd(), 'fleet.yaml'),
    ]);
    const incidents = new Set(flagged.map((f) => f.incident)).size;
    expect(
      text.stdout.endsWith(
        `${flagged.length} lines flagged of ${sim.stderr.length}, ${incidents} incidents\n`,
      ),
    ).toBe(true);
  });

  it('reads stdin when no file is given, and says when the file cannot be read', async () => {
    expect((await runFleet(['detect', '/nonexistent/log'])).code).toBe(2);
  });
});
