/** `model:tag` as Ollama names models (the tag may be left out; it defaults to latest). */
export const MODEL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.\-/]*(:[a-zA-Z0-9_.-]+)?$/;

/** Model names as Ollama compares them: `model:tag`, the tag defaulting to `latest`. */
export function canonicalModelName(name: string): string {
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? name : `${name}:latest`;
}

export function sameModel(a: string, b: string): boolean {
  return canonicalModelName(a) === canonicalModelName(b);
}
