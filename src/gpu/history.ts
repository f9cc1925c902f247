/**
 * VRAM over the last hour, per GPU, kept by the supervisor so a dashboard opened now shows
 * the past too: what each loaded model held and what other processes took, one sample every
 * `everyMs` (the latest snapshot within each step wins). Pure: snapshots in, samples out.
 */
import type { ResourceSnapshot } from './snapshot.js';

export interface VramSample {
  /** Epoch ms. */
  at: number;
  gpus: { total: number; external: number; models: { name: string; bytes: number }[] }[];
}

export class VramHistory {
  readonly #samples: VramSample[] = [];

  constructor(
    private readonly everyMs = 10_000,
    private readonly keepMs = 3_600_000,
  ) {}

  record(snapshot: ResourceSnapshot): void {
    const gpus = snapshot.gpus.length
      ? snapshot.gpus
      : [{ total: snapshot.totals.total, external: 0 } as { total?: number; external?: number }];
    const share = gpus.length;
    // Ollama reports a model's VRAM as one figure: spread over the cards it runs on.
    const models = snapshot.loaded.map((m) => ({ name: m.name, bytes: m.size_vram / share }));
    const sample: VramSample = {
      at: snapshot.at,
      gpus: gpus.map((g) => ({ total: g.total ?? 0, external: g.external ?? 0, models })),
    };
    const last = this.#samples.at(-1);
    if (last && Math.floor(last.at / this.everyMs) === Math.floor(sample.at / this.everyMs)) {
      this.#samples[this.#samples.length - 1] = sample;
    } else {
      this.#samples.push(sample);
    }
    while ((this.#samples[0]?.at ?? sample.at) < sample.at - this.keepMs) this.#samples.shift();
  }

  samples(): readonly VramSample[] {
    return this.#samples;
  }
}
