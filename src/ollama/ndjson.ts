/**
 * Ollama's NDJSON answers (pull progress, streams) read as objects: one per line, a last line
 * without its newline too, characters cut between network chunks decoded whole. A line that
 * is not JSON is skipped, not thrown: a stream's odd line must not lose the rest.
 */
import { StringDecoder } from 'node:string_decoder';

export async function* ndjsonObjects(
  body: AsyncIterable<Buffer | string>,
): AsyncGenerator<Record<string, unknown>> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  const parse = (line: string): Record<string, unknown> | undefined => {
    if (line.trim() === '') return undefined;
    try {
      const value = JSON.parse(line) as unknown;
      return typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  for await (const chunk of body) {
    buffered += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const value = parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      if (value) yield value;
    }
  }
  const last = parse(buffered + decoder.end());
  if (last) yield last;
}
