/**
 * One simulated GPU's memory: what Ollama's runners hold, what another process takes
 * (external pressure), and memory an unloaded runner has not given back yet. nvidia-smi and
 * Ollama's scheduler both read it. Times are real epoch ms; callers pass `now`.
 */

export interface GpuSpec {
  index: number;
  uuid: string;
  name: string;
  totalMib: number;
}

const MIB = 2 ** 20;

export class SimGpu {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly total: number;
  /** Held by the driver and firmware: nvidia-smi's total is never used + free. */
  readonly reserved: number;
  /** What another process asked for; it gets at most what is free. */
  externalRequested = 0;
  readonly #allocations = new Map<string, number>();
  #unrecovered: { bytes: number; until: number }[] = [];

  constructor(spec: GpuSpec) {
    this.index = spec.index;
    this.uuid = spec.uuid;
    this.name = spec.name;
    this.total = spec.totalMib * MIB;
    this.reserved = Math.round(spec.totalMib * 0.006) * MIB;
  }

  allocate(owner: string, bytes: number): void {
    this.#allocations.set(owner, bytes);
  }

  /** Frees an owner's memory; `holdUntil` keeps it counted as used (VRAM not recovered). */
  release(owner: string, holdUntil?: number): number {
    const bytes = this.#allocations.get(owner) ?? 0;
    this.#allocations.delete(owner);
    if (holdUntil !== undefined && bytes > 0) this.#unrecovered.push({ bytes, until: holdUntil });
    return bytes;
  }

  ollamaUsed(): number {
    let sum = 0;
    for (const bytes of this.#allocations.values()) sum += bytes;
    return sum;
  }

  unrecovered(now: number): number {
    this.#unrecovered = this.#unrecovered.filter((u) => u.until > now);
    return this.#unrecovered.reduce((sum, u) => sum + u.bytes, 0);
  }

  /** What the other process really holds: no more than the card has left. */
  external(now: number): number {
    const room = this.total - this.reserved - this.ollamaUsed() - this.unrecovered(now);
    return Math.max(0, Math.min(this.externalRequested, room));
  }

  used(now: number): number {
    return this.ollamaUsed() + this.unrecovered(now) + this.external(now);
  }

  free(now: number): number {
    return Math.max(0, this.total - this.reserved - this.used(now));
  }

  allocations(): ReadonlyMap<string, number> {
    return this.#allocations;
  }
}

/** A plausible card name for a memory size, as nvidia-smi prints it. */
export function cardName(totalMib: number): string {
  if (totalMib <= 8 * 1024) return 'NVIDIA GeForce RTX 4060';
  if (totalMib <= 12 * 1024) return 'NVIDIA GeForce RTX 4070';
  if (totalMib <= 16 * 1024) return 'NVIDIA GeForce RTX 4080 SUPER';
  if (totalMib <= 24 * 1024) return 'NVIDIA GeForce RTX 4090';
  if (totalMib <= 48 * 1024) return 'NVIDIA RTX 6000 Ada Generation';
  return 'NVIDIA H100 80GB HBM3';
}
