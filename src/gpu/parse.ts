/**
 * nvidia-smi's CSV (`--format=csv,noheader,nounits`) in, typed GPUs and processes out.
 * Pure. Placeholders (`[N/A]`, `[Not Supported]`, ...) are "unknown", never 0; memory is
 * converted from MiB to bytes; a row that does not parse makes the whole reading fail with
 * the reason, because a half-read GPU is worse than none (shared/contracts/docker-nvidia.md §B).
 */

const MIB = 2 ** 20;

export interface GpuReading {
  index: number;
  /** The key: indexes can change across boots. */
  uuid: string;
  name: string;
  /** Bytes; undefined when nvidia-smi reports a placeholder. */
  total: number | undefined;
  used: number | undefined;
  free: number | undefined;
  /** Percent. */
  utilization: number | undefined;
  /** Degrees Celsius. */
  temperature: number | undefined;
}

export interface GpuProcess {
  pid: number;
  name: string;
  /** Bytes. */
  used: number | undefined;
  gpuUuid: string;
}

export type TelemetryFailureKind =
  | 'missing'
  | 'driver'
  | 'exit'
  | 'timeout'
  | 'garbage'
  | 'aborted';

export interface TelemetryFailure {
  kind: TelemetryFailureKind;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; failure: TelemetryFailure };

export const GPU_QUERY = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'memory.free',
  'utilization.gpu',
  'temperature.gpu',
] as const;
export const APPS_QUERY = ['pid', 'process_name', 'used_memory', 'gpu_uuid'] as const;

/** The driver's own failure messages, whatever stream or exit code carried them. */
const DRIVER_FAILURES = [
  "couldn't communicate with the NVIDIA driver",
  'Failed to initialize NVML',
  'No devices were found',
  'NVIDIA driver is not loaded',
  'GPU has fallen off the bus',
];

export function driverFailure(text: string): TelemetryFailure | undefined {
  const hit = DRIVER_FAILURES.find((f) => text.includes(f));
  if (!hit) return undefined;
  const line = text.split('\n').find((l) => l.includes(hit)) ?? hit;
  return { kind: 'driver', message: line.trim() };
}

/** A number, or undefined for nvidia-smi's bracketed placeholders. */
function numberOrUnknown(cell: string): number | undefined | 'bad' {
  const text = cell.trim();
  if (/^\[.*\]$/.test(text) || text === 'N/A') return undefined;
  if (!/^-?\d+(\.\d+)?$/.test(text)) return 'bad';
  return Number(text);
}

export function parseGpuQuery(text: string): Parsed<GpuReading[]> {
  const failed = driverFailure(text);
  if (failed) return { ok: false, failure: failed };
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return garbage('no GPU rows', text);
  const gpus: GpuReading[] = [];
  for (const line of lines) {
    const cells = line.split(', ');
    if (cells.length !== GPU_QUERY.length)
      return garbage(`expected ${GPU_QUERY.length} fields per row`, line);
    const [index, uuid, name, ...rest] = cells as [string, string, string, ...string[]];
    const numbers = rest.map(numberOrUnknown);
    const indexNumber = numberOrUnknown(index);
    if (
      typeof indexNumber !== 'number' ||
      numbers.includes('bad') ||
      !/^(GPU|MIG)-/.test(uuid.trim())
    ) {
      return garbage('a row that is not a GPU', line);
    }
    const [total, used, free, utilization, temperature] = numbers as (number | undefined)[];
    const bytes = (mib: number | undefined) => (mib === undefined ? undefined : mib * MIB);
    gpus.push({
      index: indexNumber,
      uuid: uuid.trim(),
      name: name.trim(),
      total: bytes(total),
      used: bytes(used),
      free: bytes(free),
      utilization,
      temperature,
    });
  }
  return { ok: true, value: gpus };
}

/** Compute apps; process names may hold `, ` so rows are read from both ends. */
export function parseComputeApps(text: string): Parsed<GpuProcess[]> {
  const failed = driverFailure(text);
  if (failed) return { ok: false, failure: failed };
  const processes: GpuProcess[] = [];
  for (const line of text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')) {
    const cells = line.split(', ');
    if (cells.length < APPS_QUERY.length)
      return garbage(`expected ${APPS_QUERY.length} fields per row`, line);
    const pid = numberOrUnknown(cells[0] as string);
    const used = numberOrUnknown(cells[cells.length - 2] as string);
    const gpuUuid = (cells[cells.length - 1] as string).trim();
    if (typeof pid !== 'number' || used === 'bad' || !/^(GPU|MIG)-/.test(gpuUuid)) {
      return garbage('a row that is not a process', line);
    }
    processes.push({
      pid,
      name: cells.slice(1, -2).join(', ').trim(),
      used: used === undefined ? undefined : used * MIB,
      gpuUuid,
    });
  }
  return { ok: true, value: processes };
}

function garbage(why: string, sample: string): { ok: false; failure: TelemetryFailure } {
  return {
    ok: false,
    failure: {
      kind: 'garbage',
      message: `unexpected nvidia-smi output (${why}): ${sample.slice(0, 120)}`,
    },
  };
}
