/**
 * The built-in VRAM trouble patterns, matched case-insensitively against each log line of
 * the Ollama container. Two sources:
 *
 * - The seven strings of the fleet tool users run today, kept so their logs still count.
 *   `level=WARN source=sched.go` is among them but off: it matches every scheduler warning,
 *   benign ones too (a model too large for system RAM, a slow unload), so one slow unload
 *   would count as three incidents. Turn it on only for Ollama builds older than the
 *   patterns below.
 * - What Ollama and llama.cpp really print when VRAM runs out (shared/contracts/ollama.md
 *   §1.5 and §3.2). The legacy "CUDA out of memory" never matches those: Ollama says
 *   "CUDA error: out of memory" and "cudaMalloc failed: out of memory".
 *
 * hard: an allocation failed or a runner died of it. soft: pressure, not a failure: the
 * VRAM-recovery warning is logged about three times per slow unload and only at DEBUG level
 * since Ollama 0.12.6, so it weighs less (detection.weights) and close lines merge.
 */
export interface PatternEntry {
  match?: string;
  regex?: string;
  kind: string;
  severity: 'hard' | 'soft';
  enabled: boolean;
}

export const DEFAULT_PATTERNS: readonly PatternEntry[] = [
  // The existing tool's seven strings.
  {
    match: "gpu VRAM usage didn't recover within timeout",
    kind: 'vram_not_recovered',
    severity: 'soft',
    enabled: true,
  },
  {
    match: "VRAM usage didn't recover",
    kind: 'vram_not_recovered',
    severity: 'soft',
    enabled: true,
  },
  { match: 'gpu memory exhausted', kind: 'gpu_oom', severity: 'hard', enabled: true },
  { match: 'CUDA out of memory', kind: 'cuda_oom', severity: 'hard', enabled: true },
  { match: 'GPU memory allocation failed', kind: 'alloc_failed', severity: 'hard', enabled: true },
  {
    match: `msg="gpu VRAM usage didn't recover within timeout"`,
    kind: 'vram_not_recovered',
    severity: 'soft',
    enabled: true,
  },
  {
    match: 'level=WARN source=sched.go',
    kind: 'scheduler_warning',
    severity: 'soft',
    enabled: false,
  },
  // Ollama's and llama.cpp's own wording.
  { match: 'CUDA error: out of memory', kind: 'cuda_oom', severity: 'hard', enabled: true },
  { match: 'cudaMalloc failed: out of memory', kind: 'cuda_oom', severity: 'hard', enabled: true },
  {
    regex: 'unable to allocate (CUDA|ROCm)\\d* buffer',
    kind: 'alloc_failed',
    severity: 'hard',
    enabled: true,
  },
  {
    regex: 'failed to allocate (CUDA|ROCm)\\d* buffer',
    kind: 'alloc_failed',
    severity: 'hard',
    enabled: true,
  },
  {
    match: 'llama-server reported out-of-memory',
    kind: 'runner_oom',
    severity: 'hard',
    enabled: true,
  },
  {
    match: 'memory layout cannot be allocated',
    kind: 'alloc_failed',
    severity: 'hard',
    enabled: true,
  },
  {
    match: 'failed to allocate memory for model',
    kind: 'alloc_failed',
    severity: 'hard',
    enabled: true,
  },
  { match: 'runtime OOM detected', kind: 'runner_oom', severity: 'hard', enabled: true },
  {
    match: 'model requires more gpu memory than is currently available',
    kind: 'model_too_large',
    severity: 'soft',
    enabled: true,
  },
  // About system RAM, not VRAM (`total`, `free`, `swap` are the host's): off, or a host
  // short of RAM would step the ladder. Corpus: b-018-model-requires-more-system-memory.log.
  {
    match: 'model request too large for system',
    kind: 'model_too_large',
    severity: 'soft',
    enabled: false,
  },
  // Early 2024 builds (0.1.1x): llama.cpp's CUDA_CHECK printed the error number and the
  // source line. Corpus: a-009-docker-0117-cuda-error-2-llama-go.log.
  {
    regex: 'CUDA error \\d+ at .*: out of memory|ggml-cuda\\.cu:\\d+: out of memory',
    kind: 'cuda_oom',
    severity: 'hard',
    enabled: true,
  },
  // Apple silicon: Metal's command buffer ran out of GPU memory.
  // Corpus: a-016-macos-metal-insufficient-memory-decode.log.
  {
    match: 'kIOGPUCommandBufferCallbackErrorOutOfMemory',
    kind: 'metal_oom',
    severity: 'hard',
    enabled: true,
  },
  // The estimator finding no room for a single layer (DEBUG level): pressure, not a failure;
  // the model then runs on the CPU. Corpus: a-017-debug-insufficient-vram-any-layers.log.
  {
    match: 'insufficient VRAM to load any model layers',
    kind: 'no_vram_for_layers',
    severity: 'soft',
    enabled: true,
  },
  {
    match: 'gpu has too little memory to allocate any layers',
    kind: 'no_vram_for_layers',
    severity: 'soft',
    enabled: true,
  },
  // AMD: ROCm builds print the same abort block with ROCm's words.
  // Corpus: b-016-rocm-oom-abort-gpt-oss.log.
  { match: 'ROCm error: out of memory', kind: 'rocm_oom', severity: 'hard', enabled: true },
  { match: 'hipMalloc failed: out of memory', kind: 'rocm_oom', severity: 'hard', enabled: true },
];
