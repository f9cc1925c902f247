import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFleet } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

describe('fleet submit and fleet jobs', () => {
  it('submits one job, waits for it and prints a summary', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, token: 'tok' });
    const result = await runFleet(
      ['submit', '--url', fleet.url, '--model', 'qwen2.5:0.5b', '--prompt', 'hi'],
      {
        env: { FLEET_API_TOKEN: 'tok' },
      },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^submitted [0-9a-f-]{36} \(qwen2\.5:0\.5b, normal\)\n1 completed, 0 failed, 0 cancelled; latency p50 \d+/,
    );
  });

  it('--random N and --batch run to completion; --json gives every job and the summary', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const random = await runFleet(['submit', '--url', fleet.url, '--random', '12', '--json']);
    expect(random.code).toBe(0);
    const answer = JSON.parse(random.stdout);
    expect(answer.summary).toMatchObject({ submitted: 12, completed: 12, failed: 0 });
    expect(answer.summary.latency_ms.p95).toBeGreaterThanOrEqual(answer.summary.latency_ms.p50);
    const batch = await runFleet(['submit', '--url', fleet.url, '--batch', '--json']);
    const jobs = JSON.parse(batch.stdout).jobs as { status: string; model: string }[];
    expect(jobs.map((j) => j.status)).toEqual(['complete', 'complete', 'complete', 'complete']);
    expect(new Set(jobs.map((j) => j.model))).toEqual(new Set(['fleet']));
  });

  it('--spam N submits without waiting; fleet jobs lists and shows them', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const spam = await runFleet([
      'submit',
      '--url',
      fleet.url,
      '--spam',
      '5',
      '--model',
      'tinyllama:1.1b',
      '--priority',
      'low',
    ]);
    expect(spam.stdout).toBe('submitted 5 jobs without waiting\n');
    const list = await runFleet(['jobs', '--url', fleet.url, '--model', 'tinyllama:1.1b']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^JOB\s+STATUS\s+PRIORITY\s+MODEL\s+ATTEMPTS\s+SUBMITTED$/);
    expect(lines).toHaveLength(6);
    const id = lines[1]?.split(/\s+/)[0] as string;
    const shown = await runFleet(['jobs', id, '--url', fleet.url]);
    expect(shown.stdout).toContain(`job_id: ${id}`);
    expect(shown.stdout).toContain('priority: low');
  });

  it('says what is wrong: no supervisor, unknown job, bad flags', async () => {
    const none = await runFleet(['submit', '--url', 'http://127.0.0.1:9', '--prompt', 'x']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no supervisor answers at http://127.0.0.1:9');
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const unknown = await runFleet([
      'jobs',
      '00000000-0000-0000-0000-000000000000',
      '--url',
      fleet.url,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no job 00000000-0000-0000-0000-000000000000');
    expect((await runFleet(['submit', '--priority', 'urgent'])).code).toBe(2);
    expect((await runFleet(['submit', '--random', 'many'])).stderr).toContain(
      '--random expects a whole number',
    );
    const badModel = await runFleet(['submit', '--url', fleet.url, '--model', 'nope:1b']);
    expect(badModel.code).toBe(2);
    expect(badModel.stderr).toContain('"nope:1b" is neither in fleet.yaml');
  });

  it('takes the address and token from fleet.yaml; FLEET_URL and flags override it', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, token: 'from-yaml' });
    const port = new URL(fleet.url).port;
    const dir = await tempDir();
    const config = path.join(dir, 'fleet.yaml');
    // A wildcard listen address means this machine; the token is the file's.
    await writeFile(config, `api:\n  host: 0.0.0.0\n  port: ${port}\n  token: from-yaml\n`);
    const submitted = await runFleet(
      ['submit', '--config', config, '--model', 'qwen2.5:0.5b', '--prompt', 'hi', '--json'],
      { env: { FLEET_URL: '', FLEET_API_TOKEN: '' } },
    );
    expect(submitted.code).toBe(0);
    const listed = await runFleet(['jobs', '--config', config, '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).jobs).toHaveLength(1);
    // The environment over the file, flags over both.
    const wrongEnv = await runFleet(['jobs', '--config', config], {
      env: { FLEET_API_TOKEN: 'nope' },
    });
    expect(wrongEnv.code).toBe(2);
    const flagWins = await runFleet(['jobs', '--config', config, '--token', 'from-yaml'], {
      env: { FLEET_API_TOKEN: 'nope' },
    });
    expect(flagWins.code).toBe(0);
  });
});
