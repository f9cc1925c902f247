/**
 * Seeing the fleet: /metrics in Prometheus text that moves as a simulated run does, and
 * `fleet status --watch` redrawing until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exited, FLEET, json } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

/** `name{labels} value` lines as a map from `name{labels}` to the value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const sum = (m: Map<string, number>, prefix: string) =>
  [...m].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);

describe('metrics', () => {
  it('/metrics moves with a run: jobs, loads, VRAM, queue, ladder, requests', async () => {
    const sim = await startTestSim({ vramMib: 8192 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    const scrape = async () => {
      const response = await fleet.call('/metrics');
      expect(response.headers.get('content-type')).toContain('text/plain');
      return parse(await response.text());
    };
    const before = await scrape();
    expect(before.get('fleet_ladder_rung{ladder="main",model="llama3.2:3b"}')).toBe(0);
    expect(sum(before, 'fleet_jobs_finished_total')).toBe(0);

    // Jobs waiting while Ollama refuses connections show in the queue gauge.
    await sim.post('/sim/fault', { kind: 'refuse', seconds: 1 });
    const ids = [];
    for (const model of ['qwen2.5:0.5b', 'qwen2.5:0.5b', 'smollm:360m']) {
      ids.push(
        (await json(await fleet.call('/api/submit', { body: { model, prompt: 'hi' } }))).job_id,
      );
    }
    const waiting = await scrape();
    expect(
      waiting.get('fleet_queue_jobs{status="pending",model="qwen2.5:0.5b",priority="normal"}'),
    ).toBe(2);

    for (const id of ids) await json(await fleet.call(`/api/job/${id}?wait=30`));
    await expect
      .poll(
        async () =>
          sum(await scrape(), 'fleet_jobs_finished_total{model="qwen2.5:0.5b",status="complete"'),
        {
          timeout: 20_000,
        },
      )
      .toBe(2);
    // nvidia-smi (the fake one, asking the simulator) was refused too; wait for a reading.
    await expect
      .poll(async () => (await scrape()).get('fleet_gpu_telemetry_available{backend="default"}'), {
        timeout: 10_000,
      })
      .toBe(1);
    const after = await scrape();
    expect(sum(after, 'fleet_model_loads_total')).toBeGreaterThanOrEqual(2);
    expect(sum(after, 'fleet_job_run_seconds_count')).toBe(3);
    expect(sum(after, 'fleet_queue_jobs')).toBe(0);
    expect(sum(after, 'fleet_gpu_vram_total_bytes')).toBe(8192 * 2 ** 20);
    expect(sum(after, 'fleet_gpu_vram_ollama_bytes')).toBeGreaterThan(0);
    expect(
      sum(after, 'fleet_http_requests_total{method="POST",route="/api/submit",status="202"}'),
    ).toBe(3);

    await fleet.call('/api/fleet/main/downgrade', { body: {} });
    await expect
      .poll(
        async () => (await scrape()).get('fleet_ladder_rung{ladder="main",model="phi3:mini"}'),
        {
          timeout: 10_000,
        },
      )
      .toBe(1);
    expect(
      (await scrape()).get(
        'fleet_ladder_transitions_total{ladder="main",direction="down",source="api"}',
      ),
    ).toBe(1);
  });
});

describe('fleet status --watch', () => {
  it('redraws the picture until Ctrl-C, then exits 0', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'fleet.yaml');
    await writeFile(
      file,
      'state_dir: ./state\nollama: { url: "http://127.0.0.1:9" }\ngpu: { nvidia_smi: /nonexistent }\n',
    );
    const child = spawn(process.execPath, [FLEET, 'status', '--config', file, '--watch'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    await expect
      .poll(() => out.split('Ctrl-C stops').length - 1, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    expect(out).toContain('\x1b[2J');
    expect(out).toContain('ladder main (default): llama3.2:3b');
    child.kill('SIGINT');
    expect(await exited(child)).toBe(0);
  });
});
