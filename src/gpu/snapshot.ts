/**
 * One picture of the machine per poll: each GPU's memory (what Ollama's models hold, what
 * other processes take), the loaded models with their real VRAM and expiry, the installed
 * models, and whether telemetry is healthy. Built by a pure function from what the readers
 * returned; frozen, so every subscriber sees the same value.
 */
import type { PsResponse } from '../ollama/schemas.js';
import type { Telemetry } from './nvidia-smi.js';
import type { TelemetryFailure } from './parse.js';

export interface GpuView {
  uuid: string;
  index: number;
  name: string;
  /** Bytes; undefined when unknown (no telemetry and no configured total). */
  total: number | undefined;
  used: number | undefined;
  free: number | undefined;
  /** Bytes held by Ollama's runners on this card. */
  ollama: number;
  /** Bytes other processes hold (external pressure); undefined when it cannot be seen. */
  external: number | undefined;
  /** Where the numbers come from. */
  source: 'nvidia-smi' | 'configured' | 'ollama';
}

export interface LoadedModel {
  name: string;
  /** Bytes the model needs in all (Ollama's `size`). */
  size: number;
  /** Bytes of it on the GPU. */
  size_vram: number;
  expires_at: string;
  context_length: number | undefined;
}

export interface ResourceSnapshot {
  at: number;
  gpus: GpuView[];
  loaded: LoadedModel[];
  /** What Ollama has installed (canonical names, bytes on disk); undefined when unknown. */
  installed: { name: string; size: number }[] | undefined;
  telemetry:
    | { available: true; at: number }
    | { available: false; failure: TelemetryFailure; at: number | undefined };
  ollama: { reachable: true } | { reachable: false; error: string };
  totals: { total: number | undefined; used: number | undefined; free: number | undefined };
}

export interface SnapshotInput {
  at: number;
  telemetry: Telemetry | undefined;
  ps: PsResponse | { error: string };
  installed: { name: string; size: number }[] | undefined;
  /** gpu.vram_total_mib in bytes: the card's size where nvidia-smi cannot tell. */
  vramTotal: number | undefined;
}

const OLLAMA_PROCESS = /ollama|llama-server/i;

export function buildSnapshot(input: SnapshotInput): ResourceSnapshot {
  const loaded: LoadedModel[] =
    'error' in input.ps
      ? []
      : input.ps.models.map((m) => ({
          name: m.name,
          size: m.size,
          size_vram: m.size_vram,
          expires_at: m.expires_at,
          context_length: m.context_length,
        }));
  const ollamaBytes = loaded.reduce((sum, m) => sum + m.size_vram, 0);
  const telemetry = input.telemetry;
  let gpus: GpuView[];
  if (telemetry?.available) {
    const single = telemetry.gpus.length === 1;
    gpus = telemetry.gpus.map((g) => {
      const fromApps = telemetry.processes
        ?.filter((p) => p.gpuUuid === g.uuid && OLLAMA_PROCESS.test(p.name))
        .reduce((sum, p) => sum + (p.used ?? 0), 0);
      const ollama = fromApps ?? (single ? ollamaBytes : 0);
      const total = input.vramTotal ?? g.total;
      const free =
        input.vramTotal !== undefined && g.used !== undefined
          ? Math.max(0, input.vramTotal - g.used)
          : g.free;
      return {
        uuid: g.uuid,
        index: g.index,
        name: g.name,
        total,
        used: g.used,
        free,
        ollama,
        external:
          g.used === undefined || (fromApps === undefined && !single)
            ? undefined
            : Math.max(0, g.used - ollama),
        source: 'nvidia-smi',
      };
    });
  } else {
    const total = input.vramTotal;
    gpus = [
      {
        uuid: 'GPU-unknown',
        index: 0,
        name: 'unknown',
        total,
        used: ollamaBytes,
        free: total === undefined ? undefined : Math.max(0, total - ollamaBytes),
        ollama: ollamaBytes,
        external: undefined,
        source: total === undefined ? 'ollama' : 'configured',
      },
    ];
  }
  const sum = (pick: (g: GpuView) => number | undefined) =>
    gpus.every((g) => pick(g) !== undefined)
      ? gpus.reduce((s, g) => s + (pick(g) as number), 0)
      : undefined;
  return deepFreeze({
    at: input.at,
    gpus,
    loaded,
    installed: input.installed,
    telemetry: telemetry?.available
      ? { available: true, at: telemetry.at }
      : {
          available: false,
          failure:
            telemetry && !telemetry.available
              ? telemetry.failure
              : { kind: 'missing', message: 'not read yet' },
          at: telemetry?.at,
        },
    ollama: 'error' in input.ps ? { reachable: false, error: input.ps.error } : { reachable: true },
    totals: { total: sum((g) => g.total), used: sum((g) => g.used), free: sum((g) => g.free) },
  });
}

/**
 * The kind of card a snapshot was taken on, as the registry keys what it learns: nvidia-smi's
 * GPU names (joined when they differ); undefined without telemetry.
 */
export function cardOf(snapshot: ResourceSnapshot | undefined): string | undefined {
  if (!snapshot?.telemetry.available) return undefined;
  const names = [...new Set(snapshot.gpus.map((g) => g.name))];
  return names.length === 0 ? undefined : names.join(' + ');
}

/** What the scheduler counts as the card: used + free (the driver's reserve left out). */
export function usableOf(snapshot: ResourceSnapshot | undefined): number | undefined {
  const totals = snapshot?.totals;
  if (totals?.used !== undefined && totals.free !== undefined) return totals.used + totals.free;
  return totals?.total;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
