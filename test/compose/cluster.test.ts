import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokenOf, runWith } from '../helpers/compose.js';
import { dockerHost } from '../helpers/docker.js';
import { freePort } from '../helpers/ollama-stand-in.js';

const project = `fleetcluster${randomBytes(3).toString('hex')}`;
let env: NodeJS.ProcessEnv = {};
const hosts: { api: string; token: string }[] = [];

const run = (file: string, args: string[]) => runWith(env, file, args);

const compose = (...args: string[]) =>
  run('docker-compose', ['-p', project, '-f', 'docker-compose.cluster.yml', ...args]);

async function call<T>(
  host: { api: string; token: string },
  route: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${host.api}${route}`, {
    signal: AbortSignal.timeout(60_000),
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${host.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

beforeAll(async () => {
  const host = dockerHost();
  env = {
    ...process.env,
    DOCKER_HOST: host,
    DOCKER_SOCKET: host.replace(/^unix:\/\//, ''),
    FLEET_PORT_1: String(await freePort()),
    FLEET_PORT_2: String(await freePort()),
    FLEET_PG_PASSWORD: randomBytes(9).toString('hex'),
    FLEET_SIM_TIME_SCALE: '0.05',
  };
  await run('bash', ['scripts/image-offline.sh']);
  await run('bash', ['scripts/postgres-image-offline.sh']);
}, 600_000);

afterAll(async () => {
  if (hosts.length > 0 || env.FLEET_PORT_1)
    await compose('down', '-v', '--timeout', '5').catch(() => {});
}, 120_000);

describe('docker compose with several hosts on one queue', () => {
  it('brings up PostgreSQL and two hosts; jobs submitted to either run on both, each once', {
    timeout: 600_000,
  }, async () => {
    await compose('up', '-d');
    for (const [n, port] of [
      ['1', env.FLEET_PORT_1],
      ['2', env.FLEET_PORT_2],
    ] as const) {
      const api = `http://127.0.0.1:${port}`;
      await expect
        // A published port accepts before the container listens: each try gets its own deadline.
        .poll(
          async () =>
            (
              await fetch(`${api}/api/health`, { signal: AbortSignal.timeout(2_000) }).catch(
                () => undefined,
              )
            )?.status,
          {
            timeout: 120_000,
            interval: 250,
          },
        )
        .toBe(200);
      hosts.push({ api, token: await apiTokenOf(project, `fleet-${n}`) });
    }
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    // Each host in service: its simulated card read through its container.
    for (const h of hosts) {
      await expect
        .poll(
          async () =>
            (
              await call<{ backends: { healthy: boolean; gpus: unknown[] }[] }>(h, '/api/stats')
            ).backends.every((b) => b.healthy && b.gpus.length > 0),
          { timeout: 60_000, interval: 250 },
        )
        .toBe(true);
    }
    const ids: string[] = [];
    const models = ['qwen2.5:0.5b', 'tinyllama:1.1b', 'smollm:360m'];
    for (let i = 0; i < 24; i++) {
      const { job_id } = await call<{ job_id: string }>(i % 2 ? h2 : h1, '/api/submit', {
        model: models[i % 3],
        prompt: `job ${i}`,
      });
      ids.push(job_id);
    }
    // All waited for on host 2, whoever ran them.
    const done = [];
    for (const id of ids) {
      for (;;) {
        const job = await call<{ status: string; backend: string; attempts: number }>(
          h2,
          `/api/job/${id}?wait=20`,
        );
        if (['complete', 'failed', 'cancelled'].includes(job.status)) {
          done.push(job);
          break;
        }
      }
    }
    expect(done.map((j) => j.status)).toEqual(ids.map(() => 'complete'));
    expect(done.every((j) => j.attempts === 1)).toBe(true);
    expect(new Set(done.map((j) => j.backend))).toEqual(new Set(['host1', 'host2']));
    const stats = await call<{ cluster: { supervisors: unknown[] } }>(h1, '/api/stats');
    expect(stats.cluster.supervisors).toHaveLength(2);
  });
});
