/** Starts `fleet sim` in this process on a loopback port, with its log lines captured. */
import { afterEach } from 'vitest';
import { SIM_DEFAULTS, type SimOptions } from '../../src/sim/options.js';
import { type RunningSimulator, startSimulator } from '../../src/sim/simulator.js';

export interface TestSim extends RunningSimulator {
  /** Ollama's stderr lines so far. */
  stderr: string[];
  /** gin access lines (stdout) so far. */
  stdout: string[];
  post(path: string, body: unknown): Promise<Response>;
  /** The lines matching a pattern, waiting up to a few seconds for at least `count`. */
  lines(pattern: RegExp, count?: number): Promise<string[]>;
}

const running: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

export async function startTestSim(options: Partial<SimOptions> = {}): Promise<TestSim> {
  const stderr: string[] = [];
  const stdout: string[] = [];
  const sim = await startSimulator(
    { ...SIM_DEFAULTS, timeScale: 0.01, ...options, host: '127.0.0.1', port: 0 },
    { stderr: (line) => stderr.push(line), stdout: (line) => stdout.push(line) },
  );
  running.push(sim);
  return Object.assign(sim, {
    stderr,
    stdout,
    post: (path: string, body: unknown) =>
      fetch(`${sim.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async lines(pattern: RegExp, count = 1) {
      for (let i = 0; i < 100; i++) {
        const found = stderr.filter((l) => pattern.test(l));
        if (found.length >= count) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      return stderr.filter((l) => pattern.test(l));
    },
  });
}
