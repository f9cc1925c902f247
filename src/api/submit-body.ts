/**
 * What `POST /api/submit` accepts: Ollama's own request fields of generate, chat and embed,
 * passed on as they are, and the fleet's: exactly one of prompt, messages or input; a known
 * priority; a model that fleet.yaml or the Ollama server knows, or a ladder alias. Every
 * refusal names the field.
 */
import { z } from 'zod';
import type { Limits } from '../config/schema.js';
import { Errors, FleetError } from '../errors.js';
import {
  JOB_KINDS,
  type JobKind,
  KIND_ENDPOINTS,
  ladderOfAlias,
  type NewJob,
  PRIORITIES,
} from '../queue/job.js';
import type { KnownModels } from '../registry/known-models.js';
import { valueDepth } from './json-limits.js';
import { parseBody } from './validate.js';

/**
 * Ollama's own request fields of generate, chat and embed, taken as they are and passed on
 * unchanged (Ollama checks them). Only the fleet's own fields are checked here; a field that
 * is neither Ollama's nor the fleet's is refused, so a typo does not pass in silence.
 */
const OLLAMA_FIELDS = [
  // generate
  'suffix',
  'system',
  'template',
  'context',
  'raw',
  'images',
  'format',
  'options',
  'keep_alive',
  'think',
  'truncate',
  'shift',
  'logprobs',
  'top_logprobs',
  'stream',
  // chat
  'tools',
  // embed
  'dimensions',
] as const;

export const submitSchema = z
  .strictObject({
    model: z.string().min(1, { message: 'expected a model name' }),
    kind: z.enum(JOB_KINDS).optional(),
    prompt: z.string().min(1, { message: 'expected a non-empty prompt' }).optional(),
    messages: z
      .array(z.record(z.string(), z.unknown()), { message: 'expected a list of messages' })
      .min(1, { message: 'expected at least one message' })
      .optional(),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    priority: z
      .enum(PRIORITIES, { message: 'expected one of high, normal, low' })
      .default('normal'),
    images: z
      .array(z.string().regex(/^[A-Za-z0-9+/=\s]+$/, { message: 'expected base64 images' }))
      .optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    /** The same as the Idempotency-Key header (a batch's jobs each carry their own). */
    idempotency_key: z.string().min(1).max(256).optional(),
    ...Object.fromEntries(
      OLLAMA_FIELDS.filter((f) => f !== 'images').map((f) => [f, z.unknown().optional()]),
    ),
  })
  .superRefine((body, ctx) => {
    const given = (['prompt', 'messages', 'input'] as const).filter((k) => body[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          given.length === 0
            ? 'give one of prompt, messages or input'
            : `give only one of ${given.join(', ')}`,
      });
      return;
    }
    const implied: JobKind =
      given[0] === 'prompt' ? 'generate' : given[0] === 'messages' ? 'chat' : 'embed';
    if (body.kind !== undefined && body.kind !== implied) {
      ctx.addIssue({
        code: 'custom',
        path: ['kind'],
        message: `kind ${body.kind} does not go with ${given[0]}`,
      });
    }
  });

export type SubmitBody = z.output<typeof submitSchema>;

export interface SubmitContext {
  known: KnownModels;
  ladders: readonly string[];
  client: string | null;
  limits: Pick<Limits, 'metadata_kib' | 'metadata_depth'>;
  /** The request's Idempotency-Key header, for a single submit. */
  idempotencyKey?: string | undefined;
}

/**
 * Refuses a model no job can run on: an alias of a ladder that does not exist, or a name
 * neither fleet.yaml nor the Ollama server knows. `words` says it in the caller's dialect.
 */
export async function refuseUnknownModel(
  model: string,
  context: Pick<SubmitContext, 'known' | 'ladders'>,
  words: () => string,
): Promise<void> {
  const alias = ladderOfAlias(model);
  const known = alias
    ? alias.ladder === undefined || context.ladders.includes(alias.ladder)
    : await context.known.has(model);
  if (!known) throw new FleetError(Errors.FLEET_ERR_UNKNOWN_MODEL, words());
}

/** A validated body as a job; `where` prefixes field names in errors (`jobs[3].`). */
export async function toNewJob(
  raw: unknown,
  context: SubmitContext,
  where = 'body',
): Promise<NewJob> {
  const body = parseBody(submitSchema, raw, where);
  await refuseUnknownModel(body.model, context, () => {
    const alias = ladderOfAlias(body.model);
    return alias
      ? `${where}.model: no ladder is named "${alias.ladder}"; the aliases are fleet, ${context.ladders.map((l) => `fleet:${l}`).join(', ')}`
      : `${where}.model: "${body.model}" is neither in fleet.yaml's models nor installed on the Ollama server`;
  });
  const kind: JobKind =
    body.prompt !== undefined ? 'generate' : body.messages !== undefined ? 'chat' : 'embed';
  // Ollama's request as the caller wrote it: the fleet's own fields stay with the fleet.
  const { kind: _kind, priority, metadata, idempotency_key, ...request } = body;
  if (metadata !== undefined) checkMetadata(metadata, context.limits, where);
  // A key is the caller's own: another client's same key is another submit.
  const given = idempotency_key ?? context.idempotencyKey;
  const key = given === undefined ? undefined : `${context.client ?? ''}\u0000${given}`;
  return {
    model: body.model,
    kind,
    endpoint: KIND_ENDPOINTS[kind],
    request,
    attached: false,
    priority,
    metadata: (metadata as Record<string, unknown> | undefined) ?? null,
    client: context.client,
    ...(key !== undefined ? { idempotency_key: key } : {}),
  };
}

/** Metadata is stored and read back by every job list: bounded in depth and size. */
function checkMetadata(metadata: unknown, limits: SubmitContext['limits'], where: string): void {
  const depth = valueDepth(metadata, limits.metadata_depth);
  if (depth > limits.metadata_depth) {
    throw new FleetError(
      Errors.FLEET_ERR_VALIDATION,
      `${where}.metadata: nests deeper than ${limits.metadata_depth} levels (api.limits.metadata_depth)`,
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > limits.metadata_kib * 1024) {
    throw new FleetError(
      Errors.FLEET_ERR_VALIDATION,
      `${where}.metadata: ${Math.ceil(bytes / 1024)} KiB; at most ${limits.metadata_kib} KiB (api.limits.metadata_kib)`,
    );
  }
}
