/**
 * `fleet demo` (`npm run demo`): the whole fleet on a laptop. Starts `fleet sim` (a simulated
 * Ollama and GPU) and the supervisor from demo/fleet.yaml, submits a few jobs so there is
 * something to see, and says where to look. Ctrl-C stops both.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
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
  const config = await loadCliConfig(
    {
      ...parsed.flags,
      config: parsed.options.config === undefined ? 'demo/fleet.yaml' : parsed.flags.config,
    },
    cli,
  );
  await mkdir(config.state_dir, { recursive: true });
  const ollamaLog = path.join(config.state_dir, 'ollama.log');
  const logFile = createWriteStream(ollamaLog, { flags: 'a' });
  const sim = await startSimulator(
    // The simulator listens where fleet.yaml's ollama.url points.
    {
      ...SIM_DEFAULTS,
      timeScale: 0.2,
      host: '127.0.0.1',
      port: Number(new URL(config.ollama.url).port || 11434),
    },
    { stderr: (line) => logFile.write(`${line}\n`), stdout: (line) => logFile.write(`${line}\n`) },
  );
  const supervisor = await startSupervisor({ config, log: cli.log, now: cli.now });
  const api = `http://${config.api.host}:${config.api.port}`;
  cli.stdout(`
ollama-fleet demo: no GPU needed
  simulated Ollama   ${sim.url}   (a simulated 24 GiB GPU; its log: ${ollamaLog})
  supervisor         ${api}   (state: ${config.state_dir})
  dashboard          ${api}/ui

Try, in another terminal:
  node dist/main.js submit --url ${api} --random 20
  node dist/main.js status --config demo/fleet.yaml --watch
  OLLAMA_HOST=${api} ollama run fleet "hello"                       # Ollama's API, queued
  curl -s ${api}/api/stats
  curl -s -X POST ${sim.url}/sim/pressure -d '{"mib": 20000}'     # another process takes 20 GiB
  node dist/main.js downgrade --config demo/fleet.yaml            # step the ladder down

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
