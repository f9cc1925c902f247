/**
 * Docker's log stream, as bytes arrive, into whole lines. Pure. Handles the multiplexed
 * format (an 8-byte header per frame: stream type 0/1/2, or 3 for the daemon's own error),
 * raw TTY streams, chunks that split frames, and lines over 16 KiB that Docker sends as
 * several parts (each part with its own timestamp, only the last ending in a newline).
 * With `timestamps=true` every part starts with `2026-07-14T08:12:38.000000000Z `.
 */

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** The daemon's timestamp, exactly as sent (nanoseconds), or '' without timestamps. */
  ts: string;
  text: string;
}

export interface DemuxOutput {
  lines: LogLine[];
  /** The daemon's own error frames ("Error grabbing logs: ..."). */
  errors: string[];
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /;

export class LogDemuxer {
  #pending: Buffer = Buffer.alloc(0);
  /** Per stream: the text of a line not yet ended, and the timestamp of its first part. */
  readonly #partial: Record<'stdout' | 'stderr', { ts: string; text: string } | undefined> = {
    stdout: undefined,
    stderr: undefined,
  };

  constructor(private readonly tty: boolean) {}

  push(chunk: Buffer): DemuxOutput {
    const out: DemuxOutput = { lines: [], errors: [] };
    if (this.tty) {
      this.#text('stdout', chunk.toString('utf8'), out);
      return out;
    }
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (this.#pending.length >= 8) {
      const type = this.#pending[0] as number;
      const size = this.#pending.readUInt32BE(4);
      if (this.#pending.length < 8 + size) break;
      const payload = this.#pending.subarray(8, 8 + size).toString('utf8');
      this.#pending = this.#pending.subarray(8 + size);
      if (type === 3) out.errors.push(payload.trim());
      else this.#text(type === 2 ? 'stderr' : 'stdout', payload, out);
    }
    return out;
  }

  /** What is left when the stream ends: an unterminated last line is still a line. */
  end(): LogLine[] {
    const lines: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const partial = this.#partial[stream];
      if (partial && partial.text !== '')
        lines.push({ stream, ts: partial.ts, text: partial.text });
      this.#partial[stream] = undefined;
    }
    return lines;
  }

  #text(stream: 'stdout' | 'stderr', payload: string, out: DemuxOutput): void {
    let rest = payload;
    while (rest.length > 0) {
      let partial = this.#partial[stream];
      if (!partial) {
        partial = { ts: '', text: '' };
        this.#partial[stream] = partial;
      }
      // Each frame (each part of a long line) starts with its own timestamp.
      const stamp = TIMESTAMP.exec(rest);
      if (stamp && (partial.text === '' || !this.tty)) {
        if (partial.ts === '') partial.ts = stamp[1] as string;
        rest = rest.slice(stamp[0].length);
      }
      const newline = rest.indexOf('\n');
      if (newline < 0) {
        partial.text += rest;
        return;
      }
      partial.text += rest.slice(0, newline).replace(/\r$/, '');
      out.lines.push({ stream, ts: partial.ts, text: partial.text });
      this.#partial[stream] = undefined;
      rest = rest.slice(newline + 1);
    }
  }
}

/** Docker timestamps keep nanoseconds; compare them as strings of the same width. */
export function compareTimestamps(a: string, b: string): number {
  const norm = (ts: string) => {
    const [whole, frac = ''] = ts.replace(/Z$/, '').split('.');
    return `${whole}.${frac.padEnd(9, '0')}`;
  };
  const x = norm(a);
  const y = norm(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `since` for the logs API: `<epoch seconds>.<nanoseconds>`, built by hand (Date keeps ms). */
export function sinceParameter(ts: string): string {
  const [whole, frac = ''] = ts.replace(/Z$/, '').split('.');
  const seconds = Math.floor(Date.parse(`${whole}Z`) / 1000);
  return `${seconds}.${frac.padEnd(9, '0').slice(0, 9)}`;
}
