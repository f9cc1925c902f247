/**
 * Ollama's `keep_alive` (shared/contracts/ollama.md §1.4): a JSON number is seconds, a string
 * is a Go duration ("10m", "1h30m", "-1m", "0"); negative means forever. Pure.
 */

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds, Infinity for "forever", or an error text as Go's parser words it. */
export function parseKeepAlive(value: unknown): { ms: number } | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { error: `invalid duration ${value}` };
    return { ms: value < 0 ? Number.POSITIVE_INFINITY : value * 1000 };
  }
  if (typeof value !== 'string')
    return { error: 'Unsupported type: expected a number or a duration string' };
  const parsed = parseGoDuration(value);
  if ('error' in parsed) return parsed;
  return { ms: parsed.ms < 0 ? Number.POSITIVE_INFINITY : parsed.ms };
}

/** `keep_alive` 0 in any of its spellings (0, "0", "0s", "0m"): unload once idle. */
export function isZeroKeepAlive(value: unknown): boolean {
  const parsed = parseKeepAlive(value);
  return 'ms' in parsed && parsed.ms === 0;
}

export function parseGoDuration(text: string): { ms: number } | { error: string } {
  const quoted = JSON.stringify(text);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return { ms: 0 };
  if (rest === '') return { error: `time: invalid duration ${quoted}` };
  let total = 0;
  while (rest !== '') {
    const number = /^(\d+(?:\.\d*)?|\.\d+)/.exec(rest);
    if (!number) return { error: `time: invalid duration ${quoted}` };
    rest = rest.slice(number[0].length);
    const unit = /^(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!unit) {
      return rest === ''
        ? { error: `time: missing unit in duration ${quoted}` }
        : {
            error: `time: unknown unit ${JSON.stringify(rest.replace(/[\d.].*$/, ''))} in duration ${quoted}`,
          };
    }
    rest = rest.slice(unit[0].length);
    total += Number(number[0]) * (GO_UNITS[unit[0]] as number);
  }
  return { ms: sign * total };
}

/** "0.12.3" < "0.30.0"; pre-release and build suffixes are ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) =>
    v
      .replace(/^v/, '')
      .split(/[-+]/)[0]
      ?.split('.')
      .map((n) => Number(n) || 0) ?? [];
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
