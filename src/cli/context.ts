/**
 * What every CLI command starts from: the process's environment, made explicit so commands
 * never reach for globals, and fleet.yaml loaded with the flags layered over it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { connectSupervisor } from '../api/admin-client.js';
import { AUTO_TOKEN, type FleetConfig, loadConfig } from '../config/load.js';
import { type FleetControl, localFleetControl } from '../fleet/control.js';
import { LadderStore } from '../fleet/ladder-store.js';
import type { Logger } from '../log.js';
import type { CommonFlags } from './args.js';

export interface CliEnvironment {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  now: () => number;
  stdout: (text: string) => void;
  log: Logger;
}

/**
 * fleet.yaml with the flags over it. Its warnings (allowed, probably not meant) are said by
 * the commands where one acts on them, `serve` and `status`, not by every command.
 */
export async function loadCliConfig(
  flags: CommonFlags & { port?: number | undefined },
  cli: CliEnvironment,
  options: { warn?: boolean } = {},
): Promise<FleetConfig> {
  const { config, warnings } = await loadConfig({
    path: flags.config,
    env: cli.env,
    cwd: cli.cwd,
    overrides: {
      ...(flags.stateDir === undefined ? {} : { state_dir: flags.stateDir }),
      ...(flags.port === undefined ? {} : { api_port: flags.port }),
    },
  });
  if (options.warn) for (const warning of warnings) cli.log.warn(warning);
  return config;
}

export function openLadderStore(config: FleetConfig, cli: CliEnvironment): LadderStore {
  return new LadderStore({
    stateDir: config.state_dir,
    ladders: config.ladders,
    log: cli.log.child({ component: 'fleet' }),
    now: cli.now,
  });
}

/**
 * The running supervisor's control when one answers for this state file, so it acts on a
 * change at once; otherwise the state file itself, under its lock.
 */
export async function openFleetControl(
  config: FleetConfig,
  cli: CliEnvironment,
): Promise<{ control: FleetControl; store: LadderStore }> {
  const store = openLadderStore(config, cli);
  const remote = await connectSupervisor(
    {
      host: config.api.host,
      port: config.api.port,
      // Ladder moves are admin routes: the admin token where there is one.
      token: config.api.admin_token ?? config.api.token,
      timeoutMs: 1_000,
    },
    store.file,
  );
  return { control: remote ?? localFleetControl(store, 'cli', cli.now), store };
}

/**
 * Where the supervisor a command talks to is, and its token: `--url`/`--token` win, then
 * `FLEET_URL`/`FLEET_API_TOKEN` (empty, or the image's `auto`, counts as unset), then
 * fleet.yaml's `api` section (a wildcard listen address means this machine); with no
 * fleet.yaml, localhost:5001. fleet.yaml's token goes only to fleet.yaml's own address, never
 * to another URL named by a flag or the environment; jobs need the user token, not the admin.
 */
export async function supervisorAddress(
  parsed: { options: Record<string, unknown>; flags: CommonFlags },
  cli: CliEnvironment,
): Promise<{ url: string; token: string | undefined }> {
  const set = (value: unknown) =>
    typeof value === 'string' && value !== '' && value !== AUTO_TOKEN ? value : undefined;
  const given = set(parsed.options.url) ?? set(cli.env.FLEET_URL);
  const givenToken = set(parsed.options.token) ?? set(cli.env.FLEET_API_TOKEN);
  if (given !== undefined) return { url: given, token: givenToken };
  if (!existsSync(path.resolve(cli.cwd, parsed.flags.config))) {
    return { url: 'http://localhost:5001', token: givenToken };
  }
  const config = await loadCliConfig(parsed.flags, cli);
  return {
    url: `http://${connectHost(config.api.host)}:${config.api.port}`,
    token: givenToken ?? config.api.token ?? config.api.admin_token,
  };
}

/** The address to connect to for a listen address: a wildcard means this machine. */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
