/**
 * Runs nvidia-smi (or whatever `gpu.nvidia_smi` names) and reads its answer. A missing
 * binary, a non-zero exit, a hang or garbage give "telemetry unavailable" with the reason,
 * never a crash. nvidia-smi can take over a second, so one reading runs at a time: a caller
 * that asks while one is in flight gets that one.
 */
import { ExecaError, execa } from 'execa';
import {
  APPS_QUERY,
  driverFailure,
  GPU_QUERY,
  type GpuProcess,
  type GpuReading,
  type Parsed,
  parseComputeApps,
  parseGpuQuery,
  type TelemetryFailure,
} from './parse.js';

export type Telemetry =
  | { available: true; gpus: GpuReading[]; processes: GpuProcess[] | undefined; at: number }
  | { available: false; failure: TelemetryFailure; at: number };

export interface NvidiaSmiOptions {
  /** A command line (split on spaces) or an argv list. */
  command: string | readonly string[];
  timeoutMs: number;
  now: () => number;
}

export class NvidiaSmiReader {
  readonly #argv: readonly string[];
  #inFlight: Promise<Telemetry> | undefined;

  constructor(private readonly options: NvidiaSmiOptions) {
    this.#argv =
      typeof options.command === 'string'
        ? options.command.split(/\s+/).filter(Boolean)
        : options.command;
  }

  read(signal?: AbortSignal): Promise<Telemetry> {
    this.#inFlight ??= this.#read(signal).finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #read(signal?: AbortSignal): Promise<Telemetry> {
    const at = this.options.now();
    const gpus = await this.#run(
      [`--query-gpu=${GPU_QUERY.join(',')}`, '--format=csv,noheader,nounits'],
      parseGpuQuery,
      signal,
    );
    if (!gpus.ok) return { available: false, failure: gpus.failure, at };
    const apps = await this.#run(
      [`--query-compute-apps=${APPS_QUERY.join(',')}`, '--format=csv,noheader,nounits'],
      parseComputeApps,
      signal,
    );
    return { available: true, gpus: gpus.value, processes: apps.ok ? apps.value : undefined, at };
  }

  async #run<T>(
    args: string[],
    parse: (text: string) => Parsed<T>,
    signal?: AbortSignal,
  ): Promise<Parsed<T>> {
    const [file, ...fixed] = this.#argv;
    if (!file)
      return { ok: false, failure: { kind: 'missing', message: 'gpu.nvidia_smi is empty' } };
    try {
      const result = await execa(file, [...fixed, ...args], {
        timeout: this.options.timeoutMs,
        ...(signal ? { cancelSignal: signal } : {}),
        stripFinalNewline: false,
      });
      return parse(String(result.stdout));
    } catch (err) {
      return { ok: false, failure: describe(err, file, this.options.timeoutMs) };
    }
  }
}

function describe(err: unknown, file: string, timeoutMs: number): TelemetryFailure {
  if (!(err instanceof ExecaError)) return { kind: 'exit', message: String(err) };
  if (err.code === 'ENOENT')
    return { kind: 'missing', message: `${file} is not installed (not found on PATH)` };
  if (err.timedOut)
    return { kind: 'timeout', message: `${file} did not answer within ${timeoutMs} ms` };
  if (err.isCanceled) return { kind: 'aborted', message: `${file} was stopped` };
  const output = `${String(err.stdout ?? '')}\n${String(err.stderr ?? '')}`;
  const driver = driverFailure(output);
  if (driver) return { ...driver, message: `${driver.message} (exit ${err.exitCode})` };
  const first = output.trim().split('\n')[0] ?? '';
  return {
    kind: 'exit',
    message: `${file} exited ${err.exitCode ?? err.signal}${first ? `: ${first.slice(0, 160)}` : ''}`,
  };
}
