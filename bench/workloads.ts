/**
 * The workloads, generated from a seed so every run (and every mode within a run) gets the
 * same jobs at the same times. Times are simulated milliseconds from the start.
 */
import type { Priority } from '../src/queue/job.js';
// The simulator's seeded generator: the same seed, the same workload.
import { random } from '../src/sim/inference.js';

export interface BenchJob {
  /** Arrival, simulated ms after the start. */
  at: number;
  model: string;
  kind: 'generate' | 'embed';
  priority: Priority;
  prompt: string;
}

/** The ten catalogue models of `mixed`: nine text models and one embedding model. */
export const MIXED_MODELS = [
  'qwen2.5:0.5b',
  'smollm:360m',
  'tinyllama:1.1b',
  'qwen2.5:1.5b',
  'smollm:1.7b',
  'llama3.2:1b',
  'gemma:2b',
  'llama3.2:3b',
  'phi3:mini',
  'nomic-embed-text',
] as const;

const EMBEDDING = new Set(['nomic-embed-text']);

/** 10 prompts x 5 models, all submitted at once, in the order a comparison script loops. */
export function compareWorkload(): BenchJob[] {
  const models = ['qwen2.5:0.5b', 'tinyllama:1.1b', 'llama3.2:1b', 'gemma:2b', 'llama3.2:3b'];
  const jobs: BenchJob[] = [];
  for (let prompt = 0; prompt < 10; prompt++)
    for (const model of models)
      jobs.push({
        at: 0,
        model,
        kind: 'generate',
        priority: 'normal',
        prompt: `question ${prompt}`,
      });
  return jobs;
}

/**
 * The six models of `backends`: 10.3 GiB with four parallel slots each, so one 8 GiB card
 * cannot hold them all, and two can (three on each).
 */
export const BACKENDS_MODELS = [
  'qwen2.5:0.5b',
  'tinyllama:1.1b',
  'smollm:360m',
  'qwen2.5:1.5b',
  'llama3.2:1b',
  'gemma:2b',
] as const;

/**
 * `count` jobs over `models` (the ten of `mixed` unless given) with Zipf-skewed popularity
 * (s = 1.1, in a seeded order), Poisson arrivals at `perSecond`, and 20 % high, 60 % normal,
 * 20 % low priority.
 */
export function mixedWorkload(
  count: number,
  perSecond: number,
  seed: number,
  models: readonly string[] = MIXED_MODELS,
): BenchJob[] {
  const next = random(seed);
  const order = [...models].sort(() => next() - 0.5);
  const weights = order.map((_, rank) => 1 / (rank + 1) ** 1.1);
  const total = weights.reduce((a, b) => a + b, 0);
  const pick = () => {
    let r = next() * total;
    for (let i = 0; i < order.length; i++) {
      r -= weights[i] as number;
      if (r <= 0) return order[i] as string;
    }
    return order.at(-1) as string;
  };
  const jobs: BenchJob[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    at += (-Math.log(1 - next()) / perSecond) * 1000;
    const model = pick();
    const p = next();
    jobs.push({
      at,
      model,
      kind: EMBEDDING.has(model) ? 'embed' : 'generate',
      priority: p < 0.2 ? 'high' : p < 0.8 ? 'normal' : 'low',
      prompt: `job ${i}: ${Math.floor(next() * 1e9).toString(36)}`,
    });
  }
  return jobs;
}
