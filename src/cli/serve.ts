/**
 * `fleet serve`: runs the supervisor until SIGTERM or SIGINT. The first signal closes it
 * cleanly; a second forces the exit, and an unref'd watchdog makes sure a stuck close ends.
 */
import { startSupervisor } from '../supervisor.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig } from './context.js';

const FORCED_EXIT_AFTER_MS = 10_000;

export async function serveCommand(
  parsed: ParsedCommand,
  cli: CliEnvironment,
  signals: {
    once(event: 'SIGTERM' | 'SIGINT', listener: () => void): void;
    exit(code: number): never;
  },
): Promise<number> {
  const config = await loadCliConfig(parsed.flags, cli, { warn: true });
  const supervisor = await startSupervisor({ config, log: cli.log, now: cli.now });
  const signal = await new Promise<string>((resolve) => {
    signals.once('SIGTERM', () => resolve('SIGTERM'));
    signals.once('SIGINT', () => resolve('SIGINT'));
  });
  cli.log.info({ component: 'supervisor', signal }, 'shutting down');
  const force = () => {
    cli.log.error({ component: 'supervisor' }, 'forced exit');
    signals.exit(1);
  };
  signals.once('SIGTERM', force);
  signals.once('SIGINT', force);
  setTimeout(force, FORCED_EXIT_AFTER_MS).unref();
  await supervisor.close();
  cli.log.info({ component: 'supervisor' }, 'stopped');
  return 0;
}
