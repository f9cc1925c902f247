/**
 * Ollama's timestamps: Go's RFC3339Nano in UTC (`2024-09-12T03:54:03.516566127Z`, trailing
 * zeros of the fraction trimmed). Read from one monotonic clock anchored to the wall clock
 * once, so the stamps of one response never go backwards, whatever the wall clock does.
 */
const NS_PER_MS = 1_000_000n;
const anchorNs = BigInt(Date.now()) * NS_PER_MS - process.hrtime.bigint();

/** Nanoseconds since the epoch, monotonic within this process. */
export function epochNs(): bigint {
  return anchorNs + process.hrtime.bigint();
}

export function ollamaTime(ns: bigint = epochNs()): string {
  const ms = ns / NS_PER_MS;
  const iso = new Date(Number(ms)).toISOString(); // 2024-09-12T03:54:03.516Z
  const fraction = String(ns % 1_000_000_000n)
    .padStart(9, '0')
    .replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}
