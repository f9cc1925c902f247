/**
 * How Ollama frames an answer, told by its content type: NDJSON lines (its own streams),
 * server-sent events (its OpenAI layer's streams), or one whole body.
 */
export type Framing = 'ndjson' | 'sse' | 'whole';

export function framingOf(contentType: string): Framing {
  const type = contentType.toLowerCase();
  if (type.startsWith('application/x-ndjson')) return 'ndjson';
  if (type.startsWith('text/event-stream')) return 'sse';
  return 'whole';
}
