/**
 * `fleet sim [flags]`: an Ollama simulator with a simulated GPU; `fleet sim nvidia-smi ...`:
 * the fake nvidia-smi for it. Flags default to Ollama's own environment variables.
 */
import { parseArgs } from 'node:util';
import { parseKeepAlive } from '../ollama/duration.js';
import { runFakeNvidiaSmi } from '../sim/nvidia-smi.js';
import { SIM_DEFAULTS, type SimOptions } from '../sim/options.js';
import { startSimulator } from '../sim/simulator.js';
import { usage } from './args.js';

export interface SimProcess {
  env: Readonly<Record<string, string | undefined>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  once(event: 'SIGTERM' | 'SIGINT', listener: () => void): void;
}

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'vram-mib': { type: 'string' },
  gpus: { type: 'string' },
  'time-scale': { type: 'string' },
  installed: { type: 'string' },
  'ollama-version': { type: 'string' },
  'max-loaded-models': { type: 'string' },
  'num-parallel': { type: 'string' },
  'max-queue': { type: 'string' },
  'keep-alive': { type: 'string' },
  'context-length': { type: 'string' },
  'system-ram-mib': { type: 'string' },
  debug: { type: 'boolean' },
} as const;

export async function simCommand(args: readonly string[], io: SimProcess): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout((await import('./help.js')).helpText('sim'));
    return 0;
  }
  if (args[0] === 'nvidia-smi') {
    // `--sim-url=URL` (ours, not nvidia-smi's) names the simulator where the environment cannot.
    const urlFlag = args.find((a) => a.startsWith('--sim-url='));
    const url =
      urlFlag?.slice('--sim-url='.length) ?? io.env.FLEET_SIM_URL ?? 'http://127.0.0.1:11434';
    const result = await runFakeNvidiaSmi(
      args.slice(1).filter((a) => a !== urlFlag),
      url,
    );
    io.stdout(result.stdout);
    io.stderr(result.stderr);
    return result.code;
  }
  const { host, port, ...options } = parseSimArgs(args, io.env);
  const sim = await startSimulator(
    { ...options, host, port },
    {
      stderr: (line) => io.stderr(`${line}\n`),
      stdout: (line) => io.stdout(`${line}\n`),
    },
  );
  await new Promise<void>((resolve) => {
    io.once('SIGTERM', resolve);
    io.once('SIGINT', resolve);
  });
  await sim.close();
  return 0;
}

export function parseSimArgs(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SimOptions & { host: string; port: number } {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];
  try {
    values = parseArgs({ args: [...args], options: OPTIONS, strict: true }).values;
  } catch (err) {
    throw usage(
      `sim: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`,
    );
  }
  const number = (flag: string, text: string | undefined, fallback: number, min = 0): number => {
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min)
      throw usage(`sim: --${flag} expects a number >= ${min}, got "${text}"`);
    return value;
  };
  const keepAliveText = values['keep-alive'] ?? env.OLLAMA_KEEP_ALIVE;
  let keepAliveMs = SIM_DEFAULTS.keepAliveMs;
  if (keepAliveText !== undefined && keepAliveText !== '') {
    // OLLAMA_KEEP_ALIVE also takes a bare number of seconds.
    const parsed = parseKeepAlive(
      /^-?\d+$/.test(keepAliveText) ? Number(keepAliveText) : keepAliveText,
    );
    if ('error' in parsed) throw usage(`sim: --keep-alive: ${parsed.error}`);
    keepAliveMs = parsed.ms;
  }
  const timeScale = number('time-scale', values['time-scale'], 1);
  if (timeScale <= 0) throw usage('sim: --time-scale must be greater than 0');
  return {
    host: values.host ?? '127.0.0.1',
    port: number('port', values.port, 11434),
    version: values['ollama-version'] ?? SIM_DEFAULTS.version,
    gpus: number('gpus', values.gpus, 1, 1),
    vramMib: number('vram-mib', values['vram-mib'], SIM_DEFAULTS.vramMib, 1),
    timeScale,
    installed: values.installed
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    maxLoadedModels: number(
      'max-loaded-models',
      values['max-loaded-models'] ?? env.OLLAMA_MAX_LOADED_MODELS,
      0,
    ),
    numParallel: number('num-parallel', values['num-parallel'] ?? env.OLLAMA_NUM_PARALLEL, 1, 1),
    maxQueue: number('max-queue', values['max-queue'] ?? env.OLLAMA_MAX_QUEUE, 512, 1),
    keepAliveMs,
    contextLength: number(
      'context-length',
      values['context-length'] ?? env.OLLAMA_CONTEXT_LENGTH,
      0,
    ),
    systemRamMib: number('system-ram-mib', values['system-ram-mib'], SIM_DEFAULTS.systemRamMib, 1),
    debug:
      values.debug ??
      (env.OLLAMA_DEBUG !== undefined && env.OLLAMA_DEBUG !== '' && env.OLLAMA_DEBUG !== '0'),
  };
}
