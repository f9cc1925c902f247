/**
 * What the simulator knows of each model: the facts `/api/tags`, `/api/show` and `/api/ps`
 * report, and the figures its simulated GPU needs. Sizes are Ollama's default tags; VRAM at
 * a 4096-token context and KV bytes per token come from shared/contracts/ollama-calibration.md
 * (measured where a measurement exists, else weights + KV cache + compute graph).
 */
import { createHash } from 'node:crypto';
import type { Capability } from './capabilities.js';

export interface SimModel {
  /** Canonical `name:tag`. */
  name: string;
  family: string;
  /** `details.families`; just the family but for a few (llava: llama and clip). */
  families: readonly string[];
  parameter_size: string;
  quantization_level: string;
  /** Bytes on disk. */
  size: number;
  /** VRAM in MiB at `min(4096, context_length)` tokens with one parallel slot. */
  vram_mib: number;
  /** KV cache KiB per token (f16), the part that grows with num_ctx × parallel. */
  kv_kib_per_token: number;
  /** The model's trained context; num_ctx is clamped to it. */
  context_length: number;
  block_count: number;
  embedding_length: number;
  /** What `/api/show` lists, in the order Ollama derives them (see capabilities.ts). */
  capabilities: readonly Capability[];
  /** Embedding models answer /api/embed only and run one slot. */
  embedding: boolean;
}

const MB = 1_000_000;
const TOOLS: Capability[] = ['completion', 'tools'];
const PLAIN: Capability[] = ['completion'];
const EMBED: Capability[] = ['embedding'];
const VISION: Capability[] = ['completion', 'vision'];
const THINKING_TOOLS: Capability[] = ['completion', 'tools', 'thinking'];

/*
 * The models added after the first catalogue (thinking, vision, insert, gpt-oss) take their
 * sizes, parameter counts and quantizations from real /api/tags answers of the Ollama library
 * tags; VRAM is weights + KV at 4096 tokens + the compute graph (calibration §6), measured where
 * calibration §2 has a figure (qwen3:8b 6.56 GB, deepseek-r1:1.5b 1.98 GB). KV per token is
 * 2 · layers · kv_heads · head_dim · 2 bytes.
 */
export const SIM_CATALOGUE: readonly SimModel[] = [
  model('all-minilm:latest', 'bert', '23M', 'F16', 46 * MB, 70, 9, 512, 6, 384, EMBED),
  model(
    'nomic-embed-text:latest',
    'nomic-bert',
    '137M',
    'F16',
    274 * MB,
    567,
    36,
    2048,
    12,
    768,
    EMBED,
  ),
  model('smollm:360m', 'llama', '362M', 'Q4_0', 229 * MB, 640, 40, 2048, 32, 960, PLAIN),
  model('qwen2.5:0.5b', 'qwen2', '494.03M', 'Q4_K_M', 397_821_319, 730, 12, 32768, 24, 896, TOOLS),
  model('tinyllama:1.1b', 'llama', '1B', 'Q4_0', 637_699_456, 850, 22, 2048, 22, 2048, PLAIN),
  model('qwen2.5:1.5b', 'qwen2', '1.5B', 'Q4_K_M', 986_061_892, 1888, 28, 32768, 28, 1536, TOOLS),
  model('smollm:1.7b', 'llama', '1.7B', 'Q4_0', 990 * MB, 1910, 192, 2048, 24, 2048, PLAIN),
  model('llama3.2:1b', 'llama', '1.2B', 'Q8_0', 1_321_098_329, 2289, 32, 131072, 16, 2048, TOOLS),
  model('gemma:2b', 'gemma', '3B', 'Q4_0', 1_678_447_520, 2747, 18, 8192, 18, 2048, PLAIN),
  model(
    'llama3.2:3b',
    'llama',
    '3.2B',
    'Q4_K_M',
    2_019_393_189,
    3214,
    112,
    131072,
    28,
    3072,
    TOOLS,
  ),
  model('phi3:mini', 'phi3', '3.8B', 'Q4_0', 2_176_178_913, 3860, 384, 4096, 32, 3072, PLAIN),
  model('mistral:7b', 'llama', '7.2B', 'Q4_0', 4_113_301_824, 5302, 128, 32768, 32, 4096, TOOLS),
  model('qwen2.5:7b', 'qwen2', '7.6B', 'Q4_K_M', 4_683_087_332, 4830, 56, 32768, 28, 3584, TOOLS),
  model(
    'llama3.1:8b',
    'llama',
    '8.0B',
    'Q4_K_M',
    4_920_753_328,
    5054,
    128,
    131072,
    32,
    4096,
    TOOLS,
  ),
  model(
    'qwen2.5:14b',
    'qwen2',
    '14.8B',
    'Q4_K_M',
    8_988_110_976,
    9950,
    192,
    32768,
    48,
    5120,
    TOOLS,
  ),
  // A fill-in-the-middle coder: its template takes `.Suffix`, so Ollama lists `insert`.
  model('qwen2.5-coder:1.5b', 'qwen2', '1.5B', 'Q4_K_M', 986_062_089, 1888, 28, 32768, 28, 1536, [
    'completion',
    'tools',
    'insert',
  ]),
  // Thinking models. deepseek-r1's small tags are Qwen2 distills whose template has no tools.
  model(
    'qwen3:0.6b',
    'qwen3',
    '751.63M',
    'Q4_K_M',
    522_653_767,
    1640,
    112,
    40960,
    28,
    1024,
    THINKING_TOOLS,
  ),
  model(
    'qwen3:4b',
    'qwen3',
    '4.0B',
    'Q4_K_M',
    2_497_293_918,
    3660,
    144,
    262144,
    36,
    2560,
    THINKING_TOOLS,
  ),
  model(
    'qwen3:8b',
    'qwen3',
    '8.2B',
    'Q4_K_M',
    5_225_388_164,
    6256,
    144,
    40960,
    36,
    4096,
    THINKING_TOOLS,
  ),
  model('deepseek-r1:1.5b', 'qwen2', '1.8B', 'Q4_K_M', 1_117_322_768, 1888, 28, 131072, 28, 1536, [
    'completion',
    'thinking',
  ]),
  model('deepseek-r1:7b', 'qwen2', '7.6B', 'Q4_K_M', 4_683_075_271, 4830, 56, 131072, 28, 3584, [
    'completion',
    'thinking',
  ]),
  // gpt-oss speaks harmony: the one family whose thinking takes a level on older Ollama.
  model(
    'gpt-oss:20b',
    'gptoss',
    '20.9B',
    'MXFP4',
    13_793_441_244,
    14600,
    48,
    131072,
    24,
    2880,
    THINKING_TOOLS,
  ),
  // Vision models: gemma3 carries its vision tower in the GGUF, llava a separate CLIP projector.
  model(
    'gemma3:4b',
    'gemma3',
    '4.3B',
    'Q4_K_M',
    3_338_801_804,
    4900,
    136,
    131072,
    34,
    2560,
    VISION,
  ),
  model('llava:7b', 'llama', '7B', 'Q4_0', 4_733_363_377, 5700, 128, 32768, 32, 4096, VISION, [
    'llama',
    'clip',
  ]),
];

function model(
  name: string,
  family: string,
  parameter_size: string,
  quantization_level: string,
  size: number,
  vram_mib: number,
  kv_kib_per_token: number,
  context_length: number,
  block_count: number,
  embedding_length: number,
  capabilities: readonly Capability[],
  families: readonly string[] = [family],
): SimModel {
  return {
    name,
    family,
    families,
    parameter_size,
    quantization_level,
    size,
    vram_mib,
    kv_kib_per_token,
    context_length,
    block_count,
    embedding_length,
    capabilities,
    embedding: capabilities.includes('embedding'),
  };
}

/** Bytes of VRAM the model takes at this context and parallelism. */
/** How long a load takes on the calibration card: 0.5 s to start, then 1.5 GB/s from disk. */
export function loadMs(m: Pick<SimModel, 'size'>): number {
  return 500 + (m.size / 1.5e9) * 1000;
}

export function footprintBytes(m: SimModel, numCtx: number, parallel: number): number {
  const base = Math.min(4096, m.context_length);
  const extraTokens = numCtx * parallel - base;
  return Math.round((m.vram_mib + (m.kv_kib_per_token * extraTokens) / 1024) * 2 ** 20);
}

/** A stable sha256-looking digest, so tags and ps agree across runs. */
export function digestOf(name: string): string {
  return createHash('sha256').update(`ollama-fleet-sim:${name}`).digest('hex');
}
