#!/usr/bin/env node
/**
 * The `fleet` command: reads argv, the environment and signals (nobody else does), and hands
 * off to one file per command in cli/.
 */
import { parseCommandLine } from './cli/args.js';
import type { CliEnvironment } from './cli/context.js';
import { Errors, FleetError, isFleetError } from './errors.js';
import { createLogger } from './log.js';
import { VERSION } from './version.js';

type StopSignal = 'SIGTERM' | 'SIGINT';

/**
 * Long-running commands take SIGTERM and SIGINT from the moment the process starts: a signal
 * that comes before a command listens is kept for it, never the default kill.
 */
function signalHub(): {
  once(event: StopSignal, listener: () => void): void;
  deliver(event: StopSignal): void;
} {
  const pending: StopSignal[] = [];
  let listeners: { event: StopSignal; listener: () => void }[] = [];
  const deliver = (event: StopSignal) => {
    const now = listeners.filter((l) => l.event === event);
    if (now.length === 0) {
      pending.push(event);
      return;
    }
    listeners = listeners.filter((l) => l.event !== event);
    for (const { listener } of now) listener();
  };
  process.on('SIGTERM', () => deliver('SIGTERM'));
  process.on('SIGINT', () => deliver('SIGINT'));
  return {
    deliver,
    once(event, listener) {
      const index = pending.indexOf(event);
      if (index >= 0) {
        pending.splice(index, 1);
        listener();
      } else {
        listeners.push({ event, listener });
      }
    },
  };
}

async function main(): Promise<number> {
  const argv0 = process.argv[1] ?? 'fleet';
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const longRunning =
    ['serve', 'demo'].includes(args[0] ?? '') ||
    (args[0] === 'sim' && args[1] !== 'nvidia-smi') ||
    (['status', 'fleet-status'].includes(args[0] ?? '') &&
      (args.includes('--watch') || args.includes('-w')));
  const signals = longRunning ? signalHub() : undefined;
  if (signals) {
    // A fault nobody caught is logged and ends the process through the normal shutdown
    // (jobs requeued, files closed), never silently and never half-way.
    const fatal = (kind: string) => (err: unknown) => {
      reportFatal(kind, err);
      // The first fault starts the normal shutdown; later ones (often its echoes) must not
      // become the second signal that forces the exit half-way through requeueing.
      if (crashed) return;
      crashed = true;
      signals.deliver('SIGTERM');
    };
    process.on('unhandledRejection', fatal('unhandled rejection'));
    process.on('uncaughtException', fatal('uncaught exception'));
  }
  const once = (event: StopSignal, listener: () => void) =>
    signals ? signals.once(event, listener) : process.once(event, listener);
  if (args[0] === 'sim') {
    // The simulator has its own flags, and `sim nvidia-smi` takes nvidia-smi's.
    try {
      return await (await import('./cli/sim.js')).simCommand(args.slice(1), {
        env: process.env,
        stdout: (text) => process.stdout.write(text),
        stderr: (text) => process.stderr.write(text),
        once,
      });
    } catch (err) {
      return report(err, json);
    }
  }
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv0, args, process.env.FLEET_CONFIG || undefined);
  } catch (err) {
    return report(err, json);
  }
  const serving = parsed.command === 'serve' || parsed.command === 'demo';
  const log = createLogger({
    level: parsed.flags.logLevel ?? (serving ? 'info' : 'warn'),
    // The supervisor logs JSON to stdout, as containers expect; other commands keep stdout
    // for their answer and tell people what they noticed on stderr.
    // FLEET_LOG_FORMAT=pretty: readable lines for people (docker compose logs) instead of JSON.
    pretty: parsed.flags.pretty || !serving || process.env.FLEET_LOG_FORMAT === 'pretty',
    destination: serving ? 1 : 2,
  });
  reportFatal = (kind, err) =>
    log.fatal({ component: 'supervisor', err, kind }, `${kind}: shutting down`);
  const cli: CliEnvironment = {
    env: process.env,
    cwd: process.cwd(),
    now: Date.now,
    stdout: (text) => process.stdout.write(text),
    // The root logger: commands bind their own component (binding one here as well would
    // write the key twice on every line of theirs).
    log,
  };
  try {
    switch (parsed.command) {
      // Commands load on demand: `fleet status` should not pay for the HTTP server.
      case 'status':
        return await (await import('./cli/status.js')).statusCommand(parsed, cli, { once });
      case 'downgrade':
      case 'upgrade':
      case 'reset':
      case 'set':
        return await (await import('./cli/ladder.js')).ladderCommand(parsed, cli);
      case 'serve':
        return await (await import('./cli/serve.js')).serveCommand(
          parsed,
          { ...cli, log },
          {
            once,
            exit: (code) => process.exit(code),
          },
        );
      case 'submit':
        return await (await import('./cli/submit.js')).submitCommand(parsed, cli);
      case 'jobs':
        return await (await import('./cli/jobs.js')).jobsCommand(parsed, cli);
      case 'pull':
        return await (await import('./cli/pull.js')).pullCommand(parsed, cli);
      case 'demo':
        return await (await import('./cli/demo.js')).demoCommand(parsed, cli, {
          once,
        });
      case 'detect':
        return await (await import('./cli/detect.js')).detectCommand(parsed, cli, process.stdin);
      case 'version':
        cli.stdout(`${VERSION}\n`);
        return 0;
      case 'help':
        return await (await import('./cli/help.js')).helpCommand(parsed, cli);
    }
  } catch (err) {
    return report(err, parsed.flags.json);
  }
}

function report(err: unknown, json: boolean): number {
  const error = isFleetError(err)
    ? err
    : new FleetError(Errors.FLEET_ERR_INTERNAL, (err as Error)?.stack ?? String(err), {
        cause: err,
      });
  if (json) process.stdout.write(`${JSON.stringify(error.toJSON(), null, 2)}\n`);
  process.stderr.write(`fleet: ${error.message}\n`);
  return error.exitCode;
}

/** Set when a fault nobody caught ended a long-running command: it exits 1, not 0. */
let crashed = false;
let reportFatal = (kind: string, err: unknown): void => {
  process.stderr.write(`fleet: ${kind}: ${(err as Error)?.stack ?? String(err)}\n`);
};

const code = await main();
process.exitCode = crashed && code === 0 ? 1 : code;
