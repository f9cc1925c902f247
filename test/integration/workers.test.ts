import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { json } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

describe('workers that are not containers', () => {
  it('any ladder move rewrites their config and runs their command with the new model', async () => {
    const dir = await tempDir();
    const env = path.join(dir, 'worker.env');
    const marker = path.join(dir, 'ran');
    await writeFile(env, '# worker\nMODEL=llama3.2:3b\nTHREADS=4\n');
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      yaml: `workers:\n  - name: batch\n    config: { path: ${env}, format: env, key: MODEL }\n    action: none\n    command: [sh, -c, 'echo "$FLEET_WORKER $FLEET_LADDER $FLEET_MODEL" > ${marker}']\n`,
    });
    expect(
      (await fleet.call('/api/fleet/main/downgrade', { body: { reason: 'test' } })).status,
    ).toBe(200);
    await expect
      .poll(() => readFile(marker, 'utf8').catch(() => ''), { timeout: 20_000 })
      .toBe('batch main phi3:mini\n');
    expect(await readFile(env, 'utf8')).toBe('# worker\nMODEL=phi3:mini\nTHREADS=4\n');
    // The pull for a missing model and the unload of the old one went to Ollama.
    expect(sim.stdout.some((l) => l.includes('"/api/generate"'))).toBe(true);
    expect((await json(await fleet.call('/api/fleet'))).ladders[0].current_model).toBe('phi3:mini');
  });

  it('a worker restarted by label must name its label', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'fleet.yaml');
    await writeFile(file, 'workers:\n  - name: w\n    action: restart\n');
    await expect(loadConfig({ path: file })).rejects.toMatchObject({
      message: expect.stringContaining('workers[0].label: action restart needs `label`'),
    });
  });
});

describe('telemetry-driven step down (downgrade.on_telemetry)', () => {
  it('when other processes leave too little room for the current rung, that counts as an incident', async () => {
    const sim = await startTestSim({ vramMib: 8192 });
    await sim.post('/sim/pressure', { mib: 6000 });
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      telemetry: true,
      yaml: 'ladders:\n  - name: main\n    models: [llama3.2:3b, qwen2.5:0.5b]\n    downgrade: { after_incidents: 0.25, on_telemetry: true }\n',
    });
    await expect
      .poll(async () => (await json(await fleet.call('/api/fleet'))).ladders[0].current_model, {
        timeout: 20_000,
      })
      .toBe('qwen2.5:0.5b');
    const ladder = (await json(await fleet.call('/api/fleet'))).ladders[0];
    expect(ladder.history.at(-1)).toMatchObject({
      source: 'policy',
      reason: expect.stringContaining('telemetry_no_fit'),
    });
  });
});
