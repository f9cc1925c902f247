/** Ollama's wire format (shared/contracts/ollama.md §1.3), written once with zod. */
import { z } from 'zod';

export const modelDetailsSchema = z.object({
  parent_model: z.string().optional(),
  format: z.string().optional(),
  family: z.string().optional(),
  families: z.array(z.string()).nullable().optional(),
  parameter_size: z.string().optional(),
  quantization_level: z.string().optional(),
});

export const tagsModelSchema = z.object({
  name: z.string(),
  model: z.string(),
  modified_at: z.string(),
  size: z.number(),
  digest: z.string(),
  details: modelDetailsSchema,
});

export const tagsResponseSchema = z.object({ models: z.array(tagsModelSchema) });
export type TagsResponse = z.infer<typeof tagsResponseSchema>;

export const versionResponseSchema = z.object({ version: z.string() });

/** Every Ollama error body: `{"error": "<text>"}`, no code. */
export const errorBodySchema = z.object({ error: z.string() });

export const psModelSchema = z.object({
  name: z.string(),
  model: z.string(),
  size: z.number(),
  digest: z.string(),
  details: modelDetailsSchema,
  expires_at: z.string(),
  size_vram: z.number(),
  context_length: z.number().optional(),
});

export const psResponseSchema = z.object({ models: z.array(psModelSchema) });
export type PsResponse = z.infer<typeof psResponseSchema>;
