/**
 * `fleet demo` (`npm run demo`): the whole fleet on a laptop. Starts `fleet sim` (a simulated
 * Ollama and GPU) and the supervisor from demo/fleet.yaml, submits a few jobs so there is
 * something to see, and says where to look. Ctrl-C stops both.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BackendConfig } from '../config/backends.js';
import { Errors, FleetError } from '../errors.js';
import { SIM_DEFAULTS } from '../sim/options.js';
import { startSimulator } from '../sim/simulator.js';
import { startSupervisor } from '../supervisor.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig } from './context.js';

export async function demoCommand(
  parsed: ParsedCommand,
  cli: CliEnvironment,
  signals: { once(event: 'SIGTERM' | 'SIGINT', listener: () => void): void },
): Promise<number> {
  const configPath = parsed.options.config === undefined ? 'demo/fleet.yaml' : parsed.flags.config;
  const loaded = await loadCliConfig({ ...parsed.flags, config: configPath }, cli, { warn: true });
  await mkdir(loaded.state_dir, { recursive: true });
  const ollamaLog = path.join(loaded.state_dir, 'ollama.log');
  // No Docker needed: the supervisor follows the simulator's log in its file, as it would
  // follow `ollama serve 2>>ollama.log`.
  // The demo runs one simulated Ollama: fleet.yaml's single backend (`ollama`), or the first.
  const [first, ...rest] = loaded.backends;
  const { container: _followsNoContainer, ...demoBackend } = first as BackendConfig;
  const config = {
    ...loaded,
    ollama: { ...loaded.ollama, url: demoBackend.url, log_file: ollamaLog },
    backends: [{ ...demoBackend, log_file: ollamaLog }, ...rest],
  };
  const logFile = createWriteStream(ollamaLog, { flags: 'a' });
  const simPort = Number(new URL(config.ollama.url).port || 11434);
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  try {
    sim = await startSimulator(
      // The simulator listens where fleet.yaml's ollama.url points.
      { ...SIM_DEFAULTS, timeScale: 0.2, host: '127.0.0.1', port: simPort },
      {
        stderr: (line) => logFile.write(`${line}\n`),
        stdout: (line) => logFile.write(`${line}\n`),
      },
    );
  } catch (err) {
    logFile.end();
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new FleetError(
      Errors.FLEET_ERR_LISTEN,
      `the simulator cannot listen on 127.0.0.1:${simPort}: the port is taken; change ollama.url in ${configPath}`,
      { cause: err },
    );
  }
  let supervisor: Awaited<ReturnType<typeof startSupervisor>>;
  try {
    supervisor = await startSupervisor({ config, log: cli.log, now: cli.now });
  } catch (err) {
    // A failed start lets go of everything it took: the simulator's port, the log file.
    await sim.close();
    logFile.end();
    throw err;
  }
  const api = `http://${config.api.host}:${config.api.port}`;
  const fleet = `node dist/main.js`;
  cli.stdout(`
ollama-fleet demo: no GPU needed
  simulated Ollama   ${sim.url}   (a simulated 24 GiB GPU; its log: ${ollamaLog})
  supervisor         ${api}   (state: ${config.state_dir})
  dashboard          ${api}/ui

Try, in another terminal:
  ${fleet} submit --config ${configPath} --random 20
  ${fleet} status --config ${configPath} --watch
  OLLAMA_HOST=${api} ollama run fleet "hello"                       # Ollama's API, queued
  curl -s ${api}/api/stats
  curl -s -X POST ${sim.url}/sim/pressure -d '{"mib": 20000}'     # another process takes 20 GiB

VRAM trouble, and the ladder stepping down (three out-of-memory errors, a few seconds apart):
  curl -s -X POST ${sim.url}/sim/fault -d '{"kind":"oom","count":1}'; ${fleet} submit --config ${configPath} --model fleet --prompt hi
  (the OOM shows in the simulator's log, which the supervisor follows; the job runs again;
   the third OOM steps the ladder down: watch it on the dashboard or with status --watch)
  ${fleet} reset --config ${configPath}            # back to the top

Ctrl-C stops both.
`);
  await new Promise<void>((resolve) => {
    signals.once('SIGINT', resolve);
    signals.once('SIGTERM', resolve);
  });
  await supervisor.close();
  await sim.close();
  logFile.end();
  return 0;
}
