/**
 * argv -> a command and its typed flags. Unknown flags and commands are usage errors (exit 2).
 * `fleet-status`, `fleet-reset` and `fleet-downgrade` are the same program under another
 * name: the name picks the command.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Errors, FleetError } from '../errors.js';
import { closest } from './did-you-mean.js';

export const COMMANDS = [
  'status',
  'downgrade',
  'upgrade',
  'reset',
  'set',
  'serve',
  'submit',
  'jobs',
  'pull',
  'demo',
  'detect',
  'help',
  'version',
] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface CommonFlags {
  config: string;
  stateDir: string | undefined;
  ladder: string | undefined;
  json: boolean;
  pretty: boolean;
  logLevel: string | undefined;
}

export interface ParsedCommand {
  command: CommandName;
  flags: CommonFlags & { reason: string | undefined; port: number | undefined };
  positionals: string[];
  /** Every flag as given, for commands with flags of their own (submit, jobs). */
  options: Readonly<Record<string, string | boolean | undefined>>;
}

const ALIASES: Record<string, CommandName> = {
  'fleet-status': 'status',
  'fleet-reset': 'reset',
  'fleet-downgrade': 'downgrade',
};

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'state-dir': { type: 'string' },
  ladder: { type: 'string', short: 'l' },
  json: { type: 'boolean' },
  pretty: { type: 'boolean' },
  'log-level': { type: 'string' },
  reason: { type: 'string' },
  port: { type: 'string', short: 'p' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  url: { type: 'string' },
  token: { type: 'string' },
  model: { type: 'string', short: 'm' },
  priority: { type: 'string' },
  prompt: { type: 'string' },
  batch: { type: 'boolean' },
  random: { type: 'string' },
  spam: { type: 'string' },
  delay: { type: 'string' },
  'no-check': { type: 'boolean' },
  status: { type: 'string' },
  limit: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  cluster: { type: 'boolean' },
  score: { type: 'string' },
} as const;

/** Which flags each command takes, besides the common ones. */
const EXTRA_FLAGS: Partial<Record<CommandName, readonly string[]>> = {
  status: ['watch', 'cluster'],
  detect: ['score'],
  downgrade: ['reason'],
  upgrade: ['reason'],
  reset: ['reason'],
  set: ['reason'],
  serve: ['port'],
  submit: [
    'url',
    'token',
    'model',
    'priority',
    'prompt',
    'batch',
    'random',
    'spam',
    'delay',
    'no-check',
  ],
  jobs: ['url', 'token', 'model', 'status', 'limit'],
};

const POSITIONALS: Record<CommandName, number> = {
  status: 0,
  downgrade: 0,
  upgrade: 0,
  reset: 0,
  set: 1,
  serve: 0,
  submit: 0,
  jobs: 1,
  pull: 1,
  demo: 0,
  detect: 1,
  help: 1,
  version: 0,
};

export function parseCommandLine(
  argv0: string,
  args: readonly string[],
  /** fleet.yaml's path when --config is not given (FLEET_CONFIG: an image sets it). */
  defaultConfig = 'fleet.yaml',
): ParsedCommand {
  const alias = ALIASES[path.basename(argv0).replace(/\.(js|mjs|cjs)$/, '')];
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw usage((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const { values } = parsed;
  const positionals = [...parsed.positionals];
  let command: CommandName;
  if (values.help) command = 'help';
  else if (values.version) command = 'version';
  else if (alias) command = alias;
  else {
    const word = positionals.shift() ?? 'help';
    if (!(COMMANDS as readonly string[]).includes(word)) {
      const near = closest(word, COMMANDS);
      throw usage(
        `unknown command "${word}"${near ? `; did you mean "${near}"?` : ''}; the commands are: ${COMMANDS.join(', ')}`,
      );
    }
    command = word as CommandName;
  }
  if (command === 'help' && alias) positionals.unshift(alias);

  const allowed = new Set([
    'config',
    'state-dir',
    'ladder',
    'json',
    'pretty',
    'log-level',
    'help',
    'version',
    ...(EXTRA_FLAGS[command] ?? []),
  ]);
  for (const flag of Object.keys(values)) {
    if (!allowed.has(flag)) throw usage(`${command} does not take --${flag}`);
  }
  if (positionals.length > POSITIONALS[command]) {
    throw usage(
      `${command} takes ${POSITIONALS[command] || 'no'} argument${POSITIONALS[command] === 1 ? '' : 's'}, got: ${positionals.join(' ')}`,
    );
  }
  if (command === 'set' && positionals.length === 0)
    throw usage('set needs the model: fleet set <model>');

  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw usage(`--port expects a port number from 0 to 65535, got "${values.port}"`);
    }
  }
  return {
    command,
    positionals,
    options: values,
    flags: {
      config: values.config ?? defaultConfig,
      stateDir: values['state-dir'],
      ladder: values.ladder,
      json: values.json ?? false,
      pretty: values.pretty ?? false,
      logLevel: values['log-level'],
      reason: values.reason,
      port,
    },
  };
}

export function usage(message: string): FleetError {
  return new FleetError(Errors.FLEET_ERR_USAGE, `${message} (see fleet help)`);
}
