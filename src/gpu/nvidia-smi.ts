/**
 * Runs nvidia-smi (or whatever `gpu.nvidia_smi` names) and reads its answer. A missing
 * binary, a non-zero exit, a hang or garbage give "telemetry unavailable" with the reason,
 * never a crash. nvidia-smi can take over a second, so one reading runs at a time: a caller
 * that asks while one is in flight gets that one.
 */
import { ExecaError, execa } from 'execa';
import type { ContainerTarget, DockerClient } from '../watch/docker.js';
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
  /** Where the command runs: here (the default), or inside a container (`dockerExecRunner`). */
  runner?: CommandRunner;
}

/** Runs an argv and gives its stdout, or why there is none. */
export type CommandRunner = (
  argv: readonly string[],
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
) => Promise<Parsed<string>>;

export class NvidiaSmiReader {
  readonly #argv: readonly string[];
  readonly #runner: CommandRunner;
  #inFlight: Promise<Telemetry> | undefined;

  constructor(private readonly options: NvidiaSmiOptions) {
    this.#argv =
      typeof options.command === 'string'
        ? options.command.split(/\s+/).filter(Boolean)
        : options.command;
    this.#runner = options.runner ?? localRunner;
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
    if (this.#argv.length === 0)
      return { ok: false, failure: { kind: 'missing', message: 'gpu.nvidia_smi is empty' } };
    const output = await this.#runner([...this.#argv, ...args], {
      timeoutMs: this.options.timeoutMs,
      signal,
    });
    return output.ok ? parse(output.value) : output;
  }
}

/** Runs the command on this machine. */
const localRunner: CommandRunner = async ([file, ...args], { timeoutMs, signal }) => {
  try {
    const result = await execa(file as string, args, {
      timeout: timeoutMs,
      ...(signal ? { cancelSignal: signal } : {}),
      stripFinalNewline: false,
    });
    return { ok: true, value: String(result.stdout) };
  } catch (err) {
    if (!(err instanceof ExecaError))
      return { ok: false, failure: { kind: 'exit', message: String(err) } };
    if (err.code === 'ENOENT')
      return {
        ok: false,
        failure: { kind: 'missing', message: `${file} is not installed (not found on PATH)` },
      };
    if (err.timedOut) return { ok: false, failure: timedOut(file as string, timeoutMs) };
    if (err.isCanceled)
      return { ok: false, failure: { kind: 'aborted', message: `${file} was stopped` } };
    return {
      ok: false,
      failure: exitFailure(
        file as string,
        err.exitCode ?? err.signal,
        `${String(err.stdout ?? '')}\n${String(err.stderr ?? '')}`,
      ),
    };
  }
};

/**
 * Runs the command inside a container through the Docker Engine API (`gpu.nvidia_smi_container`):
 * Ollama's container has nvidia-smi from the NVIDIA runtime, so the supervisor needs no GPU.
 */
export function dockerExecRunner(docker: DockerClient, target: ContainerTarget): CommandRunner {
  const where = typeof target === 'string' ? `container ${target}` : `container ${target.label}`;
  // The container found last time: each reading runs two queries, and the container rarely
  // changes, so it is looked up again only when the daemon says it is gone or stopped.
  let known: string | undefined;
  const execIn = async (argv: readonly string[], timeoutMs: number, signal?: AbortSignal) => {
    if (known) {
      try {
        return await docker.exec(known, argv, { timeoutMs, signal });
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw err;
        known = undefined;
      }
    }
    const container = await docker.find(target);
    if (!container?.running) return `${where} is ${container ? 'not running' : 'not found'}`;
    known = container.id;
    return docker.exec(known, argv, { timeoutMs, signal });
  };
  return async (argv, { timeoutMs, signal }) => {
    const file = argv[0] as string;
    try {
      const result = await execIn(argv, timeoutMs, signal);
      if (typeof result === 'string')
        return { ok: false, failure: { kind: 'missing', message: result } };
      if (result.exitCode === 0) return { ok: true, value: result.stdout };
      // 126/127: the runtime could not start the command at all.
      if (result.exitCode === 126 || result.exitCode === 127)
        return { ok: false, failure: { kind: 'missing', message: `${file} is not in ${where}` } };
      return {
        ok: false,
        failure: exitFailure(file, result.exitCode, `${result.stdout}\n${result.stderr}`),
      };
    } catch (err) {
      const kind = (err as { kind?: string }).kind;
      if (kind === 'timeout')
        return { ok: false, failure: timedOut(`${file} in ${where}`, timeoutMs) };
      if (kind === 'aborted')
        return { ok: false, failure: { kind: 'aborted', message: `${file} was stopped` } };
      return {
        ok: false,
        failure: {
          kind: 'exit',
          message: `cannot run ${file} in ${where}: ${(err as Error).message}`,
        },
      };
    }
  };
}

function timedOut(what: string, timeoutMs: number): TelemetryFailure {
  return { kind: 'timeout', message: `${what} did not answer within ${timeoutMs} ms` };
}

function exitFailure(
  file: string,
  code: number | string | null | undefined,
  output: string,
): TelemetryFailure {
  const driver = driverFailure(output);
  if (driver) return { ...driver, message: `${driver.message} (exit ${code})` };
  const first = output.trim().split('\n')[0] ?? '';
  return {
    kind: 'exit',
    message: `${file} exited ${code}${first ? `: ${first.slice(0, 160)}` : ''}`,
  };
}
