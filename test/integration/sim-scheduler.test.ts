/**
 * The simulated GPU and Ollama's scheduler: eviction, partial offload, queue limits,
 * keep-alive, VRAM recovery, and the failures and log lines of a real card.
 */
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim, type TestSim } from '../helpers/sim.js';

const GIB = 2 ** 30;

const load = (sim: TestSim, model: string, extra: Record<string, unknown> = {}) =>
  sim.post('/api/generate', { model, keep_alive: -1, ...extra });
const loaded = async (sim: TestSim) =>
  (await json(await fetch(`${sim.url}/api/ps`))).models as {
    name: string;
    size: number;
    size_vram: number;
    expires_at: string;
  }[];
const gpu = async (sim: TestSim) => json(await fetch(`${sim.url}/sim/gpu`));
const fault = async (sim: TestSim, body: unknown) => {
  const response = await sim.post('/sim/fault', body);
  expect(response.status).toBe(200);
};

describe('a simulated 4 GiB card under Ollama 0.12.3', () => {
  it("loads models until VRAM is full, evicts to make room, then fails with Ollama's error and log lines", async () => {
    const sim = await startTestSim({ vramMib: 4096 });
    expect((await load(sim, 'qwen2.5:1.5b')).status).toBe(200);
    expect((await load(sim, 'tinyllama:1.1b')).status).toBe(200);
    expect((await loaded(sim)).map((m) => m.name).sort()).toEqual([
      'qwen2.5:1.5b',
      'tinyllama:1.1b',
    ]);

    // gemma:2b (2.7 GiB) does not fit beside both: the first by keep-alive, then name, goes.
    expect((await load(sim, 'gemma:2b')).status).toBe(200);
    expect((await loaded(sim)).map((m) => m.name).sort()).toEqual(['gemma:2b', 'tinyllama:1.1b']);
    const evictions = await sim.lines(
      /msg="model requires more gpu memory than is currently available, evicting a model to make space"/,
    );
    expect(evictions).toHaveLength(1);
    expect(evictions[0]).toMatch(/^time=\S+ level=INFO source=server\.go:\d+ msg=/);

    // llama3.2:3b really needs half again its estimate: the allocation fails on the card.
    await fault(sim, { kind: 'footprint', model: 'llama3.2:3b', factor: 1.5 });
    const failed = await load(sim, 'llama3.2:3b');
    expect(failed.status).toBe(500);
    expect(await json(failed)).toEqual({
      error:
        'llama runner process has terminated: error loading model: unable to allocate CUDA0 buffer',
    });
    await sim.lines(
      /level=ERROR source=server\.go:464 msg="llama runner terminated" error="exit status 2"/,
    );
    expect(
      sim.stderr.some((l) =>
        /^ggml_backend_cuda_buffer_type_alloc_buffer: allocating [\d.]+ MiB on device 0: cudaMalloc failed: out of memory$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(sim.stderr).toContain(
      'llama_model_load: error loading model: unable to allocate CUDA0 buffer',
    );
    const used = (await loaded(sim)).reduce((sum, m) => sum + m.size_vram, 0);
    expect(used).toBeLessThanOrEqual(4 * GIB);
  });

  it('offloads part of a lone model that is larger than the card, and refuses one larger than card and RAM', async () => {
    const sim = await startTestSim({ vramMib: 4096, systemRamMib: 4096 });
    expect((await load(sim, 'qwen2.5:7b')).status).toBe(200);
    const [model] = await loaded(sim);
    expect(model?.size_vram).toBeGreaterThan(0);
    expect(model?.size_vram).toBeLessThan(model?.size as number);
    expect(
      sim.stderr.some((l) => l.includes('msg=offload') && /layers\.offload=\d+ /.test(l)),
    ).toBe(true);

    const small = await startTestSim({ vramMib: 4096, systemRamMib: 2048 });
    const refused = await load(small, 'qwen2.5:14b');
    expect(refused.status).toBe(500);
    expect((await json(refused)).error).toMatch(
      /^model requires more system memory \([\d.]+ GiB\) than is available \([\d.]+ GiB\)$/,
    );
    await small.lines(/level=WARN source=server\.go:170 msg="model request too large for system"/);
  });

  it('never evicts a model while a request runs on it: the next load waits for it to finish', async () => {
    const sim = await startTestSim({ vramMib: 4096, timeScale: 0.05 });
    await load(sim, 'gemma:2b');
    const order: string[] = [];
    const busy = sim
      .post('/api/generate', {
        model: 'gemma:2b',
        prompt: 'a long answer',
        stream: false,
        options: { num_predict: 100 },
      })
      .then(async (r) => {
        order.push(`gemma ${r.status}`);
        return json(r);
      });
    await expect.poll(async () => (await gpu(sim)).loaded[0]?.busy).toBe(true);
    const next = load(sim, 'llama3.2:3b').then((r) => order.push(`llama ${r.status}`));
    const answer = await busy;
    await next;
    expect(answer.eval_count).toBe(100);
    expect(order).toEqual(['gemma 200', 'llama 200']);
  });

  it('caps the loaded models at OLLAMA_MAX_LOADED_MODELS', async () => {
    const sim = await startTestSim({ maxLoadedModels: 2 });
    for (const model of ['qwen2.5:0.5b', 'tinyllama:1.1b', 'smollm:360m']) await load(sim, model);
    expect(await loaded(sim)).toHaveLength(2);
  });

  it('answers 503 when OLLAMA_MAX_QUEUE loads are already waiting', async () => {
    const sim = await startTestSim({ maxQueue: 1 });
    await fault(sim, { kind: 'slow_load', factor: 200, model: 'tinyllama:1.1b' });
    const slow = load(sim, 'tinyllama:1.1b');
    await expect.poll(() => sim.stderr.some((l) => l.includes('new model will fit'))).toBe(true);
    const busy = await load(sim, 'qwen2.5:0.5b');
    expect(busy.status).toBe(503);
    expect(await json(busy)).toEqual({
      error: 'server busy, please try again.  maximum pending requests exceeded',
    });
    expect((await slow).status).toBe(200);
  });

  it('keep_alive: forever shows a year near 2318, 0 unloads, and an omitted value keeps the previous one', async () => {
    const sim = await startTestSim({ keepAliveMs: 500 });
    await load(sim, 'qwen2.5:0.5b');
    // Go's now + MaxInt64 ns: some 292 years ahead.
    expect((await loaded(sim))[0]?.expires_at).toMatch(/^23(18|19)-/);
    // A later request without keep_alive keeps "forever".
    await sim.post('/api/generate', { model: 'qwen2.5:0.5b', prompt: 'hi', stream: false });
    expect((await loaded(sim))[0]?.expires_at).toMatch(/^23(18|19)-/);
    await sim.post('/api/generate', { model: 'qwen2.5:0.5b', keep_alive: 0 });
    await expect.poll(async () => (await loaded(sim)).length).toBe(0);
    // The default keep-alive (here 500 ms of simulated time) expires an idle model.
    await sim.post('/api/generate', { model: 'tinyllama:1.1b', prompt: 'hi', stream: false });
    expect((await loaded(sim)).map((m) => m.name)).toEqual(['tinyllama:1.1b']);
    await expect.poll(async () => (await loaded(sim)).length).toBe(0);
  });

  it('reloads a model when a request asks for another num_ctx', async () => {
    const sim = await startTestSim();
    await load(sim, 'qwen2.5:0.5b');
    await load(sim, 'qwen2.5:0.5b', { options: { num_ctx: 8192 } });
    const [model] = (await json(await fetch(`${sim.url}/api/ps`))).models;
    expect(model.context_length).toBe(8192);
    expect(sim.stderr.filter((l) => l.includes('llama runner started'))).toHaveLength(2);
  });

  it('logs "gpu VRAM usage didn\'t recover within timeout" about three times when VRAM lags after an unload', async () => {
    const sim = await startTestSim({ vramMib: 4096 });
    await load(sim, 'gemma:2b');
    await fault(sim, { kind: 'no_recover', seconds: 30, count: 1 });
    await load(sim, 'llama3.2:3b');
    const warnings = await sim.lines(
      /level=WARN source=sched\.go:685 msg="gpu VRAM usage didn't recover within timeout" seconds=5\.\d+ runner\.name=/,
      3,
    );
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain('runner.name=registry.ollama.ai/library/gemma:2b');
  });

  it('since 0.12.6 that line is DEBUG, so hidden unless OLLAMA_DEBUG is set', async () => {
    for (const debug of [false, true]) {
      const sim = await startTestSim({ vramMib: 4096, version: '0.12.6', debug });
      await load(sim, 'gemma:2b');
      await fault(sim, { kind: 'no_recover', seconds: 30, count: 1 });
      await load(sim, 'llama3.2:3b');
      const lines = debug
        ? await sim.lines(/didn't recover within timeout/)
        : sim.stderr.filter((l) => l.includes("didn't recover"));
      if (debug) {
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(
          /level=DEBUG source=sched\.go:1492 .* free_before="[\d.]+ [GM]iB" free_now=/,
        );
      } else {
        expect(lines).toEqual([]);
      }
    }
  });

  it('external pressure takes what is free; loaded runners keep their memory; the next fit sees it', async () => {
    const sim = await startTestSim({ vramMib: 4096 });
    await load(sim, 'qwen2.5:1.5b');
    const pressure = await json(await sim.post('/sim/pressure', { mib: 3000, gpu: 0 }));
    expect(pressure.gpus[0].external_requested_mib).toBe(3000);
    // Ollama holds 1888 MiB: the other process gets what the card has left.
    const card = pressure.gpus[0];
    expect(card.external_mib).toBe(card.memory_total_mib - card.memory_reserved_mib - 1888);
    expect(pressure.gpus[0].memory_free_mib).toBe(0);
    const answer = await sim.post('/api/generate', {
      model: 'qwen2.5:1.5b',
      prompt: 'hi',
      stream: false,
    });
    expect(answer.status).toBe(200);
    await sim.post('/api/generate', { model: 'qwen2.5:1.5b', keep_alive: 0 });
    await expect.poll(async () => (await loaded(sim)).length).toBe(0);
    expect((await gpu(sim)).gpus[0].external_mib).toBe(3000);
    // A new model sees 1 GiB free: it is offloaded in part rather than packed in.
    await load(sim, 'gemma:2b');
    const [model] = await loaded(sim);
    expect(model?.size_vram).toBeLessThan(model?.size as number);
    expect(sim.stderr.some((l) => /out of memory|cudaMalloc failed/.test(l))).toBe(false);
    expect(
      (await gpu(sim)).gpus[0].processes.map((p: { process_name: string }) => p.process_name),
    ).toContain('python3');
    await sim.post('/sim/pressure', { mib: 0 });
    expect((await gpu(sim)).gpus[0].external_mib).toBe(0);
  });

  it('a runner that crashes on load, and a runtime OOM, answer as Ollama does', async () => {
    const sim = await startTestSim();
    await fault(sim, { kind: 'crash', count: 1 });
    const crashed = await load(sim, 'qwen2.5:0.5b');
    expect([crashed.status, await json(crashed)]).toEqual([
      500,
      { error: 'llama runner process has terminated: exit status 2' },
    ]);
    expect((await load(sim, 'qwen2.5:0.5b')).status).toBe(200);
    await fault(sim, { kind: 'oom', model: 'qwen2.5:0.5b', count: 1 });
    const oom = await sim.post('/api/generate', {
      model: 'qwen2.5:0.5b',
      prompt: 'x',
      stream: false,
    });
    expect(oom.status).toBe(500);
    expect(
      (await sim.post('/api/generate', { model: 'qwen2.5:0.5b', prompt: 'x', stream: false }))
        .status,
    ).toBe(200);
  });

  it('refuses connections for a while, then serves again', async () => {
    const sim = await startTestSim();
    await fault(sim, { kind: 'refuse', seconds: 0.5 });
    await expect
      .poll(async () =>
        fetch(`${sim.url}/api/version`).then(
          () => 'up',
          (e) => e.cause?.code,
        ),
      )
      .toBe('ECONNREFUSED');
    await expect
      .poll(
        async () =>
          fetch(`${sim.url}/api/version`).then(
            (r) => r.status,
            () => 0,
          ),
        { timeout: 5000 },
      )
      .toBe(200);
  });

  it('rejects malformed control requests with a message', async () => {
    const sim = await startTestSim();
    const bad = await sim.post('/sim/pressure', { mib: 'lots' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toMatch(/^mib: /);
    const gpuMissing = await sim.post('/sim/pressure', { mib: 1, gpu: 3 });
    expect((await json(gpuMissing)).error).toBe('gpu: no GPU 3; this simulator has 1');
    const kind = await sim.post('/sim/fault', { kind: 'meteor' });
    expect(kind.status).toBe(400);
  });

  it('several GPUs: a model goes where it fits', async () => {
    const sim = await startTestSim({ gpus: 2, vramMib: 4096 });
    await load(sim, 'gemma:2b');
    await load(sim, 'llama3.2:3b');
    const state = await gpu(sim);
    expect(state.gpus).toHaveLength(2);
    expect(state.loaded.map((m: { gpu: number }) => m.gpu).sort()).toEqual([0, 1]);
    expect(state.gpus[0].uuid).not.toBe(state.gpus[1].uuid);
  });
});

describe('era B: Ollama 0.30 and llama-server', () => {
  it('reports its version and evicts everything once before failing an OOM load', async () => {
    const sim = await startTestSim({ vramMib: 8192, version: '0.30.0' });
    expect(await json(await fetch(`${sim.url}/api/version`))).toEqual({ version: '0.30.0' });
    await load(sim, 'tinyllama:1.1b', { options: { num_ctx: 4096 } });
    await fault(sim, { kind: 'footprint', model: 'llama3.2:3b', factor: 3 });
    const failed = await load(sim, 'llama3.2:3b', { options: { num_ctx: 4096 } });
    expect([failed.status, await json(failed)]).toEqual([
      500,
      {
        error:
          'llama-server reported out-of-memory during startup: cudaMalloc failed: out of memory',
      },
    ]);
    await sim.lines(
      /level=WARN source=sched\.go:667 msg="llama-server load failed; evicting all other models and retrying once"/,
    );
    await sim.lines(
      /level=ERROR source=llama_server\.go:1023 msg="llama-server terminated" error="exit status 1" exit=1/,
    );
    expect(
      sim.stderr.some((l) =>
        l.includes('msg="llama-server model predicted to fit alongside existing models"'),
      ),
    ).toBe(true);
    expect(await loaded(sim)).toEqual([]);
  });

  it('a runner crash says llama-server', async () => {
    const sim = await startTestSim({ version: '0.30.0' });
    await fault(sim, { kind: 'crash', count: 1 });
    expect(await json(await load(sim, 'qwen2.5:0.5b'))).toEqual({
      error: 'llama-server process has terminated: exit status 1',
    });
  });
});
