/**
 * Reads fleet.yaml once at the edge: YAML text -> validated, resolved, frozen FleetConfig.
 * Layers, lowest first: defaults (schema.ts), the file, environment variables, CLI flags.
 * Every error names the file, the line, the key path and what was expected.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Document, isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { Errors, FleetError } from '../errors.js';
import { type BackendConfig, backendFormIssues, backendsOf } from './backends.js';
import { formatKeyPath, knownKeysAt } from './key-path.js';
import { fleetConfigSchema, type ParsedFleetConfig } from './schema.js';

export interface FleetConfig extends Omit<ParsedFleetConfig, 'api' | 'backends'> {
  /** The Ollama servers: the `backends:` list, or the top-level `ollama` as `default`. */
  readonly backends: readonly BackendConfig[];
  /** The absolute path of the file this came from. */
  readonly source: string;
  /** Absolute; a relative state_dir in the file is taken from the file's folder. */
  readonly state_dir: string;
  readonly api: Omit<ParsedFleetConfig['api'], 'token_file'> & {
    /** `token: auto`: `serve` makes the token file when there is none yet. */
    readonly auto_token: boolean;
  };
}

/** The `api.token` value that asks for a token made and kept in the state folder. */
export const AUTO_TOKEN = 'auto';

/** Where `token: auto` keeps its token. */
export function autoTokenFile(stateDir: string): string {
  return path.join(stateDir, 'api-token');
}

async function readAutoToken(file: string): Promise<string | undefined> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    return token === '' ? undefined : token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FleetError(
      Errors.FLEET_ERR_CONFIG_INVALID,
      `api.token is auto, but ${file} cannot be read (${(err as NodeJS.ErrnoException).code})`,
      { cause: err },
    );
  }
}

export interface ConfigOverrides {
  /** `--state-dir`, relative to the working directory. */
  state_dir?: string;
  /** `--port`. */
  api_port?: number;
}

export interface LoadConfigOptions {
  path: string;
  /** The process environment; only the keys in ENV_OVERRIDES are read. */
  env?: Readonly<Record<string, string | undefined>>;
  overrides?: ConfigOverrides;
  /** Where relative CLI paths start. */
  cwd?: string;
}

export interface LoadedConfig {
  config: FleetConfig;
  /** Things that are allowed but probably not meant, for the caller to log. */
  warnings: string[];
}

/** The few keys containers set through the environment; the later variable wins. */
const ENV_OVERRIDES: readonly { variable: string; key: readonly string[] }[] = [
  { variable: 'OLLAMA_HOST', key: ['ollama', 'url'] },
  { variable: 'FLEET_OLLAMA_URL', key: ['ollama', 'url'] },
  { variable: 'FLEET_API_TOKEN', key: ['api', 'token'] },
  { variable: 'FLEET_API_HOST', key: ['api', 'host'] },
  { variable: 'FLEET_STATE_DIR', key: ['state_dir'] },
  { variable: 'FLEET_QUEUE_URL', key: ['queue', 'url'] },
];

export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.path);
  const text = await readConfigText(file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const where = first?.linePos?.[0] ? `:${first.linePos[0].line}:${first.linePos[0].col}` : '';
    throw new FleetError(
      Errors.FLEET_ERR_CONFIG_SYNTAX,
      `${file}${where}: not valid YAML: ${first?.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'parse error'}`,
      { details: { file } },
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FleetError(
      Errors.FLEET_ERR_CONFIG_INVALID,
      `${file}: expected a mapping of keys (ollama, gpu, ladders, ...) at the top level`,
      { details: { file } },
    );
  }

  const formIssues = backendFormIssues(raw as Record<string, unknown>, options.env ?? {});
  if (formIssues.length > 0) throw invalidConfig(file, doc, lines, raw, formIssues, new Map());
  const fromEnv = applyEnvOverrides(raw as Record<string, unknown>, options.env ?? {});
  if (options.overrides?.api_port !== undefined) {
    setIn(raw as Record<string, unknown>, ['api', 'port'], options.overrides.api_port);
  }

  const parsed = fleetConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw invalidConfig(file, doc, lines, raw, parsed.error.issues, fromEnv);
  }

  const value = parsed.data;
  const stateDir = options.overrides?.state_dir
    ? path.resolve(cwd, options.overrides.state_dir)
    : fromEnv.has('state_dir')
      ? path.resolve(cwd, value.state_dir)
      : path.resolve(path.dirname(file), value.state_dir);
  const { token_file, ...api } = value.api;
  let token =
    api.token ?? (token_file ? await readToken(file, path.dirname(file), token_file) : undefined);
  // `auto`: the token `serve` made at its first start, which every command reads the same way.
  if (token === AUTO_TOKEN) token = await readAutoToken(autoTokenFile(stateDir));

  const config: FleetConfig = {
    ...value,
    backends: backendsOf(value),
    source: file,
    state_dir: stateDir,
    api: {
      ...api,
      ...(token === undefined ? {} : { token }),
      auto_token: value.api.token === AUTO_TOKEN,
    },
  };
  if (token === undefined) delete (config.api as { token?: string }).token;
  return { config: deepFreeze(config), warnings: ladderWarnings(config) };
}

async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new FleetError(
        Errors.FLEET_ERR_CONFIG_NOT_FOUND,
        `${file}: no such file. Pass --config PATH, or start from the fleet.yaml shipped with ollama-fleet`,
        { cause: err, details: { file } },
      );
    }
    throw new FleetError(Errors.FLEET_ERR_CONFIG_NOT_FOUND, `${file}: cannot read it (${code})`, {
      cause: err,
      details: { file },
    });
  }
}

async function readToken(file: string, dir: string, tokenFile: string): Promise<string> {
  const where = path.resolve(dir, tokenFile);
  try {
    const token = (await readFile(where, 'utf8')).trim();
    if (token.length > 0) return token;
  } catch (err) {
    throw new FleetError(
      Errors.FLEET_ERR_CONFIG_INVALID,
      `${file}: api.token_file: cannot read ${where} (${(err as NodeJS.ErrnoException).code})`,
      { cause: err, details: { file, path: 'api.token_file' } },
    );
  }
  throw new FleetError(
    Errors.FLEET_ERR_CONFIG_INVALID,
    `${file}: api.token_file: ${where} is empty`,
    { details: { file, path: 'api.token_file' } },
  );
}

/** Writes the environment's values into the raw file object; returns which keys it set. */
function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): Map<string, string> {
  const set = new Map<string, string>();
  for (const { variable, key } of ENV_OVERRIDES) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    // FLEET_API_TOKEN=auto (the image's default) keeps a token the file names.
    const api = raw.api as Record<string, unknown> | undefined;
    if (variable === 'FLEET_API_TOKEN' && value === AUTO_TOKEN && (api?.token || api?.token_file))
      continue;
    setIn(raw, key, variable === 'OLLAMA_HOST' ? ollamaHostToUrl(value) : value);
    set.set(key.join('.'), variable);
  }
  return set;
}

/** OLLAMA_HOST is `host`, `host:port` or a URL, as the ollama CLI reads it. */
export function ollamaHostToUrl(host: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(host) ? host : `http://${host}`;
  try {
    const url = new URL(withScheme);
    if (url.port === '' && !/:\d+$/.test(url.host)) url.port = '11434';
    return url.toString().replace(/\/$/, '');
  } catch {
    return host;
  }
}

function setIn(target: Record<string, unknown>, key: readonly string[], value: unknown): void {
  let node = target;
  for (const part of key.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[key[key.length - 1] as string] = value;
}

function invalidConfig(
  file: string,
  doc: Document,
  lines: LineCounter,
  raw: unknown,
  issues: readonly z.core.$ZodIssue[],
  fromEnv: Map<string, string>,
): FleetError {
  const problems: { path: string; message: string; line?: number }[] = [];
  for (const issue of issues) {
    const base = issue.path as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(fleetConfigSchema, base);
      for (const key of issue.keys) {
        const keyPath = [...base, key];
        problems.push({
          path: formatKeyPath(keyPath),
          message: `unknown key${known.length ? ` (expected one of: ${known.join(', ')})` : ''}`,
          ...lineOf(doc, lines, keyPath, true),
        });
      }
      continue;
    }
    const found = valueAt(raw, base);
    // zod's own wording starts "Invalid input"; a schema's custom message says more.
    const expected = issue.message.startsWith('Invalid input')
      ? `expected ${article(issue.code === 'invalid_type' ? issue.expected : 'value')}`
      : issue.message;
    const message =
      issue.code === 'invalid_type'
        ? found.present
          ? `${expected}, found ${describe(found.value)}`
          : `required: ${expected}`
        : found.present && issue.code !== 'custom'
          ? `${issue.message}, found ${describe(found.value)}`
          : issue.message;
    const variable = fromEnv.get(base.join('.'));
    problems.push({
      path: formatKeyPath(base),
      message: variable ? `${message} (set by the environment variable ${variable})` : message,
      ...lineOf(doc, lines, base, false),
    });
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const text = problems
    .map((p) => `${file}${p.line ? `:${p.line}` : ''}: ${p.path || '(top level)'}: ${p.message}`)
    .join('\n');
  return new FleetError(Errors.FLEET_ERR_CONFIG_INVALID, text, {
    details: { file, problems },
  });
}

function lineOf(
  doc: Document,
  lines: LineCounter,
  keyPath: (string | number)[],
  atKey: boolean,
): { line?: number } {
  let node: unknown;
  if (atKey) {
    const parent = keyPath.length > 1 ? doc.getIn(keyPath.slice(0, -1), true) : doc.contents;
    if (isMap(parent)) {
      const pair = parent.items.find(
        (item) => isScalar(item.key) && item.key.value === keyPath.at(-1),
      );
      node = pair?.key;
    }
  } else {
    node = keyPath.length === 0 ? doc.contents : doc.getIn(keyPath, true);
  }
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  return range ? { line: lines.linePos(range[0]).line } : {};
}

function valueAt(
  raw: unknown,
  keyPath: (string | number)[],
): { present: boolean; value?: unknown } {
  let node: unknown = raw;
  for (const part of keyPath) {
    if (typeof node !== 'object' || node === null || !(part in node)) return { present: false };
    node = (node as Record<string | number, unknown>)[part];
  }
  return { present: true, value: node };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${String(value)} (${typeof value})`;
}

function article(expected: string): string {
  if (expected === 'array') return 'a list';
  if (expected === 'object') return 'a mapping';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** The VRAM a model is expected to take: its catalogue entry, else its size times the multiplier. */
function ladderWarnings(config: FleetConfig): string[] {
  const catalogue = new Map(config.models.map((m) => [m.name, m]));
  const vram = (name: string) => {
    const entry = catalogue.get(name);
    if (!entry) return undefined;
    return entry.vram_mib ?? (entry.size_mb * 1e6 * config.scheduler.estimate_multiplier) / 2 ** 20;
  };
  const warnings: string[] = [];
  for (const ladder of config.ladders) {
    ladder.models.forEach((model, i) => {
      if (!catalogue.has(model)) {
        warnings.push(
          `ladder ${ladder.name}: ${model} is not in the models catalogue, so its VRAM is unknown until it is seen loaded`,
        );
        return;
      }
      const above = ladder.models[i - 1];
      if (above === undefined || !catalogue.has(above)) return;
      const here = vram(model) as number;
      const there = vram(above) as number;
      if (here >= there) {
        const size = (name: string) =>
          `${((catalogue.get(name)?.size_mb ?? 0) / 1000).toFixed(1)} GB`;
        warnings.push(
          `ladder ${ladder.name}: ${model} (${size(model)}, about ${Math.round(here)} MiB of VRAM) is not smaller than ${above} above it (${size(above)}, about ${Math.round(there)} MiB): stepping down to it frees no VRAM`,
        );
      }
    });
  }
  return warnings;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
