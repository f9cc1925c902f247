/**
 * Durability: kill -9 the supervisor with 500 jobs queued and some running, start it again,
 * and every job is still there and ends exactly once.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, json, startServe } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { startTestSim } from '../helpers/sim.js';
import { tempDir } from '../helpers/temp.js';

const children: import('node:child_process').ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

const MODELS = ['qwen2.5:0.5b', 'tinyllama:1.1b', 'smollm:360m'];
const PRIORITIES = ['low', 'normal', 'high'];

describe('kill -9 with 500 jobs in the queue', () => {
  it('loses no job and ends each exactly once', { timeout: 120_000 }, async () => {
    const sim = await startTestSim({ timeScale: 0.02 });
    const dir = await tempDir();
    const config = path.join(dir, 'fleet.yaml');
    const port = await freePort();
    await writeFile(
      config,
      `ollama:\n  url: ${sim.url}\napi:\n  host: 127.0.0.1\n  port: ${port}\nstate_dir: ./state\n`,
    );
    const first = await startServe(['--config', config]);
    children.push(first.child);
    const api = (route: string, body?: unknown) =>
      fetch(`${first.url}${route}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const jobs = Array.from({ length: 500 }, (_, i) => ({
      model: MODELS[i % 3],
      prompt: `job ${i}`,
      priority: PRIORITIES[i % 3],
    }));
    const submitted = await json(await api('/api/submit/batch', { jobs }));
    const ids: string[] = submitted.jobs.map((j: { job_id: string }) => j.job_id);
    expect(new Set(ids).size).toBe(500);

    await expect
      .poll(
        async () => {
          const stats = await json(await api('/api/stats'));
          return stats.queue.by_status.running > 0 && stats.queue.by_status.complete > 0;
        },
        { timeout: 30_000, interval: 20 },
      )
      .toBe(true);
    first.child.kill('SIGKILL');
    expect(await exited(first.child)).toBe('SIGKILL');
    const requestsBefore = sim.stdout.filter((l) => l.includes('"/api/generate"')).length;

    const second = await startServe(['--config', config]);
    children.push(second.child);
    const again = (route: string) => fetch(`${second.url}${route}`).then(json);
    await expect
      .poll(async () => (await again('/api/stats')).queue.by_status.complete, {
        timeout: 90_000,
        interval: 200,
      })
      .toBe(500);
    const stats = await again('/api/stats');
    expect(stats.queue.total_jobs).toBe(500);
    expect(stats.queue.by_status).toMatchObject({
      pending: 0,
      running: 0,
      failed: 0,
      cancelled: 0,
    });
    const listed = (await again('/api/jobs?limit=1000')).jobs as {
      job_id: string;
      status: string;
      attempts: number;
    }[];
    expect(listed.map((j) => j.job_id).sort()).toEqual([...ids].sort());
    // A job interrupted by the kill ran once more; no job ran a third time.
    expect(Math.max(...listed.map((j) => j.attempts))).toBeLessThanOrEqual(2);
    const interrupted = listed.filter((j) => j.attempts === 2).length;
    const requests = sim.stdout.filter((l) => l.includes('"/api/generate"')).length;
    // Every job reached Ollama once, and only the interrupted ones twice.
    expect(requests).toBeLessThanOrEqual(500 + interrupted);
    expect(requests).toBeGreaterThanOrEqual(500);
    expect(requestsBefore).toBeGreaterThan(0);
    expect(second.output()).toContain('jobs interrupted by the last stop');
  });

  it('SIGTERM stops within seconds, requeues what ran without spending its attempt, loses nothing', {
    timeout: 60_000,
  }, async () => {
    const sim = await startTestSim({ timeScale: 0.2 });
    const dir = await tempDir();
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(
      config,
      `ollama:\n  url: ${sim.url}\napi:\n  host: 127.0.0.1\n  port: ${await freePort()}\nstate_dir: ./state\n`,
    );
    const first = await startServe(['--config', config]);
    children.push(first.child);
    const jobs = Array.from({ length: 30 }, (_, i) => ({
      model: 'qwen2.5:0.5b',
      prompt: `job ${i}`,
    }));
    const submitted = await fetch(`${first.url}/api/submit/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobs }),
    }).then(json);
    expect(submitted.jobs).toHaveLength(30);
    await expect
      .poll(
        async () => (await fetch(`${first.url}/api/stats`).then(json)).queue.by_status.running,
        { interval: 20 },
      )
      .toBeGreaterThan(0);
    first.child.kill('SIGTERM');
    expect(await exited(first.child)).toBe(0);
    expect(first.output()).toContain('"stopped"');

    const second = await startServe(['--config', config]);
    children.push(second.child);
    await expect
      .poll(
        async () => (await fetch(`${second.url}/api/stats`).then(json)).queue.by_status.complete,
        { timeout: 40_000, interval: 200 },
      )
      .toBe(30);
    const listed = (await fetch(`${second.url}/api/jobs?limit=100`).then(json)).jobs as {
      attempts: number;
    }[];
    expect(listed.every((j) => j.attempts === 1)).toBe(true);
  });
});
