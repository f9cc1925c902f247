/** Starts the supervisor in this process on a loopback port, from a fleet.yaml in a temp dir. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type Supervisor, startSupervisor } from '../../src/supervisor.js';
import { FLEET } from './cli.js';
import { captureLogger } from './log.js';
import { tempDir } from './temp.js';

const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

export interface TestSupervisor extends Supervisor {
  dir: string;
  logs: () => Record<string, unknown>[];
  /** fetch against the supervisor, with the token when one is configured. */
  call(
    route: string,
    init?: { method?: string; body?: unknown; token?: string | null },
  ): Promise<Response>;
}

/** The fake nvidia-smi, pointed at a simulator, as fleet.yaml's gpu.nvidia_smi list. */
export function fakeNvidiaSmi(simUrl: string): string {
  return JSON.stringify([process.execPath, FLEET, 'sim', 'nvidia-smi', `--sim-url=${simUrl}`]);
}

export async function startTestSupervisor(options: {
  ollamaUrl: string;
  yaml?: string;
  /** Follow Ollama's log in this file (ollama.log_file). */
  logFile?: string;
  token?: string;
  /** Read GPU telemetry from the simulator at ollamaUrl with the fake nvidia-smi. */
  telemetry?: boolean;
  /** The container whose logs the watcher follows (ollama.container). */
  container?: string;
}): Promise<TestSupervisor> {
  const dir = await tempDir();
  const file = path.join(dir, 'fleet.yaml');
  await writeFile(
    file,
    `ollama:\n  url: ${options.ollamaUrl}\n  timeouts: { connect: 2s }\n${options.container ? `  container: ${options.container}\n` : ''}${options.logFile ? `  log_file: ${options.logFile}\n` : ''}api:\n  host: 127.0.0.1\n  port: 0\n${options.token ? `  token: ${options.token}\n` : ''}state_dir: ./state\n${options.telemetry ? `gpu:\n  nvidia_smi: ${fakeNvidiaSmi(options.ollamaUrl)}\n  poll_interval: 200ms\n` : 'gpu:\n  nvidia_smi: /nonexistent/nvidia-smi\n'}${options.yaml ?? ''}`,
  );
  const { config } = await loadConfig({ path: file });
  const capture = captureLogger('info');
  const supervisor = await startSupervisor({ config, log: capture.log });
  running.push(supervisor);
  return Object.assign(supervisor, {
    dir,
    logs: capture.lines,
    call(route: string, init: { method?: string; body?: unknown; token?: string | null } = {}) {
      const token = init.token === undefined ? options.token : init.token;
      return fetch(`${supervisor.url}${route}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: {
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(init.body === undefined
          ? {}
          : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
      });
    },
  });
}
