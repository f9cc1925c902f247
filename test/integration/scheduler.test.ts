/**
 * The scheduler and engine end to end against `fleet sim`: the workloads users run, on a
 * roomy card and on a small one under external pressure, with zero out-of-memory errors,
 * and fewer model loads than the same jobs sent straight to Ollama.
 */
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim, type TestSim } from '../helpers/sim.js';
import { startTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const TEXT_MODELS = [
  'qwen2.5:0.5b',
  'tinyllama:1.1b',
  'smollm:360m',
  'qwen2.5:1.5b',
  'llama3.2:1b',
  'gemma:2b',
  'llama3.2:3b',
];
const OOM = /out of memory|cudaMalloc failed|unable to allocate|requires more (system|gpu) memory/i;

async function runAll(
  fleet: TestSupervisor,
  jobs: Record<string, unknown>[],
): Promise<{ status: string; resolved_model: string }[]> {
  const { jobs: accepted } = await json(await fleet.call('/api/submit/batch', { body: { jobs } }));
  const results = [];
  for (const { job_id } of accepted) {
    for (;;) {
      const job = await json(await fleet.call(`/api/job/${job_id}?wait=30`));
      if (['complete', 'failed', 'cancelled'].includes(job.status)) {
        results.push(job);
        break;
      }
    }
  }
  return results;
}

const loads = (sim: TestSim) => sim.stderr.filter((l) => l.includes('llama runner started')).length;

/** The "10 prompts x 5 models" comparison, priorities mixed, in the order a script sends it. */
function comparison(): Record<string, unknown>[] {
  const jobs = [];
  for (let prompt = 0; prompt < 10; prompt++) {
    for (const model of TEXT_MODELS.slice(0, 5)) {
      jobs.push({
        model,
        prompt: `question ${prompt}`,
        priority: ['high', 'normal', 'low'][prompt % 3],
      });
    }
  }
  return jobs;
}

describe('the VRAM scheduler against fleet sim', () => {
  it('runs a comparison batch, random jobs and a spam burst on a 24 GiB card with zero OOM', async () => {
    const sim = await startTestSim({ vramMib: 24_576 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const random = Array.from({ length: 50 }, (_, i) => ({
      model: TEXT_MODELS[(i * 7) % TEXT_MODELS.length],
      prompt: `random ${i}`,
      priority: ['low', 'normal', 'high'][i % 3],
    }));
    const spam = Array.from({ length: 100 }, (_, i) => ({ model: 'fleet', prompt: `spam ${i}` }));
    const results = [
      ...(await runAll(fleet, comparison())),
      ...(await runAll(fleet, random)),
      ...(await runAll(fleet, spam)),
    ];
    expect(results.filter((r) => r.status !== 'complete')).toEqual([]);
    expect(results).toHaveLength(200);
    expect(sim.stderr.filter((l) => OOM.test(l))).toEqual([]);
  });

  it('on a 4 GiB card with external pressure mid-run, every job completes, none OOMs, and the scheduler unloads to make room', async () => {
    const sim = await startTestSim({ vramMib: 4096 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const jobs = Array.from({ length: 60 }, (_, i) => ({
      model: TEXT_MODELS[i % TEXT_MODELS.length],
      prompt: `job ${i}`,
    }));
    const { jobs: accepted } = await json(
      await fleet.call('/api/submit/batch', { body: { jobs } }),
    );
    await expect
      .poll(async () => (await json(await fleet.call('/api/stats'))).queue.by_status.complete, {
        timeout: 20_000,
      })
      .toBeGreaterThan(5);
    await sim.post('/sim/pressure', { mib: 1500 });
    await expect
      .poll(async () => (await json(await fleet.call('/api/stats'))).queue.by_status.complete, {
        timeout: 20_000,
      })
      .toBeGreaterThan(30);
    await sim.post('/sim/pressure', { mib: 0 });
    const done = [];
    for (const { job_id } of accepted)
      done.push((await json(await fleet.call(`/api/job/${job_id}?wait=30`))).status);
    expect(done.filter((s) => s !== 'complete')).toEqual([]);
    expect(sim.stderr.filter((l) => OOM.test(l))).toEqual([]);
    expect(
      fleet
        .logs()
        .some((l) => l.component === 'scheduler' && String(l.msg).startsWith('unloading ')),
    ).toBe(true);
  });

  it('loads models fewer times than the same jobs sent straight to Ollama in arrival order', async () => {
    const jobs = comparison();
    // Straight to Ollama: four clients working through the list in order, as scripts do.
    const direct = await startTestSim({ vramMib: 8192 });
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < jobs.length) {
          const job = jobs[next++] as { model: string; prompt: string };
          const response = await direct.post('/api/generate', {
            model: job.model,
            prompt: job.prompt,
            stream: false,
          });
          await response.text();
        }
      }),
    );
    const viaOllama = loads(direct);

    const sim = await startTestSim({ vramMib: 8192 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const results = await runAll(fleet, jobs);
    expect(results.every((r) => r.status === 'complete')).toBe(true);
    const viaFleet = loads(sim);
    console.log(
      `model loads for ${jobs.length} comparison jobs: straight to Ollama ${viaOllama}, through ollama-fleet ${viaFleet}`,
    );
    expect(viaFleet).toBeLessThan(viaOllama);
    expect(viaFleet).toBeGreaterThanOrEqual(5);
  });

  it('fails the jobs of a model larger than the whole card, with a clear error', async () => {
    const sim = await startTestSim({ vramMib: 4096 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const [job] = await runAll(fleet, [{ model: 'qwen2.5:14b', prompt: 'too big' }]);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'FLEET_ERR_MODEL_TOO_LARGE' } });
    expect((job as unknown as { error: { message: string } }).error.message).toMatch(
      /qwen2\.5:14b needs about \d+ MiB of VRAM and the GPU has \d+ MiB in all/,
    );
  });
});
