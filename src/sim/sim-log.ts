/**
 * Where the simulator writes Ollama's logs: slog lines and raw runner output on stderr, gin
 * access lines on stdout, as Ollama does. DEBUG lines only with OLLAMA_DEBUG.
 */
import { ginLine, type SlogLevel, type SlogValue, slogLine } from './slog.js';

export interface SimLogSinks {
  stderr: (line: string) => void;
  stdout: (line: string) => void;
}

export class SimLog {
  constructor(
    private readonly sinks: SimLogSinks,
    private readonly debug: boolean,
  ) {}

  slog(
    level: SlogLevel,
    source: string,
    msg: string,
    attrs: Readonly<Record<string, SlogValue>> = {},
  ): void {
    if (level === 'DEBUG' && !this.debug) return;
    this.sinks.stderr(slogLine(new Date(), level, source, msg, attrs));
  }

  /** llama.cpp / ggml output, copied as is. */
  raw(line: string, stream: 'stderr' | 'stdout' = 'stderr'): void {
    this.sinks[stream](line);
  }

  gin(status: number, latencyNs: number, clientIp: string, method: string, path: string): void {
    this.sinks.stdout(ginLine(new Date(), status, latencyNs, clientIp, method, path));
  }

  /** The CUDA abort block a runner prints when an allocation fails mid-run. */
  cudaAbort(device: number): void {
    const cu = '/go/src/github.com/ollama/ollama/ml/backend/ggml/ggml/src/ggml-cuda/ggml-cuda.cu';
    this.raw('CUDA error: out of memory');
    this.raw(`  current device: ${device}, in function alloc at ${cu}:451`);
    this.raw(`  cudaMalloc((void **) &ptr, look_ahead_size)`);
    this.raw(`${cu}:84: CUDA error`);
    this.raw('SIGABRT: abort');
  }
}
