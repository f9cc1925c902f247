/**
 * What `POST /api/submit` accepts, checked field by field: exactly one of prompt, messages or
 * input; a known priority; a model that fleet.yaml or the Ollama server knows, or a ladder
 * alias. Every refusal names the field.
 */
import { z } from 'zod';
import { Errors, FleetError } from '../errors.js';
import {
  JOB_KINDS,
  type JobKind,
  type JobRequest,
  ladderOfAlias,
  type NewJob,
  PRIORITIES,
} from '../queue/job.js';
import type { KnownModels } from '../registry/known-models.js';
import { parseBody } from './validate.js';

const message = z.strictObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  images: z.array(z.string()).optional(),
});

export const submitSchema = z
  .strictObject({
    model: z.string().min(1, { message: 'expected a model name' }),
    kind: z.enum(JOB_KINDS).optional(),
    prompt: z.string().min(1, { message: 'expected a non-empty prompt' }).optional(),
    messages: z.array(message).min(1, { message: 'expected at least one message' }).optional(),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    priority: z
      .enum(PRIORITIES, { message: 'expected one of high, normal, low' })
      .default('normal'),
    images: z
      .array(z.string().regex(/^[A-Za-z0-9+/=\s]+$/, { message: 'expected base64 images' }))
      .optional(),
    system: z.string().optional(),
    format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    keep_alive: z.union([z.string(), z.number()]).optional(),
    think: z.boolean().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
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
}

/** A validated body as a job; `where` prefixes field names in errors (`jobs[3].`). */
export async function toNewJob(
  raw: unknown,
  context: SubmitContext,
  where = 'body',
): Promise<NewJob> {
  const body = parseBody(submitSchema, raw, where);
  const alias = ladderOfAlias(body.model);
  if (alias) {
    if (alias.ladder !== undefined && !context.ladders.includes(alias.ladder)) {
      throw new FleetError(
        Errors.FLEET_ERR_UNKNOWN_MODEL,
        `${where}.model: no ladder is named "${alias.ladder}"; the aliases are fleet, ${context.ladders.map((l) => `fleet:${l}`).join(', ')}`,
      );
    }
  } else if (!(await context.known.has(body.model))) {
    throw new FleetError(
      Errors.FLEET_ERR_UNKNOWN_MODEL,
      `${where}.model: "${body.model}" is neither in fleet.yaml's models nor installed on the Ollama server`,
    );
  }
  const kind: JobKind =
    body.prompt !== undefined ? 'generate' : body.messages !== undefined ? 'chat' : 'embed';
  const request: JobRequest = {};
  for (const key of [
    'prompt',
    'messages',
    'input',
    'images',
    'system',
    'format',
    'options',
    'keep_alive',
    'think',
  ] as const) {
    if (body[key] !== undefined) (request as Record<string, unknown>)[key] = body[key];
  }
  return {
    model: body.model,
    kind,
    request,
    priority: body.priority,
    metadata: body.metadata ?? null,
    client: context.client,
  };
}
