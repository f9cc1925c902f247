/**
 * Models present before work needs them: on a fresh Ollama with only a small model, the
 * supervisor pulls each ladder's current rung (and pull_on_start) at start, and jobs for a
 * model being pulled wait for it instead of failing with "not found".
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIM_DEFAULTS } from '../../src/sim/options.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { json, runFleet } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

describe('pulling what work needs', () => {
  it('pulls the ladder rung and pull_on_start at start; a job for the rung waits and completes', async () => {
    const sim = await startTestSim({ installed: ['qwen2.5:0.5b'] });
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      yaml: 'pull_on_start: [all-minilm]\n',
    });
    // Submitted at once, while the rung may still be missing: it waits, then runs.
    const submitted = await fleet.call('/api/submit', { body: { model: 'fleet', prompt: 'hi' } });
    expect(submitted.status).toBe(202);
    const job = await json(await fleet.call(`/api/job/${(await json(submitted)).job_id}?wait=30`));
    expect(job).toMatchObject({ status: 'complete', resolved_model: 'llama3.2:3b' });
    const installed = (
      (await json(await fetch(`${sim.url}/api/tags`))).models as { name: string }[]
    ).map((m) => m.name);
    expect(installed).toEqual(expect.arrayContaining(['llama3.2:3b', 'all-minilm:latest']));
    expect(fleet.logs().some((l) => String(l.msg).startsWith('pulled llama3.2:3b'))).toBe(true);
  });

  it('fleet pull pulls a model, or the ladder rung, with its progress; a model Ollama cannot find exits 1', async () => {
    const sim = await startTestSim({ installed: ['qwen2.5:0.5b'] });
    const dir = await tempDir();
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(config, `ollama:\n  url: ${sim.url}\nstate_dir: ./state\n`);
    const rung = await runFleet(['pull', '--config', config]);
    expect(rung.code).toBe(0);
    expect(rung.stdout).toContain('llama3.2:3b: success');
    const named = await runFleet(['pull', 'tinyllama:1.1b', '--config', config, '--json']);
    expect(JSON.parse(named.stdout)).toEqual({ model: 'tinyllama:1.1b', pulled: true });
    const again = await runFleet(['pull', 'tinyllama:1.1b', '--config', config]);
    expect(again.stdout).toContain('already on');
    const missing = await runFleet(['pull', 'no-such-model:1b', '--config', config]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('could not pull no-such-model:1b');
  });

  it('shows a pull under way in /api/stats, with its progress, while its jobs wait', async () => {
    // Slow enough to be seen: the simulator pulls at 200 MB/s of its time.
    const sim = await startTestSim({ installed: ['qwen2.5:0.5b'], timeScale: 0.3 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const submitted = await json(
      await fleet.call('/api/submit', { body: { model: 'fleet', prompt: 'hi' } }),
    );
    let seen: { model: string; status: string; total?: number } | undefined;
    while (!seen) {
      const stats = await json(await fleet.call('/api/stats'));
      seen = (stats.pulls as { model: string; status: string; total?: number }[]).find(
        (p) => p.model === 'llama3.2:3b' && p.total !== undefined,
      );
      if (!seen)
        expect((await json(await fleet.call(`/api/job/${submitted.job_id}`))).status).not.toBe(
          'failed',
        );
    }
    expect(seen.status).toMatch(/^pulling /);
    const job = await json(await fleet.call(`/api/job/${submitted.job_id}?wait=60`));
    expect(job.status).toBe('complete');
    expect((await json(await fleet.call('/api/stats'))).pulls).toEqual([]);
  });

  it('pulls at start even when Ollama answers only later', async () => {
    const port = await freePort();
    const fleet = await startTestSupervisor({ ollamaUrl: `http://127.0.0.1:${port}` });
    const submitted = await json(
      await fleet.call('/api/submit', { body: { model: 'fleet', prompt: 'hi' } }),
    );
    await new Promise((r) => setTimeout(r, 1_500)); // Ollama is not there yet
    const sim = await startSimulator(
      { ...SIM_DEFAULTS, timeScale: 0.01, installed: ['qwen2.5:0.5b'], host: '127.0.0.1', port },
      { stderr: () => {}, stdout: () => {} },
    );
    try {
      const job = await json(await fleet.call(`/api/job/${submitted.job_id}?wait=60`));
      expect(job).toMatchObject({ status: 'complete', resolved_model: 'llama3.2:3b' });
    } finally {
      await fleet.close();
      await sim.close();
    }
  });
});
