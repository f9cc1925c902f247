/**
 * The job API over real loopback HTTP, on a real SQLite file, against `fleet sim`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

async function submit(fleet: TestSupervisor, body: Record<string, unknown>) {
  const response = await fleet.call('/api/submit', { body });
  expect(response.status).toBe(202);
  return (await json(response)).job_id as string;
}

const finished = async (fleet: TestSupervisor, id: string) =>
  json(await fleet.call(`/api/job/${id}?wait=30`));

describe('the job API', () => {
  it('runs a generate job to completion: submit, then long-poll for the result', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const response = await fleet.call('/api/submit', {
      body: {
        model: 'qwen2.5:0.5b',
        prompt: 'Analyze quality metrics',
        priority: 'high',
        metadata: { batch: 7 },
      },
    });
    expect(response.status).toBe(202);
    const accepted = await json(response);
    expect(accepted).toMatchObject({ status: 'submitted', position: 1 });
    const job = await finished(fleet, accepted.job_id);
    expect(job).toMatchObject({
      job_id: accepted.job_id,
      status: 'complete',
      model: 'qwen2.5:0.5b',
      resolved_model: 'qwen2.5:0.5b',
      kind: 'generate',
      priority: 'high',
      attempts: 1,
      metadata: { batch: 7 },
    });
    expect(job.result.response.length).toBeGreaterThan(0);
    expect(job.result.eval_count).toBeGreaterThan(0);
    expect(job.result.done_reason).toBe('stop');
    for (const key of ['submitted_at', 'started_at', 'completed_at'])
      expect(Date.parse(job[key])).not.toBeNaN();
  });

  it('runs chat and embed jobs, and a batch', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const chat = await submit(fleet, {
      model: 'tinyllama:1.1b',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const embed = await submit(fleet, { model: 'all-minilm', input: ['a', 'b'] });
    expect((await finished(fleet, chat)).result.message).toMatchObject({
      role: 'assistant',
      content: expect.any(String),
    });
    expect((await finished(fleet, embed)).result.embeddings).toHaveLength(2);
    const batch = await fleet.call('/api/submit/batch', {
      body: {
        jobs: [1, 2, 3].map((i) => ({ model: 'smollm:360m', prompt: `job ${i}`, priority: 'low' })),
      },
    });
    expect(batch.status).toBe(202);
    const { jobs } = await json(batch);
    expect(jobs).toHaveLength(3);
    for (const { job_id } of jobs) expect((await finished(fleet, job_id)).status).toBe('complete');
  });

  it("resolves the fleet alias to the ladder's current rung when the job is dispatched", async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    expect(
      (await finished(fleet, await submit(fleet, { model: 'fleet', prompt: 'x' }))).resolved_model,
    ).toBe('llama3.2:3b');
    expect((await fleet.call('/api/fleet/main/downgrade', { body: {} })).status).toBe(200);
    const after = await finished(fleet, await submit(fleet, { model: 'fleet:main', prompt: 'x' }));
    expect(after).toMatchObject({
      model: 'fleet:main',
      resolved_model: 'phi3:mini',
      status: 'complete',
    });
  });

  it('refuses malformed submissions with a 4xx that names what is wrong', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const cases: [unknown, number, string][] = [
      [{ model: 'qwen2.5:0.5b' }, 400, 'body: give one of prompt, messages or input'],
      [
        { model: 'qwen2.5:0.5b', prompt: 'x', priority: 'urgent' },
        400,
        'body.priority: expected one of high, normal, low',
      ],
      [{ prompt: 'x' }, 400, 'body.model: expected string'],
      [
        { model: 'qwen2.5:0.5b', prompt: 'x', temperature: 1 },
        400,
        'body: unknown field temperature',
      ],
      [
        { model: 'qwen2.5:0.5b', prompt: 'x', messages: [{ role: 'user', content: 'y' }] },
        400,
        'body: give only one of prompt, messages',
      ],
      [{ model: 'qwen2.5:0.5b', prompt: '' }, 400, 'body.prompt: expected a non-empty prompt'],
      [
        { model: 'qwen2.5:0.5b', prompt: 'x', kind: 'embed' },
        400,
        'body.kind: kind embed does not go with prompt',
      ],
      [
        { model: 'qwen2.5:0.5b', prompt: 'x', images: ['not base64!'] },
        400,
        'body.images[0]: expected base64 images',
      ],
      [
        { model: 'no-such:model', prompt: 'x' },
        400,
        'body.model: "no-such:model" is neither in fleet.yaml\'s models nor installed on the Ollama server',
      ],
      [{ model: 'fleet:nope', prompt: 'x' }, 400, 'body.model: no ladder is named "nope"'],
      ['not json', 400, 'body is not valid JSON'],
    ];
    for (const [body, status, message] of cases) {
      const response = await fleet.call('/api/submit', { body });
      const answer = await json(response);
      expect({ body, status: response.status, message: answer.error?.message }).toEqual({
        body,
        status,
        message: expect.stringContaining(message),
      });
      expect(answer.error.code).toMatch(/^FLEET_ERR_/);
    }
    const batch = await fleet.call('/api/submit/batch', {
      body: { jobs: [{ model: 'qwen2.5:0.5b', prompt: 'ok' }, { model: 'x' }] },
    });
    expect(batch.status).toBe(400);
    expect((await json(batch)).error.message).toContain('body.jobs[1]');
    expect((await json(await fleet.call('/api/stats'))).queue.total_jobs).toBe(0);
  });

  it('accepts a model the Ollama server has although fleet.yaml does not list it', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    expect(
      (await finished(fleet, await submit(fleet, { model: 'mistral:7b', prompt: 'x' }))).status,
    ).toBe('complete');
  });

  it('with a token, every route but health needs it', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, token: 's3cret' });
    for (const route of [
      '/api/stats',
      '/api/jobs',
      '/api/ready',
      '/api/job/00000000-0000-0000-0000-000000000000',
    ]) {
      expect((await fleet.call(route, { token: null })).status).toBe(401);
    }
    expect(
      (
        await fleet.call('/api/submit', {
          body: { model: 'qwen2.5:0.5b', prompt: 'x' },
          token: null,
        })
      ).status,
    ).toBe(401);
    expect((await fleet.call('/api/health', { token: null })).status).toBe(200);
    expect((await fleet.call('/api/stats')).status).toBe(200);
  });

  it('answers 429 with Retry-After when the queue is full', async () => {
    const sim = await startTestSim();
    await sim.post('/sim/fault', { kind: 'refuse', seconds: 2 });
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      yaml: 'scheduler:\n  queue_max_size: 2\n',
    });
    await submit(fleet, { model: 'qwen2.5:0.5b', prompt: '1' });
    await submit(fleet, { model: 'qwen2.5:0.5b', prompt: '2' });
    const full = await fleet.call('/api/submit', { body: { model: 'qwen2.5:0.5b', prompt: '3' } });
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('5');
    expect((await json(full)).error.code).toBe('FLEET_ERR_QUEUE_FULL');
  });

  it('submits sent at the same moment share a write yet each is answered alone; the queue bound holds', async () => {
    const fleet = await startTestSupervisor({
      ollamaUrl: `http://127.0.0.1:${await freePort()}`,
      yaml: 'scheduler:\n  queue_max_size: 5\n',
    });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fleet.call('/api/submit', { body: { model: 'qwen2.5:0.5b', prompt: `at once ${i}` } }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 202, 202, 202, 202, 429, 429, 429]);
    const accepted = await Promise.all(answers.filter((a) => a.status === 202).map(json));
    expect(accepted.map((a) => a.position).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(accepted.map((a) => a.job_id)).size).toBe(5);
    expect((await json(await fleet.call('/api/stats'))).queue.by_status.pending).toBe(5);
  });

  it('serves high before normal before low, and keeps jobs while Ollama is away', async () => {
    const sim = await startTestSim();
    await sim.post('/sim/fault', { kind: 'refuse', seconds: 1 });
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      yaml: 'scheduler:\n  max_concurrent_per_model: 1\n',
    });
    const low = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'low', priority: 'low' });
    const normal = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'normal' });
    const high = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'high', priority: 'high' });
    const done = await Promise.all([high, normal, low].map((id) => finished(fleet, id)));
    expect(done.map((j) => j.status)).toEqual(['complete', 'complete', 'complete']);
    const started = done.map((j) => Date.parse(j.completed_at));
    expect(started[0]).toBeLessThanOrEqual(started[1] as number);
    expect(started[1]).toBeLessThanOrEqual(started[2] as number);
  });

  it('a long-poll returns when the time is up, with the job still waiting', async () => {
    const fleet = await startTestSupervisor({ ollamaUrl: `http://127.0.0.1:${await freePort()}` });
    const id = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'x' });
    const job = await json(await fleet.call(`/api/job/${id}?wait=0.2`));
    expect(job.status).toBe('pending');
    expect(job.position).toBe(1);
    expect((await fleet.call(`/api/job/${id}?wait=soon`)).status).toBe(400);
    const ready = await fleet.call('/api/ready');
    expect(ready.status).toBe(503);
    await expect
      .poll(async () => (await json(await fleet.call('/api/health'))).status)
      .toBe('degraded');
    expect((await json(await fleet.call('/api/health'))).problems[0]).toContain('is unreachable');
    expect((await json(ready)).checks.ollama.ok).toBe(false);
  });

  it("streams a job's life as server-sent events", async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const id = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'tell me more' });
    const response = await fleet.call(`/api/job/${id}/events`);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await response.text();
    const events = text
      .split('\n\n')
      .filter((block) => block.startsWith('event: '))
      .map((block) => ({
        type: block.split('\n')[0]?.slice(7),
        data: JSON.parse(block.split('\n')[1]?.slice(6) ?? '{}'),
      }));
    const types = events.map((e) => e.type);
    expect(types.at(-1)).toBe('complete');
    expect(types).toContain('token');
    const tokens = events
      .filter((e) => e.type === 'token')
      .map((e) => e.data.text)
      .join('');
    expect(tokens).toBe(events.at(-1)?.data.result.response);
  });

  it('cancels a pending job and a running one; a finished job answers 409, an unknown 404', async () => {
    const sim = await startTestSim({ timeScale: 0.5 });
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      yaml: 'scheduler:\n  max_concurrent_per_model: 1\n',
    });
    const running = await submit(fleet, {
      model: 'qwen2.5:0.5b',
      prompt: 'long',
      options: { num_predict: 2000 },
    });
    const pending = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'next' });
    await expect
      .poll(async () => (await json(await fleet.call(`/api/job/${running}`))).status)
      .toBe('running');
    const cancelled = await fleet.call(`/api/job/${pending}`, { method: 'DELETE' });
    expect((await json(cancelled)).status).toBe('cancelled');
    expect((await json(await fleet.call(`/api/job/${running}`, { method: 'DELETE' }))).status).toBe(
      'cancelled',
    );
    expect((await json(await fleet.call(`/api/job/${running}`))).status).toBe('cancelled');
    const again = await fleet.call(`/api/job/${running}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect((await json(again)).error.code).toBe('FLEET_ERR_JOB_FINISHED');
    expect(
      (await fleet.call('/api/job/00000000-0000-0000-0000-000000000000', { method: 'DELETE' }))
        .status,
    ).toBe(404);
    // The engine moves on to the next job.
    expect(
      (await finished(fleet, await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'after' })))
        .status,
    ).toBe('complete');
  });

  it('lists jobs with filters, and reports stats', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const a = await submit(fleet, { model: 'qwen2.5:0.5b', prompt: 'a' });
    await finished(fleet, a);
    await submit(fleet, { model: 'tinyllama:1.1b', prompt: 'b' });
    const all = await json(await fleet.call('/api/jobs'));
    expect(all.jobs).toHaveLength(2);
    const byModel = await json(
      await fleet.call('/api/jobs?model=qwen2.5:0.5b&status=complete&limit=5'),
    );
    expect(byModel.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([a]);
    const bad = await fleet.call('/api/jobs?status=done');
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toContain(
      'query.status: expected one of pending, queued, running, complete, failed, cancelled',
    );
    const stats = await json(await fleet.call('/api/stats'));
    expect(stats).toMatchObject({
      queue: { total_jobs: 2 },
      resources: {
        ollama: { reachable: true },
        telemetry: { available: false, failure: { kind: 'missing' } },
      },
      fleet: { ladders: [{ name: 'main', estimates: { 'llama3.2:3b': { source: 'catalogue' } } }] },
    });
    expect((await fleet.call('/api/ready')).status).toBe(200);
  });

  it('an OOM is not a failure: the job runs again and the ladder counts an incident', async () => {
    const sim = await startTestSim();
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    await sim.post('/sim/fault', { kind: 'oom', model: 'llama3.2:3b', count: 1 });
    const job = await finished(fleet, await submit(fleet, { model: 'fleet', prompt: 'x' }));
    expect(job).toMatchObject({ status: 'complete', attempts: 2 });
    expect(job.last_error.message).toContain('model runner has unexpectedly stopped');
    await expect
      .poll(
        async () =>
          JSON.parse(await readFile(path.join(fleet.dir, 'state/fleet-state.json'), 'utf8'))
            .vram_error_count,
      )
      .toBe(1);
  });

  it("a request Ollama refuses fails the job with Ollama's words", async () => {
    const sim = await startTestSim({ installed: ['qwen2.5:0.5b'] });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url });
    const job = await finished(fleet, await submit(fleet, { model: 'gemma:2b', prompt: 'x' }));
    expect(job).toMatchObject({
      status: 'failed',
      error: { message: "model 'gemma:2b' not found" },
    });
  });
});
