/**
 * `<state_dir>/fleet-state.json`: the format on disk, and its decoding and encoding. Pure.
 *
 * The top level keeps the fields users of the existing fleet tool already read, for the
 * default (first) ladder: `current_model_index`, `vram_error_count`, `current_model` and
 * `timestamp` (fractional epoch seconds). Every ladder's full state sits under `ladders`.
 * A file that has only the four legacy fields is imported into the default ladder.
 */
import { z } from 'zod';
import { currentModel, type LadderState } from './ladder.js';

export const STATE_FILE_NAME = 'fleet-state.json';
export const STATE_FORMAT = 1;

const isoTime = z.iso.datetime({ offset: true });

const incidentSchema = z.object({
  at: isoTime,
  kind: z.string(),
  severity: z.enum(['hard', 'soft']),
  weight: z.number().nonnegative(),
  evidence: z.string().optional(),
  backend: z.string().optional(),
});

const transitionSchema = z.object({
  at: isoTime,
  from: z.string(),
  to: z.string(),
  from_index: z.number().int().nonnegative(),
  to_index: z.number().int().nonnegative(),
  reason: z.string(),
  source: z.enum(['cli', 'api', 'policy', 'schedule', 'config']),
  incidents: z.array(incidentSchema).optional(),
});

const ladderEntrySchema = z
  .object({
    models: z.array(z.string()).min(1),
    current_model_index: z.number().int().nonnegative(),
    current_model: z.string(),
    vram_error_count: z.number().int().nonnegative(),
    incidents: z.array(incidentSchema),
    cooldown_until: isoTime.nullable(),
    history: z.array(transitionSchema),
    probation: z
      .object({ until: isoTime, from_index: z.number().int().nonnegative() })
      .nullable()
      .optional(),
    upgrade_hold: z
      .object({ until: isoTime, backoff_ms: z.number().positive() })
      .nullable()
      .optional(),
    updated_at: isoTime,
  })
  .refine((l) => l.current_model_index < l.models.length, {
    message: 'current_model_index is past the end of models',
    path: ['current_model_index'],
  })
  .refine((l) => l.models[l.current_model_index] === l.current_model, {
    message: 'current_model does not match models[current_model_index]',
    path: ['current_model'],
  });

const stateFileSchema = z.object({
  format: z.literal(STATE_FORMAT),
  current_model_index: z.number().int().nonnegative(),
  vram_error_count: z.number().int().nonnegative(),
  current_model: z.string(),
  timestamp: z.number(),
  ladder: z.string(),
  ladders: z.record(z.string(), ladderEntrySchema),
});

/** The existing fleet tool's file: four fields, one ladder. */
const legacyFileSchema = z.object({
  current_model_index: z.number().int().nonnegative(),
  vram_error_count: z.number().int().nonnegative().optional(),
  current_model: z.string().optional(),
  timestamp: z.number().optional(),
});

export type DecodedState =
  | { ok: true; ladders: Map<string, LadderState>; note?: string }
  | { ok: false; reason: string };

export function decodeStateFile(
  text: string,
  defaultLadder: { name: string; models: readonly string[] },
): DecodedState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message})` };
  }
  if (typeof json === 'object' && json !== null && !('ladders' in json)) {
    return decodeLegacy(json, defaultLadder);
  }
  const parsed = stateFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `${issue?.path.join('.') || '(top level)'}: ${issue?.message}` };
  }
  const ladders = new Map<string, LadderState>();
  for (const [name, entry] of Object.entries(parsed.data.ladders)) {
    ladders.set(name, {
      name,
      models: entry.models,
      current_model_index: entry.current_model_index,
      incidents: entry.incidents.map((i) => ({ ...i, at: Date.parse(i.at) })),
      cooldown_until: entry.cooldown_until === null ? null : Date.parse(entry.cooldown_until),
      history: entry.history.map(({ incidents, ...t }) => ({
        ...t,
        at: Date.parse(t.at),
        ...(incidents ? { incidents: incidents.map((i) => ({ ...i, at: Date.parse(i.at) })) } : {}),
      })),
      probation: entry.probation
        ? { until: Date.parse(entry.probation.until), from_index: entry.probation.from_index }
        : null,
      upgrade_hold: entry.upgrade_hold
        ? { until: Date.parse(entry.upgrade_hold.until), backoff_ms: entry.upgrade_hold.backoff_ms }
        : null,
      updated_at: Date.parse(entry.updated_at),
    });
  }
  return { ok: true, ladders };
}

function decodeLegacy(
  json: object,
  defaultLadder: { name: string; models: readonly string[] },
): DecodedState {
  const parsed = legacyFileSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: 'neither this tool\'s format (no "ladders") nor the legacy one' };
  }
  const legacy = parsed.data;
  const byName = legacy.current_model ? defaultLadder.models.indexOf(legacy.current_model) : -1;
  const index =
    byName >= 0 ? byName : Math.min(legacy.current_model_index, defaultLadder.models.length - 1);
  const at = legacy.timestamp !== undefined ? legacy.timestamp * 1000 : 0;
  const state: LadderState = {
    name: defaultLadder.name,
    models: [...defaultLadder.models],
    current_model_index: index,
    incidents: [],
    cooldown_until: null,
    history: [],
    updated_at: at,
  };
  return {
    ok: true,
    ladders: new Map([[defaultLadder.name, state]]),
    note: `imported the legacy state file (rung ${index}, ${currentModel(state)}) into ladder ${defaultLadder.name}`,
  };
}

/** `ladders` in write order; the first is the default whose fields sit at the top level. */
export function encodeStateFile(ladders: readonly LadderState[], now: number): string {
  const first = ladders[0];
  if (!first) throw new Error('encodeStateFile needs at least one ladder');
  const iso = (ms: number) => new Date(ms).toISOString();
  const file = {
    current_model_index: first.current_model_index,
    vram_error_count: first.incidents.length,
    current_model: currentModel(first),
    timestamp: now / 1000,
    format: STATE_FORMAT,
    ladder: first.name,
    ladders: Object.fromEntries(
      ladders.map((l) => [
        l.name,
        {
          models: l.models,
          current_model_index: l.current_model_index,
          current_model: currentModel(l),
          vram_error_count: l.incidents.length,
          incidents: l.incidents.map((i) => ({ ...i, at: iso(i.at) })),
          cooldown_until: l.cooldown_until === null ? null : iso(l.cooldown_until),
          history: l.history.map(({ incidents, ...t }) => ({
            ...t,
            at: iso(t.at),
            ...(incidents ? { incidents: incidents.map((i) => ({ ...i, at: iso(i.at) })) } : {}),
          })),
          probation: l.probation
            ? { until: iso(l.probation.until), from_index: l.probation.from_index }
            : null,
          upgrade_hold: l.upgrade_hold
            ? { until: iso(l.upgrade_hold.until), backoff_ms: l.upgrade_hold.backoff_ms }
            : null,
          updated_at: iso(l.updated_at),
        },
      ]),
    ),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}
