/**
 * fleet.yaml's schema. This file is the one place that holds every default: a five-line
 * fleet.yaml works, and every key a user may write is listed here. Unknown keys are errors.
 */
import cron from 'node-cron';
import { z } from 'zod';
import { MODEL_NAME } from '../ollama/names.js';
import { DEFAULT_CATALOGUE } from './catalogue.js';
import { parseDuration } from './duration.js';
import { DEFAULT_PATTERNS } from './patterns.js';

/** A duration with a unit, e.g. `10m`, parsed to milliseconds. */
const duration = z
  .string({ error: 'expected a duration with a unit such as 100ms, 30s, 10m or 1h' })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration with a unit such as 100ms, 30s, 10m or 1h, found "${text}"`,
      });
      return z.NEVER;
    }
    return ms;
  });

/** Ollama's own keep_alive: a Go duration string, or a number of seconds (negative: forever). */
const keepAlive = z.union([
  z.number(),
  z.string().regex(/^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)$|^0$/, {
    message: 'expected an Ollama keep_alive such as 5m, 30s, 0 or -1m',
  }),
]);

const modelName = z
  .string({ error: 'expected a model name such as llama3.2:3b' })
  .regex(MODEL_NAME, { message: 'expected a model name such as llama3.2:3b' });

/** Ladder names appear in URLs and in the `fleet:<ladder>` alias. */
const ladderName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, {
  message: 'expected a ladder name of letters, digits, "_", "." or "-"',
});

/** `key=value` or a bare `key`, as Docker's label filters take them. */
const labelSelector = z.string().regex(/^[^=\s]+(=[^\s]*)?$/, {
  message: 'expected a label selector such as ollama-fleet.worker=main',
});

/** A container by name, or `{ label: key=value }`. */
const containerTarget = z.union([z.string().min(1), z.strictObject({ label: labelSelector })]);

/**
 * What the Ollama server was started with, which the scheduler must respect: how many models
 * it holds at once (OLLAMA_MAX_LOADED_MODELS; unset: Ollama's default of 3 per GPU) and how
 * many requests of one model it runs at once (OLLAMA_NUM_PARALLEL).
 */
function ollamaLimits() {
  return {
    max_loaded_models: z.number().int().positive().optional(),
    num_parallel: z.number().int().positive().default(1),
  };
}

const ollamaSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, message: 'expected an http(s) URL' })
    .default('http://localhost:11434'),
  /** The container whose logs to follow: its name, or `{ label: key=value }`. */
  container: containerTarget.default('ollama'),
  /**
   * Ollama's log in a file instead (Ollama run without Docker): followed across rotation
   * and truncation. When given, no container is followed.
   */
  log_file: z.string().min(1).optional(),
  /** Or Ollama's systemd unit (`ollama` or `ollama.service`): its journal is followed. */
  journald_unit: z.string().min(1).optional(),
  ...ollamaLimits(),
  timeouts: z
    .strictObject({
      connect: duration.default(5_000),
      /** How long a model load may take before the engine gives up on it. */
      load: duration.default(300_000),
      /** How long one inference request may run. */
      request: duration.default(600_000),
    })
    .prefault({}),
});

const gpuSchema = z.strictObject({
  /** The nvidia-smi command; a string is split on spaces (`docker exec ollama nvidia-smi`). */
  nvidia_smi: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('nvidia-smi'),
  /**
   * Run nvidia-smi inside this container (name or `{ label }`) through the Docker Engine API:
   * Ollama's container has it from the NVIDIA runtime, so the supervisor needs no GPU.
   */
  nvidia_smi_container: containerTarget.optional(),
  poll_interval: duration.default(5_000),
  /** VRAM of the GPU in MiB, for hosts without nvidia-smi; overrides what it reports. */
  vram_total_mib: z.number().int().positive().optional(),
  /** VRAM the scheduler never plans into, per GPU. */
  safety_margin_mib: z.number().int().nonnegative().default(1024),
});

/** Backend names appear in logs, metrics labels and `/api/stats`. */
const backendName = z.string().regex(/^[A-Za-z0-9_.-]+$/, {
  message: 'expected a backend name of letters, digits, "_", "." or "-"',
});

/**
 * One Ollama server of several (one per GPU or per host): what the top-level `ollama` and
 * `gpu` sections say for a single one, plus which models it may run.
 */
const backendSchema = z.strictObject({
  name: backendName,
  url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
  /** Its container, whose logs are followed; with none of these three, no log is followed. */
  container: containerTarget.optional(),
  log_file: z.string().min(1).optional(),
  journald_unit: z.string().min(1).optional(),
  ...ollamaLimits(),
  timeouts: ollamaSchema.shape.timeouts,
  gpu: gpuSchema.prefault({}),
  /** The models it may run (an allow-list); any model when left out. */
  models: z
    .array(modelName)
    .min(1, { message: 'list at least one model, or leave models out' })
    .optional(),
});

const ladderSchema = z.strictObject({
  name: ladderName,
  /** Largest model first; each step down is smaller. */
  models: z.array(modelName).min(1, { message: 'a ladder needs at least one model' }),
  downgrade: z
    .strictObject({
      /** Incident weight within `window` that steps the ladder down. */
      after_incidents: z.number().positive().default(3),
      window: duration.default(600_000),
      /** After any transition, incidents are not counted for this long. */
      cooldown: duration.default(300_000),
      /** Let telemetry (the current rung no longer fits) step down before an OOM. */
      on_telemetry: z.boolean().default(false),
    })
    .prefault({}),
  schedule: z
    .strictObject({
      cron: z.string().refine((expr) => cron.validate(expr), {
        message: 'expected a cron expression such as "0 3 * * *"',
      }),
      action: z.enum(['upgrade', 'reset']).default('upgrade'),
      timezone: z.string().optional(),
    })
    .optional(),
});

const patternSchema = z
  .strictObject({
    /** A plain substring, matched without regard to case. */
    match: z.string().min(1).optional(),
    /** A regular expression (JavaScript syntax), matched without regard to case. */
    regex: z.string().min(1).optional(),
    kind: z.string().min(1).default('vram_error'),
    /** hard: an allocation failed. soft: a sign of pressure, not a failure. */
    severity: z.enum(['hard', 'soft']).default('hard'),
    enabled: z.boolean().default(true),
  })
  .check((ctx) => {
    const { match, regex } = ctx.value;
    if ((match === undefined) === (regex === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: 'give exactly one of `match` (a substring) or `regex`',
      });
    }
    if (regex !== undefined) {
      try {
        new RegExp(regex, 'i');
      } catch (err) {
        ctx.issues.push({
          code: 'custom',
          input: regex,
          path: ['regex'],
          message: `not a valid regular expression: ${(err as Error).message}`,
        });
      }
    }
  });

/** A bare string in the list is shorthand for `{ match: <string> }`. */
const patternEntry = z.preprocess(
  (value) => (typeof value === 'string' ? { match: value } : value),
  patternSchema,
);

const detectionSchema = z.strictObject({
  /** The built-in patterns are replaced when this list is given. */
  patterns: z.array(patternEntry).default(() => DEFAULT_PATTERNS.map((p) => ({ ...p }))),
  /** Matching lines closer together than this are one incident. */
  merge_within: duration.default(2_000),
  /** How much one incident of each severity counts toward a ladder's threshold. */
  weights: z
    .strictObject({
      hard: z.number().nonnegative().default(1),
      soft: z.number().nonnegative().default(0.25),
    })
    .prefault({}),
});

const workerConfigFile = z
  .strictObject({
    path: z.string().min(1),
    format: z.enum(['json', 'env', 'yaml', 'regex']),
    /** json, yaml: a dotted key path (`model` or `llm.model`); env: the variable name. */
    key: z.string().min(1).optional(),
    /** regex: the pattern whose match is replaced. */
    pattern: z.string().min(1).optional(),
    /** regex: the replacement; `{model}` stands for the new model name. */
    replacement: z.string().optional(),
  })
  .check((ctx) => {
    const file = ctx.value;
    if (file.format === 'regex') {
      if (file.pattern === undefined || file.replacement === undefined) {
        ctx.issues.push({
          code: 'custom',
          input: file,
          message: 'format regex needs `pattern` and `replacement`',
        });
      } else {
        try {
          new RegExp(file.pattern);
        } catch (err) {
          ctx.issues.push({
            code: 'custom',
            input: file.pattern,
            path: ['pattern'],
            message: `not a valid regular expression: ${(err as Error).message}`,
          });
        }
      }
    } else if (file.key === undefined) {
      ctx.issues.push({
        code: 'custom',
        input: file,
        path: ['key'],
        message: `format ${file.format} needs \`key\``,
      });
    }
  });

const workerSchema = z.strictObject({
  name: z.string().min(1),
  /** The ladder whose current model this worker runs; the first ladder when left out. */
  ladder: ladderName.optional(),
  /** Only containers carrying this label are ever restarted or recreated. */
  label: labelSelector.optional(),
  config: workerConfigFile.optional(),
  action: z.enum(['restart', 'recreate', 'none']).default('restart'),
  /** recreate: the environment variable that names the model. */
  env: z.string().min(1).optional(),
  /**
   * A command to run after the config is rewritten (for workers that are not containers);
   * it gets FLEET_MODEL, FLEET_LADDER and FLEET_WORKER in its environment.
   */
  command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
});

const schedulerSchema = z.strictObject({
  /** A model's VRAM before it has been seen loaded: its size times this. */
  estimate_multiplier: z.number().min(1).default(1.3),
  loop_interval: duration.default(100),
  keep_alive: keepAlive.default('5m'),
  max_concurrent_per_model: z.number().int().positive().default(20),
  queue_max_size: z.number().int().positive().default(1000),
  /**
   * Which running jobs high-priority work may send back to the queue when they are in its
   * way: `low` ones (default), `normal` and `low` ones, or none. Never one whose caller has
   * already received bytes.
   */
  preempt: z.enum(['never', 'low', 'normal']).default('low'),
});

const queueSchema = z.strictObject({
  /** A waiting job moves up one priority level per this much waiting (low -> normal -> high). */
  aging: duration.default(300_000),
  /** Runs a job may start (interrupted by a crash or an OOM) before it fails for good. */
  max_attempts: z.number().int().positive().default(3),
  /** Finished jobs are kept this long, then pruned. */
  retention: duration.default(7 * 86_400_000),
  /**
   * A PostgreSQL queue shared by several supervisors (`postgres://user:pass@host/db`); the
   * embedded SQLite file in state_dir when left out.
   */
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\/./, {
      message: 'expected a PostgreSQL URL such as postgres://fleet@db-host:5432/fleet',
    })
    .optional(),
  /**
   * With a shared queue: how long a claim holds without the claimer's heartbeat; a job whose
   * supervisor died runs elsewhere after this.
   */
  lease: duration.default(30_000),
});

const modelSchema = z.strictObject({
  name: modelName,
  /** Download size in MB (decimal), as `ollama list` prints it. */
  size_mb: z.number().positive(),
  /** VRAM at the default context, in MiB; learned values replace it at run time. */
  vram_mib: z.number().positive().optional(),
  capabilities: z
    .array(z.enum(['text', 'embedding', 'vision']))
    .min(1)
    .default(['text']),
});

/** What one request may hold; past these a body is refused with 400 or 413 that says which. */
const limitsSchema = z.strictObject({
  /** The largest body; images travel base64 inside them. */
  body_mib: z.number().positive().default(32),
  /** The deepest nesting of a body's arrays and objects. */
  body_depth: z.number().int().min(4).default(128),
  /** A job's `metadata`, as stored: at most this large ... */
  metadata_kib: z.number().positive().default(64),
  /** ... and this deep. */
  metadata_depth: z.number().int().min(1).default(32),
  /** Bodies being received at once, in MiB: past it a large body waits (503, Retry-After). */
  bodies_in_flight_mib: z.number().positive().default(256),
  /** Open connections at most (long-polls and streams included); more are closed at once. */
  max_connections: z.number().int().positive().default(1000),
});

export type Limits = z.output<typeof limitsSchema>;

const apiSchema = z.strictObject({
  /** Loopback unless said otherwise: a supervisor reachable from elsewhere needs a token. */
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(5001),
  /** The bearer token; `auto` takes FLEET_API_TOKEN, else `<state_dir>/api-token` (made once). */
  token: z.string().min(1).optional(),
  /** Serve beyond loopback with no token (anyone who reaches the port can step a ladder). */
  allow_unauthenticated: z.boolean().default(false),
  /** A file holding the token (a Docker secret); its content is trimmed. */
  token_file: z.string().min(1).optional(),
  /** When set, ladder moves and Ollama's model routes need this token, not `token`. */
  admin_token: z.string().min(1).optional(),
  limits: limitsSchema.prefault({}),
});

const SEED_LADDER = ['llama3.2:3b', 'phi3:mini', 'tinyllama:1.1b', 'qwen2.5:0.5b'];

export const fleetConfigSchema = z
  .strictObject({
    ollama: ollamaSchema.prefault({}),
    gpu: gpuSchema.prefault({}),
    /** Several Ollama servers behind this supervisor, instead of the one `ollama` + `gpu` describe. */
    backends: z.array(backendSchema).min(1, { message: 'list at least one backend' }).optional(),
    ladders: z
      .array(ladderSchema)
      .min(1, { message: 'at least one ladder is needed' })
      .prefault([{ name: 'main', models: SEED_LADDER }]),
    detection: detectionSchema.prefault({}),
    workers: z.array(workerSchema).default([]),
    scheduler: schedulerSchema.prefault({}),
    queue: queueSchema.prefault({}),
    models: z.array(modelSchema).default(() => DEFAULT_CATALOGUE.map((m) => ({ ...m }))),
    api: apiSchema.prefault({}),
    /** Models pulled at start when Ollama lacks them, beside each ladder's current rung. */
    pull_on_start: z.array(modelName).default([]),
    state_dir: z.string().min(1).default('./state'),
  })
  .check((ctx) => {
    const config = ctx.value;
    const push = (path: (string | number)[], message: string) =>
      ctx.issues.push({ code: 'custom', input: config, path, message });
    if (config.ollama.log_file !== undefined && config.ollama.journald_unit !== undefined) {
      push(['ollama', 'journald_unit'], 'give ollama.log_file or ollama.journald_unit, not both');
    }
    const backendNames = new Set<string>();
    config.backends?.forEach((backend, i) => {
      if (backendNames.has(backend.name))
        push(['backends', i, 'name'], `duplicate backend name "${backend.name}"`);
      backendNames.add(backend.name);
      const sources = (['container', 'log_file', 'journald_unit'] as const).filter(
        (key) => backend[key] !== undefined,
      );
      if (sources.length > 1)
        push(
          ['backends', i, sources[1] as string],
          `give one of ${sources.join(', ')}, not several`,
        );
    });
    const ladderNames = new Set<string>();
    config.ladders.forEach((ladder, i) => {
      if (ladderNames.has(ladder.name))
        push(['ladders', i, 'name'], `duplicate ladder name "${ladder.name}"`);
      ladderNames.add(ladder.name);
      const seen = new Set<string>();
      ladder.models.forEach((model, j) => {
        if (seen.has(model))
          push(['ladders', i, 'models', j], `"${model}" is already on this ladder`);
        seen.add(model);
      });
    });
    config.workers.forEach((worker, i) => {
      if (worker.ladder !== undefined && !ladderNames.has(worker.ladder)) {
        push(['workers', i, 'ladder'], `no ladder is named "${worker.ladder}"`);
      }
      if (worker.action !== 'none' && worker.label === undefined) {
        push(
          ['workers', i, 'label'],
          `action ${worker.action} needs \`label\`: only labelled containers are touched`,
        );
      }
      if (worker.action === 'recreate' && worker.env === undefined && worker.config === undefined) {
        push(
          ['workers', i],
          'action recreate needs `env` (the variable naming the model) or `config`',
        );
      }
    });
    const modelNames = new Set<string>();
    config.models.forEach((model, i) => {
      if (modelNames.has(model.name))
        push(['models', i, 'name'], `duplicate model "${model.name}"`);
      modelNames.add(model.name);
    });
    if (config.api.token !== undefined && config.api.token_file !== undefined) {
      push(['api'], 'give `token` or `token_file`, not both');
    }
  });

export type FleetConfigInput = z.input<typeof fleetConfigSchema>;
/** The validated file; `loadConfig` resolves paths and the token and freezes it. */
export type ParsedFleetConfig = z.output<typeof fleetConfigSchema>;
export type LadderConfig = ParsedFleetConfig['ladders'][number];
export type PatternConfig = ParsedFleetConfig['detection']['patterns'][number];
export type WorkerConfig = ParsedFleetConfig['workers'][number];
export type ModelConfig = ParsedFleetConfig['models'][number];
export type BackendEntry = NonNullable<ParsedFleetConfig['backends']>[number];
export type GpuConfig = ParsedFleetConfig['gpu'];
