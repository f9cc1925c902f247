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

  it('--score DIR scores the detector on labelled excerpts, and names the files it got wrong', async () => {
    const dir = await tempDir();
    const header = '# source: https://github.com/ollama/ollama/issues/1\n# kind: vram-failure\n';
    await writeFile(
      path.join(dir, '1-oom.log'),
      `${header}.\ttime=2025-01-01T00:00:00Z level=INFO source=server.go:1 msg="starting"\nF\tggml_backend_cuda_buffer_type_alloc_buffer: allocating 2048.00 MiB on device 0: cudaMalloc failed: out of memory\nF\tllama_model_load: error loading model: unable to allocate CUDA0 buffer\nF\ttime=2025-01-01T00:00:01Z level=ERROR source=server.go:1 msg="llama runner terminated" error="exit status 2"\n.\t[GIN] 2025/01/01 - 00:00:01 | 500 |  1.2s |  127.0.0.1 | POST     "/api/generate"\n`,
    );
    await writeFile(
      path.join(dir, '2-missed.log'),
      '# source: https://github.com/ollama/ollama/issues/2\n# kind: vram-failure\nF\tsome wording no pattern knows\n',
    );
    const result = await runFleet(['detect', '--score', dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('VRAM failures found 1 of 2; false alarms 0 of 0 without one');
    expect(result.stdout).toContain('lines: precision 1.000, recall 0.750');
    expect(result.stdout).toMatch(/2-missed\.log\s+vram-failure\s+MISSED/);
    await writeFile(path.join(dir, '3-bad.log'), 'X\tno label\n');
    const bad = await runFleet(['detect', '--score', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('3-bad.log:1: expected "F", "P" or "." then a tab');
  });
});
