/**
 * The model catalogue, and what each model really costs in VRAM. An estimate starts from
 * fleet.yaml (vram_mib, or size x estimation multiplier) and is replaced by what /api/ps
 * reports once the model has been seen loaded, per context length and per kind of card (the
 * same model takes a little more or less on another GPU), smoothed, and kept in
 * `<state_dir>/registry.json` so a restart keeps what was learned.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ModelConfig } from '../config/schema.js';
import { keepAside, writeFileAtomic } from '../files/atomic.js';
import type { LoadedModel } from '../gpu/snapshot.js';
import type { Logger } from '../log.js';
import { canonicalModelName } from '../ollama/names.js';

export const REGISTRY_FILE = 'registry.json';

export type EstimateSource = 'learned' | 'catalogue' | 'default' | 'unknown';

export interface Estimate {
  /** Bytes of VRAM; undefined when nothing at all is known of the model. */
  bytes: number | undefined;
  source: EstimateSource;
  /** For learned estimates: the context length it was seen at. */
  num_ctx?: number;
  /** For learned estimates: the card it was seen on, when known. */
  card?: string;
}

/** Where an estimate is wanted: a context length, a kind of card (nvidia-smi's GPU name). */
export interface EstimateContext {
  numCtx?: number;
  card?: string;
}

interface Learned {
  bytes: number;
  samples: number;
  updated_at: string;
}

const fileSchema = z.object({
  format: z.literal(1),
  learned: z.record(
    z.string(),
    z.object({
      bytes: z.number().positive(),
      samples: z.number().int().positive(),
      updated_at: z.string(),
    }),
  ),
});

/** Weight of a new observation against what was learned before. */
const SMOOTHING = 0.5;
/** Differences smaller than this are not worth a write. */
const CHANGE_WORTH_SAVING = 0.01;
const MB = 1_000_000;

export class ModelRegistry {
  readonly file: string;
  readonly #catalogue = new Map<string, ModelConfig>();
  /** Download sizes from /api/tags for models fleet.yaml does not list. */
  readonly #sizes = new Map<string, number>();
  readonly #learned = new Map<string, Learned>();

  constructor(
    private readonly options: {
      stateDir: string;
      catalogue: readonly ModelConfig[];
      multiplier: number;
      log: Logger;
      now: () => number;
    },
  ) {
    this.file = path.join(options.stateDir, REGISTRY_FILE);
    for (const model of options.catalogue)
      this.#catalogue.set(canonicalModelName(model.name), model);
  }

  /** Reads what earlier runs learned; a corrupt file is kept aside and learning starts over. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return;
    }
    const parsed = (() => {
      try {
        return fileSchema.safeParse(JSON.parse(text));
      } catch {
        return undefined;
      }
    })();
    if (!parsed?.success) {
      const aside = await keepAside(this.file, new Date(this.options.now()));
      this.options.log.warn(
        { file: this.file, aside },
        `model registry ${this.file} is corrupt; kept it as ${aside}`,
      );
      return;
    }
    for (const [key, value] of Object.entries(parsed.data.learned)) this.#learned.set(key, value);
  }

  /** Sizes from /api/tags, for models the catalogue does not list. */
  noteInstalled(models: readonly { name: string; size: number }[]): void {
    for (const m of models) this.#sizes.set(canonicalModelName(m.name), m.size);
  }

  estimate(model: string, context: EstimateContext = {}): Estimate {
    const name = canonicalModelName(model);
    const learned = this.#bestLearned(name, context.numCtx, context.card);
    if (learned)
      return {
        bytes: learned.bytes,
        source: 'learned',
        num_ctx: learned.numCtx,
        ...(learned.card !== undefined ? { card: learned.card } : {}),
      };
    const entry = this.#catalogue.get(name);
    if (entry?.vram_mib !== undefined)
      return { bytes: Math.round(entry.vram_mib * 2 ** 20), source: 'catalogue' };
    const size = entry ? entry.size_mb * MB : this.#sizes.get(name);
    if (size !== undefined)
      return { bytes: Math.round(size * this.options.multiplier), source: 'default' };
    return { bytes: undefined, source: 'unknown' };
  }

  /**
   * Learns from the loaded models of a snapshot (taken on `card`, when known, whose usable
   * size is `capBytes`); writes the file when something changed.
   */
  async observe(loaded: readonly LoadedModel[], card?: string, capBytes?: number): Promise<void> {
    let changed = false;
    for (const m of loaded) {
      const key = keyOf(canonicalModelName(m.name), m.context_length, card);
      const before = this.#learned.get(key);
      // A model larger than the card ran with part of it on the CPU: it runs, alone. Learned
      // as the card's size, it is planned alone rather than failed as too large.
      const seen = capBytes === undefined ? m.size : Math.min(m.size, capBytes);
      const bytes = before ? Math.round(before.bytes * (1 - SMOOTHING) + seen * SMOOTHING) : seen;
      if (before && Math.abs(bytes - before.bytes) / before.bytes < CHANGE_WORTH_SAVING) continue;
      this.#learned.set(key, {
        bytes,
        samples: (before?.samples ?? 0) + 1,
        updated_at: new Date(this.options.now()).toISOString(),
      });
      changed = true;
      this.options.log.info(
        { model: m.name, num_ctx: m.context_length, card, bytes, before: before?.bytes },
        "learned a model's VRAM",
      );
    }
    if (changed) await this.#save();
  }

  /** After an out-of-memory error: the model needs more than we thought. */
  /**
   * After an OOM: the model needs more than planned. Never past `capBytes` (the card it ran
   * on): an estimate our own raises pushed past the card would fail its jobs as too large,
   * while the model, alone on the card, runs.
   */
  async raise(
    model: string,
    factor: number,
    context: EstimateContext = {},
    capBytes?: number,
  ): Promise<Estimate> {
    const name = canonicalModelName(model);
    const current = this.estimate(name, context);
    if (current.bytes === undefined) return current;
    const raised = Math.round(current.bytes * factor);
    const bytes =
      capBytes === undefined ? raised : Math.min(raised, Math.max(current.bytes, capBytes));
    const key = keyOf(name, current.num_ctx ?? context.numCtx, context.card);
    const before = this.#learned.get(key);
    this.#learned.set(key, {
      bytes,
      samples: before?.samples ?? 1,
      updated_at: new Date(this.options.now()).toISOString(),
    });
    await this.#save();
    return this.estimate(name, context);
  }

  #bestLearned(
    name: string,
    numCtx: number | undefined,
    card: string | undefined,
  ): { bytes: number; numCtx: number | undefined; card: string | undefined } | undefined {
    const exact = this.#learned.get(keyOf(name, numCtx, card));
    if (exact) return { bytes: exact.bytes, numCtx, card };
    // The same card at another context length, then another card: the nearest says more
    // than the catalogue.
    let best:
      | { bytes: number; numCtx: number | undefined; card: string | undefined; distance: number }
      | undefined;
    for (const [key, value] of this.#learned) {
      const parsed = parseKey(key);
      if (parsed.name !== name) continue;
      const otherCard = card !== undefined && parsed.card !== card ? 1e9 : 0;
      const distance = otherCard + Math.abs((parsed.numCtx ?? 4096) - (numCtx ?? 4096));
      if (!best || distance < best.distance)
        best = { bytes: value.bytes, numCtx: parsed.numCtx, card: parsed.card, distance };
    }
    return best;
  }

  async #save(): Promise<void> {
    const body = { format: 1, learned: Object.fromEntries(this.#learned) };
    try {
      await writeFileAtomic(this.file, `${JSON.stringify(body, null, 2)}\n`);
    } catch (err) {
      this.options.log.error({ err, file: this.file }, 'could not save what the registry learned');
    }
  }
}

/** `model@ctx`, and `#card` after it when the card is known (files from before lack it). */
function keyOf(name: string, numCtx: number | undefined, card?: string): string {
  return `${name}@${numCtx ?? 'default'}${card === undefined ? '' : `#${card}`}`;
}

function parseKey(key: string): {
  name: string;
  numCtx: number | undefined;
  card: string | undefined;
} {
  const hash = key.indexOf('#');
  const base = hash < 0 ? key : key.slice(0, hash);
  const at = base.lastIndexOf('@');
  const ctx = base.slice(at + 1);
  return {
    name: base.slice(0, at),
    numCtx: ctx === 'default' ? undefined : Number(ctx),
    card: hash < 0 ? undefined : key.slice(hash + 1),
  };
}
