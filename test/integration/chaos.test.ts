/**
 * Chaos: the supervisor is killed with SIGKILL several times while its disk fills up and
 * empties again, with jobs coming in all along. Every job it acknowledged (202) must be
 * there afterwards and end exactly once; a submit refused while the disk was full is a 503
 * that says so. The state folder is a small tmpfs the test mounts (root only, as the Docker
 * tests are), so the disk really fills: no stand-in.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, startServe } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { startTestSim } from '../helpers/sim.js';
import { tempDir } from '../helpers/temp.js';

const mounts: string[] = [];
const children: { child: import('node:child_process').ChildProcess }[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.child.kill('SIGKILL');
  for (const dir of mounts.splice(0)) execFileSync('umount', ['-l', dir]);
});

/** Writes a filler file until the disk says it is full; returns its path. */
async function fillDisk(dir: string): Promise<string> {
  const file = path.join(dir, 'filler');
  const handle = await open(file, 'w');
  const block = Buffer.alloc(64 * 1024, 7);
  try {
    for (;;) await handle.write(block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
  return file;
}

describe('chaos: kill -9 while the disk fills and empties', () => {
  it('loses no acknowledged job and ends each exactly once', { timeout: 180_000 }, async () => {
    if (process.getuid?.() !== 0) {
      throw new Error('this test mounts a small tmpfs: run the tests as root (as CI does)');
    }
    const dir = await tempDir();
    const state = path.join(dir, 'state');
    await mkdir(state);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', state]);
    mounts.push(state);
    const sim = await startTestSim({ vramMib: 24_576, timeScale: 0.05 });
    const port = await freePort();
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(
      config,
      `ollama:\n  url: ${sim.url}\napi:\n  host: 127.0.0.1\n  port: ${port}\nstate_dir: ${state}\n`,
    );
    const url = `http://127.0.0.1:${port}`;
    const acked = new Set<string>();
    const refusals: { status: number; message: string }[] = [];
    const submit = async (i: number) => {
      const response = await fetch(`${url}/api/submit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'qwen2.5:0.5b', prompt: `chaos ${i}` }),
      }).catch(() => undefined);
      if (!response) return; // the supervisor was killed under the request: not acknowledged
      const body = (await response.json().catch(() => ({}))) as {
        job_id?: string;
        error?: { message: string };
      };
      if (response.status === 202 && body.job_id) acked.add(body.job_id);
      else refusals.push({ status: response.status, message: body.error?.message ?? '' });
    };

    let n = 0;
    for (let round = 0; round < 4; round++) {
      const server = await startServe(['--config', config]);
      children.push(server);
      await Promise.all(Array.from({ length: 30 }, () => submit(n++)));
      const filler = await fillDisk(state);
      // Jobs keep coming while the disk is full; then the supervisor dies without warning.
      await Promise.all(Array.from({ length: 10 }, () => submit(n++)));
      server.child.kill('SIGKILL');
      await exited(server.child);
      await rm(filler);
    }

    // A last start on a disk with room: every acknowledged job ends.
    const last = await startServe(['--config', config]);
    children.push(last);
    const finals = new Map<string, string>();
    for (const id of acked) {
      const job = (await (await fetch(`${url}/api/job/${id}?wait=60`)).json()) as {
        status: string;
        error?: { code: string };
      };
      // A job killed under three times has used its attempts (a job that keeps a supervisor
      // from living may be why): it fails and says so. Every other job completes.
      finals.set(id, job.status === 'failed' ? `failed ${job.error?.code}` : job.status);
    }
    expect(acked.size).toBeGreaterThanOrEqual(100);
    expect(refusals.length).toBeGreaterThan(0); // the disk did fill
    const ends = new Set(finals.values());
    for (const end of ends) expect(['complete', 'failed FLEET_ERR_JOB_ATTEMPTS']).toContain(end);
    expect([...finals.values()].filter((s) => s === 'complete').length).toBeGreaterThan(
      acked.size / 2,
    );
    // Ended exactly once: each acknowledged job is one row, complete, counted once.
    const listed = (await (await fetch(`${url}/api/jobs?limit=1000`)).json()) as {
      jobs: { job_id: string; status: string }[];
    };
    const ids = listed.jobs.map((j) => j.job_id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of acked) expect(ids).toContain(id);
    // Refusals while the disk was full named the disk, with a status to retry on.
    for (const refusal of refusals) {
      expect(refusal.status).toBe(503);
      expect(refusal.message).toMatch(/disk is full|cannot be used/);
    }
  });
});
