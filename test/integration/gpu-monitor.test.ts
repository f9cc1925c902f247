/**
 * Telemetry and learning against real processes: nvidia-smi stand-in scripts for each way it
 * fails, the fake nvidia-smi with `fleet sim`, the monitor's snapshots, and the registry.
 */
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResourceMonitor } from '../../src/gpu/monitor.js';
import { NvidiaSmiReader } from '../../src/gpu/nvidia-smi.js';
import { OllamaClient } from '../../src/ollama/client.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import { FLEET, json, runFleet } from '../helpers/cli.js';
import { captureLogger } from '../helpers/log.js';
import { startTestSim } from '../helpers/sim.js';
import { fakeNvidiaSmi, startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

const MIB = 2 ** 20;

async function script(body: string): Promise<string> {
  const file = path.join(await tempDir(), 'nvidia-smi');
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

const reader = (command: string | string[], timeoutMs = 5_000) =>
  new NvidiaSmiReader({ command, timeoutMs, now: Date.now });

describe('the nvidia-smi reader', () => {
  it('reports each failure as telemetry unavailable, with a typed reason', async () => {
    expect(await reader('/nonexistent/nvidia-smi').read()).toMatchObject({
      available: false,
      failure: {
        kind: 'missing',
        message: '/nonexistent/nvidia-smi is not installed (not found on PATH)',
      },
    });
    const driver = await script(
      `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."; exit 9`,
    );
    expect(await reader(driver).read()).toMatchObject({
      available: false,
      failure: { kind: 'driver', message: expect.stringContaining('(exit 9)') },
    });
    expect(await reader(await script('exec sleep 10'), 200).read()).toMatchObject({
      available: false,
      failure: { kind: 'timeout' },
    });
    expect(await reader(await script('echo hello world')).read()).toMatchObject({
      available: false,
      failure: { kind: 'garbage' },
    });
    expect(await reader(await script('echo oops >&2; exit 3')).read()).toMatchObject({
      available: false,
      failure: { kind: 'exit', message: expect.stringContaining('exited 3: oops') },
    });
  });

  it('never runs two readings at once', async () => {
    const dir = await tempDir();
    const counter = path.join(dir, 'count');
    const smi = await script(
      `echo x >> ${counter}; sleep 0.3; echo "0, GPU-1, card, 100, 1, 99, 0, 40"`,
    );
    const r = reader(smi);
    const [a, b] = await Promise.all([r.read(), r.read()]);
    expect(a).toBe(b);
    // One reading is two calls: the GPUs, then the compute apps.
    expect((await readFile(counter, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it("reads the simulator's card through the fake nvidia-smi", async () => {
    const sim = await startTestSim({ vramMib: 8192 });
    const telemetry = await reader(JSON.parse(fakeNvidiaSmi(sim.url))).read();
    expect(telemetry).toMatchObject({
      available: true,
      gpus: [{ index: 0, total: 8192 * MIB, used: 0 }],
      processes: [],
    });
  });
});

describe('the resource monitor against fleet sim', () => {
  it('tracks loads, unloads and external pressure', async () => {
    const sim = await startTestSim({ vramMib: 8192 });
    const monitor = new ResourceMonitor({
      ollama: new OllamaClient({ url: sim.url, timeout: 2_000 }),
      smi: reader(JSON.parse(fakeNvidiaSmi(sim.url))),
      vramTotal: undefined,
      telemetryIntervalMs: 0,
      ollamaIntervalMs: 50,
      log: captureLogger().log,
      now: Date.now,
    });
    const seen: number[] = [];
    monitor.subscribe((s) => seen.push(s.at));
    const empty = await monitor.refresh({ telemetry: true });
    expect(empty.loaded).toEqual([]);
    expect(empty.gpus[0]).toMatchObject({
      total: 8192 * MIB,
      ollama: 0,
      external: 0,
      source: 'nvidia-smi',
    });
    expect(empty.installed?.map((m) => m.name)).toContain('llama3.2:3b');

    await sim.post('/api/generate', { model: 'llama3.2:3b', keep_alive: -1 });
    const loaded = await monitor.refresh({ telemetry: true });
    expect(loaded.loaded.map((m) => m.name)).toEqual(['llama3.2:3b']);
    expect(loaded.gpus[0]?.ollama).toBe(3214 * MIB);

    await sim.post('/sim/pressure', { mib: 2000 });
    const pressed = await monitor.refresh({ telemetry: true });
    expect(pressed.gpus[0]?.external).toBe(2000 * MIB);
    expect(pressed.gpus[0]?.used).toBe((3214 + 2000) * MIB);

    await sim.post('/api/generate', { model: 'llama3.2:3b', keep_alive: 0 });
    await expect
      .poll(async () => (await monitor.refresh({ telemetry: true })).loaded.length)
      .toBe(0);
    expect(monitor.current()?.gpus[0]?.ollama).toBe(0);

    const stop = new AbortController();
    const running = monitor.run(stop.signal);
    const count = seen.length;
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBeGreaterThan(count + 1);
    stop.abort();
    await running;
  });

  it("without nvidia-smi, says telemetry is unavailable and keeps going on Ollama's numbers", async () => {
    const sim = await startTestSim();
    await sim.post('/api/generate', { model: 'qwen2.5:0.5b' });
    const capture = captureLogger();
    const monitor = new ResourceMonitor({
      ollama: new OllamaClient({ url: sim.url, timeout: 2_000 }),
      smi: reader('/nonexistent/nvidia-smi'),
      vramTotal: 24_576 * MIB,
      telemetryIntervalMs: 0,
      ollamaIntervalMs: 50,
      log: capture.log,
      now: Date.now,
    });
    const snapshot = await monitor.refresh({ telemetry: true });
    await monitor.refresh({ telemetry: true });
    expect(snapshot.telemetry).toMatchObject({ available: false, failure: { kind: 'missing' } });
    expect(snapshot.gpus[0]).toMatchObject({
      source: 'configured',
      total: 24_576 * MIB,
      ollama: 730 * MIB,
    });
    // Said once, not on every poll.
    expect(
      capture.lines().filter((l) => String(l.msg).startsWith('GPU telemetry unavailable')),
    ).toHaveLength(1);
  });
});

describe('the model registry', () => {
  const catalogue = [
    { name: 'llama3.2:3b', size_mb: 2000, vram_mib: 3000, capabilities: ['text' as const] },
    { name: 'tinyllama:1.1b', size_mb: 637, capabilities: ['text' as const] },
  ];
  const open = (stateDir: string) =>
    new ModelRegistry({
      stateDir,
      catalogue,
      multiplier: 1.3,
      log: captureLogger().log,
      now: Date.now,
    });

  it('says where each estimate comes from: catalogue, size x multiplier, or nothing known', async () => {
    const registry = open(await tempDir());
    expect(registry.estimate('llama3.2:3b')).toEqual({ bytes: 3000 * MIB, source: 'catalogue' });
    expect(registry.estimate('tinyllama:1.1b')).toEqual({
      bytes: Math.round(637e6 * 1.3),
      source: 'default',
    });
    expect(registry.estimate('mistral:7b')).toEqual({ bytes: undefined, source: 'unknown' });
    registry.noteInstalled([{ name: 'mistral:7b', size: 4_113_301_824 }]);
    expect(registry.estimate('mistral:7b')).toEqual({
      bytes: Math.round(4_113_301_824 * 1.3),
      source: 'default',
    });
  });

  it("learns a model's real footprint after one load and keeps it across a restart", async () => {
    const sim = await startTestSim();
    await sim.post('/api/generate', { model: 'llama3.2:3b' });
    const ps = await new OllamaClient({ url: sim.url, timeout: 2_000 }).ps();
    const dir = await tempDir();
    const first = open(dir);
    await first.observe(ps.models.map((m) => ({ ...m, context_length: m.context_length })));
    expect(first.estimate('llama3.2:3b', { numCtx: 4096 })).toEqual({
      bytes: 3214 * MIB,
      source: 'learned',
      num_ctx: 4096,
    });
    // Another context length: the nearest learned one beats the catalogue.
    expect(first.estimate('llama3.2:3b', { numCtx: 8192 })).toMatchObject({
      source: 'learned',
      num_ctx: 4096,
    });
    const second = open(dir);
    await second.load();
    expect(second.estimate('llama3.2:3b', { numCtx: 4096 })).toEqual({
      bytes: 3214 * MIB,
      source: 'learned',
      num_ctx: 4096,
    });
  });

  it('learns per kind of card: each card its own figure, another card the nearest one, kept across restarts', async () => {
    const dir = await tempDir();
    const registry = open(dir);
    const seen = (size: number) => [
      { name: 'llama3.2:3b', size, size_vram: size, expires_at: '', context_length: 4096 },
    ];
    await registry.observe(seen(3000 * MIB), 'NVIDIA GeForce RTX 4090');
    await registry.observe(seen(3400 * MIB), 'NVIDIA A10G');
    expect(registry.estimate('llama3.2:3b', { numCtx: 4096, card: 'NVIDIA A10G' })).toEqual({
      bytes: 3400 * MIB,
      source: 'learned',
      num_ctx: 4096,
      card: 'NVIDIA A10G',
    });
    expect(registry.estimate('llama3.2:3b', { card: 'NVIDIA GeForce RTX 4090' }).bytes).toBe(
      3000 * MIB,
    );
    // A card never seen: what another card learned beats the catalogue.
    expect(registry.estimate('llama3.2:3b', { card: 'NVIDIA L4' }).source).toBe('learned');
    // A model seen larger than its card (part of it on the CPU) is learned as the card: it
    // is planned alone, not failed as too large.
    await registry.observe(seen(9000 * MIB), 'NVIDIA T4', 7900 * MIB);
    expect(registry.estimate('llama3.2:3b', { card: 'NVIDIA T4' }).bytes).toBe(7900 * MIB);
    // Raises stop at the card: 3400 MiB x 10 on an 8 GiB card is the card, and it runs alone.
    expect((await registry.raise('llama3.2:3b', 10, { card: 'NVIDIA L4' }, 8192 * MIB)).bytes).toBe(
      8192 * MIB,
    );
    // An OOM on one card raises that card's figure only.
    await registry.raise('llama3.2:3b', 1.5, { card: 'NVIDIA A10G' });
    const again = open(dir);
    await again.load();
    expect(again.estimate('llama3.2:3b', { card: 'NVIDIA A10G' }).bytes).toBe(5100 * MIB);
    expect(again.estimate('llama3.2:3b', { card: 'NVIDIA GeForce RTX 4090' }).bytes).toBe(
      3000 * MIB,
    );
  });

  it('smooths what it sees, raises an estimate after an OOM, and keeps a corrupt file aside', async () => {
    const dir = await tempDir();
    const registry = open(dir);
    const seen = (size: number) => [
      { name: 'llama3.2:3b', size, size_vram: size, expires_at: '', context_length: 4096 },
    ];
    await registry.observe(seen(3000 * MIB));
    await registry.observe(seen(4000 * MIB));
    expect(registry.estimate('llama3.2:3b', { numCtx: 4096 }).bytes).toBe(3500 * MIB);
    expect((await registry.raise('llama3.2:3b', 1.2, { numCtx: 4096 })).bytes).toBe(
      Math.round(3500 * MIB * 1.2),
    );
    await writeFile(path.join(dir, 'registry.json'), '{ nope');
    const again = open(dir);
    await again.load();
    expect(again.estimate('llama3.2:3b').source).toBe('catalogue');
    expect((await readdir(dir)).some((f) => f.startsWith('registry.json.corrupt-'))).toBe(true);
  });
});

describe('stats and status show VRAM, loaded models and where estimates come from', () => {
  it('GET /api/stats with telemetry from the fake nvidia-smi', async () => {
    const sim = await startTestSim({ vramMib: 16384 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const id = (
      await json(
        await fleet.call('/api/submit', {
          body: { model: 'qwen2.5:0.5b', prompt: 'x', keep_alive: -1 },
        }),
      )
    ).job_id;
    expect((await json(await fleet.call(`/api/job/${id}?wait=30`))).status).toBe('complete');
    // Telemetry and /api/ps are read on their own clocks: wait until both have seen the load.
    await expect
      .poll(
        async () => {
          const r = (await json(await fleet.call('/api/stats'))).resources;
          return [r.loaded_models[0]?.estimate?.source, r.gpus[0]?.ollama];
        },
        { timeout: 10_000 },
      )
      .toEqual(['learned', 730 * MIB]);
    const stats = await json(await fleet.call('/api/stats'));
    expect(stats.resources.vram.total).toBe(16384 * MIB);
    expect(stats.resources.gpus[0]).toMatchObject({
      source: 'nvidia-smi',
      ollama: 730 * MIB,
      external: 0,
    });
    expect(stats.resources.telemetry.available).toBe(true);
    expect(stats.resources.loaded_models[0]).toMatchObject({
      name: 'qwen2.5:0.5b',
      size_vram: 730 * MIB,
    });
  });

  it('fleet status', async () => {
    const sim = await startTestSim({ vramMib: 16384 });
    await sim.post('/api/generate', { model: 'llama3.2:3b', keep_alive: -1 });
    const dir = await tempDir();
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(
      config,
      `ollama:\n  url: ${sim.url}\ngpu:\n  nvidia_smi: ${JSON.stringify([process.execPath, FLEET, 'sim', 'nvidia-smi', `--sim-url=${sim.url}`])}\napi:\n  port: 9\nstate_dir: ./state\n`,
    );
    const text = await runFleet(['status', '--config', config]);
    expect(text.stdout).toMatch(
      /vram GPU 0 NVIDIA GeForce RTX 4080 SUPER: 3\.1 GiB used of 16\.0 GiB, [\d.]+ GiB free; Ollama 3\.1 GiB, other processes 0 B/,
    );
    expect(text.stdout).toMatch(
      /loaded llama3\.2:3b: 3\.1 GiB on the GPU of 3\.1 GiB, expires \S+ \(estimate 3\.1 GiB, catalogue\)/,
    );
    const answer = JSON.parse((await runFleet(['status', '--json', '--config', config])).stdout);
    expect(answer.resources.gpus[0].source).toBe('nvidia-smi');
    expect(answer.ladders[0].estimates['phi3:mini']).toEqual({
      bytes: 4000 * MIB,
      source: 'catalogue',
    });
  });
});
