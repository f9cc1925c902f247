import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokenOf, runWith, serviceContainer } from '../helpers/compose.js';
import { docker, dockerHost } from '../helpers/docker.js';
import { freePort } from '../helpers/ollama-stand-in.js';

const project = `fleete2e${randomBytes(3).toString('hex')}`;
let env: NodeJS.ProcessEnv = {};
let api = '';
let sim = '';

const run = (file: string, args: string[]) => runWith(env, file, args);

/** The README's command: `docker compose -f docker-compose.yml -f docker-compose.sim.yml ...`. */
const compose = (...args: string[]) =>
  run('docker-compose', [
    '-p',
    project,
    '-f',
    'docker-compose.yml',
    '-f',
    'docker-compose.sim.yml',
    ...args,
  ]);

/** The token the supervisor made at its first start (`token: auto`), as an operator reads it. */
let token = '';

async function call<T>(url: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface Stats {
  queue: { by_status: Record<string, number> };
  resources: { telemetry: { available: boolean } };
  watch: { state: string; incidents: number };
}
interface FleetView {
  ladders: { name: string; current_model: string; history: { reason?: string }[] }[];
}
const stats = () => call<Stats>(`${api}/api/stats`);
const ladder = async () => (await call<FleetView>(`${api}/api/fleet`)).ladders[0];

async function submit(model: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { job_id } = await call<{ job_id: string }>(`${api}/api/submit`, {
      model,
      prompt: `job ${i}: say something short`,
    });
    ids.push(job_id);
  }
  return ids;
}

const statuses = async (ids: string[]) =>
  Promise.all(
    ids.map(async (id) => (await call<{ status: string }>(`${api}/api/job/${id}`)).status),
  );

const workerContainer = () => serviceContainer(project, 'worker');

async function up(): Promise<void> {
  await compose('up', '-d');
  await expect
    .poll(async () => (await fetch(`${api}/api/health`).catch(() => undefined))?.status, {
      timeout: 60_000,
      interval: 250,
    })
    .toBe(200);
  // Safe by default: nothing but health answers without the token it made.
  token = await apiTokenOf(project, 'fleet');
  expect(token.length).toBeGreaterThan(20);
  expect((await fetch(`${api}/api/fleet`)).status).toBe(401);
  // The supervisor follows the simulator's log and reads nvidia-smi inside its container.
  await expect
    .poll(
      async () => {
        const s = await stats();
        return [s.watch.state, s.resources.telemetry.available];
      },
      { timeout: 60_000, interval: 250 },
    )
    .toEqual(['following', true]);
}

beforeAll(async () => {
  const host = dockerHost();
  env = {
    ...process.env,
    DOCKER_HOST: host,
    DOCKER_SOCKET: host.replace(/^unix:\/\//, ''),
    FLEET_PORT: String(await freePort()),
    FLEET_SIM_PORT: String(await freePort()),
    FLEET_SIM_TIME_SCALE: '0.05',
  };
  api = `http://127.0.0.1:${env.FLEET_PORT}`;
  sim = `http://127.0.0.1:${env.FLEET_SIM_PORT}`;
  await run('bash', ['scripts/image-offline.sh']);
}, 600_000);

afterAll(async () => {
  if (api) await compose('down', '-v', '--timeout', '5').catch(() => {});
}, 120_000);

describe('docker compose with the simulator override', () => {
  it('runs jobs, steps the ladder down on VRAM trouble, rewrites and restarts the worker, and keeps it all across down and up', {
    timeout: 600_000,
  }, async () => {
    await up();
    expect((await ladder())?.current_model).toBe('llama3.2:3b');
    const worker = await workerContainer();
    expect(worker).not.toBe('');
    await expect
      .poll(() => docker('exec', worker, 'cat', '/config/worker.json'), { timeout: 30_000 })
      .toContain('"llama3.2:3b"');
    const workerStarted = await docker('inspect', '-f', '{{.State.StartedAt}}', worker);

    const jobs = await submit('fleet', 20);

    // Three separate OOM episodes (further apart than detection.merge_within, 2 s), each
    // a CUDA out-of-memory in the runner that the supervisor reads in the sim's log.
    for (let episode = 1; episode <= 3; episode++) {
      await call(`${sim}/sim/fault`, { kind: 'oom', model: 'llama3.2:3b', count: 1 });
      jobs.push(...(await submit('llama3.2:3b', 1)));
      await expect
        .poll(async () => (await stats()).watch.incidents, { timeout: 60_000, interval: 200 })
        .toBeGreaterThanOrEqual(episode);
      if (episode < 3) await new Promise((r) => setTimeout(r, 2_500));
    }
    await expect
      .poll(async () => (await ladder())?.current_model, { timeout: 30_000 })
      .toBe('phi3:mini');

    // The worker's config on the shared volume says the new model, and the worker restarted.
    await expect
      .poll(() => docker('exec', worker, 'cat', '/config/worker.json').catch(() => ''), {
        timeout: 60_000,
      })
      .toContain('"phi3:mini"');
    await expect
      .poll(() => docker('inspect', '-f', '{{.State.StartedAt}}', worker), { timeout: 60_000 })
      .not.toBe(workerStarted);
    await expect
      .poll(() => docker('logs', worker), { timeout: 60_000 })
      .toContain('sending jobs for phi3:mini');
    // Its requests go to Ollama's API on the supervisor, and come back from the new model.
    await expect
      .poll(() => docker('logs', worker), { timeout: 60_000 })
      .toMatch(/phi3:mini: \d+ characters/);

    // Every job completes: the OOM-hit ones were sent back to the queue and ran again.
    await expect
      .poll(async () => (await statuses(jobs)).every((s) => s === 'complete'), {
        timeout: 120_000,
        interval: 500,
      })
      .toBe(true);

    // Jobs that cannot run yet (their model loads very slowly) are waiting at `down`.
    await call(`${sim}/sim/fault`, { kind: 'slow_load', model: 'qwen2.5:0.5b', factor: 100_000 });
    const waiting = await submit('qwen2.5:0.5b', 5);
    expect((await statuses(waiting)).every((s) => s !== 'complete')).toBe(true);

    await compose('down', '--timeout', '10');
    await up();

    const after = await ladder();
    expect(after?.current_model).toBe('phi3:mini');
    expect(after?.history.length).toBeGreaterThanOrEqual(1);
    expect((await statuses(jobs)).every((s) => s === 'complete')).toBe(true);
    await expect
      .poll(async () => (await statuses(waiting)).every((s) => s === 'complete'), {
        timeout: 120_000,
        interval: 500,
      })
      .toBe(true);
    expect((await stats()).queue.by_status.failed).toBe(0);
  });
});
