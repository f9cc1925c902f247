/**
 * The compose examples as `docker-compose config` merges them (no engine needed), and their
 * fleet.yaml files as the supervisor loads them: two GPUs on one host (two Ollamas, each
 * pinned to one card, listed as two backends; the simulator override puts one simulator in
 * each one's place under its name), and several hosts on one PostgreSQL queue.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ROOT } from '../helpers/cli.js';

// biome-ignore lint/suspicious/noExplicitAny: compose's merged YAML, read key by key in the tests
function composeConfig(...files: string[]): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    execFile(
      'docker-compose',
      [...files.flatMap((f) => ['-f', f]), 'config'],
      { cwd: ROOT, env: { ...process.env, COMPOSE_PROJECT_NAME: 'twogpus' } },
      (error, stdout, stderr) =>
        error ? reject(new Error(stderr || error.message)) : resolve(parse(stdout)),
    );
  });
}

describe('compose with two GPUs', () => {
  it('pins one Ollama to each card and hands the supervisor a fleet.yaml listing both', async () => {
    const merged = await composeConfig('docker-compose.yml', 'docker-compose.two-gpus.yml');
    const { services } = merged;
    expect(services.ollama.scale).toBe(0);
    for (const [service, device] of [
      ['ollama-0', '0'],
      ['ollama-1', '1'],
    ] as const) {
      expect(services[service].deploy.resources.reservations.devices).toEqual([
        expect.objectContaining({ driver: 'nvidia', device_ids: [device] }),
      ]);
      expect(services[service].labels['ollama-fleet.role']).toBe(service);
    }
    // The single-Ollama URL is emptied: beside a backends list it would be refused.
    expect(services.fleet.environment.FLEET_OLLAMA_URL).toBe('');
    const mount = services.fleet.volumes.find((v: string | { target: string }) =>
      (typeof v === 'string' ? v : v.target).includes('/etc/fleet/fleet.yaml'),
    );
    expect(JSON.stringify(mount)).toContain('deploy/fleet.two-gpus.yaml');

    const { config } = await loadConfig({
      path: path.join(ROOT, 'deploy/fleet.two-gpus.yaml'),
      env: { FLEET_OLLAMA_URL: services.fleet.environment.FLEET_OLLAMA_URL },
    });
    expect(config.backends.map((b) => [b.name, b.url])).toEqual([
      ['gpu0', 'http://ollama-0:11434'],
      ['gpu1', 'http://ollama-1:11434'],
    ]);
    expect(config.backends.map((b) => b.gpu.nvidia_smi_container)).toEqual([
      { label: 'ollama-fleet.role=ollama-0' },
      { label: 'ollama-fleet.role=ollama-1' },
    ]);
  });

  it("the simulator override answers in each Ollama's place, under its name", async () => {
    const { services } = await composeConfig(
      'docker-compose.yml',
      'docker-compose.two-gpus.yml',
      'docker-compose.two-gpus.sim.yml',
    );
    expect([services['ollama-0'].scale, services['ollama-1'].scale]).toEqual([0, 0]);
    for (const [sim, name] of [
      ['sim-0', 'ollama-0'],
      ['sim-1', 'ollama-1'],
    ] as const) {
      expect(services[sim].networks.default.aliases).toEqual([name]);
      expect(services[sim].labels['ollama-fleet.role']).toBe(name);
      expect(services[sim].command.slice(0, 3)).toEqual(['sim', '--host=0.0.0.0', '--port=11434']);
    }
    expect(Object.keys(services.fleet.depends_on)).toEqual(
      expect.arrayContaining(['sim-0', 'sim-1']),
    );
  });
});

describe('compose with several hosts on one queue', () => {
  it('gives PostgreSQL a volume and a health check, and every supervisor the same queue and its own host', async () => {
    const { services, volumes } = await composeConfig('docker-compose.cluster.yml');
    expect(services.postgres.healthcheck.test).toEqual([
      'CMD',
      'pg_isready',
      '-U',
      'fleet',
      '-d',
      'fleet',
    ]);
    expect(JSON.stringify(services.postgres.volumes)).toContain('/var/lib/postgresql/data');
    expect(Object.keys(volumes)).toEqual(
      expect.arrayContaining(['fleet-queue', 'fleet-state-1', 'fleet-state-2']),
    );
    const queue = services['fleet-1'].environment.FLEET_QUEUE_URL;
    expect(queue).toMatch(/^postgres:\/\/fleet:[^@]+@postgres:5432\/fleet$/);
    expect(services['fleet-2'].environment.FLEET_QUEUE_URL).toBe(queue);
    for (const n of ['1', '2']) {
      const fleet = services[`fleet-${n}`];
      expect(fleet.depends_on.postgres.condition).toBe('service_healthy');
      const mount = JSON.stringify(fleet.volumes);
      expect(mount).toContain(`deploy/cluster-sim/host-${n}.yaml`);
      const { config } = await loadConfig({
        path: path.join(ROOT, `deploy/cluster-sim/host-${n}.yaml`),
        env: { FLEET_QUEUE_URL: queue },
      });
      expect(config.queue.url).toBe(queue);
      expect(config.backends[0]).toMatchObject({ name: `host${n}`, url: `http://sim-${n}:11434` });
      // Each follows its own simulator: the label the sim service carries.
      expect(config.backends[0]?.container).toEqual({ label: `ollama-fleet.role=ollama-${n}` });
      expect(services[`sim-${n}`].labels['ollama-fleet.role']).toBe(`ollama-${n}`);
    }
    // On real hosts, one file serves every host.
    const { config } = await loadConfig({
      path: path.join(ROOT, 'deploy/fleet.host.yaml'),
      env: { FLEET_QUEUE_URL: queue },
    });
    expect(config.queue).toMatchObject({ url: queue, lease: 30_000 });
  });
});
