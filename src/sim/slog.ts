/**
 * Ollama's log lines, byte for byte (shared/contracts/ollama.md §3): Go slog text on stderr,
 * gin access lines on stdout, raw llama.cpp output in between. Pure formatting.
 */

export type SlogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export type SlogValue = string | number | boolean;

/** `time=... level=INFO source=sched.go:685 msg="..." key=value ...` */
export function slogLine(
  at: Date,
  level: SlogLevel,
  source: string,
  msg: string,
  attrs: Readonly<Record<string, SlogValue>> = {},
): string {
  const parts = [
    `time=${at.toISOString()}`,
    `level=${level}`,
    `source=${source}`,
    `msg=${quote(msg)}`,
  ];
  for (const [key, value] of Object.entries(attrs)) parts.push(`${key}=${quote(String(value))}`);
  return parts.join(' ');
}

/** slog quotes a value when it is empty or holds a space, `=`, a quote or a control char. */
function quote(value: string): string {
  if (value === '' || /[\s="\\]/.test(value) || [...value].some((c) => c.charCodeAt(0) < 0x20)) {
    return JSON.stringify(value);
  }
  return value;
}

/** `[GIN] 2025/02/14 - 12:04:47 | 200 |   2.13385217s |     192.169.1.3 | POST     "/api/generate"` */
export function ginLine(
  at: Date,
  status: number,
  latencyNs: number,
  clientIp: string,
  method: string,
  path: string,
): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const date = `${at.getUTCFullYear()}/${pad(at.getUTCMonth() + 1)}/${pad(at.getUTCDate())}`;
  const time = `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}`;
  return `[GIN] ${date} - ${time} | ${String(status).padStart(3)} | ${goDuration(latencyNs).padStart(13)} | ${clientIp.padStart(15)} | ${method.padEnd(7)}  ${JSON.stringify(path)}`;
}

/** Go's time.Duration.String(): 523.4µs, 12.5ms, 2.13385217s, 1m2.5s. */
export function goDuration(ns: number): string {
  const n = Math.max(0, Math.round(ns));
  const trim = (value: number, digits: number) => value.toFixed(digits).replace(/\.?0+$/, '');
  if (n < 1_000) return `${n}ns`;
  if (n < 1_000_000) return `${trim(n / 1_000, 3)}µs`;
  if (n < 1_000_000_000) return `${trim(n / 1_000_000, 6)}ms`;
  const seconds = n / 1e9;
  if (seconds < 60) return `${trim(seconds, 9)}s`;
  const minutes = Math.floor(seconds / 60);
  const rest = `${trim(seconds - minutes * 60, 9)}s`;
  if (minutes < 60) return `${minutes}m${rest}`;
  return `${Math.floor(minutes / 60)}h${minutes % 60}m${rest}`;
}

/** RFC3339Nano in UTC, as Go marshals time.Time: trailing zeros of the fraction trimmed. */
export function goTime(at: Date, subMillisecondNs = process.hrtime()[1] % 1_000_000): string {
  const iso = at.toISOString(); // 2024-09-12T03:54:03.516Z
  const ms = iso.slice(20, 23);
  const fraction = `${ms}${String(subMillisecondNs % 1_000_000).padStart(6, '0')}`.replace(
    /0+$/,
    '',
  );
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}
