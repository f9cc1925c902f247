/**
 * Supervisors over `backends:` lists for the tests, in this process on loopback: simulated
 * GPUs (`fleet sim`, the stand-in for a GPU and its Ollama), a backend entry for each with its
 * own fake nvidia-smi, and a supervisor from a fleet.yaml written for the test. Everything
 * started is closed after each test, newest first.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { SIM_DEFAULTS } from '../../src/sim/options.js';
import { type RunningSimulator, startSimulator } from '../../src/sim/simulator.js';
import { type Supervisor, startSupervisor } from '../../src/supervisor.js';
import { captureLogger } from './log.js';
import { fakeNvidiaSmi } from './supervisor.js';
import { tempDir } from './temp.js';

const started: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of started.splice(0).reverse()) await thing.close().catch(() => {});
});

/** Closes what a test started itself (a stand-in server) with the rest. */
export function closeAfterTest(thing: { close(): Promise<void> }): void {
  started.push(thing);
}

/** A simulated 8 GiB GPU and its Ollama; its Ollama log lines in `stderr`. */
export async function simulatedGpu(
  options: { port?: number; timeScale?: number; vramMib?: number } = {},
): Promise<RunningSimulator & { stderr: string[] }> {
  const stderr: string[] = [];
  const sim = await startSimulator(
    {
      ...SIM_DEFAULTS,
      timeScale: options.timeScale ?? 0.05,
      vramMib: options.vramMib ?? 8192,
      host: '127.0.0.1',
      port: options.port ?? 0,
    },
    { stderr: (line) => stderr.push(line), stdout: () => {} },
  );
  started.push(sim);
  return Object.assign(sim, { stderr });
}

/** One entry of a `backends:` list, with the simulator's fake nvidia-smi; `extra` is YAML. */
export function backendEntry(name: string, url: string, extra = ''): string {
  return `  - name: ${name}\n    url: ${url}\n    timeouts: { connect: 2s }\n    gpu:\n      nvidia_smi: ${fakeNvidiaSmi(url)}\n      poll_interval: 200ms\n${extra}`;
}

/** A supervisor over these `backends:` entries, on loopback; `yaml` adds top-level keys. */
export async function supervisorOver(
  backends: string,
  yaml = '',
): Promise<Supervisor & { logs: () => Record<string, unknown>[] }> {
  const dir = await tempDir();
  const file = path.join(dir, 'fleet.yaml');
  await writeFile(
    file,
    `backends:\n${backends}${yaml}api:\n  host: 127.0.0.1\n  port: 0\nstate_dir: ./state\n`,
  );
  const { config } = await loadConfig({ path: file });
  const capture = captureLogger('info');
  const supervisor = await startSupervisor({ config, log: capture.log });
  started.push(supervisor);
  return Object.assign(supervisor, { logs: capture.lines });
}

/** A supervisor on a shared queue with one backend, `name`, over the simulator at `ollama`. */
export function hostOnQueue(
  name: string,
  ollama: string,
  queue: string,
  options: { lease?: string; models?: string } = {},
): Promise<Supervisor> {
  const models = options.models ? `    models: ${options.models}\n` : '';
  return supervisorOver(
    backendEntry(name, ollama, models),
    `queue:\n  url: ${queue}\n  lease: ${options.lease ?? '2s'}\n`,
  );
}
