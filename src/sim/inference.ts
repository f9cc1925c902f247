/**
 * What a simulated model "computes": deterministic filler text, token counts, embeddings,
 * and how long each takes on the simulated card (shared/contracts/ollama-calibration.md §6:
 * decode ms/token = a + GB on GPU / effective bandwidth, RTX 4090 figures). Pure.
 */
import type { SimModel } from './catalogue.js';

const WORDS = (
  'the model answers with plain deterministic filler text so that tests can compare runs ' +
  'and nothing here depends on weights or chance while tokens still arrive one by one at ' +
  'the pace a real card would produce them for a model of this size'
).split(' ');

/** ms of fixed cost per decoded token, and the card's effective memory bandwidth (GB/s). */
const DECODE_OVERHEAD_MS = 1.7;
const GPU_BANDWIDTH_GBS = 770;
const CPU_BANDWIDTH_GBS = 50;

export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seeded PRNG. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function promptTokenCount(text: string, templateTokens: number): number {
  return Math.max(1, Math.ceil(text.length / 4)) + templateTokens;
}

/** How many tokens to generate, and why it stopped. */
export function completionPlan(
  seed: number,
  numPredict: number | undefined,
): { count: number; doneReason: 'stop' | 'length' } {
  const natural = 16 + (seed % 112);
  if (numPredict !== undefined && numPredict >= 0 && numPredict < natural) {
    return { count: numPredict, doneReason: 'length' };
  }
  return { count: natural, doneReason: 'stop' };
}

export function tokenText(seed: number, index: number): string {
  const word = WORDS[(seed + index * 7) % WORDS.length] as string;
  return index === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`;
}

/** Token ids for generate's `context`. */
export function contextTokens(seed: number, count: number): number[] {
  const next = random(seed);
  return Array.from({ length: Math.min(count, 64) }, () => Math.floor(next() * 32_000));
}

export function decodeMsPerToken(model: SimModel, gpuShare: number, activeSlots: number): number {
  const gb = model.size / 1e9;
  const base =
    DECODE_OVERHEAD_MS +
    ((gb * gpuShare) / GPU_BANDWIDTH_GBS) * 1000 +
    ((gb * (1 - gpuShare)) / CPU_BANDWIDTH_GBS) * 1000;
  // Parallel slots share the card: each sequence slows a little as more run.
  return base * (1 + 0.15 * Math.max(0, activeSlots - 1));
}

export function promptMsPerToken(model: SimModel): number {
  return 0.05 + (model.size / 1e9) * 0.04;
}

/** A unit-length vector of the model's dimension, the same for the same input. */
export function embeddingVector(model: SimModel, input: string): number[] {
  const next = random(hashText(`${model.name}\u0000${input}`));
  const raw = Array.from({ length: model.embedding_length }, () => next() * 2 - 1);
  const norm = Math.sqrt(raw.reduce((sum, x) => sum + x * x, 0)) || 1;
  return raw.map((x) => x / norm);
}
