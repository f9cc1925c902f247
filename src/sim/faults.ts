/**
 * Faults a test or a demo injects through `POST /sim/fault`: the ways VRAM trouble happens
 * on a real GPU that a simulator would otherwise never show.
 */
import { z } from 'zod';
import { sameModel } from '../ollama/names.js';

const model = z.string().min(1).optional();
const count = z.number().int().positive().optional();

export const faultSchema = z.discriminatedUnion('kind', [
  /** Unloaded VRAM stays in use for `seconds` (the driver is slow to give it back). */
  z.strictObject({ kind: z.literal('no_recover'), seconds: z.number().positive(), model, count }),
  /** A model really takes more VRAM than Ollama estimates, so its load can fail. */
  z.strictObject({
    kind: z.literal('footprint'),
    model,
    factor: z.number().positive().optional(),
    extra_mib: z.number().nonnegative().optional(),
  }),
  /** The runner crashes while loading (not a memory failure). */
  z.strictObject({ kind: z.literal('crash'), model, count }),
  /** The next inference requests hit a CUDA out-of-memory error and the runner dies. */
  z.strictObject({ kind: z.literal('oom'), model, count }),
  /**
   * The next answers break off after `after` tokens (default 3) with the runner's error, the
   * way Ollama ends a stream whose runner ran out of memory mid-answer.
   */
  z.strictObject({
    kind: z.literal('midstream'),
    model,
    count,
    after: z.number().int().nonnegative().optional(),
  }),
  /** Loads take `factor` times longer. */
  z.strictObject({ kind: z.literal('slow_load'), factor: z.number().positive(), model, count }),
  /** The server refuses connections for `seconds`. */
  z.strictObject({ kind: z.literal('refuse'), seconds: z.number().positive() }),
  /** nvidia-smi cannot talk to the driver while down. */
  z.strictObject({ kind: z.literal('driver'), down: z.boolean() }),
  /** Clears every fault (pressure is cleared with POST /sim/pressure {"mib": 0}). */
  z.strictObject({ kind: z.literal('clear') }),
]);

export type Fault = z.infer<typeof faultSchema>;
type Countable = Extract<
  Fault,
  { kind: 'no_recover' | 'crash' | 'oom' | 'midstream' | 'slow_load' | 'footprint' }
>;

export class Faults {
  #active: (Countable & { remaining?: number })[] = [];
  driverDown = false;

  add(fault: Fault): void {
    if (fault.kind === 'clear') {
      this.#active = [];
      this.driverDown = false;
    } else if (fault.kind === 'driver') {
      this.driverDown = fault.down;
    } else if (fault.kind !== 'refuse') {
      const remaining = 'count' in fault ? fault.count : undefined;
      this.#active.push({ ...fault, ...(remaining === undefined ? {} : { remaining }) });
    }
  }

  /** The first active fault of this kind for this model, used up once if it has a count. */
  take<K extends Countable['kind']>(
    kind: K,
    modelName: string,
  ): Extract<Countable, { kind: K }> | undefined {
    const index = this.#active.findIndex(
      (f) => f.kind === kind && (f.model === undefined || sameModel(f.model, modelName)),
    );
    if (index < 0) return undefined;
    const fault = this.#active[index] as Countable & { remaining?: number };
    if (fault.remaining !== undefined) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.#active.splice(index, 1);
    }
    return fault as Extract<Countable, { kind: K }>;
  }

  list(): unknown[] {
    return [
      ...this.#active.map((f) => ({ ...f })),
      ...(this.driverDown ? [{ kind: 'driver', down: true }] : []),
    ];
  }
}
