/**
 * A fake nvidia-smi for the simulated GPU: the real query flags, the real CSV (header, units,
 * `, ` separator), and the real failure text and exit codes
 * (shared/contracts/docker-nvidia.md §B). Formatting is pure; `runFakeNvidiaSmi` asks the
 * simulator named by FLEET_SIM_URL for its GPU state.
 */
import type { gpuState } from './routes-control.js';

type GpuState = ReturnType<typeof gpuState>;
type Gpu = GpuState['gpus'][number];
type Process = Gpu['processes'][number] & { gpu: Gpu };

export interface SmiResult {
  stdout: string;
  stderr: string;
  code: number;
}

export const DRIVER_FAILURE =
  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n";

const DRIVER_VERSION = '570.86.15';

/** Each field: its header (with unit) and its value (number, or a placeholder). */
const GPU_FIELDS: Record<
  string,
  { header: string; unit?: string; value: (g: Gpu) => string | number }
> = {
  index: { header: 'index', value: (g) => g.index },
  uuid: { header: 'uuid', value: (g) => g.uuid },
  name: { header: 'name', value: (g) => g.name },
  'memory.total': { header: 'memory.total [MiB]', unit: 'MiB', value: (g) => g.memory_total_mib },
  'memory.used': { header: 'memory.used [MiB]', unit: 'MiB', value: (g) => g.memory_used_mib },
  'memory.free': { header: 'memory.free [MiB]', unit: 'MiB', value: (g) => g.memory_free_mib },
  'memory.reserved': {
    header: 'memory.reserved [MiB]',
    unit: 'MiB',
    value: (g) => g.memory_reserved_mib,
  },
  'utilization.gpu': { header: 'utilization.gpu [%]', unit: '%', value: (g) => g.utilization_gpu },
  'temperature.gpu': { header: 'temperature.gpu', value: (g) => g.temperature_gpu },
  driver_version: { header: 'driver_version', value: () => DRIVER_VERSION },
  'pci.bus_id': {
    header: 'pci.bus_id',
    value: (g) => `00000000:${String(g.index + 1).padStart(2, '0')}:00.0`,
  },
  'mig.mode.current': { header: 'mig.mode.current', value: () => '[N/A]' },
  'power.draw': {
    header: 'power.draw [W]',
    unit: 'W',
    value: (g) => (g.utilization_gpu > 0 ? '312.47' : '21.36'),
  },
};

const APP_FIELDS: Record<
  string,
  { header: string; unit?: string; value: (p: Process) => string | number }
> = {
  pid: { header: 'pid', value: (p) => p.pid },
  process_name: { header: 'process_name', value: (p) => p.process_name },
  used_memory: { header: 'used_gpu_memory [MiB]', unit: 'MiB', value: (p) => p.used_memory_mib },
  used_gpu_memory: {
    header: 'used_gpu_memory [MiB]',
    unit: 'MiB',
    value: (p) => p.used_memory_mib,
  },
  gpu_uuid: { header: 'gpu_uuid', value: (p) => p.gpu.uuid },
  gpu_name: { header: 'gpu_name', value: (p) => p.gpu.name },
  gpu_bus_id: {
    header: 'gpu_bus_id',
    value: (p) => `00000000:${String(p.gpu.index + 1).padStart(2, '0')}:00.0`,
  },
};

const BAD_ARGS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n\n";

export function formatNvidiaSmi(args: readonly string[], state: GpuState | undefined): SmiResult {
  if (!state || state.driver === 'down') return { stdout: DRIVER_FAILURE, stderr: '', code: 9 };
  let queryGpu: string[] | undefined;
  let queryApps: string[] | undefined;
  let format: string[] | undefined;
  let list = false;
  for (const arg of args) {
    const [flag, value] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, ''];
    if (flag === '--query-gpu') queryGpu = value.split(',').map((f) => f.trim());
    else if (flag === '--query-compute-apps') queryApps = value.split(',').map((f) => f.trim());
    else if (flag === '--format') format = value.split(',').map((f) => f.trim());
    else if (flag === '-L' || flag === '--list-gpus') list = true;
    else return { stdout: BAD_ARGS, stderr: '', code: 2 };
  }
  if (list) {
    return {
      stdout: state.gpus.map((g) => `GPU ${g.index}: ${g.name} (UUID: ${g.uuid})\n`).join(''),
      stderr: '',
      code: 0,
    };
  }
  if (!queryGpu && !queryApps) return { stdout: table(state), stderr: '', code: 0 };
  if (format?.[0] !== 'csv' || (queryGpu && queryApps)) {
    return { stdout: BAD_ARGS, stderr: '', code: 2 };
  }
  const noHeader = format.includes('noheader');
  const noUnits = format.includes('nounits');
  const rows = queryGpu
    ? csv(queryGpu, GPU_FIELDS, state.gpus, noHeader, noUnits)
    : csv(
        queryApps as string[],
        APP_FIELDS,
        state.gpus.flatMap((gpu) => gpu.processes.map((p) => ({ ...p, gpu }))),
        noHeader,
        noUnits,
      );
  return 'error' in rows
    ? { stdout: rows.error, stderr: '', code: 2 }
    : { stdout: rows.text, stderr: '', code: 0 };
}

function csv<T>(
  fields: string[],
  known: Record<string, { header: string; unit?: string; value: (item: T) => string | number }>,
  items: T[],
  noHeader: boolean,
  noUnits: boolean,
): { text: string } | { error: string } {
  const bad = fields.find((f) => !(f in known));
  if (bad !== undefined) return { error: `Field "${bad}" is not a valid field to query.\n\n` };
  const columns = fields.map((f) => known[f] as NonNullable<(typeof known)[string]>);
  const lines: string[] = [];
  if (!noHeader)
    lines.push(
      columns.map((c) => (noUnits ? c.header.replace(/ \[.*\]$/, '') : c.header)).join(', '),
    );
  for (const item of items) {
    lines.push(
      columns
        .map((c) => {
          const value = c.value(item);
          return typeof value === 'number' && c.unit && !noUnits
            ? `${value} ${c.unit}`
            : String(value);
        })
        .join(', '),
    );
  }
  return { text: lines.map((l) => `${l}\n`).join('') };
}

/** A short version of the table plain `nvidia-smi` prints. */
function table(state: GpuState): string {
  const rule = `+${'-'.repeat(89)}+`;
  const lines = [
    new Date().toUTCString(),
    rule,
    `| NVIDIA-SMI ${DRIVER_VERSION}              Driver Version: ${DRIVER_VERSION}      CUDA Version: 12.8     |`,
    rule,
  ];
  for (const g of state.gpus) {
    lines.push(
      `| ${String(g.index).padEnd(3)} ${g.name.padEnd(40)} ${`${g.memory_used_mib}MiB / ${g.memory_total_mib}MiB`.padStart(24)} ${`${g.utilization_gpu}%`.padStart(5)}       |`,
    );
  }
  lines.push(rule);
  return `${lines.join('\n')}\n`;
}

/** What `fleet sim nvidia-smi` runs: the simulator's GPU state, formatted. */
export async function runFakeNvidiaSmi(
  args: readonly string[],
  simUrl: string,
): Promise<SmiResult> {
  let state: GpuState | undefined;
  try {
    const response = await fetch(`${simUrl.replace(/\/+$/, '')}/sim/gpu`, {
      signal: AbortSignal.timeout(5_000),
    });
    if (response.ok) state = (await response.json()) as GpuState;
  } catch {
    state = undefined;
  }
  const result = formatNvidiaSmi(args, state);
  if (!state)
    return {
      ...result,
      stderr: `fleet sim nvidia-smi: no simulator answers at ${simUrl} (FLEET_SIM_URL)\n`,
    };
  return result;
}
