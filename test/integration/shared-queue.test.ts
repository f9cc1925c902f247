import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Supervisor } from '../../src/supervisor.js';
import { closeAfterTest, hostOnQueue, simulatedGpu } from '../helpers/backends.js';
import { freshDatabase } from '../helpers/postgres.js';

/** Until every supervisor has read its card once: a host that has not yet is not yet in service. */
async function bothReady(hosts: Supervisor[]): Promise<void> {
  for (const h of hosts) {
    await expect
      .poll(
        async () => {
          const stats = (await (await fetch(`${h.url}/api/stats`)).json()) as {
            backends: { gpus: unknown[]; healthy: boolean }[];
          };
          return stats.backends.every((b) => b.healthy && b.gpus.length > 0);
        },
        { timeout: 20_000 },
      )
      .toBe(true);
  }
}

/**
 * A stand-in in front of a simulator: everything passes through, but a generate whose prompt
 * is "HANG" is never answered; `released` resolves when its caller lets the request go.
 */
async function hangingOllama(simUrl: string): Promise<{ url: string; released: Promise<void> }> {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    if (request.url === '/api/generate' && body.includes('"HANG"')) {
      response.on('close', () => release());
      return;
    }
    const answer = await fetch(`${simUrl}${request.url}`, {
      method: request.method ?? 'GET',
      ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
    });
    response.writeHead(answer.status, {
      'content-type': answer.headers.get('content-type') ?? 'application/json',
    });
    response.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closeAfterTest({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, released };
}

async function submit(url: string, model: string, prompt = 'hello'): Promise<string> {
  const response = await fetch(`${url}/api/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { job_id: string }).job_id;
}

async function job(url: string, id: string, wait = 0): Promise<Record<string, unknown>> {
  return (await (
    await fetch(`${url}/api/job/${id}${wait ? `?wait=${wait}` : ''}`)
  ).json()) as Record<string, unknown>;
}

describe('several supervisors on one PostgreSQL queue', () => {
  it('jobs submitted to either run on both hosts, and a long-poll on one sees what the other ran', async () => {
    const queue = await freshDatabase();
    const [s1, s2] = [await simulatedGpu(), await simulatedGpu()];
    const [h1, h2] = [
      await hostOnQueue('host1', s1.url, queue),
      await hostOnQueue('host2', s2.url, queue),
    ];
    await bothReady([h1, h2]);
    const models = ['qwen2.5:0.5b', 'tinyllama:1.1b', 'smollm:360m'];
    const ids: string[] = [];
    for (let i = 0; i < 30; i++)
      ids.push(await submit(i % 2 ? h2.url : h1.url, models[i % 3] as string));
    // Every job is waited for on host2, whoever ran it: its long-poll ends as the job does.
    const done = await Promise.all(
      ids.map(async (id) => {
        for (;;) {
          const j = await job(h2.url, id, 20);
          if (['complete', 'failed', 'cancelled'].includes(j.status as string)) return j;
        }
      }),
    );
    expect(done.map((j) => j.status)).toEqual(ids.map(() => 'complete'));
    const by = (name: string) => done.filter((j) => j.backend === name).length;
    expect(by('host1') + by('host2')).toBe(30);
    expect(by('host1')).toBeGreaterThan(0);
    expect(by('host2')).toBeGreaterThan(0);
    // Either supervisor shows the cluster: both, each with its backends.
    const stats = (await (await fetch(`${h1.url}/api/stats`)).json()) as {
      cluster: { self: string; supervisors: { url: string; backends: { name: string }[] }[] };
    };
    expect(stats.cluster.supervisors.map((s) => s.url).sort()).toEqual([h1.url, h2.url].sort());
    expect(stats.cluster.supervisors.flatMap((s) => s.backends.map((b) => b.name)).sort()).toEqual([
      'host1',
      'host2',
    ]);
  });

  it('a cancel on one supervisor stops the job running on the other', async () => {
    const queue = await freshDatabase();
    // host1's Ollama never answers the prompt "HANG" (a long generation), and says when the
    // request is let go; host2's list leaves the model out, so only host1 runs it.
    const held = await hangingOllama((await simulatedGpu()).url);
    const [h1, h2] = [
      await hostOnQueue('host1', held.url, queue, { models: '[smollm:360m]' }),
      await hostOnQueue('host2', (await simulatedGpu()).url, queue, { models: '[qwen2.5:0.5b]' }),
    ];
    await bothReady([h1, h2]);
    const id = await submit(h2.url, 'smollm:360m', 'HANG');
    for (;;) {
      const j = await job(h2.url, id);
      if (j.status === 'running') break;
      expect(j.status).toBe('pending'); // never failed by host2, which cannot run it
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await job(h2.url, id)).backend).toBe('host1');
    const cancelled = await fetch(`${h2.url}/api/job/${id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    // host1 hears it and drops the request it had open on its Ollama.
    await held.released;
    expect((await job(h1.url, id)).status).toBe('cancelled');
  });
});
