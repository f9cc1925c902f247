/**
 * Which model names a job may name: fleet.yaml's catalogue, and what the Ollama server has
 * installed. The resource monitor's last /api/tags answers first; only a name it does not
 * know makes this read /api/tags itself (at most every `ttlMs`), so a model pulled a moment
 * ago is not refused. Ollama unreachable: the catalogue alone decides.
 */
import type { OllamaClient } from '../ollama/client.js';
import { canonicalModelName } from '../ollama/names.js';

export class KnownModels {
  readonly #catalogue: Set<string>;
  #installed = new Set<string>();
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;

  constructor(
    catalogue: readonly string[],
    private readonly ollama: Pick<OllamaClient, 'tags'>,
    private readonly ttlMs: number,
    private readonly now: () => number,
    /** What the resource monitor last saw installed (canonical names), if anything. */
    private readonly seen: () => readonly { name: string }[] | undefined = () => undefined,
  ) {
    this.#catalogue = new Set(catalogue.map(canonicalModelName));
  }

  async has(name: string): Promise<boolean> {
    const canonical = canonicalModelName(name);
    if (this.#catalogue.has(canonical)) return true;
    if (this.seen()?.some((m) => m.name === canonical)) return true;
    await this.#refresh();
    return this.#installed.has(canonical);
  }

  async #refresh(): Promise<void> {
    if (this.now() - this.#readAt < this.ttlMs) return;
    this.#reading ??= this.ollama
      .tags()
      .then((tags) => {
        this.#installed = new Set(tags.models.map((m) => canonicalModelName(m.name)));
        this.#readAt = this.now();
      })
      .catch(() => {})
      .finally(() => {
        this.#reading = undefined;
      });
    await this.#reading;
  }
}
