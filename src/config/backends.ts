/**
 * The Ollama servers behind the supervisor, as one list whichever way fleet.yaml gives them:
 * a `backends:` list, or today's top-level `ollama` + `gpu` sections, which mean one backend
 * named `default`. Giving both is an error, and so is an environment variable that would set
 * the single Ollama's URL while a list names several.
 */
import type { z } from 'zod';
import type { BackendEntry, GpuConfig, ParsedFleetConfig } from './schema.js';

export interface BackendConfig {
  readonly name: string;
  readonly url: string;
  /** Where its log is followed: a container, a file or a systemd unit; none when undefined. */
  readonly container?: BackendEntry['container'];
  readonly log_file?: string;
  readonly journald_unit?: string;
  /** OLLAMA_MAX_LOADED_MODELS as the server runs with it; Ollama's 3 per GPU when undefined. */
  readonly max_loaded_models?: number;
  /** OLLAMA_NUM_PARALLEL: requests of one model the server runs at once. */
  readonly num_parallel: number;
  readonly timeouts: BackendEntry['timeouts'];
  readonly gpu: GpuConfig;
  /** The models it may run; any when undefined. */
  readonly models?: readonly string[];
}

/** The name the single backend of the top-level `ollama` section goes by. */
export const DEFAULT_BACKEND = 'default';

/** The variables that set the single Ollama's URL, refused beside a `backends:` list. */
export const SINGLE_OLLAMA_VARIABLES = ['OLLAMA_HOST', 'FLEET_OLLAMA_URL'] as const;

export function backendsOf(config: ParsedFleetConfig): BackendConfig[] {
  if (config.backends) return config.backends.map((b) => ({ ...b }));
  const { ollama, gpu } = config;
  return [
    {
      name: DEFAULT_BACKEND,
      url: ollama.url,
      // Today's single Ollama: its log file or unit when named, else its container.
      ...(ollama.log_file !== undefined
        ? { log_file: ollama.log_file }
        : ollama.journald_unit !== undefined
          ? { journald_unit: ollama.journald_unit }
          : { container: ollama.container }),
      ...(ollama.max_loaded_models !== undefined
        ? { max_loaded_models: ollama.max_loaded_models }
        : {}),
      num_parallel: ollama.num_parallel,
      timeouts: ollama.timeouts,
      gpu,
    },
  ];
}

/**
 * What is wrong with the file's raw form before the schema sees it: both forms of backends,
 * or a single-Ollama variable beside a list. Issues in the schema's shape, for one report.
 */
export function backendFormIssues(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): z.core.$ZodIssue[] {
  if (raw.backends === undefined) return [];
  const issues: z.core.$ZodIssue[] = [];
  for (const key of ['ollama', 'gpu'] as const) {
    if (raw[key] === undefined) continue;
    issues.push({
      code: 'custom',
      input: raw[key],
      path: [key],
      message: `give \`backends\` or the top-level \`${key}\` section, not both: with backends, each one has its own url and gpu`,
    });
  }
  for (const variable of SINGLE_OLLAMA_VARIABLES) {
    if (!env[variable]) continue;
    issues.push({
      code: 'custom',
      input: env[variable],
      path: ['backends'],
      message: `the environment variable ${variable} sets the single Ollama's URL, but this file lists backends: unset ${variable} and give each backend's url in the list`,
    });
  }
  return issues;
}
