/**
 * The one place that knows pino. Components receive a Logger and bind their identity with
 * `log.child({ component: 'fleet' })`; nobody builds a logger of their own.
 */
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export type Component =
  | 'api'
  | 'cli'
  | 'queue'
  | 'scheduler'
  | 'engine'
  | 'gpu'
  | 'registry'
  | 'watch'
  | 'fleet'
  | 'workers'
  | 'sim'
  | 'supervisor';

export interface LoggerOptions {
  level?: string;
  /** Human-readable lines instead of JSON (`--pretty`). */
  pretty?: boolean;
  /** A file descriptor (1 stdout, 2 stderr) or a stream such as a test's capture sink. */
  destination?: 1 | 2 | NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const target = options.destination ?? 1;
  if (options.pretty) {
    const stream = pretty({
      destination: typeof target === 'number' ? target : target,
      sync: true,
      colorize: typeof target === 'number' && process.stderr.isTTY === true,
      ignore: 'pid,hostname,component',
      messageFormat: '{if component}[{component}] {end}{msg}',
      translateTime: 'SYS:HH:MM:ss.l',
    });
    return pino({ level, base: undefined }, stream);
  }
  const stream =
    typeof target === 'number' ? pino.destination({ dest: target, sync: true }) : target;
  return pino(
    { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    stream as pino.DestinationStream,
  );
}

export function componentLogger(root: Logger, component: Component): Logger {
  return root.child({ component });
}
