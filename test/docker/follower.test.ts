/**
 * The log follower against a real dockerd: a container that prints numbered lines on both
 * streams, restarted mid-test; every line arrives exactly once.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/watch/demux.js';
import { DockerClient } from '../../src/watch/docker.js';
import { LogFollower } from '../../src/watch/follower.js';
import { docker, dockerHost, runContainer } from '../helpers/docker.js';
import { captureLogger } from '../helpers/log.js';

// The counter lives in the container's filesystem, so it carries on across a restart. SIGTERM
// only ends the loop at its top, so a restart never stops it between printing a number and
// saving it (which would skip or repeat a number the follower is then blamed for).
const COUNTER =
  'trap "stop=1" TERM; i=$(cat /n 2>/dev/null || echo 0); while [ -z "$stop" ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; echo $i > /n; sleep 0.02; done';

const numbers = (lines: LogLine[], stream: 'stdout' | 'stderr') =>
  lines.filter((l) => l.stream === stream).map((l) => Number(l.text.split(' ')[1]));

describe('the log follower', () => {
  it('follows both streams, and across a restart misses no line and repeats none', async () => {
    const name = `fleet-ollama-${randomBytes(4).toString('hex')}`;
    const startAt = new Date(Date.now() - 60_000).toISOString();
    await runContainer(name, COUNTER);
    const lines: LogLine[] = [];
    const follower = new LogFollower({
      docker: new DockerClient({ host: dockerHost() }),
      target: name,
      onLine: (line) => lines.push(line),
      log: captureLogger().log,
      startAt,
    });
    const stop = new AbortController();
    const running = follower.run(stop.signal);
    await expect
      .poll(() => numbers(lines, 'stdout').length, { timeout: 20_000 })
      .toBeGreaterThan(20);
    expect(follower.status()).toMatchObject({ state: 'following', container: name });
    await docker('restart', '-t', '1', name);
    const afterRestart = numbers(lines, 'stdout').length + 30;
    await expect
      .poll(() => numbers(lines, 'stdout').length, { timeout: 30_000 })
      .toBeGreaterThan(afterRestart);
    stop.abort();
    await running;
    for (const stream of ['stdout', 'stderr'] as const) {
      const seen = numbers(lines, stream);
      const last = Math.max(...seen);
      // Every number from the first to the last, once each, in order.
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => (seen[0] as number) + i));
      expect(seen[0]).toBe(1);
      expect(last).toBe(seen.length);
    }
    expect(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(l.ts))).toBe(true);
  });

  it('says when the container is absent, keeps trying, and attaches once it appears', async () => {
    const name = `fleet-late-${randomBytes(4).toString('hex')}`;
    const capture = captureLogger();
    const lines: LogLine[] = [];
    const follower = new LogFollower({
      docker: new DockerClient({ host: dockerHost() }),
      target: { label: `ollama-fleet.role=${name}` },
      onLine: (line) => lines.push(line),
      log: capture.log,
      startAt: new Date(Date.now() - 60_000).toISOString(),
    });
    const stop = new AbortController();
    const running = follower.run(stop.signal);
    await expect.poll(() => follower.status().state).toBe('waiting');
    expect(follower.status().problem).toBe(`no container labelled ollama-fleet.role=${name}`);
    await runContainer(name, 'echo hello; sleep 30', [`ollama-fleet.role=${name}`]);
    await expect.poll(() => lines.map((l) => l.text), { timeout: 20_000 }).toContain('hello');
    stop.abort();
    await running;
  });

  it('reports a Docker socket that does not answer, without throwing', async () => {
    const follower = new LogFollower({
      docker: new DockerClient({ host: 'unix:///nonexistent/docker.sock' }),
      target: 'ollama',
      onLine: () => {},
      log: captureLogger().log,
      startAt: new Date().toISOString(),
    });
    const stop = new AbortController();
    const running = follower.run(stop.signal);
    await expect.poll(() => follower.status().state).toBe('unavailable');
    expect(follower.status().problem).toContain('the Docker socket does not answer');
    stop.abort();
    await running;
  });
});
