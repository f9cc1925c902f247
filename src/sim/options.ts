/** The simulator's settings, with the defaults and version rules of the Ollama it emulates. */
import { compareVersions } from '../ollama/duration.js';

export interface SimOptions {
  /** The Ollama version emulated; 0.30.0 and later speak "llama-server" (era B). */
  version: string;
  gpus: number;
  vramMib: number;
  /** Every simulated duration is multiplied by this (0.01 = 100x faster). */
  timeScale: number;
  /** Installed at start (canonical names); every catalogue model when undefined. */
  installed: string[] | undefined;
  /** OLLAMA_MAX_LOADED_MODELS; 0 = 3 per GPU. */
  maxLoadedModels: number;
  /** OLLAMA_NUM_PARALLEL. */
  numParallel: number;
  /** OLLAMA_MAX_QUEUE. */
  maxQueue: number;
  /** OLLAMA_KEEP_ALIVE in ms (Infinity = forever). */
  keepAliveMs: number;
  /** OLLAMA_CONTEXT_LENGTH; 0 = the version's default. */
  contextLength: number;
  systemRamMib: number;
  /** OLLAMA_DEBUG: DEBUG lines are written only when set. */
  debug: boolean;
}

export const SIM_DEFAULTS: SimOptions = {
  version: '0.12.3',
  gpus: 1,
  vramMib: 24_576,
  timeScale: 1,
  installed: undefined,
  maxLoadedModels: 0,
  numParallel: 1,
  maxQueue: 512,
  keepAliveMs: 300_000,
  contextLength: 0,
  systemRamMib: 65_536,
  debug: false,
};

export interface SimRules {
  era: 'A' | 'B';
  /** ≥0.12: a request for a loaded model skips the load queue. */
  loadedSkipQueue: boolean;
  /** How much of an unloaded model's VRAM must come back before the wait ends. */
  recoveryRatio: number;
  /** ≥0.12.6 logs the VRAM-recovery timeout at DEBUG instead of WARN. */
  recoveryWarnLevel: 'WARN' | 'DEBUG';
  /** Era B fits a model in 80% of free VRAM. */
  fitFraction: number;
  defaultNumCtx: number;
  maxLoadedModels: number;
}

export function rulesFor(options: SimOptions): SimRules {
  const at = (v: string) => compareVersions(options.version, v) >= 0;
  const totalGib = (options.vramMib * options.gpus) / 1024;
  const vramTier = totalGib >= 47 ? 262_144 : totalGib >= 23 ? 32_768 : 4096;
  const defaultNumCtx =
    options.contextLength > 0
      ? options.contextLength
      : at('0.15.5')
        ? vramTier
        : at('0.6.8')
          ? 4096
          : 2048;
  return {
    era: at('0.30.0') ? 'B' : 'A',
    loadedSkipQueue: at('0.12.0'),
    recoveryRatio: at('0.12.6') ? 0.75 : 0.8,
    recoveryWarnLevel: at('0.12.6') ? 'DEBUG' : 'WARN',
    fitFraction: at('0.30.0') ? 0.8 : 1,
    defaultNumCtx,
    maxLoadedModels: options.maxLoadedModels > 0 ? options.maxLoadedModels : 3 * options.gpus,
  };
}
