import { describe, expect, it } from 'vitest';
import { backendEntry, simulatedGpu, supervisorOver } from '../helpers/backends.js';

async function submit(url: string, model: string, prompt = 'hello'): Promise<string> {
  const response = await fetch(`${url}/api/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt }),
  });
  const body = (await response.json()) as { job_id: string };
  expect(response.status).toBe(202);
  return body.job_id;
}

async function finished(url: string, id: string): Promise<Record<string, unknown>> {
  for (;;) {
    const job = (await (await fetch(`${url}/api/job/${id}?wait=10`)).json()) as Record<
      string,
      unknown
    >;
    if (['complete', 'failed', 'cancelled'].includes(job.status as string)) return job;
  }
}

async function stats(url: string) {
  return (await (await fetch(`${url}/api/stats`)).json()) as {
    backends: {
      name: string;
      url: string;
      healthy: boolean;
      problem: string | null;
      gpus: unknown[];
      loaded: { name: string }[];
      running: Record<string, number>;
    }[];
  };
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const MODELS = [
  'qwen2.5:0.5b',
  'tinyllama:1.1b',
  'smollm:360m',
  'qwen2.5:1.5b',
  'llama3.2:1b',
  'gemma:2b',
];

describe('several backends', () => {
  it('spreads models that do not fit one card over both, names the backend of each job, and merges the model lists', async () => {
    const a = await simulatedGpu();
    const b = await simulatedGpu();
    const fleet = await supervisorOver(backendEntry('a', a.url) + backendEntry('b', b.url));
    const ids = [];
    for (let i = 0; i < 36; i++)
      ids.push(await submit(fleet.url, MODELS[i % MODELS.length] as string));
    const jobs = await Promise.all(ids.map((id) => finished(fleet.url, id)));
    expect(jobs.map((j) => j.status)).toEqual(ids.map(() => 'complete'));
    const on = (name: string) => jobs.filter((j) => j.backend === name).length;
    expect(on('a')).toBeGreaterThan(0);
    expect(on('b')).toBeGreaterThan(0);
    expect(on('a') + on('b')).toBe(36);
    // No card was asked for more than it had.
    expect(
      [...a.stderr, ...b.stderr].filter((l) => /out of memory|unable to allocate/i.test(l)),
    ).toEqual([]);

    const view = await stats(fleet.url);
    expect(view.backends.map((x) => [x.name, x.url, x.healthy, x.problem])).toEqual([
      ['a', a.url, true, null],
      ['b', b.url, true, null],
    ]);
    expect(view.backends.every((x) => x.gpus.length === 1)).toBe(true);
    // /api/ps lists what both hold; /api/tags each installed model once.
    const ps = (await (await fetch(`${fleet.url}/api/ps`)).json()) as {
      models: { name: string }[];
    };
    const held = [...view.backends.flatMap((x) => x.loaded.map((m) => m.name))].sort();
    expect(ps.models.map((m) => m.name).sort()).toEqual(held);
    const tags = (await (await fetch(`${fleet.url}/api/tags`)).json()) as {
      models: { name: string }[];
    };
    const names = tags.models.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['qwen2.5:0.5b', 'gemma:2b']));
  });

  it('keeps a model to the backends whose list allows it, and fails a model no list allows', async () => {
    const a = await simulatedGpu();
    const b = await simulatedGpu();
    const fleet = await supervisorOver(
      backendEntry('a', a.url, '    models: [qwen2.5:0.5b]\n') +
        backendEntry('b', b.url, '    models: [qwen2.5:0.5b, tinyllama:1.1b]\n'),
    );
    const tiny = await Promise.all([1, 2, 3].map(() => submit(fleet.url, 'tinyllama:1.1b')));
    for (const id of tiny)
      expect(await finished(fleet.url, id)).toMatchObject({ status: 'complete', backend: 'b' });
    const nowhere = await finished(fleet.url, await submit(fleet.url, 'gemma:2b'));
    expect(nowhere).toMatchObject({
      status: 'failed',
      error: {
        code: 'FLEET_ERR_NO_BACKEND',
        message: "no backend may run gemma:2b: it is on none of the backends' models lists (a, b)",
      },
    });
  });

  it('a backend that dies mid-run loses no job: its jobs run elsewhere with their attempts given back; it is reported down, then back', async () => {
    const a = await simulatedGpu();
    const b = await simulatedGpu();
    const fleet = await supervisorOver(backendEntry('a', a.url) + backendEntry('b', b.url));
    const ids = [];
    for (let i = 0; i < 30; i++)
      ids.push(
        await submit(fleet.url, MODELS[i % 3] as string, 'a longer answer please '.repeat(8)),
      );
    // Once a runs something, it dies (every socket cut, as a killed process's are).
    await until(
      () => stats(fleet.url),
      (s) => Object.keys(s.backends[0]?.running ?? {}).length > 0,
    );
    await a.close();
    const down = await until(
      () => stats(fleet.url),
      (s) => s.backends[0]?.healthy === false,
    );
    expect(down.backends[0]?.problem).toMatch(/unreachable|ECONNREFUSED|refused/i);
    const jobs = await Promise.all(ids.map((id) => finished(fleet.url, id)));
    expect(jobs.map((j) => j.status)).toEqual(ids.map(() => 'complete'));
    // A job cut short on a was given its attempt back: none spent more than its own run.
    expect(jobs.filter((j) => (j.attempts as number) > 1)).toEqual([]);
    expect(jobs.filter((j) => j.backend === 'b').length).toBeGreaterThan(0);
    // Back on the same port: healthy again, and it takes work.
    await simulatedGpu({ port: a.port });
    await until(
      () => stats(fleet.url),
      (s) => s.backends[0]?.healthy === true,
    );
    expect(
      fleet.logs().some((l) => l.backend === 'a' && /backend a is down/.test(String(l.msg))),
    ).toBe(true);
  });
});
