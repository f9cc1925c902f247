/**
 * The seed catalogue: the ten small models the fleet is tried with, plus llama3.2:3b at the
 * top of the shipped ladder. Download sizes are Ollama's default tags; VRAM is `/api/ps`
 * `size` at a 4096-token context, measured where a public measurement exists and otherwise
 * weights + KV cache + compute graph (see shared/contracts/ollama-calibration.md).
 */
export interface CatalogueEntry {
  name: string;
  size_mb: number;
  vram_mib: number;
  capabilities: ('text' | 'embedding' | 'vision')[];
}

export const DEFAULT_CATALOGUE: readonly CatalogueEntry[] = [
  { name: 'all-minilm', size_mb: 46, vram_mib: 100, capabilities: ['embedding'] },
  { name: 'smollm:360m', size_mb: 229, vram_mib: 700, capabilities: ['text'] },
  { name: 'nomic-embed-text', size_mb: 274, vram_mib: 570, capabilities: ['embedding'] },
  { name: 'qwen2.5:0.5b', size_mb: 397, vram_mib: 800, capabilities: ['text'] },
  { name: 'tinyllama:1.1b', size_mb: 637, vram_mib: 1000, capabilities: ['text'] },
  { name: 'qwen2.5:1.5b', size_mb: 986, vram_mib: 1890, capabilities: ['text'] },
  { name: 'smollm:1.7b', size_mb: 990, vram_mib: 2100, capabilities: ['text'] },
  { name: 'llama3.2:1b', size_mb: 1300, vram_mib: 2290, capabilities: ['text'] },
  { name: 'gemma:2b', size_mb: 1700, vram_mib: 2750, capabilities: ['text'] },
  { name: 'llama3.2:3b', size_mb: 2000, vram_mib: 3215, capabilities: ['text'] },
  { name: 'phi3:mini', size_mb: 2200, vram_mib: 4000, capabilities: ['text'] },
];
